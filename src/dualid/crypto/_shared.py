"""A registration's shared copy as one AES-GCM blob (``dualid_shared``, migration 0011).

The plaintext is the host's pairwise ref followed by the values, in the order of the
copy's ``fields`` (sorted names), each tagged as a stored field is (``s`` text, ``d`` a
date, ``j`` JSON) and separated by U+001F. No value the models accept holds U+001F (names
and companies refuse control characters, phones are E.164, emails are validated, JSON
escapes it); if one ever did, the copy is written as a JSON array instead, which a
leading ``[`` tells apart (a ref starts with ``ref_``). The associated data binds agent,
registration, host, event, field list and data-key version (P4). No I/O.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Container, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag

from dualid._micros import to_us
from dualid.errors import CorruptRow, DecryptionFailed

from ._aead import _NONCE, FORMAT_V1
from ._dek import DataKey
from ._fields import decode_value, encode_value

__all__ = ["SharedRow", "open_copies", "open_copy", "seal_copy", "shared_aad"]

SharedRow = tuple[str, str, str, int, bytes, int]
"""A ``dualid_shared`` row in column order: registration_id, agent_id, fields, dek_version,
ciphertext, sealed_at (microseconds since the epoch)."""

_SEP = "\x1f"
_MIN_BLOB = 1 + _NONCE + 16


def shared_aad(
    agent_id: str, registration_id: str, host_id: str, event_id: str, fields: str, version: int
) -> bytes:
    """The associated data of a shared copy: a blob moved to another person,
    registration, host or event, or given another field list or key version, fails to
    authenticate (P4)."""
    return (
        f"dualid/shared/v1\x1f{agent_id}\x1f{registration_id}\x1f{host_id}\x1f{event_id}"
        f"\x1f{fields}\x1f{version}"
    ).encode()


def seal_copy(
    dek: DataKey,
    agent_id: str,
    registration_id: str,
    host_id: str,
    event_id: str,
    ref: str,
    values: Mapping[str, Any],
    now: datetime,
) -> SharedRow:
    """The ``dualid_shared`` row of one copy holding ``values`` (not empty) and ``ref``."""
    names = sorted(values)
    fields = ",".join(names)
    parts = [encode_value(name, values[name]).decode() for name in names]
    text = _SEP.join((ref, *parts))
    if text.count(_SEP) != len(parts) or text.startswith("["):
        text = json.dumps([ref, *parts], ensure_ascii=False, separators=(",", ":"))
    version = dek.version
    nonce = secrets.token_bytes(_NONCE)
    aad = shared_aad(agent_id, registration_id, host_id, event_id, fields, version)
    blob = FORMAT_V1 + nonce + dek.aead.encrypt(nonce, text.encode(), aad)
    return (registration_id, agent_id, fields, version, blob, to_us(now))


def _parts(plain: bytes, count: int) -> list[str]:
    text = plain.decode()
    parts: list[str] = json.loads(text) if text.startswith("[") else text.split(_SEP)
    if len(parts) != count + 1:
        raise DecryptionFailed("a shared copy has an unknown layout")
    return parts


def open_copy(
    dek: DataKey,
    agent_id: str,
    registration_id: str,
    host_id: str,
    event_id: str,
    fields: str,
    version: int,
    blob: bytes,
) -> tuple[str, dict[str, Any]]:
    """``(ref, {field: value})`` of one copy;
    :class:`~dualid.errors.DecryptionFailed` when it does not authenticate."""
    opened = open_copies(
        [(registration_id, agent_id, fields, version, blob)], {agent_id: dek}, host_id, event_id
    )
    return opened[registration_id]


def open_copies(
    rows: Iterable[Sequence[Any]],
    deks: Mapping[str, DataKey],
    host_id: str,
    event_id: str,
    keep: Mapping[str, Container[str]] | None = None,
) -> dict[str, tuple[str, dict[str, Any]]]:
    """Decrypt ``(registration_id, agent_id, fields, dek_version, ciphertext)`` rows of one
    event into ``{registration_id: (ref, {field: value})}`` (see :func:`open_event_copies`)."""
    refs, values = open_event_copies(rows, deks, host_id, event_id, keep)
    return {reg_id: (ref, values[reg_id]) for reg_id, ref in refs.items()}


def open_event_copies(
    rows: Iterable[Sequence[Any]],
    deks: Mapping[str, DataKey],
    host_id: str,
    event_id: str,
    keep: Mapping[str, Container[str]] | None = None,
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """Decrypt ``(registration_id, agent_id, fields, dek_version, ciphertext)`` rows of one
    event into ``{registration_id: ref}`` and ``{registration_id: {field: value}}`` (two
    maps of plain values: no object per copy for the garbage collector to track). With
    ``keep``, only copies it names are opened and only the fields it lists for each are
    kept (a copy is one ciphertext: the others are dropped before anything is built);
    rows of agents not in
    ``deks`` are skipped (their key is gone: crypto-shredded). The loop behind the host
    view (one per attendee), so it calls AES-GCM directly."""
    refs: dict[str, str] = {}
    out: dict[str, dict[str, Any]] = {}
    middle = f"\x1f{host_id}\x1f{event_id}\x1f"
    version_tag = FORMAT_V1[0]
    sep = _SEP
    split: dict[str, list[str]] = {}  # a few field lists, thousands of copies
    try:
        for registration_id, agent_id, fields, version, blob in rows:
            if keep is not None:
                wanted = keep.get(registration_id)
                if not wanted:
                    continue
            else:
                wanted = None
            dek = deks.get(agent_id)
            if dek is None:
                continue
            if blob[0] != version_tag or len(blob) < _MIN_BLOB:
                raise DecryptionFailed("a shared copy has an unknown format")
            aad = (
                f"dualid/shared/v1\x1f{agent_id}\x1f{registration_id}{middle}{fields}\x1f{version}"
            )
            plain = dek.aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad.encode())
            names = split.get(fields)
            if names is None:
                names = split[fields] = fields.split(",")
            text = plain.decode()
            parts = text.split(sep)
            if len(parts) != len(names) + 1 or text.startswith("["):
                parts = _parts(plain, len(names))
            values: dict[str, Any] = {}
            for name, part in zip(names, parts[1:], strict=True):
                if wanted is not None and name not in wanted:
                    continue
                values[name] = part[1:] if part[0] == "s" else decode_value(name, part.encode())
            refs[registration_id] = parts[0]
            out[registration_id] = values
    except InvalidTag:
        raise DecryptionFailed(
            "a shared copy did not authenticate (wrong key, or moved to another row)"
        ) from None
    except (IndexError, ValueError):  # UnicodeDecodeError and JSONDecodeError among them
        raise DecryptionFailed("a shared copy has an unknown format") from None
    except (TypeError, AttributeError):
        # A column of the wrong type (SQLite stores anything anywhere): the host view's
        # rows come unchecked, they are refused here.
        raise CorruptRow("dualid_shared") from None
    return refs, out
