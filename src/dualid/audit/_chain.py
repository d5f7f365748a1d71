"""The hash-chained, append-only audit log (P7).

Each entry's ``body`` is a canonical JSON document (keys in a fixed order, compact
separators, ASCII only) that starts with its sequence number and subject; its hash is
``SHA-256(prev_hash || body)``. The head row holds the last sequence number and hash and is
locked by every append, so concurrent writers extend one chain. ``verify()`` walks the
chain and checks sequence, links, hashes and the head: an edited, deleted, inserted or
reordered entry breaks at least one of them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from dualid.clock import ClockReading
from dualid.store import _audit as store
from dualid.store import _sql as db

__all__ = [
    "GENESIS",
    "AuditRecord",
    "AuditReport",
    "append",
    "append_many",
    "iter_records",
    "verify_chain",
]

GENESIS = "0" * 64
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as read back. ``details`` never holds personal data: field names,
    host and event ids, grant ids, counts."""

    seq: int
    action: str
    at: datetime
    uncertainty_us: int
    hlc: str
    subject: str | None
    host_id: str | None
    actor: str | None
    details: Mapping[str, Any]
    entry_hash: str


@dataclass(frozen=True)
class AuditReport:
    """The result of :meth:`AuditLog.verify`: ``ok`` when the chain is whole, ``entries``
    checked, ``first_bad`` the sequence number where it first breaks (None when ok)."""

    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str | None = None
    head_seq: int = 0

    def __bool__(self) -> bool:
        return self.ok


def _body(
    seq: int,
    subject: str | None,
    action: str,
    reading: ClockReading,
    host_id: str | None,
    actor: str | None,
    details: Mapping[str, Any],
) -> str:
    """The entry's canonical JSON: exactly ``json.dumps(doc, separators=(",", ":"),
    ensure_ascii=True)`` of the document in the key order below (tested against it),
    assembled from its parts because every change writes one."""
    return (
        '{"seq":'
        + str(int(seq))
        + ',"subject":'
        + _json_text(subject)
        + ',"action":'
        + _quote(action)
        + ',"at":'
        + _quote(reading.time.isoformat(timespec="microseconds"))
        + ',"uncertainty_us":'
        + str(reading.uncertainty // _US)
        + ',"hlc":'
        + _quote(str(reading.hlc))
        + ',"host":'
        + _json_text(host_id)
        + ',"actor":'
        + _json_text(actor)
        + ',"details":'
        + (_dumps(details) if details else "{}")
        + "}"
    )


_quote = encode_basestring_ascii  # what json.dumps(..., ensure_ascii=True) does to a str
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def _json_text(value: str | None) -> str:
    return "null" if value is None else _quote(value)


def _prefix(seq: int, subject: str | None) -> str:
    if subject is None:
        quoted = "null"
    elif subject.isascii() and subject.replace("_", "").isalnum():
        quoted = '"' + subject + '"'  # what json.dumps gives for such ids, without its cost
    else:
        quoted = json.dumps(subject)
    return '{"seq":' + str(seq) + ',"subject":' + quoted + ","


def _hash(prev_hash: str, body: str) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + body.encode()).hexdigest()


def append(
    conn: db.Conn,
    reading: ClockReading,
    action: str,
    *,
    subject: str | None = None,
    host_id: str | None = None,
    actor: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number.

    Locks the head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write
    transactions are already exclusive), so the entry commits or rolls back with the change
    it records, and concurrent appends serialise.
    """
    return append_many(conn, reading, [(action, subject, host_id, actor, dict(details or {}))])


def append_many(
    conn: db.Conn,
    reading: ClockReading,
    entries: Sequence[tuple[str, str | None, str | None, str | None, Mapping[str, Any]]],
) -> int:
    """Append ``(action, subject, host_id, actor, details)`` entries in order, with one head
    lock and one multi-row insert (bulk onboarding); returns the last sequence number."""
    if len(entries) == 1 and db.dialect(conn) == "postgresql":
        return _append_one_postgresql(conn, reading, entries[0])
    seq, prev = store.lock_head(conn)
    if not entries:
        return seq
    rows: list[tuple[int, str | None, str, str, str]] = []
    # Entries without details that share action, host and actor (bulk onboarding writes
    # thousands of "agent.created") differ only in their prefix: the rest is built once.
    tails: dict[tuple[str, str | None, str | None], str] = {}
    for action, subject, host_id, actor, details in entries:
        seq += 1
        if details:
            body = _body(seq, subject, action, reading, host_id, actor, details)
        else:
            tail = tails.get((action, host_id, actor))
            if tail is None:
                empty = _body(0, None, action, reading, host_id, actor, {})
                tail = tails[(action, host_id, actor)] = empty[len(_prefix(0, None)) :]
            body = _prefix(seq, subject) + tail
        entry_hash = _hash(prev, body)
        rows.append((seq, subject, body, prev, entry_hash))
        prev = entry_hash
    store.insert_entries(conn, rows)
    store.set_head(conn, seq, prev)
    return seq


def _append_one_postgresql(
    conn: db.Conn,
    reading: ClockReading,
    entry: tuple[str, str | None, str | None, str | None, Mapping[str, Any]],
) -> int:
    action, subject, host_id, actor, details = entry
    body = _body(0, subject, action, reading, host_id, actor, details)
    head = '{"seq":0'
    assert body.startswith(head)
    return store.append_one_postgresql(conn, body[len(head) :], subject)


def _record(seq: int, body: str, entry_hash: str) -> AuditRecord:
    doc = json.loads(body)
    return AuditRecord(
        seq=seq,
        action=doc["action"],
        at=datetime.fromisoformat(doc["at"]),
        uncertainty_us=int(doc["uncertainty_us"]),
        hlc=doc["hlc"],
        subject=doc["subject"],
        host_id=doc["host"],
        actor=doc["actor"],
        details=doc["details"],
        entry_hash=entry_hash,
    )


def iter_records(
    conn: db.Conn, *, subject: str | None = None, after: int = 0, limit: int | None = None
) -> Iterator[AuditRecord]:
    for seq, body, entry_hash in store.entries(conn, subject=subject, after=after, limit=limit):
        yield _record(seq, body, entry_hash)


@dataclass
class _Walker:
    """Incremental verifier, fed rows in sequence order (so large logs stream)."""

    expected_seq: int = 1
    prev_hash: str = GENESIS
    entries: int = 0
    first_bad: int | None = None
    reason: str | None = None
    _bad: list[int] = field(default_factory=list)

    def feed(self, rows: Sequence[Any]) -> bool:
        sha = hashlib.sha256
        fromhex = bytes.fromhex
        for seq, subject, body, prev_hash, entry_hash in rows:
            if seq != self.expected_seq:
                return self._fail(min(seq, self.expected_seq), "sequence gap or reordering")
            if prev_hash != self.prev_hash:
                return self._fail(seq, "link to the previous entry is broken")
            if not body.startswith(_prefix(seq, subject)):
                return self._fail(seq, "indexed columns disagree with the entry body")
            if sha(fromhex(prev_hash) + body.encode()).hexdigest() != entry_hash:
                return self._fail(seq, "entry hash does not match its contents")
            self.prev_hash = entry_hash
            self.expected_seq = seq + 1
            self.entries += 1
        return True

    def _fail(self, seq: int, reason: str) -> bool:
        self.first_bad = seq
        self.reason = reason
        return False


def verify_chain(
    conn: db.Conn,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Walk the chain in batches; ``progress(done, total)`` is called after each batch."""
    head_seq, head_hash = store.head(conn)
    walker = _Walker()
    after = 0
    while True:
        rows = store.chain_rows(conn, after, batch)
        if not rows:
            break
        if not walker.feed(rows):
            return AuditReport(False, walker.entries, walker.first_bad, walker.reason, head_seq)
        after = rows[-1][0]
        if progress is not None:
            progress(walker.entries, head_seq)
    if walker.expected_seq - 1 != head_seq or walker.prev_hash != head_hash:
        last = walker.expected_seq - 1
        if last < head_seq:  # entries missing at the end
            bad = walker.expected_seq
        elif last > head_seq:  # entries beyond the head: appended behind its back
            bad = head_seq + 1
        else:  # same length, different hash: the last entry was rewritten
            bad = head_seq
        return AuditReport(
            False, walker.entries, bad, "chain head disagrees with the last entry", head_seq
        )
    return AuditReport(True, walker.entries, None, None, head_seq)
