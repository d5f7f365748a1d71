"""Sealing the fields of :class:`~dualid.models.EventUserData` into ``dualid_sealed``.

A record is a profile (``record_id`` = ``p:<agentId>``), the userId of an agent
(``u:<agentId>``) or a registration snapshot (its registration id). Every field is one row,
one AES-GCM ciphertext bound to agent, record, field and DEK version. No I/O: the rows go
to and come from :mod:`dualid.store` through :mod:`dualid._vault`.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from cryptography.exceptions import InvalidTag

from dualid._micros import to_us
from dualid.errors import CorruptRow, DecryptionFailed, DualIdError

from ._aead import _NONCE, FORMAT_V1, field_aad
from ._dek import DataKey

__all__ = [
    "SealedRow",
    "decode_value",
    "encode_value",
    "open_record",
    "open_rows",
    "sealed_rows",
]


# One tag byte, then the value: text as UTF-8, a date as ISO 8601, anything else JSON.
# Decoding needs no JSON parser for the common (text) fields.
_TEXT, _DATE, _JSON = b"s", b"d", b"j"
# json.dumps(value, separators=(",", ":"), ensure_ascii=False) and json.loads, without
# building an encoder per call (dumps with arguments does) or detecting the encoding of
# bytes (loads does): the JSON is the UTF-8 this module wrote.
_json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_json_value = json.JSONDecoder().decode


def encode_value(field: str, value: Any) -> bytes:
    if isinstance(value, str):
        return _TEXT + value.encode()
    if isinstance(value, date):
        return _DATE + value.isoformat().encode()
    return _JSON + _json_text(value).encode()


def decode_value(field: str, raw: bytes) -> Any:
    tag, body = raw[:1], raw[1:]
    if tag == _TEXT:
        return body.decode()
    if tag == _DATE:
        return date.fromisoformat(body.decode())
    if tag == _JSON:
        return _json_value(body.decode())
    raise DecryptionFailed("a stored field has an unknown encoding")


SealedRow = tuple[str, str, str, int, bytes, int]
"""A ``dualid_sealed`` row in column order: record_id, field, agent_id, dek_version,
ciphertext, sealed_at (microseconds since the epoch)."""


def sealed_rows(
    dek: DataKey, agent_id: str, record_id: str, values: Mapping[str, Any], now: datetime
) -> list[SealedRow]:
    """The ``dualid_sealed`` rows of one record, a field each, for callers inserting them
    at once: one random read for all the nonces, one timestamp. Every profile write runs
    this, so :func:`~dualid.crypto._aead.seal_field` and :func:`encode_value` (for text)
    are inlined: the same bytes."""
    version = dek.version
    sealed_at = to_us(now)
    nonces = secrets.token_bytes(_NONCE * len(values))
    encrypt = dek.aead.encrypt
    out: list[SealedRow] = []
    end = 0
    for field, value in values.items():
        start, end = end, end + _NONCE
        nonce = nonces[start:end]
        plain = _TEXT + value.encode() if type(value) is str else encode_value(field, value)
        aad = field_aad(agent_id, record_id, field, version)
        blob = FORMAT_V1 + nonce + encrypt(nonce, plain, aad)
        out.append((record_id, field, agent_id, version, blob, sealed_at))
    return out


def open_rows(
    rows: Iterable[Sequence[Any]],
    deks: Mapping[str, DataKey],
    *,
    keep: Mapping[str, Container[str]] | None = None,
    into: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Decrypt ``(record_id, field, agent_id, dek_version, ciphertext)`` rows into
    ``{record_id: {field: value}}``. With ``keep``, only the fields it lists for a record
    are decrypted (the rest are never opened); rows of agents not in ``deks`` are skipped.
    This is the loop behind every bulk read (a host's attendee list opens tens of
    thousands of fields), so it calls AES-GCM directly instead of :func:`open_field`."""
    out: dict[str, dict[str, Any]] = {} if into is None else into
    version_tag = FORMAT_V1[0]
    minimum = 1 + _NONCE + 16
    text_tag = _TEXT[0]
    try:
        for record_id, field, agent_id, version, blob in rows:
            if keep is not None:
                wanted = keep.get(record_id)
                if not wanted or field not in wanted:
                    continue
            dek = deks.get(agent_id)
            if dek is None:
                continue
            if blob[0] != version_tag or len(blob) < minimum:
                raise DecryptionFailed("a stored field has an unknown format")
            aad = field_aad(agent_id, record_id, field, version)
            plain = dek.aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
            if plain[0] == text_tag:
                value: Any = plain[1:].decode()
            else:
                value = decode_value(field, plain)
            record = out.get(record_id)
            if record is None:
                out[record_id] = {field: value}
            else:
                record[field] = value
    except (InvalidTag, IndexError, TypeError, AttributeError) as exc:
        raise _unopenable(exc) from None
    return out


def open_record(
    dek: DataKey, agent_id: str, record_id: str, rows: Iterable[Sequence[Any]]
) -> dict[str, Any]:
    """:func:`open_rows` for the ``(field, dek_version, ciphertext)`` rows of one record of
    one agent (a profile read): ``{field: value}``."""
    out: dict[str, Any] = {}
    decrypt = dek.aead.decrypt
    version_tag = FORMAT_V1[0]
    minimum = 1 + _NONCE + 16
    text_tag = _TEXT[0]
    try:
        for field, version, blob in rows:
            if blob[0] != version_tag or len(blob) < minimum:
                raise DecryptionFailed("a stored field has an unknown format")
            aad = field_aad(agent_id, record_id, field, version)
            plain = decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad)
            out[field] = plain[1:].decode() if plain[0] == text_tag else decode_value(field, plain)
    except (InvalidTag, IndexError, TypeError, AttributeError) as exc:
        raise _unopenable(exc) from None
    return out


def _unopenable(exc: Exception) -> DualIdError:
    """What a row that cannot be opened is, by what opening it raised."""
    if isinstance(exc, InvalidTag):
        return DecryptionFailed(
            "a stored field did not authenticate (wrong key, or moved to another row or field)"
        )
    if isinstance(exc, IndexError):  # an empty ciphertext or plaintext
        return DecryptionFailed("a stored field has an unknown format")
    # A column of the wrong type (SQLite stores anything anywhere): the host view's rows
    # come unchecked (dualid.store._sealed.event_copies), they are refused here.
    return CorruptRow("dualid_sealed")
