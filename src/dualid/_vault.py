"""Data keys and sealed records over the store: where :mod:`dualid.crypto` (no I/O) meets
:mod:`dualid.store` (every statement). Internal; the services call these inside their
own transactions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dualid.crypto._dek import DataKey, dek_aad, new_secret, secret_aad, unwrap_secret
from dualid.crypto._fields import SealedRow, open_rows, sealed_rows
from dualid.crypto._ring import KeyRing
from dualid.errors import UnknownAgent
from dualid.store import _agents, _sealed, _secrets
from dualid.store._sql import Conn

__all__ = [
    "create_dek",
    "key_usage",
    "load_dek",
    "load_deks",
    "load_or_create_secret",
    "load_page_deks",
    "lock_and_load_dek",
    "open_records",
    "rewrap_batch",
    "seal_values",
]


def create_dek(conn: Conn, ring: KeyRing, agent_id: str, now: datetime) -> DataKey:
    """A fresh data key for a new agent, stored wrapped."""
    ((dek, key_id, wrapped),) = ring.new_deks([agent_id])
    _agents.insert_keys(conn, [_agents.AgentKeyRow(agent_id, key_id, 1, wrapped, now)])
    return dek


def load_dek(conn: Conn, ring: KeyRing, agent_id: str, now: datetime | None = None) -> DataKey:
    """The unwrapped data key of one agent; :class:`~dualid.errors.UnknownAgent` when it
    has none (unknown or erased). ``now``: the transaction's clock time, for the data-key
    cache's age check (read from the clock when None)."""
    return _dek(ring, agent_id, _agents.key_of(conn, agent_id), now)


def lock_and_load_dek(
    conn: Conn, ring: KeyRing, agent_id: str, now: datetime | None = None
) -> DataKey:
    """Take the person's lock (:func:`~dualid.store._agents.lock_agent`), then
    :func:`load_dek`: on SQLite in one statement."""
    return _dek(ring, agent_id, _agents.lock_agent_key(conn, agent_id), now)


def _dek(
    ring: KeyRing, agent_id: str, row: tuple[str, int, bytes] | None, now: datetime | None
) -> DataKey:
    if row is None:
        raise UnknownAgent("no such agent (unknown or erased)")
    key_id, version, wrapped = row
    return ring.deks([(agent_id, key_id, version, wrapped)], now)[agent_id]


def load_deks(conn: Conn, ring: KeyRing, agent_ids: Iterable[str]) -> dict[str, DataKey]:
    """The unwrapped data keys of ``agent_ids``: the key rows read in batched queries, the
    ones not cached unwrapped in one batch call (a KMS provider answers a whole attendee
    list in as few requests as it can). Agents without a key (unknown or erased) are
    absent from the result."""
    return ring.deks(_agents.keys_of(conn, list(dict.fromkeys(agent_ids))))


def load_page_deks(
    conn: Conn,
    ring: KeyRing,
    host_id: str,
    event_id: str,
    first: str,
    last: str,
    versions: Mapping[str, int | None],
) -> dict[str, DataKey]:
    """The data keys of the people registered for ``event_id`` from registration ``first``
    to ``last`` (in registration order) named in ``versions`` (``{agent_id: data-key
    version}`` of the copies about to be opened, read in this transaction): the cached
    ones by agent and version (see :meth:`~dualid.crypto._ring.DekCache.take_versions`),
    the key rows of the others read (by the page's range when many are missing) and
    unwrapped in one batch."""
    found, missing = ring.cache.take_versions(versions)
    if missing:
        if len(missing) > _FEW:
            wanted = set(missing)
            rows = [
                r for r in _agents.page_keys(conn, host_id, event_id, first, last) if r[0] in wanted
            ]
        else:
            rows = _agents.keys_of(conn, missing)
        found.update(ring.deks(rows))
    return found


# Up to this many keys missing from the cache are read by agent, more by the page's range.
_FEW = 50


def seal_values(
    conn: Conn,
    dek: DataKey,
    agent_id: str,
    record_id: str,
    values: Mapping[str, Any],
    now: datetime,
) -> None:
    """Write (replacing) one sealed row per field in ``values``."""
    if not values:
        return
    _sealed.delete_fields(conn, record_id, list(values))
    _sealed.insert_sealed(conn, sealed_rows(dek, agent_id, record_id, values, now))


def insert_sealed(conn: Conn, rows: Sequence[SealedRow]) -> None:
    _sealed.insert_sealed(conn, rows)


def open_records(
    conn: Conn, deks: Mapping[str, DataKey], record_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Decrypt the rows of ``record_ids`` into ``{record_id: {field: value}}``. Rows of
    agents not in ``deks`` are skipped (their key is gone: crypto-shredded); a row that
    fails to authenticate raises :class:`~dualid.errors.DecryptionFailed`."""
    return open_rows(_sealed.records(conn, list(record_ids)), deks)


def load_or_create_secret(conn: Conn, ring: KeyRing, name: str, now: datetime) -> bytes:
    """The store-wide secret ``name``, created (32 random bytes) on first use. Two
    processes racing here agree on one secret: the insert does nothing when a row exists,
    and both read back the one that won."""
    found = _secrets.secret(conn, name)
    if found is None:
        _raw, key_id, wrapped = new_secret(ring, name)
        _secrets.insert_secret(conn, name, key_id, wrapped, now)
        found = _secrets.secret(conn, name)
        assert found is not None
    return unwrap_secret(ring, name, *found)


def rewrap_batch(conn: Conn, ring: KeyRing, limit: int) -> int:
    """Re-wrap up to ``limit`` data keys (and every store secret) not under the primary
    master key, in one unwrap and one wrap batch call. Returns how many were re-wrapped;
    0 means rotation is complete."""
    primary = ring.primary_id
    secrets = _secrets.secrets_not_under(conn, primary)
    for (name, _, _), rewrapped in zip(
        secrets,
        ring.rewrap_many([(k, w, secret_aad(name)) for name, k, w in secrets]),
        strict=True,
    ):
        _secrets.rewrap_secret(conn, name, *rewrapped)
    keys = _agents.keys_not_under(conn, primary, limit)
    for (agent_id, _, _, _), (new_id, new_blob) in zip(
        keys,
        ring.rewrap_many([(k, w, dek_aad(a, v)) for a, k, v, w in keys]),
        strict=True,
    ):
        _agents.rewrap_key(conn, agent_id, new_id, new_blob)
    return len(secrets) + len(keys)


def key_usage(conn: Conn) -> dict[str, int]:
    """How many wrapped keys (data keys and secrets) each master key id still protects."""
    usage = _agents.key_usage(conn)
    for key_id, count in _secrets.secret_usage(conn).items():
        usage[key_id] = usage.get(key_id, 0) + count
    return usage
