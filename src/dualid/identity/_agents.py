"""userId <-> agentId mapping."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dualid import audit
from dualid._checks import check_count, check_items, check_text
from dualid._runtime import Runtime, Tx, new_id
from dualid._vault import create_dek, load_dek, load_deks, open_records, seal_values
from dualid.crypto._fields import SealedRow, sealed_rows
from dualid.crypto._generations import IndexKeys
from dualid.crypto._ring import KeyRing
from dualid.errors import InvalidInput, StoreUnavailable, UnknownAgent
from dualid.store import _agents as store
from dualid.store import _sql as db
from dualid.store._retry import retrying
from dualid.store._rows import corrupt
from dualid.store._sealed import insert_sealed
from dualid.store._sql import Conn

__all__ = ["MAX_USER_ID_LENGTH", "Identity", "check_agent_id", "reindex_agents", "user_record"]

MAX_USER_ID_LENGTH = 256
_USER_FIELD = "user_id"


def user_record(agent_id: str) -> str:
    return "u:" + agent_id


def reindex_agents(conn: Conn, provider: KeyRing, keys: IndexKeys, old: int, limit: int) -> int:
    """Re-index up to ``limit`` agents whose blind index is still under generation ``old``
    under ``keys.current`` (``sdk.keys.rotate_index``, one batch in the caller's write):
    each one's sealed userId is opened (the data keys unwrapped in one batch) and its
    index recomputed. Returns how many; 0 once none is left. Rows a person's write holds
    are skipped while others remain, then waited for."""
    agent_ids = store.agents_under_generation(conn, old, limit)
    if not agent_ids and db.dialect(conn) == "postgresql":
        agent_ids = store.agents_under_generation(conn, old, limit, wait=True)
    if not agent_ids:
        return 0
    deks = load_deks(conn, provider, agent_ids)
    opened = open_records(conn, deks, [user_record(a) for a in agent_ids])
    rows = []
    for agent_id in agent_ids:
        user_id = opened.get(user_record(agent_id), {}).get(_USER_FIELD)
        if not isinstance(user_id, str):  # an agent row without its key or userId
            raise corrupt("dualid_sealed", "ciphertext")
        rows.append((agent_id, keys.index(user_id)))
    store.reindex(conn, rows, old, keys.current)
    return len(rows)


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

    # -- finding a userId's agent under the blind-index keys in use ------------------------
    def _lookup(self, conn: Conn, keys: IndexKeys, user_id: str) -> str | None:
        """The agent of ``user_id`` under ``keys`` (the current generation's index first)."""
        if keys.previous is None:
            return store.agent_index(conn, keys.index(user_id))
        current, previous = keys.indexes(user_id)
        return store.agent_of_indexes(conn, current, previous)

    def _find_one(self, conn: Conn, user_id: str) -> str | None:
        """The agent of ``user_id``, or None. A miss under this process's cached keys is
        only an answer once the store's key generations read after it are the same: a
        rotation that began (or ended) meanwhile may have re-indexed the agent under a key
        the cache does not have yet (docs/keys.md)."""
        ring = self._rt.keyring
        keys = ring.cached or ring.refresh_index(conn)
        while True:
            if keys.previous is None:  # the warm path: one HMAC, one equality lookup
                found = store.agent_index(conn, keys.index(user_id))
            else:
                found = self._lookup(conn, keys, user_id)
            if found is not None:
                return found
            fresh = ring.refresh_index(conn)
            if fresh.generations == keys.generations:
                return None
            keys = fresh

    def lookup(self, user_id: str) -> str | None:
        """The agentId of ``user_id`` if it has one; never creates."""
        user_id = _check_user_id(user_id)
        with self._rt.store.autocommit() as conn:
            return self._find_one(conn, user_id)

    def agent_for(self, user_id: str) -> str:
        """The agentId of ``user_id``, created on first call.

        Idempotent and race-safe: concurrent callers (threads, or processes sharing a
        PostgreSQL database) get the same agentId, also while a blind-index rotation runs
        (``sdk.keys.rotate_index``). The userId is stored only as a keyed blind index and
        encrypted under the new agent's own data key.
        """
        user_id = _check_user_id(user_id)
        with self._rt.store.autocommit() as conn:
            found = self._find_one(conn, user_id)
        if found is not None:
            return found
        return self._create_new(user_id)

    @retrying
    def _create_new(self, user_id: str) -> str:
        with self._rt.write() as tx:
            return self._create(tx, user_id)

    def agent_in(self, tx: Tx, user_id: str) -> str:
        """Get-or-create inside the caller's write transaction: a new agent rolls back with
        it (for operations that must not provision an agentId when they fail)."""
        user_id = _check_user_id(user_id)
        return self._find_one(tx.conn, user_id) or self._create(tx, user_id)

    def _create(self, tx: Tx, user_id: str) -> str:
        conn = tx.conn
        # The keys in use, read under the lock a rotation's start waits for: no rotation
        # begins before this commits, so an agent indexed here under the current key is
        # one the rotation will see, and one created under the old key before it began
        # is found here under that key (docs/concurrency.md).
        keys = self._rt.keyring.lock_index(conn)
        existing = self._lookup(conn, keys, user_id)
        if existing is not None:
            return existing
        index = keys.index(user_id)
        agent_id = new_id("agt")
        # Someone else may create it between our read and our write: theirs stands. (An
        # erasure of the previous agent of this userId that commits meanwhile frees the
        # index again, so try once more rather than return an agent that is gone.)
        for _ in range(3):
            if store.insert_agent(conn, agent_id, index, keys.current, tx.now.time):
                break
            existing = self._lookup(conn, keys, user_id)
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
        # Read first: when everyone already has an agent (the common case on a rerun or a
        # second table) no write lock is taken at all.
        with self._rt.store.read() as conn:
            found = self._find_many(conn, chunk)
        if len(found) == len(chunk):
            return found
        with self._rt.write() as tx:
            keys = self._rt.keyring.lock_index(tx.conn)  # as in _create
            missing = [u for u in chunk if u not in found]
            found.update(self._find(tx.conn, keys, missing))
            missing = [u for u in missing if u not in found]
            if missing:
                found.update(self._create_many(tx, keys, {keys.index(u): u for u in missing}))
        return found

    def _find(self, conn: Conn, keys: IndexKeys, user_ids: Iterable[str]) -> dict[str, str]:
        """``{userId: agentId}`` for the users that have an agent under ``keys``."""
        if keys.previous is None:
            by_index = {keys.index(u): u for u in user_ids}
        else:
            by_index = {i: u for u in user_ids for i in keys.indexes(u)}
        found = store.agents_by_index(conn, list(by_index))
        return {by_index[index]: agent_id for index, agent_id in found.items()}

    def _find_many(self, conn: Conn, user_ids: Sequence[str]) -> dict[str, str]:
        """:meth:`_find` under this process's cached keys, the users it misses looked up
        again under the store's keys while those changed (as :meth:`_find_one`)."""
        ring = self._rt.keyring
        keys = ring.index(conn)
        found = self._find(conn, keys, user_ids)
        while len(found) < len(user_ids):
            fresh = ring.refresh_index(conn)
            if fresh.generations == keys.generations:
                break
            keys = fresh
            found.update(self._find(conn, keys, [u for u in user_ids if u not in found]))
        return found

    def lookup_many(self, user_ids: Iterable[str]) -> dict[str, str]:
        """``{userId: agentId}`` for the given users that have an agentId; never creates
        (read-only bulk form of :meth:`lookup`, e.g. ``dualid migrate-ids --verify``)."""
        wanted = list(dict.fromkeys(_check_user_id(u) for u in check_items(user_ids, "user_ids")))
        with self._rt.store.read() as conn:
            return self._find_many(conn, wanted)

    def _create_many(self, tx: Tx, keys: IndexKeys, missing: dict[bytes, str]) -> dict[str, str]:
        """Bulk form of :meth:`_create` for :meth:`agents_for`: the same rows, ciphertexts
        and ``agent.created`` audit entries, written with one multi-row statement per table
        instead of several round trips per agent (bulk onboarding, ``dualid migrate-ids``).
        ``missing``: the users to create, by their blind index under the current key.
        """
        conn, now = tx.conn, tx.now.time
        # Insert in index order: concurrent bulk calls over overlapping users then take the
        # unique-index locks in one order and cannot deadlock (PostgreSQL 40P01).
        proposed = {index: new_id("agt") for index in sorted(missing)}
        rows = [(a, i) for i, a in proposed.items()]
        inserted = store.insert_agents(conn, rows, keys.current, now)
        # Another writer may have created some of them between our read and our insert:
        # theirs stand, and only the rows we inserted get a key, a sealed userId and an entry.
        # SQLite counts the rows it inserted (and holds the write lock): when every one went
        # in, they are all ours; otherwise (and on PostgreSQL) read back who won.
        if db.dialect(conn) == "sqlite" and inserted == len(proposed):
            winners = {missing[index]: agent_id for index, agent_id in proposed.items()}
        else:
            winners = self._find(conn, keys, missing.values())
        created = [
            (index, user_id)
            for index, user_id in missing.items()
            if winners.get(user_id) == proposed[index]
        ]
        keys_rows: list[store.AgentKeyRow] = []
        sealed: list[SealedRow] = []
        # The chunk's data keys wrapped in one batch call (one KMS request, not one each).
        new_deks = self._rt.provider.new_deks([proposed[index] for index, _ in created])
        for (index, user_id), (dek, key_id, wrapped) in zip(created, new_deks, strict=True):
            agent_id = proposed[index]
            keys_rows.append(store.AgentKeyRow(agent_id, key_id, dek.version, wrapped, now))
            sealed += sealed_rows(dek, agent_id, user_record(agent_id), {_USER_FIELD: user_id}, now)
        store.insert_keys(conn, keys_rows)
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
