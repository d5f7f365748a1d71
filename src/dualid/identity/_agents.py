"""userId <-> agentId mapping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dualid import audit
from dualid._checks import check_count, check_items, check_text
from dualid._runtime import Runtime, Tx, new_id
from dualid._vault import create_dek, load_dek, open_records, seal_values
from dualid.crypto._fields import SealedRow, sealed_rows
from dualid.errors import InvalidInput, StoreUnavailable, UnknownAgent
from dualid.store import _agents as store
from dualid.store import _sql as db
from dualid.store._retry import retrying
from dualid.store._sealed import insert_sealed
from dualid.store._sql import Conn

__all__ = ["MAX_USER_ID_LENGTH", "Identity", "check_agent_id", "user_record"]

MAX_USER_ID_LENGTH = 256
_USER_FIELD = "user_id"


def user_record(agent_id: str) -> str:
    return "u:" + agent_id


def check_agent_id(agent_id: object) -> str:
    if not isinstance(agent_id, str) or not agent_id.startswith("agt_") or len(agent_id) > 40:
        raise InvalidInput("not an agentId")
    return agent_id


def _check_user_id(user_id: object) -> str:
    if not isinstance(user_id, str) or not user_id.strip():
        raise InvalidInput("a userId must be a non-empty string")
    if len(user_id) > MAX_USER_ID_LENGTH:
        raise InvalidInput(f"a userId must be at most {MAX_USER_ID_LENGTH} characters")
    # Checked here, not by the store's backstop: the blind index (HMAC of the UTF-8
    # bytes) is computed before any statement runs.
    return check_text(user_id, "userId")


class Identity:
    """The mapping between the platform's userIds and dualid's opaque agentIds.

    >>> agent_id = sdk.identity.agent_for("user-123")     # doctest: +SKIP
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def _lookup(self, conn: Conn, index: bytes) -> str | None:
        return store.agent_index(conn, index)

    def lookup(self, user_id: str) -> str | None:
        """The agentId of ``user_id`` if it has one; never creates."""
        index = self._rt.derived.user_index(_check_user_id(user_id))
        with self._rt.store.autocommit() as conn:
            return self._lookup(conn, index)

    def agent_for(self, user_id: str) -> str:
        """The agentId of ``user_id``, created on first call.

        Idempotent and race-safe: concurrent callers (threads, or processes sharing a
        PostgreSQL database) get the same agentId. The userId is stored only as a keyed
        blind index and encrypted under the new agent's own data key.
        """
        index = self._rt.derived.user_index(_check_user_id(user_id))
        with self._rt.store.autocommit() as conn:
            found = self._lookup(conn, index)
        if found is not None:
            return found
        return self._create_new(user_id, index)

    @retrying
    def _create_new(self, user_id: str, index: bytes) -> str:
        with self._rt.write() as tx:
            return self._create(tx, user_id, index)

    def agent_in(self, tx: Tx, user_id: str) -> str:
        """Get-or-create inside the caller's write transaction: a new agent rolls back with
        it (for operations that must not provision an agentId when they fail)."""
        index = self._rt.derived.user_index(_check_user_id(user_id))
        return self._lookup(tx.conn, index) or self._create(tx, user_id, index)

    def _create(self, tx: Tx, user_id: str, index: bytes) -> str:
        conn = tx.conn
        agent_id = new_id("agt")
        # Someone else may create it between our read and our write: theirs stands. (An
        # erasure of the previous agent of this userId that commits meanwhile frees the
        # index again, so try once more rather than return an agent that is gone.)
        for _ in range(3):
            if store.insert_agent(conn, agent_id, index, tx.now.time):
                break
            existing = self._lookup(conn, index)
            if existing is not None:
                return existing
        else:
            raise StoreUnavailable("the agent could not be created; try again")
        dek = create_dek(conn, self._rt.provider, agent_id, tx.now.time)
        seal_values(conn, dek, agent_id, user_record(agent_id), {_USER_FIELD: user_id}, tx.now.time)
        audit.append(conn, tx.now, "agent.created", subject=agent_id)
        return agent_id

    @retrying
    def agents_for(self, user_ids: Iterable[str], *, batch: int = 1000) -> dict[str, str]:
        """``{userId: agentId}`` for many users at once, creating the missing ones in
        transactions of ``batch`` users (bulk onboarding, ``dualid migrate-ids``)."""
        batch = check_count(batch, "batch")
        wanted = list(dict.fromkeys(_check_user_id(u) for u in check_items(user_ids, "user_ids")))
        out: dict[str, str] = {}
        for start in range(0, len(wanted), batch):
            chunk = wanted[start : start + batch]
            out.update(self._agents_for_chunk(chunk))
        return out

    def _agents_for_chunk(self, chunk: Sequence[str]) -> dict[str, str]:
        derived = self._rt.derived
        by_index = {derived.user_index(u): u for u in chunk}
        # Read first: when everyone already has an agent (the common case on a rerun or a
        # second table) no write lock is taken at all.
        with self._rt.store.read() as conn:
            found = self._find(conn, by_index)
        if len(found) == len(by_index):
            return found
        with self._rt.write() as tx:
            missing = {i: u for i, u in by_index.items() if u not in found}
            found.update(self._find(tx.conn, missing))
            missing = {i: u for i, u in missing.items() if u not in found}
            if missing:
                found.update(self._create_many(tx, missing))
        return found

    def _find(self, conn: Conn, by_index: dict[bytes, str]) -> dict[str, str]:
        """``{userId: agentId}`` for the blind indexes that have an agent."""
        found = store.agents_by_index(conn, list(by_index))
        return {by_index[index]: agent_id for index, agent_id in found.items()}

    def lookup_many(self, user_ids: Iterable[str]) -> dict[str, str]:
        """``{userId: agentId}`` for the given users that have an agentId; never creates
        (read-only bulk form of :meth:`lookup`, e.g. ``dualid migrate-ids --verify``)."""
        derived = self._rt.derived
        wanted = [_check_user_id(u) for u in check_items(user_ids, "user_ids")]
        by_index = {derived.user_index(u): u for u in wanted}
        with self._rt.store.read() as conn:
            return self._find(conn, by_index)

    def _create_many(self, tx: Tx, missing: dict[bytes, str]) -> dict[str, str]:
        """Bulk form of :meth:`_create` for :meth:`agents_for`: the same rows, ciphertexts
        and ``agent.created`` audit entries, written with one multi-row statement per table
        instead of several round trips per agent (bulk onboarding, ``dualid migrate-ids``).
        """
        conn, now = tx.conn, tx.now.time
        # Insert in index order: concurrent bulk calls over overlapping users then take the
        # unique-index locks in one order and cannot deadlock (PostgreSQL 40P01).
        proposed = {index: new_id("agt") for index in sorted(missing)}
        inserted = store.insert_agents(conn, [(a, i) for i, a in proposed.items()], now)
        # Another writer may have created some of them between our read and our insert:
        # theirs stand, and only the rows we inserted get a key, a sealed userId and an entry.
        # SQLite counts the rows it inserted (and holds the write lock): when every one went
        # in, they are all ours; otherwise (and on PostgreSQL) read back who won.
        if db.dialect(conn) == "sqlite" and inserted == len(proposed):
            winners = {missing[index]: agent_id for index, agent_id in proposed.items()}
        else:
            winners = self._find(conn, missing)
        created = [
            (index, user_id)
            for index, user_id in missing.items()
            if winners.get(user_id) == proposed[index]
        ]
        keys: list[store.AgentKeyRow] = []
        sealed: list[SealedRow] = []
        # The chunk's data keys wrapped in one batch call (one KMS request, not one each).
        new_deks = self._rt.provider.new_deks([proposed[index] for index, _ in created])
        for (index, user_id), (dek, key_id, wrapped) in zip(created, new_deks, strict=True):
            agent_id = proposed[index]
            keys.append(store.AgentKeyRow(agent_id, key_id, dek.version, wrapped, now))
            sealed += sealed_rows(dek, agent_id, user_record(agent_id), {_USER_FIELD: user_id}, now)
        store.insert_keys(conn, keys)
        insert_sealed(conn, sealed)
        audit.append_many(
            conn,
            tx.now,
            [("agent.created", proposed[index], None, None, {}) for index, _ in created],
        )
        return winners

    @retrying
    def user_for(self, agent_id: str, *, actor: str, reason: str) -> str:
        """The userId behind ``agent_id``: a privileged, audited reverse lookup.

        ``actor`` (who asks) and ``reason`` (why, e.g. a ticket number) are recorded in the
        audit trail in the same transaction; keep personal data out of both.
        """
        check_agent_id(agent_id)
        for name, value in (("actor", actor), ("reason", reason)):
            if not isinstance(value, str) or not value.strip() or len(value) > 200:
                raise InvalidInput(f"{name} must be a non-empty string of at most 200 characters")
            check_text(value, name)
        with self._rt.write() as tx:
            dek = load_dek(tx.conn, self._rt.provider, agent_id)
            record = user_record(agent_id)
            opened = open_records(tx.conn, {agent_id: dek}, [record])
            if record not in opened:
                raise UnknownAgent("no such agent (unknown or erased)")
            audit.append(
                tx.conn,
                tx.now,
                "agent.user_lookup",
                subject=agent_id,
                actor=actor,
                details={"reason": reason},
            )
            value = opened[record][_USER_FIELD]
            assert isinstance(value, str)
            return value
