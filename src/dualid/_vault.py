"""Data keys and sealed records over the store: where :mod:`dualid.crypto` (no I/O) meets
:mod:`dualid.store` (every statement). Internal; the services call these inside their
own transactions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dualid.crypto import KeyProvider
from dualid.crypto._dek import (
    DataKey,
    dek_aad,
    new_dek,
    new_secret,
    rewrap,
    secret_aad,
    unwrap_dek,
    unwrap_deks,
    unwrap_secret,
)
from dualid.crypto._fields import SealedRow, open_rows, sealed_rows
from dualid.errors import UnknownAgent
from dualid.store import _agents, _sealed, _secrets
from dualid.store._sql import Conn

__all__ = [
    "create_dek",
    "key_usage",
    "load_dek",
    "load_deks",
    "load_or_create_secret",
    "open_records",
    "rewrap_batch",
    "seal_values",
]


def create_dek(conn: Conn, provider: KeyProvider, agent_id: str, now: datetime) -> DataKey:
    """A fresh data key for a new agent, stored wrapped."""
    dek, key_id, wrapped = new_dek(provider, agent_id)
    _agents.insert_keys(conn, [_agents.AgentKeyRow(agent_id, key_id, 1, wrapped, now)])
    return dek


def load_dek(conn: Conn, provider: KeyProvider, agent_id: str) -> DataKey:
    """The unwrapped data key of one agent; :class:`~dualid.errors.UnknownAgent` when it
    has none (unknown or erased)."""
    row = _agents.key_of(conn, agent_id)
    if row is None:
        raise UnknownAgent("no such agent (unknown or erased)")
    key_id, version, wrapped = row
    return unwrap_dek(provider, agent_id, key_id, version, wrapped)


def load_deks(conn: Conn, provider: KeyProvider, agent_ids: Iterable[str]) -> dict[str, DataKey]:
    """The unwrapped data keys of ``agent_ids`` (batched queries and unwraps). Agents
    without a key (unknown or erased) are absent from the result."""
    wanted = list(dict.fromkeys(agent_ids))
    out: dict[str, DataKey] = {}
    for start in range(0, len(wanted), 500):
        out.update(unwrap_deks(provider, _agents.keys_of(conn, wanted[start : start + 500])))
    return out


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


def load_or_create_secret(conn: Conn, provider: KeyProvider, name: str, now: datetime) -> bytes:
    """The store-wide secret ``name``, created (32 random bytes) on first use. Two
    processes racing here agree on one secret: the insert does nothing when a row exists,
    and both read back the one that won."""
    found = _secrets.secret(conn, name)
    if found is None:
        _raw, key_id, wrapped = new_secret(provider, name)
        _secrets.insert_secret(conn, name, key_id, wrapped, now)
        found = _secrets.secret(conn, name)
        assert found is not None
    return unwrap_secret(provider, name, *found)


def rewrap_batch(conn: Conn, provider: KeyProvider, limit: int) -> int:
    """Re-wrap up to ``limit`` data keys (and every store secret) not under the primary
    master key. Returns how many were re-wrapped; 0 means rotation is complete."""
    primary = provider.primary_id
    done = 0
    for name, key_id, wrapped in _secrets.secrets_not_under(conn, primary):
        _secrets.rewrap_secret(conn, name, *rewrap(provider, key_id, wrapped, secret_aad(name)))
        done += 1
    for agent_id, key_id, version, wrapped in _agents.keys_not_under(conn, primary, limit):
        new_id, new_blob = rewrap(provider, key_id, wrapped, dek_aad(agent_id, version))
        _agents.rewrap_key(conn, agent_id, new_id, new_blob)
        done += 1
    return done


def key_usage(conn: Conn) -> dict[str, int]:
    """How many wrapped keys (data keys and secrets) each master key id still protects."""
    usage = _agents.key_usage(conn)
    for key_id, count in _secrets.secret_usage(conn).items():
        usage[key_id] = usage.get(key_id, 0) + count
    return usage
