"""``dualid audit verify``: walk the hash-chained audit log."""

from __future__ import annotations

from typing import Annotated

import typer

from dualid.audit import verify_chain
from dualid.errors import SchemaOutOfDate
from dualid.store import DEFAULT_URL, current

from ._common import EXIT_FAILED, DbOption, handle_errors, open_store, out, progress

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)


@audit_app.command("verify")
@handle_errors
def verify_command(
    db: DbOption = DEFAULT_URL,
    batch: Annotated[
        int, typer.Option(min=100, max=100_000, help="Entries read per query.")
    ] = 5000,
) -> None:
    """Check every entry's sequence, link and hash, and the chain head. Exit 0 when the
    chain is whole; 1 with the first bad entry otherwise. Needs no key: an auditor can
    run it on a copy of the database."""
    with open_store(db) as store:
        if current(store) is None:
            raise SchemaOutOfDate("the database has no dualid schema; run `dualid db upgrade`")
        with store.read() as conn, progress("verifying", "entries") as update:
            report = verify_chain(conn, batch=batch, progress=update)
    console = out()
    if report.ok:
        console.print(
            f"audit chain intact: {report.entries:,} entries (head seq {report.head_seq})"
        )
        return
    console.print(
        f"audit chain BROKEN at seq {report.first_bad}: {report.reason} "
        f"({report.entries:,} entries verified before it, head seq {report.head_seq})"
    )
    raise typer.Exit(EXIT_FAILED)
