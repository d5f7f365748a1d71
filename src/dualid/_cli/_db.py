"""``dualid db``: dualid's own Alembic migrations, in their own version table."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from dualid.store import (
    DEFAULT_URL,
    VERSION_TABLE,
    Store,
    current,
    downgrade,
    head,
    history,
    upgrade,
)
from dualid.store._grants import unsealed_grants
from dualid.store._sealed import has_copy_fields
from dualid.store._shared import has_copies

from ._common import EXIT_FAILED, DbOption, fail, handle_errors, open_sdk, open_store, out

__all__ = ["db_app"]

db_app = typer.Typer(
    help=(
        "dualid's schema migrations (Alembic, version table "
        f"{VERSION_TABLE}, separate from your application's)."
    ),
    no_args_is_help=True,
)


@db_app.command("upgrade")
@handle_errors
def upgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    db: DbOption = DEFAULT_URL,
) -> None:
    """Upgrade the schema (to the newest revision by default); creates the database if
    needed. Safe to run from several deploys at once. Grants from before 0007 share nothing
    until `dualid audit seal-grants` (needs the master key) gives them their MAC."""
    with open_store(db, must_exist=False) as store:
        before = current(store)
        upgrade(store, revision)
        after = current(store)
        unsealed, per_field = 0, False
        if after == head():
            with store.read() as conn:
                unsealed = unsealed_grants(conn)
                per_field = has_copy_fields(conn)
    if before == after:
        out().print(f"dualid schema already at {after or 'base'}")
    else:
        out().print(f"dualid schema upgraded: {before or 'base'} -> {after}")
    if unsealed:
        out().print(
            f"{unsealed:,} grants have no MAC yet and share nothing until "
            "`dualid audit seal-grants` runs (it needs the master key)"
        )
    if per_field:
        out().print(
            "shared copies from before 0011 are read field by field until "
            "`dualid db seal-copies` re-seals them (it needs the master key)"
        )


@db_app.command("downgrade")
@handle_errors
def downgrade_command(
    revision: Annotated[str, typer.Argument(help="Target revision ('base' removes every table).")],
    db: DbOption = DEFAULT_URL,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Downgrade the schema to REVISION. Tables added after it are dropped with their
    data: take a backup first. Going below 0011 re-seals the shared copies one row per
    field, which needs the master key (DUALID_MASTER_KEY or the key file)."""
    with open_store(db) as store:
        before = current(store)
        with_keys = before == head() and _holds_shared_copies(store)
        if not yes:
            if not sys.stdin.isatty():
                raise fail("downgrade drops tables and their data; pass --yes to confirm")
            typer.confirm(
                f"Downgrade the dualid schema from {before or 'base'} to {revision}? "
                "Tables added since are dropped with their data",
                abort=True,
            )
        if with_keys:
            with open_sdk(db) as sdk:
                sdk.downgrade(revision)
        else:
            downgrade(store, revision)
        after = current(store)
    out().print(f"dualid schema downgraded: {before or 'base'} -> {after or 'base'}")


def _holds_shared_copies(store: Store) -> bool:
    with store.read() as conn:
        return has_copies(conn)


@db_app.command("seal-copies")
@handle_errors
def seal_copies_command(db: DbOption = DEFAULT_URL) -> None:
    """Re-seal the shared copies written before 0011 (one ciphertext per field) as one
    blob per registration, person by person (needs the master key). Resumable: run it
    again after an interruption. `DualId.open` does it when it runs the migration."""
    with open_sdk(db) as sdk:
        done = sdk.consent.seal_copies()
    out().print(f"{done:,} shared copies re-sealed" if done else "no shared copy left to re-seal")


@db_app.command("current")
@handle_errors
def current_command(
    db: DbOption = DEFAULT_URL,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 unless the database is at head.")
    ] = False,
) -> None:
    """Print the revision the database is at, and whether it is the newest."""
    with open_store(db) as store:
        at = current(store)
    newest = head()
    state = "head" if at == newest else f"behind head {newest}"
    out().print(f"{at or 'base'} ({state})")
    if check and at != newest:
        raise typer.Exit(EXIT_FAILED)


@db_app.command("history")
@handle_errors
def history_command(db: DbOption = DEFAULT_URL) -> None:
    """List the migrations shipped in this package, oldest first, marking the current
    one when the database exists."""
    at: str | None = None
    with open_store(db, must_exist=False) as store:
        exists = store.sqlite_path is None or store.sqlite_path.exists()
        if exists:
            at = current(store)
    console = out()
    for revision, down, message in history():
        mark = "  <- current" if revision == at else ""
        console.print(f"{down or 'base'} -> {revision}  {message}{mark}", soft_wrap=True)
