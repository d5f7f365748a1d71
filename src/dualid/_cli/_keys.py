"""``dualid keys``: master-key rotation and which key versions are still in use."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from dualid.store import DEFAULT_URL

from ._common import EXIT_FAILED, DbOption, KeysOption, handle_errors, open_sdk, out, progress

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help=(
        "Master keys (--keys URI, DUALID_KEYS or DUALID_MASTER_KEY; the first key "
        "primary). To rotate: put the new key first, run `dualid keys rotate`, check "
        "`dualid keys status`, then remove the old key."
    ),
    no_args_is_help=True,
)


@keys_app.command("status")
@handle_errors
def status_command(db: DbOption = DEFAULT_URL, keys: KeysOption = None) -> None:
    """Show the configured key ids, how many wrapped keys each protects, and which can
    be removed."""
    with open_sdk(db, keys=keys) as sdk:
        status = sdk.keys.status()
    table = Table("key id", "role", "wrapped keys", "removable")
    for key_id in status.configured:
        role = "primary" if key_id == status.primary_id else "old"
        table.add_row(
            key_id,
            role,
            f"{status.in_use.get(key_id, 0):,}",
            "yes" if key_id in status.removable else "no",
        )
    unknown = sorted(k for k in status.in_use if k not in status.configured)
    for key_id in unknown:
        table.add_row(key_id, "NOT CONFIGURED", f"{status.in_use[key_id]:,}", "no")
    console = out()
    console.print(table)
    not_primary = sum(n for k, n in status.in_use.items() if k != status.primary_id)
    if unknown:
        console.print(
            f"{len(unknown)} key id(s) in use are not configured: data under them cannot "
            "be read until they are added back."
        )
    elif not_primary:
        console.print(
            f"{not_primary:,} wrapped keys are not under the primary: run `dualid keys rotate`."
        )
    else:
        console.print("Every wrapped key is under the primary key.")


@keys_app.command("rotate")
@handle_errors
def rotate_command(
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    batch: Annotated[
        int, typer.Option(min=1, max=50_000, help="Keys re-wrapped per transaction.")
    ] = 500,
) -> None:
    """Re-wrap every data key under the primary master key, a batch per transaction.
    Field ciphertexts are untouched. Interrupted, rerun it: it continues where it
    stopped."""
    with open_sdk(db, keys=keys) as sdk, progress("re-wrapping", "keys") as update:
        report = sdk.keys.rotate(batch=batch, progress=update)
    console = out()
    console.print(f"re-wrapped {report.rewrapped:,} keys under {report.primary_id}")
    if report.remaining:
        console.print(f"{report.remaining:,} keys are still under other keys: run it again")
        raise typer.Exit(EXIT_FAILED)
    else:
        console.print("every wrapped key is under the primary; see `dualid keys status`")
