"""Run dualid's Alembic migrations against a :class:`Store`."""

from __future__ import annotations

import zlib
from collections.abc import Callable

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection

from dualid.errors import InvalidInput, SchemaOutOfDate

from ._engine import Store

__all__ = ["SCRIPT_LOCATION", "VERSION_TABLE", "current", "downgrade", "head", "history", "upgrade"]

SCRIPT_LOCATION = "dualid.store:migrations"
VERSION_TABLE = "dualid_alembic_version"
# Serialises concurrent `open()`s of one PostgreSQL database (several service instances
# starting at once) so that only one runs the DDL.
_PG_LOCK_KEY = zlib.crc32(b"dualid migrations")


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def head() -> str:
    """The newest revision shipped in this package."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def history() -> list[tuple[str, str | None, str]]:
    """``(revision, down_revision, message)`` oldest first."""
    script = ScriptDirectory.from_config(_config())
    rows = [
        (
            rev.revision,
            rev.down_revision if isinstance(rev.down_revision, str) else None,
            rev.doc or "",
        )
        for rev in script.walk_revisions()
    ]
    return list(reversed(rows))


def current(store: Store) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with store.schema(write=False) as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return ctx.get_current_revision()


def _run(
    store: Store, direction: str, revision: str, attributes: dict[str, object] | None = None
) -> None:
    cfg = _config()
    cfg.attributes.update(attributes or {})
    try:
        with store.schema() as conn:
            if store.dialect == "postgresql":
                # DDL may take longer than the statement timeout meant for requests, and
                # an instance starting behind another's migration waits for its lock.
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                conn.exec_driver_sql("SET LOCAL lock_timeout = 0")
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
            cfg.attributes["connection"] = conn
            if direction == "up":
                command.upgrade(cfg, revision)
            else:
                command.downgrade(cfg, revision)
    except CommandError as exc:
        raise InvalidInput(f"cannot migrate to {revision!r}: {exc}") from None


def upgrade(store: Store, revision: str = "head", *, audit_partitions: int | None = None) -> None:
    """Upgrade the schema (to ``head`` by default). Safe to call from many processes.

    ``audit_partitions``: how many partitions the audit log gets on PostgreSQL when the
    migration that creates them (0006) runs; ignored once it has (the count is fixed) and
    on SQLite (always one). Default 16."""
    if audit_partitions is not None and (
        isinstance(audit_partitions, bool)
        or not isinstance(audit_partitions, int)
        or not 1 <= audit_partitions <= 256
    ):
        raise InvalidInput("audit_partitions must be an integer from 1 to 256")
    _run(store, "up", revision, {"audit_partitions": audit_partitions})
    if revision in ("head", head()):
        store.load_audit_partitions()


def downgrade(
    store: Store, revision: str, *, split_shared: Callable[[Connection], int] | None = None
) -> None:
    """Downgrade the schema to ``revision`` (``base`` removes every dualid table).

    ``split_shared``: how migration 0011's downgrade turns the shared copies' blobs back
    into one sealed row per field, which needs the keys (``DualId.downgrade`` passes it);
    without it a store holding blobs refuses to go below 0011 (``MissingKeyError``)."""
    _run(store, "down", revision, {"split_shared": split_shared})


def before(revision: str | None, target: str) -> bool:
    """Was a store at ``revision`` (None: a new one) from before migration ``target``?"""
    revisions = [rev for rev, _, _ in history()]
    return revision in revisions[: revisions.index(target)]


def ensure_current(store: Store) -> None:
    """Raise :class:`SchemaOutOfDate` unless the database is at this package's head."""
    if current(store) != head():
        raise SchemaOutOfDate(
            "the database schema is not at this version's head; run `dualid db upgrade`"
        )
