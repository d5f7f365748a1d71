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

from sqlalchemy import Connection

from dualid.errors import DecryptionFailed
from dualid.store import _fast as fast

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


_INSERT = fast.Sql(
    "INSERT INTO dualid_sealed (record_id, field, agent_id, dek_version, ciphertext, sealed_at)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_COLUMNS = ("record_id", "field", "agent_id", "dek_version", "ciphertext", "sealed_at")


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
    delete_fields(conn, record_id, list(values))
    insert_sealed_rows(
        conn, [sealed_row(dek, agent_id, record_id, f, v, now) for f, v in values.items()]
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
    fast.executemany(
        conn,
        _INSERT,
        [
            (
                r["record_id"],
                r["field"],
                r["agent_id"],
                r["dek_version"],
                r["ciphertext"],
                fast.to_us(r["sealed_at"]),
            )
            for r in rows
        ],
    )


def delete_fields(conn: Connection, record_id: str, fields: Iterable[str] | None = None) -> int:
    """Delete the sealed rows of ``record_id`` (only ``fields``, when given)."""
    if fields is None:
        return fast.execute(conn, "DELETE FROM dualid_sealed WHERE record_id = ?", (record_id,))
    names = list(fields)
    if not names:
        return 0
    return fast.execute(
        conn,
        fast.in_list("DELETE FROM dualid_sealed WHERE record_id = ? AND field IN (*)", len(names)),
        (record_id, *names),
    )


def open_records(
    conn: Connection | fast.RawConnection,
    deks: Mapping[str, DataKey],
    record_ids: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """Decrypt the rows of ``record_ids`` into ``{record_id: {field: value}}``.

    Rows of agents not in ``deks`` are skipped (their key is gone: crypto-shredded); a row
    that fails to authenticate raises :class:`~dualid.errors.DecryptionFailed`."""
    ids = list(record_ids)
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        sql = fast.in_list(
            "SELECT record_id, field, agent_id, dek_version, ciphertext FROM dualid_sealed"
            " WHERE record_id IN (*)",
            len(chunk),
        )
        for record_id, field, agent_id, version, blob in fast.query(conn, sql, chunk):
            dek = deks.get(agent_id)
            if dek is None:
                continue
            plain = open_field(
                dek.aead, bytes(blob), field_aad(agent_id, record_id, field, version)
            )
            record = out.get(record_id)
            if record is None:
                record = out[record_id] = {}
            record[field] = decode_value(field, plain)
    return out
