"""Sealing the fields of :class:`~dualid.models.EventUserData` into ``dualid_sealed``.

A record is a profile (``record_id`` = ``p:<agentId>``), the userId of an agent
(``u:<agentId>``) or a registration snapshot (its registration id). Every field is one row,
one AES-GCM ciphertext bound to agent, record, field and DEK version.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select

from dualid.models import DataField
from dualid.store._tables import Sealed, table

from ._aead import field_aad, open_field, seal_field
from ._dek import DataKey

__all__ = ["decode_value", "delete_fields", "encode_value", "open_records", "seal_values"]

_SEALED = table(Sealed)


def encode_value(field: str, value: Any) -> bytes:
    if isinstance(value, date):
        value = value.isoformat()
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_value(field: str, raw: bytes) -> Any:
    value = json.loads(raw)
    if field == DataField.BIRTHDAY.value and value is not None:
        return date.fromisoformat(value)
    return value


def seal_values(
    conn: Connection,
    dek: DataKey,
    agent_id: str,
    record_id: str,
    values: Mapping[str, Any],
    now: datetime,
) -> None:
    """Write (replacing) one sealed row per field in ``values``."""
    if not values:
        return
    conn.execute(
        delete(_SEALED).where(
            and_(_SEALED.c.record_id == record_id, _SEALED.c.field.in_(list(values)))
        )
    )
    rows = [
        {
            "record_id": record_id,
            "field": field,
            "agent_id": agent_id,
            "dek_version": dek.version,
            "ciphertext": seal_field(
                dek.aead,
                encode_value(field, value),
                field_aad(agent_id, record_id, field, dek.version),
            ),
            "sealed_at": now,
        }
        for field, value in values.items()
    ]
    conn.execute(insert(_SEALED), rows)


def delete_fields(conn: Connection, record_id: str, fields: Iterable[str] | None = None) -> int:
    stmt = delete(_SEALED).where(_SEALED.c.record_id == record_id)
    if fields is not None:
        stmt = stmt.where(_SEALED.c.field.in_(list(fields)))
    return int(conn.execute(stmt).rowcount)


def open_records(
    conn: Connection,
    deks: Mapping[str, DataKey],
    record_ids: Iterable[str],
    fields: Iterable[str] | None = None,
) -> dict[str, dict[str, tuple[Any, datetime]]]:
    """Decrypt the rows of ``record_ids`` into ``{record_id: {field: (value, sealed_at)}}``.

    Rows whose agent has no DEK in ``deks`` raise :class:`~dualid.errors.DecryptionFailed`
    only if they fail to authenticate; rows for agents not in ``deks`` are skipped (their
    key is gone: crypto-shredded)."""
    ids = list(record_ids)
    out: dict[str, dict[str, tuple[Any, datetime]]] = {}
    cols = (
        _SEALED.c.record_id,
        _SEALED.c.field,
        _SEALED.c.agent_id,
        _SEALED.c.dek_version,
        _SEALED.c.ciphertext,
        _SEALED.c.sealed_at,
    )
    for start in range(0, len(ids), 500):
        stmt = select(*cols).where(_SEALED.c.record_id.in_(ids[start : start + 500]))
        if fields is not None:
            stmt = stmt.where(_SEALED.c.field.in_(list(fields)))
        for record_id, field, agent_id, version, blob, sealed_at in conn.execute(stmt):
            dek = deks.get(agent_id)
            if dek is None:
                continue
            plain = open_field(dek.aead, blob, field_aad(agent_id, record_id, field, version))
            out.setdefault(record_id, {})[field] = (decode_value(field, plain), sealed_at)
    return out
