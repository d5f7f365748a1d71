"""Per-agent data keys (DEKs): created, unwrapped in batches, re-wrapped, destroyed.

Unwrapped keys live only for the duration of one call (a dict the caller holds): no
process-wide cache can outlive an erasure made by another process.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, delete, func, select, update

from dualid.errors import UnknownAgent
from dualid.store import _fast as fast
from dualid.store._dialect import insert_ignore
from dualid.store._tables import AgentKey, Secret, table

from ._keys import KeyProvider

__all__ = [
    "DataKey",
    "create_dek",
    "destroy_dek",
    "insert_dek_rows",
    "load_dek",
    "load_deks",
    "load_or_create_secret",
    "new_dek",
    "rewrap_batch",
    "unwrap_dek",
    "usage_by_master_key",
]

_KEYS = table(AgentKey)
_SECRETS = table(Secret)
_UNWRAP_BATCH = 500


def _dek_aad(agent_id: str, version: int) -> bytes:
    return f"dualid/dek/v1\x1f{agent_id}\x1f{version}".encode()


def _secret_aad(name: str) -> bytes:
    return f"dualid/secret/v1\x1f{name}".encode()


class DataKey:
    """An unwrapped DEK: the AES-GCM object and its version."""

    __slots__ = ("aead", "version")

    def __init__(self, aead: AESGCM, version: int) -> None:
        self.aead = aead
        self.version = version

    def __repr__(self) -> str:
        return f"DataKey(version={self.version})"


def new_dek(provider: KeyProvider, agent_id: str, now: datetime) -> tuple[DataKey, dict[str, Any]]:
    """A fresh DEK for ``agent_id`` and the ``dualid_agent_key`` row that stores it wrapped
    (for callers that insert many rows at once)."""
    raw = secrets.token_bytes(32)
    key_id, wrapped = provider.wrap(raw, _dek_aad(agent_id, 1))
    row = {
        "agent_id": agent_id,
        "master_key_id": key_id,
        "dek_version": 1,
        "wrapped": wrapped,
        "created_at": now,
    }
    return DataKey(AESGCM(raw), 1), row


_INSERT_KEY = fast.Sql(
    "INSERT INTO dualid_agent_key (agent_id, master_key_id, dek_version, wrapped, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
)


def insert_dek_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    fast.executemany(
        conn,
        _INSERT_KEY,
        [
            (
                r["agent_id"],
                r["master_key_id"],
                r["dek_version"],
                r["wrapped"],
                fast.to_us(r["created_at"]),
            )
            for r in rows
        ],
    )


def create_dek(conn: Connection, provider: KeyProvider, agent_id: str, now: datetime) -> DataKey:
    dek, row = new_dek(provider, agent_id, now)
    insert_dek_rows(conn, [row])
    return dek


def load_deks(
    conn: Connection | fast.RawConnection, provider: KeyProvider, agent_ids: Iterable[str]
) -> dict[str, DataKey]:
    """Unwrap the DEKs of ``agent_ids`` (batched queries). Agents without a key (unknown or
    erased) are absent from the result."""
    wanted = list(dict.fromkeys(agent_ids))
    out: dict[str, DataKey] = {}
    unwrap_many = getattr(provider, "unwrap_many", None)  # optional (see KeyProvider)
    for start in range(0, len(wanted), _UNWRAP_BATCH):
        chunk = wanted[start : start + _UNWRAP_BATCH]
        sql = fast.in_list(
            "SELECT agent_id, master_key_id, dek_version, wrapped FROM dualid_agent_key"
            " WHERE agent_id IN (*)",
            len(chunk),
        )
        rows = fast.query(conn, sql, chunk)
        items = [(key_id, bytes(wrapped), _dek_aad(a, v)) for a, key_id, v, wrapped in rows]
        if unwrap_many is not None:
            raws = unwrap_many(items)
        else:
            raws = [provider.unwrap(*item) for item in items]
        for (agent_id, _key_id, version, _wrapped), raw in zip(rows, raws, strict=True):
            out[agent_id] = DataKey(AESGCM(raw), version)
    return out


def unwrap_dek(
    provider: KeyProvider, agent_id: str, key_id: str, version: int, wrapped: bytes
) -> DataKey:
    """The DEK of one ``dualid_agent_key`` row (for callers that read the row themselves,
    joined with what it decrypts)."""
    raw = provider.unwrap(key_id, bytes(wrapped), _dek_aad(agent_id, version))
    return DataKey(AESGCM(raw), version)


_ONE_KEY = fast.Sql(
    "SELECT master_key_id, dek_version, wrapped FROM dualid_agent_key WHERE agent_id = ?"
)


def load_dek(
    conn: Connection | fast.RawConnection, provider: KeyProvider, agent_id: str
) -> DataKey:
    """The unwrapped DEK of one agent; :class:`~dualid.errors.UnknownAgent` when it has
    none (unknown or erased)."""
    rows = fast.query(conn, _ONE_KEY, (agent_id,))
    if not rows:
        raise UnknownAgent("no such agent (unknown or erased)")
    key_id, version, wrapped = rows[0]
    return unwrap_dek(provider, agent_id, key_id, version, wrapped)


def destroy_dek(conn: Connection, agent_id: str) -> bool:
    return conn.execute(delete(_KEYS).where(_KEYS.c.agent_id == agent_id)).rowcount > 0


def rewrap_batch(conn: Connection, provider: KeyProvider, limit: int) -> int:
    """Re-wrap up to ``limit`` DEKs (and store secrets) not under the primary master key.
    Returns how many were re-wrapped; 0 means rotation is complete."""
    primary = provider.primary_id
    done = 0
    for name, key_id, wrapped in conn.execute(
        select(_SECRETS.c.name, _SECRETS.c.master_key_id, _SECRETS.c.wrapped).where(
            _SECRETS.c.master_key_id != primary
        )
    ).all():
        raw = provider.unwrap(key_id, wrapped, _secret_aad(name))
        new_id, new_blob = provider.wrap(raw, _secret_aad(name))
        conn.execute(
            update(_SECRETS)
            .where(_SECRETS.c.name == name)
            .values(master_key_id=new_id, wrapped=new_blob)
        )
        done += 1
    rows = conn.execute(
        select(_KEYS.c.agent_id, _KEYS.c.master_key_id, _KEYS.c.dek_version, _KEYS.c.wrapped)
        .where(_KEYS.c.master_key_id != primary)
        .order_by(_KEYS.c.agent_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for agent_id, key_id, version, wrapped in rows:
        aad = _dek_aad(agent_id, version)
        raw = provider.unwrap(key_id, wrapped, aad)
        new_id, new_blob = provider.wrap(raw, aad)
        conn.execute(
            update(_KEYS)
            .where(_KEYS.c.agent_id == agent_id)
            .values(master_key_id=new_id, wrapped=new_blob)
        )
        done += 1
    return done


def usage_by_master_key(conn: Connection) -> dict[str, int]:
    """How many wrapped keys (DEKs and secrets) each master key id still protects."""
    usage: dict[str, int] = {}
    for key_id, count in conn.execute(
        select(_KEYS.c.master_key_id, func.count()).group_by(_KEYS.c.master_key_id)
    ):
        usage[key_id] = usage.get(key_id, 0) + int(count)
    for key_id, count in conn.execute(
        select(_SECRETS.c.master_key_id, func.count()).group_by(_SECRETS.c.master_key_id)
    ):
        usage[key_id] = usage.get(key_id, 0) + int(count)
    return usage


def load_or_create_secret(
    conn: Connection, provider: KeyProvider, name: str, now: datetime
) -> bytes:
    """The store-wide secret ``name``, created (32 random bytes) on first use. Two
    processes racing here agree on one secret: the insert does nothing when a row exists."""
    row = conn.execute(
        select(_SECRETS.c.master_key_id, _SECRETS.c.wrapped).where(_SECRETS.c.name == name)
    ).first()
    if row is None:
        raw = secrets.token_bytes(32)
        key_id, wrapped = provider.wrap(raw, _secret_aad(name))
        values = {"name": name, "master_key_id": key_id, "wrapped": wrapped, "created_at": now}
        insert_ignore(conn, _SECRETS, values)
        row = conn.execute(
            select(_SECRETS.c.master_key_id, _SECRETS.c.wrapped).where(_SECRETS.c.name == name)
        ).one()
    return provider.unwrap(row.master_key_id, row.wrapped, _secret_aad(name))
