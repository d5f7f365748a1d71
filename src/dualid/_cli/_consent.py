"""``dualid consent``: make grant expiry physical (``purge-expired``, from cron); print the
receipt-signing key (``receipt-key``); check a receipt without the database
(``verify-receipt``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dualid.audit._checkpoint import load_public_key
from dualid.consent import verify_receipt
from dualid.store import DEFAULT_URL

from ._common import (
    EXIT_FAILED,
    DbOption,
    KeysOption,
    fail,
    handle_errors,
    open_sdk,
    out,
    read_text,
)

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


@consent_app.command("receipt-key", short_help="Print the receipt-signing public key (PEM).")
@handle_errors
def receipt_key_command(db: DbOption = DEFAULT_URL, keys: KeysOption = None) -> None:
    """Print the key that signs this store's consent receipts (PEM), for whoever checks
    receipts: with `dualid audit public-key` (the log's key) it is all `verify-receipt`
    needs. Needs the master key."""
    with open_sdk(db, keys=keys) as sdk:
        typer.echo(sdk.consent.receipt_public_key().rstrip("\n"))


@consent_app.command("verify-receipt", short_help="Check a consent receipt (no database).")
@handle_errors
def verify_receipt_command(
    receipt: Annotated[Path, typer.Argument(dir_okay=False, help="The receipt (JSON).")],
    receipt_key: Annotated[
        Path,
        typer.Option(
            "--receipt-key", dir_okay=False, help="From `dualid consent receipt-key` (PEM)."
        ),
    ],
    log_key: Annotated[
        Path | None,
        typer.Option(
            "--log-key",
            dir_okay=False,
            help="From `dualid audit public-key`: also check the receipt's proof that the "
            "signed log holds its grant.",
        ),
    ] = None,
) -> None:
    """Check a consent receipt with public keys only: its signature, and with --log-key
    the inclusion proof of its grant's audit entry in the checkpoint it carries. Exit 0
    when valid, 1 when not. Needs neither the database nor the master key."""
    try:
        doc: Any = json.loads(read_text(receipt, "receipt"))
    except json.JSONDecodeError:
        raise fail(f"{receipt} is not JSON") from None
    if not isinstance(doc, dict):
        raise fail(f"{receipt} is not a receipt (a JSON object)")
    signer = load_public_key(read_text(receipt_key, "receipt key"))
    checker = None if log_key is None else load_public_key(read_text(log_key, "log key"))
    if not verify_receipt(doc, signer, checker):
        typer.echo("receipt INVALID: the signature or the proof does not verify")
        raise typer.Exit(EXIT_FAILED)
    log = doc.get("log")
    if checker is not None and isinstance(log, dict):
        size = log["checkpoint"].split("\n", 2)[1]
        typer.echo(
            f"receipt valid: grant {doc['consent']['grant_id']} is entry {log['seq']} of the "
            f"log {log['origin']} as its checkpoint of {size} entries signed it"
        )
    else:
        typer.echo(f"receipt valid: grant {doc['consent']['grant_id']} (signature only)")
