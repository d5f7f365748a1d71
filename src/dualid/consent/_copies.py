"""Shared copies: the values a registration shares with its host, sealed as one blob per
registration (``dualid_shared``, migration 0011) with the host's pairwise ref.

Copies from before 0011 (one ``dualid_sealed`` row per field) stay readable until they
are re-sealed: every write of a person's copy re-seals it, and :func:`seal_legacy`
re-seals the rest person by person (resumable). Every function runs inside the caller's
transaction, under the person's lock for the writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from dualid._runtime import Runtime
from dualid._vault import load_deks
from dualid.crypto._dek import DataKey
from dualid.crypto._derive import DerivedKeys
from dualid.crypto._fields import open_rows, sealed_rows
from dualid.crypto._ring import KeyRing
from dualid.crypto._shared import open_copies, seal_copy
from dualid.store import _sealed, _shared
from dualid.store._sql import Conn

__all__ = ["Copy", "delete", "present", "read", "seal_legacy_of", "split_all", "write"]

Copy = tuple[str, str, str]
"""What a copy is bound to: registration_id, host_id, event_id."""


def read(
    conn: Conn, dek: DataKey, agent_id: str, copies: Sequence[Copy]
) -> dict[str, dict[str, Any]]:
    """``{registration_id: {field: value}}`` of the person's copies ``copies`` as they
    are: the blob, or the per-field rows of a copy not re-sealed yet."""
    ids = [c[0] for c in copies]
    out: dict[str, dict[str, Any]] = {}
    where = {c[0]: c for c in copies}
    for row in _shared.copies_of(conn, ids):
        _, host_id, event_id = where[row[0]]
        out.update(
            {
                k: v
                for k, (_ref, v) in open_copies([row], {agent_id: dek}, host_id, event_id).items()
            }
        )
    legacy = _sealed.records(conn, [i for i in ids if i not in out])
    if legacy:
        open_rows(legacy, {agent_id: dek}, into=out)
    return out


def write(
    conn: Conn,
    derived: DerivedKeys,
    dek: DataKey,
    agent_id: str,
    copies: Mapping[Copy, Mapping[str, Any]],
    now: datetime,
) -> None:
    """Seal each copy's ``values`` as its one blob (replacing the blob and any per-field
    rows it had); a copy with no values is deleted."""
    rows = []
    empty = []
    for (reg_id, host_id, event_id), values in copies.items():
        if values:
            ref = derived.pairwise_ref(host_id, agent_id)
            rows.append(seal_copy(dek, agent_id, reg_id, host_id, event_id, ref, values, now))
        else:
            empty.append(reg_id)
    for reg_id, *_ in copies:
        _sealed.delete_fields(conn, reg_id)
    _shared.delete_copies(conn, empty)
    _shared.put_copies(conn, rows)


def delete(conn: Conn, registration_ids: Iterable[str]) -> int:
    """Delete the copies of ``registration_ids`` (blob and per-field rows); how many
    values they held."""
    ids = list(registration_ids)
    values = sum(len(f) for f in _shared.fields_of(conn, ids).values())
    _shared.delete_copies(conn, ids)
    for reg_id in ids:
        values += _sealed.delete_fields(conn, reg_id)
    return values


def present(conn: Conn, registration_ids: Sequence[str]) -> dict[str, set[str]]:
    """``{registration_id: {field, ...}}`` of the values the copies hold (nothing is
    decrypted)."""
    out = _sealed.fields_present(conn, registration_ids)
    for reg_id, fields in _shared.fields_of(conn, registration_ids).items():
        out.setdefault(reg_id, set()).update(fields)
    return out


def seal_legacy_of(
    conn: Conn,
    rt: Runtime,
    dek: DataKey,
    agent_id: str,
    where: Mapping[str, Copy],
    now: datetime,
) -> int:
    """Re-seal the person's per-field copies (from before 0011) into blobs; ``where``
    maps each of the person's registrations to what its copy is bound to. Rows of no
    registration (a copy the host view can never show) are left for
    ``audit.verify(deep=True)`` to report. Returns how many copies were re-sealed."""
    legacy = _sealed.copy_records_of(conn, agent_id)
    values = open_rows([r for r in legacy if r[0] in where], {agent_id: dek})
    write(conn, rt.derived, dek, agent_id, {where[r]: v for r, v in values.items()}, now)
    return len(values)


def split_all(conn: Conn, provider: KeyRing, now: datetime) -> int:
    """Turn every blob back into one ``dualid_sealed`` row per field (the layout before
    migration 0011, for its downgrade); how many copies. Blobs of a registration or key
    that no longer exists are dropped: nobody can read them."""
    copies = _shared.all_copies(conn)
    where = _shared.bound_of(conn, [c[0] for c in copies])
    deks = load_deks(conn, provider, [c[1] for c in copies])
    done = 0
    for copy in copies:
        reg_id, agent_id = copy[0], copy[1]
        dek = deks.get(agent_id)
        if reg_id in where and dek is not None:
            _, host_id, event_id = where[reg_id]
            ((_ref, values),) = open_copies([copy], deks, host_id, event_id).values()
            _sealed.delete_fields(conn, reg_id)
            _sealed.insert_sealed(conn, sealed_rows(dek, agent_id, reg_id, values, now))
            done += 1
        _shared.delete_copies(conn, [reg_id])
    return done
