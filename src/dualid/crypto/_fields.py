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

from dualid.errors import DecryptionFailed
from dualid.store._tables import Sealed, table

from ._aead import field_aad, open_field, seal_field
from ._dek import DataKey

__all__ = [
    "decode_value",
    "delete_fields",
    "encode_value",
    "insert_sealed_rows",
    "open_records",
    "seal_values",
    "sealed_row",
]

_SEALED = table(Sealed)


# One tag byte, then the value: text as UTF-8, a date as ISO 8601, anything else JSON.
# Decoding needs no JSON parser for the common (text) fields.
_TEXT, _DATE, _JSON = b"s", b"d", b"j"


def encode_value(field: str, value: Any) -> bytes:
    if isinstance(value, str):
        return _TEXT + value.encode()
    if isinstance(value, date):
        return _DATE + value.isoformat().encode()
    return _JSON + json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def decode_value(field: str, raw: bytes) -> Any:
    tag, body = raw[:1], raw[1:]
    if tag == _TEXT:
        return body.decode()
    if tag == _DATE:
        return date.fromisoformat(body.decode())
    if tag == _JSON:
        return json.loads(body)
    raise DecryptionFailed("a stored field has an unknown encoding")


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
    conn.execute(
        insert(_SEALED),
        [sealed_row(dek, agent_id, record_id, f, v, now) for f, v in values.items()],
    )


def sealed_row(
    dek: DataKey, agent_id: str, record_id: str, field: str, value: Any, now: datetime
) -> dict[str, Any]:
    """The ``dualid_sealed`` row for one field (for callers inserting many at once)."""
    return {
        "record_id": record_id,
        "field": field,
        "agent_id": agent_id,
        "dek_version": dek.version,
        "ciphertext": seal_field(
            dek.aead, encode_value(field, value), field_aad(agent_id, record_id, field, dek.version)
        ),
        "sealed_at": now,
    }


def insert_sealed_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
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
) -> dict[str, dict[str, Any]]:
    """Decrypt the rows of ``record_ids`` into ``{record_id: {field: value}}``.

    Rows whose agent has no DEK in ``deks`` raise :class:`~dualid.errors.DecryptionFailed`
    only if they fail to authenticate; rows for agents not in ``deks`` are skipped (their
    key is gone: crypto-shredded)."""
    ids = list(record_ids)
    out: dict[str, dict[str, Any]] = {}
    cols = (
        _SEALED.c.record_id,
        _SEALED.c.field,
        _SEALED.c.agent_id,
        _SEALED.c.dek_version,
        _SEALED.c.ciphertext,
    )
    for start in range(0, len(ids), 500):
        stmt = select(*cols).where(_SEALED.c.record_id.in_(ids[start : start + 500]))
        if fields is not None:
            stmt = stmt.where(_SEALED.c.field.in_(list(fields)))
        for record_id, field, agent_id, version, blob in conn.execute(stmt).all():
            dek = deks.get(agent_id)
            if dek is None:
                continue
            plain = open_field(dek.aead, blob, field_aad(agent_id, record_id, field, version))
            record = out.get(record_id)
            if record is None:
                record = out[record_id] = {}
            record[field] = decode_value(field, plain)
    return out
