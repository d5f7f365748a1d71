"""Moving an existing userId column to agentIds: the engine behind ``dualid migrate-ids``.

A host table keyed by the platform's userIds (bookings, queue entries, analytics rows) gets
an agentId column filled from :meth:`Identity.agents_for`. The run is built for the risky
moment of adoption:

* **batches**: rows are read in primary-key order (SQLite: rowid when there is no primary
  key), ``batch`` at a time; each batch's UPDATE is one transaction on the target, so a
  crash or Ctrl-C loses at most the batch in flight and never commits half of one;
* **resumable and idempotent**: only rows whose agent column IS NULL are touched, and
  agentIds come from the get-or-create mapping, so a rerun continues where a killed run
  stopped and a run after a complete one changes nothing;
* **guarded updates**: a row is written only if its agent column is still NULL and its
  userId is still the one read, so application writes during the run are never clobbered;
* **strict names**: table and column names must be plain SQL identifiers; they are checked
  against the database's own catalogue before anything is written, and always quoted.

Non-string userIds (integers, UUIDs) map through ``str()``: the application must call
``agent_for(str(user_id))`` for new rows so both paths agree. Rows whose userId is empty or
longer than :data:`~dualid.identity._agents.MAX_USER_ID_LENGTH` are skipped and counted.

>>> report = migrate_ids(sdk, "sqlite:///app.db", table="bookings",     # doctest: +SKIP
...                      user_column="user_id", agent_column="agent_id")
>>> report.complete                                                   # doctest: +SKIP
True
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, NoSuchModuleError, SQLAlchemyError

from dualid.errors import (
    ConfigurationError,
    DualIdError,
    InvalidInput,
    StoreError,
    StoreUnavailable,
)
from dualid.identity._agents import MAX_USER_ID_LENGTH

if TYPE_CHECKING:
    from dualid.sdk import DualId

__all__ = [
    "AGENT_COLUMN_TYPE",
    "MAX_BATCH",
    "ColumnCounts",
    "MigrationReport",
    "check_identifier",
    "migrate_ids",
]

#: The SQL type of an added agent column (an agentId is ``agt_`` + 26 characters; 40 leaves
#: room, and matches dualid's own tables).
AGENT_COLUMN_TYPE = "VARCHAR(40)"
MAX_BATCH = 50_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'")
# userId -> agentId answers kept across batches (a user usually has many rows); bounded so
# that a table of millions of users does not hold them all.
_CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class ColumnCounts:
    """Counts over the whole target table (never values)."""

    rows: int
    distinct_users: int
    missing: int
    """Rows that have a userId but no agentId yet."""
    without_user: int
    """Rows whose userId is NULL: nothing to map, never counted as missing."""


@dataclass(frozen=True)
class MigrationReport:
    """What a :func:`migrate_ids` run did (counts only: no userId or agentId)."""

    table: str
    dry_run: bool
    column_added: bool
    """True when the agent column was added (dry run: would be added)."""
    batches: int
    """Committed batches (dry run: batches a real run would need)."""
    rows_updated: int
    skipped_invalid: int
    """Rows skipped because their userId is empty or too long."""
    before: ColumnCounts
    after: ColumnCounts
    mismatched: int | None = None
    """With ``verify``: rows whose agentId is not the mapping's agentId for their userId
    (e.g. a user erased after the migration). None when not verified."""

    @property
    def complete(self) -> bool:
        """Every row with a userId has an agentId (and, when verified, the right one)."""
        return self.after.missing == 0 and not self.mismatched


def check_identifier(name: str, what: str) -> str:
    """``name`` if it is a plain SQL identifier, else :class:`InvalidInput`."""
    if not isinstance(name, str) or not _IDENTIFIER.fullmatch(name):
        raise InvalidInput(
            f"{what} {name!r} is not a plain SQL identifier "
            "(letters, digits and _, not starting with a digit, at most 63 characters)"
        )
    return name


def _split_table(table: str) -> tuple[str | None, str]:
    if not isinstance(table, str):
        raise InvalidInput("the table name must be a string")
    schema, dot, name = table.rpartition(".")
    if dot:
        return check_identifier(schema, "schema"), check_identifier(name, "table")
    return None, check_identifier(name, "table")


def _scrub(message: str) -> str:
    # Database messages can quote the values they choke on (userIds); keep the first line
    # with every quoted part elided.
    first = message.strip().splitlines()[0] if message.strip() else ""
    return _QUOTED.sub("…", first)[:200]


@contextmanager
def _db_errors(what: str) -> Iterator[None]:
    """Convert foreign database errors at the boundary, without echoing parameters."""
    try:
        yield
    except DualIdError:
        raise
    except DBAPIError as exc:
        detail = _scrub(str(exc.orig)) or type(exc.orig).__name__
        if exc.connection_invalidated or type(exc.orig).__name__ == "OperationalError":
            raise StoreUnavailable(f"{what}: {detail}") from None
        raise StoreError(f"{what}: {detail}") from None
    except SQLAlchemyError as exc:
        raise StoreError(f"{what}: {type(exc).__name__}") from None


def _target_engine(url: str) -> Engine:
    from dualid.store import normalise_url

    url = normalise_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigurationError("the target database URL is not valid") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigurationError("migrate-ids supports SQLite and PostgreSQL targets only")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigurationError("the target must be a database file, not an in-memory SQLite")
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
    try:
        engine = sa.create_engine(url, **kwargs)
    except (NoSuchModuleError, ImportError):
        raise ConfigurationError(
            "no database driver for the target URL; pip install 'dualid[postgres]'"
        ) from None
    if backend == "sqlite":
        # Take the write lock when a batch starts (BEGIN IMMEDIATE) instead of upgrading
        # it halfway; leave the file's journal mode and other settings alone: it is the
        # application's database.
        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("dualid_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(dualid_write=True)
        with conn.begin():
            yield conn


@dataclass(frozen=True)
class _Target:
    """The checked target: a lightweight table whose names SQLAlchemy quotes."""

    label: str
    table: sa.TableClause
    user: sa.ColumnClause[Any]
    agent: sa.ColumnClause[Any]
    keys: tuple[sa.ColumnClause[Any], ...]
    has_agent_column: bool


def _inspect_target(engine: Engine, table: str, user_column: str, agent_column: str) -> _Target:
    schema, name = _split_table(table)
    check_identifier(user_column, "user column")
    check_identifier(agent_column, "agent column")
    if user_column == agent_column:
        raise InvalidInput("the user column and the agent column must differ")
    with _db_errors("cannot read the target's catalogue"):
        inspector = sa.inspect(engine)
        if not inspector.has_table(name, schema=schema):
            raise InvalidInput(f"no table {table!r} in the target database")
        columns = {c["name"]: c for c in inspector.get_columns(name, schema=schema)}
        pk = list(inspector.get_pk_constraint(name, schema=schema)["constrained_columns"] or [])
    if user_column not in columns:
        raise InvalidInput(f"table {table!r} has no column {user_column!r}")
    has_agent = agent_column in columns
    if has_agent:
        col_type = columns[agent_column]["type"]
        length = getattr(col_type, "length", None)
        if not isinstance(col_type, sa.String) or (length is not None and length < 40):
            raise InvalidInput(
                f"column {agent_column!r} exists but is not a text column of at least 40 characters"
            )
    if not pk:
        if engine.dialect.name != "sqlite":
            raise InvalidInput(
                f"table {table!r} has no primary key; migrate-ids pages through it by "
                "primary key (add one first)"
            )
        pk = ["rowid"]
    if agent_column in pk:
        raise InvalidInput("the agent column cannot be part of the primary key")
    names = list(dict.fromkeys([*pk, user_column, agent_column]))
    clause = sa.table(name, *(sa.column(n) for n in names), schema=schema)
    return _Target(
        label=table,
        table=clause,
        user=clause.c[user_column],
        agent=clause.c[agent_column],
        keys=tuple(clause.c[k] for k in pk),
        has_agent_column=has_agent,
    )


def _counts(conn: Connection, target: _Target, *, agent_exists: bool = True) -> ColumnCounts:
    user = target.user
    if agent_exists:
        missing_expr: Any = sa.func.coalesce(
            sa.func.sum(sa.case((sa.and_(target.agent.is_(None), user.is_not(None)), 1), else_=0)),
            0,
        )
    else:
        missing_expr = sa.func.count(user)
    rows, with_user, distinct, missing = conn.execute(
        sa.select(
            sa.func.count(), sa.func.count(user), sa.func.count(sa.distinct(user)), missing_expr
        ).select_from(target.table)
    ).one()
    return ColumnCounts(int(rows), int(distinct), int(missing), int(rows) - int(with_user))


def _check_agent_values(conn: Connection, target: _Target) -> None:
    """Refuse an existing column that holds something else than agentIds: it is the
    wrong column, and treating its values as done would silently skip those rows."""
    foreign = conn.execute(
        sa.select(sa.literal(1))
        .select_from(target.table)
        .where(target.agent.is_not(None), sa.not_(target.agent.startswith("agt_", autoescape=True)))
        .limit(1)
    ).first()
    if foreign is not None:
        raise InvalidInput(
            f"column {target.agent.name!r} holds values that are not agentIds; "
            "choose a new or agentId-only column"
        )


def _user_key(value: object) -> str | None:
    """The userId string for a column value, or None when it cannot be a userId."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, uuid.UUID | int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidInput(
            f"the user column holds {type(value).__name__} values; supported: text, integer, uuid"
        )
    if not text.strip() or len(text) > MAX_USER_ID_LENGTH:
        return None
    return text


def _after(target: _Target, last: Sequence[Any] | None) -> Any:
    if last is None:
        return sa.true()
    if len(target.keys) == 1:
        return target.keys[0] > last[0]
    return sa.tuple_(*target.keys) > sa.tuple_(*(sa.literal(v) for v in last))


def _page(
    conn: Connection, target: _Target, last: Sequence[Any] | None, size: int, *, pending: bool
) -> list[Any]:
    cond = target.agent.is_(None) if pending else target.agent.is_not(None)
    stmt = (
        sa.select(*target.keys, target.user, target.agent)
        .select_from(target.table)
        .where(cond, target.user.is_not(None), _after(target, last))
        .order_by(*target.keys)
        .limit(size)
    )
    # The driver's own rows (plain tuples): the columns are untyped, so SQLAlchemy's Row
    # objects would only add a per-row cost to a 100k-row scan.
    result = conn.execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _update_sql(engine: Engine, target: _Target) -> str:
    """The batch UPDATE as driver SQL (quoted names, the driver's placeholders): executed
    with the driver's own ``executemany`` it costs about what a hand-written loop does."""
    style = engine.dialect.paramstyle
    if style == "qmark":
        mark = "?"
    elif style in ("format", "pyformat"):
        mark = "%s"
    else:  # pragma: no cover - SQLite and psycopg use one of the above
        raise ConfigurationError(f"unsupported driver parameter style {style!r}")
    prep = engine.dialect.identifier_preparer
    agent, user = prep.quote(target.agent.name), prep.quote(target.user.name)
    keys = " AND ".join(f"{prep.quote(k.name)} = {mark}" for k in target.keys)
    # Every name was checked against the catalogue and is quoted; values are bound.
    return (
        f"UPDATE {prep.format_table(target.table)} SET {agent} = {mark} "  # noqa: S608
        f"WHERE {keys} AND {agent} IS NULL AND {user} = {mark}"
    )


def migrate_ids(
    sdk: DualId | None,
    target_url: str,
    *,
    table: str,
    user_column: str,
    agent_column: str,
    batch: int = 500,
    dry_run: bool = False,
    verify: bool = False,
    progress: Callable[[int, int], None] | None = None,
    before_commit: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Fill ``table.agent_column`` from ``table.user_column`` in the target database.

    Adds the agent column (``VARCHAR(40)``, nullable) when it is missing, then fills every
    row whose agent column IS NULL, ``batch`` rows per transaction. ``dry_run`` writes
    nothing anywhere (``sdk`` may then be None) and reports what a run would do.
    ``verify`` re-reads every filled row and counts those whose agentId disagrees with the
    mapping (read-only lookups, nothing created).

    ``progress(done, total)`` is called after each committed batch with rows processed so
    far and rows that were missing at the start. ``before_commit(index)`` is called inside
    each batch's transaction, after its UPDATE and before its commit, with the 0-based
    batch number: raising there rolls that batch back (tests use it to simulate a crash).

    Raises :class:`~dualid.errors.InvalidInput` for a bad table or column (before anything
    is written), :class:`~dualid.errors.ConfigurationError` for a bad URL and
    :class:`~dualid.errors.StoreError` when a database refuses an operation.
    """
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise InvalidInput(f"batch must be between 1 and {MAX_BATCH}")
    if sdk is None and not dry_run:
        raise InvalidInput("a DualId is required unless dry_run is set")
    engine = _target_engine(target_url)
    try:
        target = _inspect_target(engine, table, user_column, agent_column)
        with _db_errors("cannot read the target table"), engine.connect() as conn:
            if target.has_agent_column:
                _check_agent_values(conn, target)
            before = _counts(conn, target, agent_exists=target.has_agent_column)
        if dry_run:
            return MigrationReport(
                table=target.label,
                dry_run=True,
                column_added=not target.has_agent_column,
                batches=-(-before.missing // batch),
                rows_updated=0,
                skipped_invalid=0,
                before=before,
                after=before,
            )
        assert sdk is not None
        added = False
        if not target.has_agent_column:
            _add_column(engine, target)
            added = True
        batches, updated, skipped = _fill(
            sdk, engine, target, batch, before.missing, progress, before_commit
        )
        with _db_errors("cannot read the target table"), engine.connect() as conn:
            after = _counts(conn, target)
        mismatched = _verify(sdk, engine, target, batch) if verify else None
        return MigrationReport(
            table=target.label,
            dry_run=False,
            column_added=added,
            batches=batches,
            rows_updated=updated,
            skipped_invalid=skipped,
            before=before,
            after=after,
            mismatched=mismatched,
        )
    finally:
        engine.dispose()


def _add_column(engine: Engine, target: _Target) -> None:
    prep = engine.dialect.identifier_preparer
    ddl = (
        f"ALTER TABLE {prep.format_table(target.table)} "
        f"ADD COLUMN {prep.quote(target.agent.name)} {AGENT_COLUMN_TYPE}"
    )
    with _db_errors("cannot add the agent column"), _write(engine) as conn:
        conn.exec_driver_sql(ddl)


def _fill(
    sdk: DualId,
    engine: Engine,
    target: _Target,
    batch: int,
    total: int,
    progress: Callable[[int, int], None] | None,
    before_commit: Callable[[int], None] | None,
) -> tuple[int, int, int]:
    sql = _update_sql(engine, target)
    nkeys = len(target.keys)
    agents_for = sdk.identity.agents_for
    cache: dict[str, str] = {}
    last: Sequence[Any] | None = None
    index = done = updated = skipped = 0
    while True:
        # Read outside the write transaction: agents_for below writes to the dualid store,
        # which may be the very same SQLite file; holding its write lock here would
        # deadlock.
        with _db_errors("cannot read the target table"), engine.connect() as conn:
            rows = _page(conn, target, last, batch, pending=True)
        if not rows:
            break
        # Rows whose userId is already mapped take the short path (one dict lookup); the
        # rest are checked, mapped in bulk, then added.
        params: list[tuple[Any, ...]] = []
        pending: list[tuple[Any, str]] = []
        unknown: set[str] = set()
        get = cache.get
        for row in rows:
            value = row[nkeys]
            agent = get(value) if type(value) is str else None
            if agent is not None:
                params.append((agent, row[0], value) if nkeys == 1 else (agent, *row[: nkeys + 1]))
                continue
            key = _user_key(value)
            if key is None:
                skipped += 1
                continue
            pending.append((row, key))
            if key not in cache:
                unknown.add(key)
        if unknown:
            if len(cache) + len(unknown) > _CACHE_LIMIT:
                cache.clear()
            cache.update(agents_for(unknown))
        params += [(cache[key], *row[: nkeys + 1]) for row, key in pending if key in cache]
        with _db_errors("cannot update the target table"), _write(engine) as conn:
            count = conn.exec_driver_sql(sql, params).rowcount if params else 0
            if before_commit is not None:
                before_commit(index)
        updated += max(int(count), 0)
        index += 1
        done += len(rows)
        last = tuple(rows[-1][:nkeys])
        if progress is not None:
            progress(done, total)
    return index, updated, skipped


def _verify(sdk: DualId, engine: Engine, target: _Target, batch: int) -> int:
    """Rows whose agentId is not what the mapping gives for their userId (read-only)."""
    nkeys = len(target.keys)
    lookup_many = sdk.identity.lookup_many
    last: Sequence[Any] | None = None
    bad = 0
    while True:
        with _db_errors("cannot read the target table"), engine.connect() as conn:
            rows = _page(conn, target, last, max(batch, 1000), pending=False)
        if not rows:
            return bad
        keys = [_user_key(row[nkeys]) for row in rows]
        expected = lookup_many({k for k in keys if k is not None})
        for row, key in zip(rows, keys, strict=True):
            if key is None or expected.get(key) != row[nkeys + 1]:
                bad += 1
        last = tuple(rows[-1][:nkeys])
