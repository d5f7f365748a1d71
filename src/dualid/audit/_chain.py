"""The hash-chained, append-only audit log (P7), in partitions.

Each entry's ``body`` is a canonical JSON document (keys in a fixed order, compact
separators, ASCII only) that starts with its log-wide sequence number and subject; its
hash is ``SHA-256(prev_hash || body)``, ``prev_hash`` being the hash of the entry before it
in its partition. The log is a fixed number of partitions (migration 0006), each such a
chain with its own head row. A transaction appends to one partition (that of the first
person it locks, else of its first entry's subject or host) and locks only that head, so
writers of different partitions never wait on each other.

``verify()`` walks every partition and checks positions, links, hashes and heads: an
edited, deleted, inserted or reordered entry breaks at least one of them. A signed
checkpoint (:mod:`dualid.audit._checkpoint`) commits to every partition's Merkle tree,
whose leaf ``i`` is the hash of the partition's entry ``i + 1``; checked against one a
witness keeps, ``verify()`` also finds a log truncated, rewound or rewritten since.
"""

from __future__ import annotations

import enum
import hashlib
import json
import json.scanner
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from json.encoder import encode_basestring_ascii
from typing import Any

from dualid.clock import ClockReading
from dualid.errors import AuditError, CorruptRow
from dualid.store import _audit as store
from dualid.store import _sql as db
from dualid.store._audit import partition_of

from ._checkpoint import Checkpoint
from ._merkle import CompactRange, leaf_hash

__all__ = [
    "GENESIS",
    "AuditProblem",
    "AuditRecord",
    "AuditReport",
    "append",
    "append_many",
    "entry_leaf",
    "iter_records",
    "partition_of",
    "verify_chain",
]

GENESIS = "0" * 64
_US = timedelta(microseconds=1)


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry as read back. ``details`` never holds personal data: field names,
    host and event ids, grant ids, counts.

    .. versionchanged:: 0.2.0 ``body``, ``prev_hash``, ``partition`` and ``pseq``.
    """

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
    body: str = field(default="", repr=False)
    """The canonical JSON the hash commits to (what :func:`verify_inclusion` checks)."""
    prev_hash: str = field(default="", repr=False)
    """The hash of the entry before this one in its partition."""
    partition: int = 0
    """The partition whose chain holds the entry."""
    pseq: int = 0
    """The entry's position in its partition (1, 2, 3, ...)."""


class AuditProblem(enum.StrEnum):
    """What :meth:`AuditLog.verify` found wrong (``AuditReport.problem``)."""

    TAMPERED = "TAMPERED"
    """An entry or a head row disagrees with the chain: edited, deleted, inserted,
    reordered, unreadable, or at a position outside the log's numbering."""
    TRUNCATED = "TRUNCATED"
    """The log holds fewer entries than a checkpoint committed to (rewound)."""
    FORKED = "FORKED"
    """The log's entries up to a checkpoint's size are not those it committed to (the
    past rewritten and re-hashed consistently)."""
    STATE_MISMATCH = "STATE_MISMATCH"
    """The consent tables disagree with what the log records (``verify(deep=True)``)."""


@dataclass(frozen=True)
class AuditReport:
    """The result of :meth:`AuditLog.verify`: ``ok`` when the log is whole, ``entries``
    checked, ``first_bad`` the sequence number where it first breaks (None when ok, or
    when the break is not at one entry), ``problem`` what kind of break, ``partition``
    where, ``head_seq`` the newest entry's number."""

    ok: bool
    entries: int
    first_bad: int | None = None
    reason: str | None = None
    head_seq: int = 0
    problem: AuditProblem | None = None
    partition: int | None = None
    checkpoint_size: int | None = None
    """The size of the checkpoint the log was checked against, if any."""
    table: str | None = None
    """With ``problem=STATE_MISMATCH``: the table of the first row that disagrees with
    the log (``verify(deep=True)``)."""
    row_id: str | None = None
    """With ``problem=STATE_MISMATCH``: that row's id (a grant or registration id; for a
    shared value ``registration_id/field``). Never a value."""

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
    assembled from its parts because every change writes one. The time (ISO 8601) and the
    HLC (digits and a dot) need no escaping; every other text goes through the encoder's
    own quoting."""
    return (
        f'{{"seq":{int(seq)},"subject":{"null" if subject is None else _quote(subject)}'
        f',"action":{_quote(action)}'
        f',"at":"{reading.time.isoformat(timespec="microseconds")}"'
        f',"uncertainty_us":{reading.uncertainty // _US},"hlc":"{reading.hlc}"'
        f',"host":{"null" if host_id is None else _quote(host_id)}'
        f',"actor":{"null" if actor is None else _quote(actor)}'
        f',"details":{_dumps(details) if details else "{}"}}}'
    )


_quote = encode_basestring_ascii  # what json.dumps(..., ensure_ascii=True) does to a str
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


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


def _missing_head(part: int) -> AuditError:
    return AuditError(
        "the audit log has no head row for one of its partitions (dualid_audit_head); "
        "run `dualid audit verify`",
        table="dualid_audit_head",
        partition=part,
    )


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

    Locks the head row of the transaction's partition (``SELECT ... FOR UPDATE`` on
    PostgreSQL; SQLite's write transactions are already exclusive), so the entry commits
    or rolls back with the change it records, and the partition's appends serialise.
    """
    part = store.claim_partition(conn, subject, host_id)
    entry = (action, subject, host_id, actor, details or {})
    if db.dialect(conn) == "postgresql":
        return _append_one_postgresql(conn, part, reading, entry)
    # One entry on SQLite (every change but bulk onboarding): append_many's loop, unrolled.
    head = store.lock_head(conn, part)
    if head is None:
        raise _missing_head(part)
    pseq, seq, prev = head
    seq += 1
    pseq += 1
    body = _body(seq, subject, action, reading, host_id, actor, entry[4])
    entry_hash = _hash(prev, body)
    store.insert_entry(conn, (seq, part, pseq, subject, body, prev, entry_hash))
    store.set_head(conn, part, pseq, seq, entry_hash)
    return seq


def append_many(
    conn: db.Conn,
    reading: ClockReading,
    entries: Sequence[tuple[str, str | None, str | None, str | None, Mapping[str, Any]]],
) -> int:
    """Append ``(action, subject, host_id, actor, details)`` entries in order, with one head
    lock and one multi-row insert (bulk onboarding); returns the last sequence number (0
    when there is none to append)."""
    if not entries:
        return 0
    _, subject, host_id, _, _ = entries[0]
    part = store.claim_partition(conn, subject, host_id)
    pg = db.dialect(conn) == "postgresql"
    if len(entries) == 1 and pg:
        return _append_one_postgresql(conn, part, reading, entries[0])
    head = store.lock_head(conn, part)
    if head is None:
        raise _missing_head(part)
    pseq, seq, prev = head
    seqs = store.next_seqs(conn, len(entries)) if pg else range(seq + 1, seq + 1 + len(entries))
    rows: list[store.EntryRow] = []
    # Entries without details that share action, host and actor (bulk onboarding writes
    # thousands of "agent.created") differ only in their prefix: the rest is built once.
    tails: dict[tuple[str, str | None, str | None], str] = {}
    for (action, subject, host_id, actor, details), seq in zip(entries, seqs, strict=True):
        pseq += 1
        if details:
            body = _body(seq, subject, action, reading, host_id, actor, details)
        else:
            tail = tails.get((action, host_id, actor))
            if tail is None:
                empty = _body(0, None, action, reading, host_id, actor, {})
                tail = tails[(action, host_id, actor)] = empty[len(_prefix(0, None)) :]
            body = _prefix(seq, subject) + tail
        entry_hash = _hash(prev, body)
        rows.append((seq, part, pseq, subject, body, prev, entry_hash))
        prev = entry_hash
    store.insert_entries(conn, rows)
    store.set_head(conn, part, pseq, rows[-1][0], prev)
    return rows[-1][0]


def _append_one_postgresql(
    conn: db.Conn,
    part: int,
    reading: ClockReading,
    entry: tuple[str, str | None, str | None, str | None, Mapping[str, Any]],
) -> int:
    action, subject, host_id, actor, details = entry
    body = _body(0, subject, action, reading, host_id, actor, details)
    head = '{"seq":0'
    assert body.startswith(head)
    seq = store.append_one_postgresql(conn, part, body[len(head) :], subject)
    if seq is None:
        raise _missing_head(part)
    return seq


def entry_leaf(entry_hash: str) -> bytes:
    """An entry's Merkle leaf hash: RFC 9162's ``SHA-256(0x00 || d)`` of the 32 bytes of its
    chain hash, which commits to its body and to every entry before it in its partition."""
    return leaf_hash(bytes.fromhex(entry_hash))


_KEYS = ("seq", "subject", "action", "at", "uncertainty_us", "hlc", "host", "actor", "details")


_NULLABLE_TEXT = ("subject", "host", "actor")
# The C scanner behind json.loads, called directly: it returns where the value ends, so a
# body is readable only when one JSON object spans all of it. (Parsing the bodies of a
# batch as one JSON array is not the same test: two bodies that are not JSON on their own
# can join into an array of the right length, every element an entry.)
_scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]  # typeshed types the context as itself
)


def readable(body: object) -> bool:
    """Can the SDK read ``body`` back as an entry (:func:`_decoded`)?"""
    return _decoded(body) is not None


def _decoded(body: object) -> dict[str, Any] | None:
    """The document of an entry body as the SDK reads it back, or None when it cannot be
    read: one JSON object and nothing after it, every key in its order, each value of the
    type a record holds, ``at`` an aware ISO 8601 time. ``verify()`` and ``entries()`` read
    bodies with this one decoder, so a log that verifies is a log that can be read."""
    if type(body) is not str:
        return None
    try:
        doc, end = _scan(body, 0)
    except (StopIteration, ValueError):
        return None
    if end != len(body) or type(doc) is not dict or tuple(doc) != _KEYS:
        return None
    at = doc["at"]
    if (
        type(doc["action"]) is not str
        or type(at) is not str
        or type(doc["uncertainty_us"]) is not int
        or type(doc["hlc"]) is not str
        or type(doc["details"]) is not dict
    ):
        return None
    for key in _NULLABLE_TEXT:
        value = doc[key]
        if value is not None and type(value) is not str:
            return None
    try:
        doc["at"] = when = datetime.fromisoformat(at)
    except ValueError:
        return None
    return doc if when.tzinfo is not None else None


def _record(
    seq: int, body: str, prev_hash: str, entry_hash: str, part: int, pseq: int
) -> AuditRecord:
    doc = _decoded(body)
    if doc is None:
        raise CorruptRow("dualid_audit", "body")
    return AuditRecord(
        seq=seq,
        action=doc["action"],
        at=doc["at"],
        uncertainty_us=doc["uncertainty_us"],
        hlc=doc["hlc"],
        subject=doc["subject"],
        host_id=doc["host"],
        actor=doc["actor"],
        details=doc["details"],
        entry_hash=entry_hash,
        body=body,
        prev_hash=prev_hash,
        partition=part,
        pseq=pseq,
    )


def iter_records(
    conn: db.Conn, *, subject: str | None = None, after: int = 0, limit: int | None = None
) -> Iterator[AuditRecord]:
    rows = store.entries(conn, subject=subject, after=after, limit=limit)
    for seq, body, prev_hash, entry_hash, part, pseq in rows:
        yield _record(seq, body, prev_hash, entry_hash, part, pseq)


@dataclass
class _Walker:
    """Incremental verifier of one partition, fed its rows in position order (so large
    logs stream). ``merkle_upto`` leaves are folded into ``tree`` as they pass."""

    part: int
    merkle_upto: int = 0
    expected_pseq: int = 1
    last_seq: int = 0
    prev_hash: str = GENESIS
    entries: int = 0
    first_bad: int | None = None
    reason: str | None = None
    tree: CompactRange = field(default_factory=CompactRange)

    def feed(self, rows: Sequence[Any]) -> bool:
        sha = hashlib.sha256
        fromhex = bytes.fromhex
        decoded = _decoded
        for seq, part, pseq, subject, body, prev_hash, entry_hash in rows:
            if type(seq) is not int or type(pseq) is not int or part != self.part:
                return self._fail(None, "an entry's position columns are unreadable")
            if pseq != self.expected_pseq:
                if pseq < self.expected_pseq:
                    return self._fail(seq, "an entry at a position outside the log's numbering")
                return self._fail(seq, "a gap in the partition's positions (an entry deleted)")
            if seq <= self.last_seq:
                return self._fail(seq, "sequence number out of order or outside the numbering")
            # (A hash that is not hex cannot equal the digest computed below.)
            if not isinstance(body, str) or type(entry_hash) is not str:
                return self._fail(seq, "an entry's body or hash is unreadable")
            if prev_hash != self.prev_hash:
                return self._fail(seq, "link to the previous entry is broken")
            if not body.startswith(_prefix(seq, subject if isinstance(subject, str) else None)):
                return self._fail(seq, "indexed columns disagree with the entry body")
            if sha(fromhex(prev_hash) + body.encode()).hexdigest() != entry_hash:
                return self._fail(seq, "entry hash does not match its contents")
            if pseq <= self.merkle_upto:
                # Under the checkpoint: the root check below proves the entry is the one
                # signed, and a checkpoint is only signed over bodies that read back
                # (audit._tree.build_checkpoint), so decoding it again proves nothing.
                self.tree.append(leaf_hash(fromhex(entry_hash)))
            elif decoded(body) is None:
                return self._fail(seq, "an entry's body cannot be read (re-hashed garbage)")
            self.prev_hash = entry_hash
            self.expected_pseq = pseq + 1
            self.last_seq = seq
            self.entries += 1
        return True

    def _fail(self, seq: int | None, reason: str) -> bool:
        self.first_bad = seq
        self.reason = reason
        return False


def _report(
    ok: bool,
    entries: int,
    head_seq: int,
    checkpoint: Checkpoint | None,
    problem: AuditProblem | None = None,
    *,
    first_bad: int | None = None,
    reason: str | None = None,
    partition: int | None = None,
) -> AuditReport:
    return AuditReport(
        ok,
        entries,
        first_bad,
        reason,
        head_seq,
        problem,
        partition,
        None if checkpoint is None else checkpoint.size,
    )


def verify_chain(
    conn: db.Conn,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
    checkpoint: Checkpoint | None = None,
    visit: Callable[[Sequence[store.EntryRow]], None] | None = None,
) -> AuditReport:
    """Walk every partition in batches; ``progress(done, total)`` is called after each
    batch. With ``checkpoint`` (its signature already checked), also check that each
    partition's first ``size`` entries are exactly those the checkpoint committed to.
    ``visit(rows)`` sees each batch of rows once they are verified, partition after
    partition, in position order (``verify(deep=True)`` replays them as they pass)."""
    try:
        heads = store.heads(conn)
    except CorruptRow:
        return _report(
            False,
            0,
            0,
            checkpoint,
            AuditProblem.TAMPERED,
            reason="a partition's head row cannot be read (dualid_audit_head)",
        )
    head_seq = max((h[2] for h in heads), default=0)
    total = sum(h[1] for h in heads)
    done = 0

    def tampered(reason: str, part: int | None, first_bad: int | None = None) -> AuditReport:
        return _report(
            False,
            done,
            head_seq,
            checkpoint,
            AuditProblem.TAMPERED,
            first_bad=first_bad,
            reason=reason,
            partition=part,
        )

    if [h[0] for h in heads] != list(range(len(heads))) or not heads:
        return tampered("a partition's head row is missing (dualid_audit_head)", None)
    if store.rows_outside(conn, len(heads)):
        return tampered("an entry names a partition outside the log", None)
    if checkpoint is not None and len(checkpoint.partitions) != len(heads):
        return _report(
            False,
            0,
            head_seq,
            checkpoint,
            AuditProblem.FORKED,
            reason="the log has a different number of partitions than the checkpoint",
        )
    for part, head_pseq, seq_at_head, head_hash in heads:
        committed = checkpoint.head(part) if checkpoint is not None else None
        walker = _Walker(part, merkle_upto=committed.size if committed else 0)
        after = -(2**63)  # every row, those at positions <= 0 too
        while True:
            rows = store.partition_rows(conn, part, after, batch, checked=False)
            if not rows:
                break
            if not walker.feed(rows):
                done += walker.entries
                return tampered(walker.reason or "", part, walker.first_bad)
            if visit is not None:
                visit(rows)
            after = rows[-1][2]
            done += len(rows)
            if progress is not None:
                progress(done, total)
        if walker.expected_pseq - 1 != head_pseq or walker.prev_hash != head_hash:
            last = walker.expected_pseq - 1
            bad = seq_at_head if last < head_pseq else walker.last_seq
            return tampered("chain head disagrees with the last entry", part, bad)
        if committed is not None:
            if walker.entries < committed.size:
                return _report(
                    False,
                    done,
                    head_seq,
                    checkpoint,
                    AuditProblem.TRUNCATED,
                    reason="the log holds fewer entries than the checkpoint committed to",
                    partition=part,
                )
            if walker.tree.root() != committed.root:
                return _report(
                    False,
                    done,
                    head_seq,
                    checkpoint,
                    AuditProblem.FORKED,
                    reason="the entries the checkpoint committed to were rewritten",
                    partition=part,
                )
    return _report(True, done, head_seq, checkpoint)
