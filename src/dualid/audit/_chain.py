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

from sqlalchemy import Connection, select

from dualid.clock import ClockReading
from dualid.store import _fast as fast
from dualid.store._tables import AuditEntry, AuditHead, table

__all__ = [
    "GENESIS",
    "AuditRecord",
    "AuditReport",
    "append",
    "append_many",
    "iter_records",
    "lock_head",
    "verify_chain",
]

GENESIS = "0" * 64
_US = timedelta(microseconds=1)
_AUDIT = table(AuditEntry)
_HEAD = table(AuditHead)


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


def lock_head(conn: Connection | fast.RawConnection) -> None:
    """Take the chain-head lock now, for the rest of the transaction.

    A transaction that reads and then records what it read (a host read of personal data)
    takes it first: it then sees every change logged before its entry and none logged
    after, so the log's order is the order in which things really happened (on SQLite the
    write transaction already guarantees this)."""
    _locked_head(conn)


def append(
    conn: Connection | fast.RawConnection,
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
    conn: Connection | fast.RawConnection,
    reading: ClockReading,
    entries: Sequence[tuple[str, str | None, str | None, str | None, Mapping[str, Any]]],
) -> int:
    """Append ``(action, subject, host_id, actor, details)`` entries in order, with one head
    lock and one multi-row insert (bulk onboarding); returns the last sequence number."""
    if len(entries) == 1 and fast.dialect(conn) == "postgresql":
        return _append_one_postgresql(conn, reading, entries[0])
    seq, prev = _locked_head(conn)
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
    fast.executemany(conn, _INSERT, rows)
    fast.execute(conn, _SET_HEAD, (seq, prev))
    return seq


_HEAD_FOR_UPDATE = fast.Sql("SELECT seq, entry_hash FROM dualid_audit_head WHERE id = 1 FOR UPDATE")
_HEAD_SQLITE = fast.Sql("SELECT seq, entry_hash FROM dualid_audit_head WHERE id = 1")
_INSERT = fast.Sql(
    "INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash) VALUES (?, ?, ?, ?, ?)"
)
_SET_HEAD = fast.Sql("UPDATE dualid_audit_head SET seq = ?, entry_hash = ? WHERE id = 1")


# One round trip for the whole append on PostgreSQL: lock the head, insert the entry and
# move the head in one statement, the entry's hash computed by the server with the very
# formula verify() checks (SHA-256 over the previous hash's bytes and the UTF-8 body). The
# body's text after its sequence number does not depend on it, so Python sends that part
# and the server prefixes the number it read under the lock. Holding the chain-head lock
# for one statement and the commit (instead of three statements and the commit) is what
# lets concurrent writers through.
_APPEND_ONE_PG = fast.Sql(
    "WITH h AS (SELECT seq + 1 AS seq, entry_hash AS prev FROM dualid_audit_head"
    " WHERE id = 1 FOR UPDATE),"
    " b AS (SELECT seq, prev, '{\"seq\":' || seq || CAST(? AS TEXT) AS body FROM h),"
    " e AS (SELECT seq, prev, body,"
    " encode(sha256(decode(prev, 'hex') || convert_to(body, 'UTF8')), 'hex') AS entry_hash"
    " FROM b),"
    " i AS (INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash)"
    " SELECT seq, CAST(? AS VARCHAR), body, prev, entry_hash FROM e)"
    " UPDATE dualid_audit_head SET seq = e.seq, entry_hash = e.entry_hash FROM e"
    " WHERE dualid_audit_head.id = 1 RETURNING e.seq"
)


def _append_one_postgresql(
    conn: Connection | fast.RawConnection,
    reading: ClockReading,
    entry: tuple[str, str | None, str | None, str | None, Mapping[str, Any]],
) -> int:
    action, subject, host_id, actor, details = entry
    body = _body(0, subject, action, reading, host_id, actor, details)
    head = '{"seq":0'
    assert body.startswith(head)
    ((seq,),) = fast.query(conn, _APPEND_ONE_PG, (body[len(head) :], subject))
    return int(seq)


def _locked_head(conn: Connection | fast.RawConnection) -> tuple[int, str]:
    # SQLite's write transactions (BEGIN IMMEDIATE) are already exclusive.
    sql = _HEAD_FOR_UPDATE if fast.dialect(conn) == "postgresql" else _HEAD_SQLITE
    ((seq, entry_hash),) = fast.query(conn, sql)
    return int(seq), str(entry_hash)


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
    conn: Connection, *, subject: str | None = None, after: int = 0, limit: int | None = None
) -> Iterator[AuditRecord]:
    stmt = select(_AUDIT.c.seq, _AUDIT.c.body, _AUDIT.c.entry_hash).where(_AUDIT.c.seq > after)
    if subject is not None:
        stmt = stmt.where(_AUDIT.c.subject == subject)
    stmt = stmt.order_by(_AUDIT.c.seq)
    if limit is not None:
        stmt = stmt.limit(limit)
    for row in conn.execute(stmt):
        yield _record(row.seq, row.body, row.entry_hash)


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
    conn: Connection,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> AuditReport:
    """Walk the chain in batches; ``progress(done, total)`` is called after each batch."""
    head = conn.execute(select(_HEAD.c.seq, _HEAD.c.entry_hash).where(_HEAD.c.id == 1)).one()
    walker = _Walker()
    cols = (_AUDIT.c.seq, _AUDIT.c.subject, _AUDIT.c.body, _AUDIT.c.prev_hash, _AUDIT.c.entry_hash)
    after = 0
    while True:
        rows = conn.execute(
            select(*cols).where(_AUDIT.c.seq > after).order_by(_AUDIT.c.seq).limit(batch)
        ).all()
        if not rows:
            break
        if not walker.feed(rows):
            return AuditReport(False, walker.entries, walker.first_bad, walker.reason, head.seq)
        after = rows[-1][0]
        if progress is not None:
            progress(walker.entries, int(head.seq))
    if walker.expected_seq - 1 != head.seq or walker.prev_hash != head.entry_hash:
        last = walker.expected_seq - 1
        if last < head.seq:  # entries missing at the end
            bad = walker.expected_seq
        elif last > head.seq:  # entries beyond the head: appended behind its back
            bad = head.seq + 1
        else:  # same length, different hash: the last entry was rewritten
            bad = head.seq
        return AuditReport(
            False, walker.entries, bad, "chain head disagrees with the last entry", head.seq
        )
    return AuditReport(True, walker.entries, None, None, head.seq)
