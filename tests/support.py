"""Helpers shared by the test modules (no fixtures here; those live in conftest.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from dualid import DualId
from dualid.store._tables import metadata

DUALID_TABLES = sorted(t.name for t in metadata.sorted_tables if t.name.startswith("dualid_"))


def snapshot(sdk: DualId) -> dict[str, Any]:
    """Row counts of every dualid table plus the audit head: equal before and after an
    operation that must change nothing."""
    with sdk.store.engine.connect() as conn:
        state: dict[str, Any] = {
            name: conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in DUALID_TABLES
        }
        state["audit_head"] = tuple(
            conn.execute(
                sa.text("SELECT id, pseq, seq, entry_hash FROM dualid_audit_head ORDER BY id")
            ).all()
        )
        state["sealed_blobs"] = sorted(
            bytes(row[0])
            for table in ("dualid_sealed", "dualid_shared")
            for row in conn.execute(sa.text(f"SELECT ciphertext FROM {table}"))
        )
    return state


def copy_fields(sdk: DualId, registration_id: str) -> set[str]:
    """The field names a registration's shared copy holds (its blob's list, and the
    per-field rows of a copy from before migration 0011)."""
    blob = rows(
        sdk, "SELECT fields FROM dualid_shared WHERE registration_id = :r", r=registration_id
    )
    legacy = rows(sdk, "SELECT field FROM dualid_sealed WHERE record_id = :r", r=registration_id)
    return {name for (fields,) in blob for name in fields.split(",")} | {f for (f,) in legacy}


def all_copy_fields(sdk: DualId) -> set[tuple[str, str]]:
    """``(registration_id, field)`` of every value of every shared copy."""
    blob = rows(sdk, "SELECT registration_id, fields FROM dualid_shared")
    legacy = rows(
        sdk,
        "SELECT record_id, field FROM dualid_sealed"
        " WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:')",
    )
    return {(r, f) for r, fields in blob for f in fields.split(",")} | {(r, f) for r, f in legacy}


def execute(sdk: DualId, sql: str, **params: Any) -> int:
    """Run raw SQL in its own committed transaction (tampering, as an attacker would)."""
    with sdk.store.engine.begin() as conn:
        return int(conn.execute(sa.text(sql), params).rowcount)


def rows(sdk: DualId, sql: str, **params: Any) -> list[Any]:
    with sdk.store.engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params).all())


def assert_no_pii(text: str | bytes, values: Iterable[str]) -> None:
    """None of ``values`` occurs in ``text`` (bytes are searched as UTF-8 and as hex)."""
    for value in values:
        if isinstance(text, bytes):
            assert value.encode() not in text, f"plaintext {value!r} found in raw bytes"
        else:
            assert value not in text, f"plaintext {value!r} found in text"
            assert value.encode().hex() not in text.lower(), f"hex of {value!r} found"


class InjectedFault(Exception):
    """Raised by :func:`fail_on_sql` in the middle of a transaction."""


@contextmanager
def fail_on_sql(sdk: DualId, needle: str, *, after: int = 0) -> Iterator[list[str]]:
    """Make the store raise :class:`InjectedFault` when a statement containing ``needle``
    runs (after ``after`` such statements succeeded): a fault deep inside an operation,
    whatever code path issues the statement (the store's statement hook). Yields the
    statements seen."""
    seen: list[str] = []

    def check(statement: str) -> None:
        if needle in statement:
            seen.append(statement)
            if len(seen) > after:
                raise InjectedFault(needle)

    with statement_hook(sdk, check):
        yield seen


@contextmanager
def statement_hook(sdk: DualId, hook: Callable[[str], None]) -> Iterator[None]:
    """Call ``hook`` with the text of every statement the SDK runs, while in the block."""
    sdk.store.hooks.append(hook)
    try:
        yield
    finally:
        sdk.store.hooks.remove(hook)


def rehash_last(sdk: DualId, body: str, *, clear_subject: bool = False) -> None:
    """What a database writer without keys can do to the newest audit entry: replace its
    body, recompute its hash and move its partition's head, so every link still holds."""
    import hashlib

    (last,) = rows(sdk, "SELECT seq, part, prev_hash FROM dualid_audit ORDER BY seq DESC LIMIT 1")
    entry_hash = hashlib.sha256(bytes.fromhex(last.prev_hash) + body.encode()).hexdigest()
    subject = ", subject = NULL" if clear_subject else ""
    execute(
        sdk,
        f"UPDATE dualid_audit SET body = :b, entry_hash = :h{subject} WHERE seq = :s",
        b=body,
        h=entry_hash,
        s=last.seq,
    )
    execute(
        sdk,
        "UPDATE dualid_audit_head SET entry_hash = :h WHERE id = :p",
        h=entry_hash,
        p=last.part,
    )


def rewrite_partition(sdk: DualId, part: int, bodies: dict[int, str]) -> None:
    """What a database writer without keys can do to the past: replace the bodies of
    partition ``part``'s entries at the positions (pseq) in ``bodies`` and re-hash the
    chain from the first of them on, head included, so every link still holds."""
    import hashlib

    chain = rows(
        sdk,
        "SELECT seq, pseq, body, prev_hash FROM dualid_audit WHERE part = :p AND pseq >= :q"
        " ORDER BY pseq",
        p=part,
        q=min(bodies),
    )
    prev = chain[0].prev_hash
    for entry in chain:
        body = bodies.get(entry.pseq, entry.body)
        entry_hash = hashlib.sha256(bytes.fromhex(prev) + body.encode()).hexdigest()
        execute(
            sdk,
            "UPDATE dualid_audit SET body = :b, prev_hash = :p, entry_hash = :h WHERE seq = :s",
            b=body,
            p=prev,
            h=entry_hash,
            s=entry.seq,
        )
        prev = entry_hash
    execute(sdk, "UPDATE dualid_audit_head SET entry_hash = :h WHERE id = :p", h=prev, p=part)


HOST, EVENT = "bistro-7", "dinner-1"


def open_event(sdk: DualId) -> None:
    """The host HOST, whose reservations require a name (the event EVENT needs no
    creation: the first registration makes it)."""
    from dualid import DataField, EventType, HostKind

    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro")
    sdk.hosts.require(HOST, EventType.RESERVATION, required={DataField.NAME}, purpose="table")


def seat(sdk: DualId, agents: Iterable[str]) -> None:
    """Register each agent for EVENT, sharing the name ``P<i>`` with HOST."""
    from dualid import DataField, EventType, EventUserData

    for i, agent in enumerate(agents):
        sdk.events.register(
            agent,
            HOST,
            EventType.RESERVATION,
            EVENT,
            share={DataField.NAME},
            data=EventUserData(name=f"P{i}"),
        )


def names(sdk: DualId) -> list[str]:
    """The names HOST sees at EVENT, sorted ('-' for an attendee showing none)."""
    return sorted(a.data.name or "-" for a in sdk.events.attendees(HOST, EVENT))


def json_view(sdk: DualId, host_id: str, event_id: str, *, limit: int = 1000) -> list[Any]:
    """The host's view through ``attendees_page_json`` (every page), checked against the
    model view of the same pages: both build on the same read, and the JSON of each item
    must be :func:`~dualid.consent.host_attendee_json` of the model's attendee."""
    import json

    from dualid.consent import host_attendee_json

    items: list[Any] = []
    cursor = None
    while True:
        page = sdk.events.attendees_page(host_id, event_id, cursor=cursor, limit=limit)
        body = json.loads(
            sdk.events.attendees_page_json(host_id, event_id, cursor=cursor, limit=limit)
        )
        assert body == {
            "items": [host_attendee_json(a) for a in page.items],
            "nextCursor": page.next_cursor,
        }
        items += body["items"]
        cursor = page.next_cursor
        if cursor is None:
            return items
