"""``dualid migrate-ids``: fill an agentId column beside an existing userId column."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.engine import make_url

from dualid.store import DEFAULT_URL
from dualid.tools.migrate_ids import MAX_BATCH, MigrationReport, migrate_ids

from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    DbOption,
    KeysOption,
    handle_errors,
    open_sdk,
    out,
    progress,
)

__all__ = ["migrate_ids_command"]


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an invalid URL is reported by the engine with a clear error
        return "(invalid URL)"


def _print_report(report: MigrationReport, target: str, verify: bool) -> None:
    console = out()
    head = "dry run (nothing written)" if report.dry_run else "migration"
    console.print(f"{head}: {report.table} in {_safe_url(target)}")
    table = Table("", "count", show_header=False)
    if report.dry_run:
        table.add_row("agent column would be added", "yes" if report.column_added else "no")
        table.add_row("rows to fill", f"{report.before.missing:,}")
        table.add_row("batches needed", f"{report.batches:,}")
    else:
        table.add_row("agent column added", "yes" if report.column_added else "no")
        table.add_row("rows updated", f"{report.rows_updated:,}")
        table.add_row("batches committed", f"{report.batches:,}")
        if report.skipped_invalid:
            table.add_row("rows skipped (empty or too long userId)", f"{report.skipped_invalid:,}")
    after = report.after
    table.add_row("rows in table", f"{after.rows:,}")
    table.add_row("distinct users", f"{after.distinct_users:,}")
    table.add_row("rows missing an agentId", f"{after.missing:,}")
    table.add_row("rows without a userId (left as they are)", f"{after.without_user:,}")
    if verify and report.mismatched is not None:
        table.add_row("rows whose agentId disagrees with the mapping", f"{report.mismatched:,}")
    console.print(table)


def migrate_ids_command(
    target: Annotated[
        str,
        typer.Option("--target", metavar="URL", help="The application database holding the table."),
    ],
    table: Annotated[
        str, typer.Option("--table", metavar="T", help="Table (or schema.table) to migrate.")
    ],
    user_column: Annotated[
        str, typer.Option("--user-column", metavar="C", help="Column holding the userId.")
    ],
    agent_column: Annotated[
        str,
        typer.Option(
            "--agent-column", metavar="A", help="Column to fill with agentIds (added if missing)."
        ),
    ],
    db: DbOption = DEFAULT_URL,
    keys: KeysOption = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=MAX_BATCH, help="Rows per transaction.")
    ] = 500,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would change; write nothing.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Afterwards, check every filled row against the mapping."),
    ] = False,
) -> None:
    """Add an agentId column to a table keyed by userId and fill it, in batches.

    Each batch is one transaction on the target; rerun after a crash or Ctrl-C and it
    continues where it stopped; a second run changes nothing. Prints counts only, never
    userIds or agentIds. Exits 1 when rows remain without an agentId (or, with --verify,
    disagree with the mapping). See docs/operations.md for the playbook.
    """
    _run(target, table, user_column, agent_column, db, keys, batch, dry_run, verify)


@handle_errors
def _run(
    target: str,
    table: str,
    user_column: str,
    agent_column: str,
    db: str,
    keys: str | None,
    batch: int,
    dry_run: bool,
    verify: bool,
) -> None:
    done = 0

    if dry_run:
        report = migrate_ids(
            None,
            target,
            table=table,
            user_column=user_column,
            agent_column=agent_column,
            batch=batch,
            dry_run=True,
        )
        _print_report(report, target, verify=False)
        return
    try:
        with open_sdk(db, keys=keys, create=True) as sdk, progress("migrating", "rows") as update:

            def track(rows: int, total: int) -> None:
                nonlocal done
                done = rows
                update(rows, total)

            report = migrate_ids(
                sdk,
                target,
                table=table,
                user_column=user_column,
                agent_column=agent_column,
                batch=batch,
                verify=verify,
                progress=track,
            )
    except KeyboardInterrupt:
        typer.echo(
            f"dualid: interrupted after {done:,} rows; committed batches are kept, "
            "run the same command again to continue",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    _print_report(report, target, verify)
    if not report.complete:
        typer.echo(
            "dualid: rows remain without a correct agentId; see the counts above",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)
