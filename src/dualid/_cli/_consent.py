"""``dualid consent purge-expired``: make grant expiry physical, from cron."""

from __future__ import annotations

import typer

from dualid.store import DEFAULT_URL

from ._common import DbOption, KeysOption, handle_errors, open_sdk, out

__all__ = ["consent_app"]

consent_app = typer.Typer(help="Consent maintenance.", no_args_is_help=True)


@consent_app.command(
    "purge-expired", short_help="Delete shared data that only expired grants covered."
)
@handle_errors
def purge_expired_command(db: DbOption = DEFAULT_URL, keys: KeysOption = None) -> None:
    """Delete the shared copies that only expired grants still covered, in one
    transaction, and record it in the audit log. Hosts stop seeing expired data at once
    anyway (expiry is checked on every read); this removes it from the database.
    Idempotent: a failed run changes nothing and can simply be retried. Meant for cron
    (see docs/operations.md)."""
    with open_sdk(db, keys=keys) as sdk:
        deleted = sdk.consent.purge_expired()
    out().print(f"purged {deleted:,} expired shared values")
