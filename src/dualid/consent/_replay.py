"""Consent as the audit log records it, and the check that the consent tables agree
(``audit.verify(deep=True)``, ``dualid audit verify --deep``).

The log holds the true history of consent: every grant (``consent.granted``, or the
grant of a ``registration.created``), every revocation (``consent.revoked``, and the
grants of an event that ``registration.cancelled`` ends), every registration and its
cancellation, every purge of expired copies and every erasure. :class:`Replay` folds the
entries into the state they leave, in log-wide order (one person's changes all take the
person's lock, so that order is the order they committed in); :func:`check_state`
compares the tables with it, in the snapshot whose chains were just verified:

* every row of ``dualid_grant`` has its grant entry, its agent, host, event, event type,
  fields, creation time and expiry as logged, is revoked exactly when (and at the moment)
  the log revoked it, and belongs to no person the log erased; every grant the log leaves
  in place has its row;
* every row of ``dualid_registration`` has its ``registration.created`` with the same
  agent, host, event, event type and time, and no later cancellation or erasure; every
  registration the log leaves in place has its row;
* every value of a shared copy (its blob's field list, or the sealed rows of a copy from
  before migration 0011) belongs to a registration the log leaves in place, to its
  person, and to a field that a grant the log has not revoked covers, one that was
  filled after the last prune of that person and host (a revocation or a purge of
  expired copies) or was still active at it.

A disagreement is a :class:`~dualid.audit._state.StateMismatch` naming the table, the row
id and the columns; never a value. Entries written before the SDK logged a value cannot
prove it: a registration's grant logged without ``expires_at`` (before 0.2.0) has its
expiry taken as stored.

This module interprets consent actions, so it lives in :mod:`dualid.consent`, above
:mod:`dualid.audit` in the layers; :class:`~dualid.DualId` hands :class:`ConsentReplay`
to its :class:`~dualid.audit.AuditLog`, whose chain walk feeds it the rows it verifies
(each log row is read once). It needs no key: an auditor runs it on a copy.

Order: the walk goes partition after partition. Every write that changes a person's
consent takes the person's lock first and so appends to the person's partition, in commit
order; entries from before partitions (migration 0006) are all in partition 0, walked
first. So each person's consent entries are replayed in the order they committed, which
is all the replay needs (its state is per person); sequence numbers, which increase along
each partition, order one person's entries wherever they are.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from dualid._micros import to_us
from dualid.audit._state import StateMismatch, StateSummary
from dualid.store import _audit, _events, _grants, _sealed, _shared
from dualid.store._audit import EntryRow
from dualid.store._sql import Conn

from ._rules import applies

__all__ = [
    "ConsentReplay",
    "LoggedGrant",
    "LoggedRegistration",
    "Replay",
    "check_state",
    "replay_log",
    "unsealed_grants",
]

_ACTION = '"action":"'
_ACTION_LEN = len(_ACTION)
# Entries that change consent state; the replay parses only these.
_REPLAYED = frozenset(
    {
        "registration.created",
        "registration.cancelled",
        "consent.granted",
        "consent.revoked",
        "consent.expired_purged",
        "agent.erased",
    }
)
_SHOWN = 20  # mismatches kept in a summary (all are counted)
_GRANT = "dualid_grant"
_REGISTRATION = "dualid_registration"
_SEALED = "dualid_sealed"
_SHARED = "dualid_shared"
_PARTITION_BODY = 4  # the body's column in a partition row (store._audit.EntryRow)
_LOG_BODY = 1  # ... and in store._audit.entries' rows


# The replay keeps grants and registrations as plain tuples of plain values, which the
# garbage collector stops tracking (it does not for NamedTuples or objects): a replay of
# millions of entries would otherwise spend a third of its time in collections.
LoggedGrant = tuple[str, str, str, str | None, str | None, str, int, int, int | None, bool]
"""A grant as the log records it: grant_id, agent_id, host_id, event_id, event_type,
fields (comma-separated, sorted: as the table stores them), created_us, seq (of its
entry), expires_us, whether the entry logged the expiry. Items 1-6 are the
``dualid_grant`` columns of the same names, in the table's order. Its revocation is
:attr:`Replay.revoked`'s."""
G_ID: Final = 0
G_AGENT: Final = 1
G_HOST: Final = 2
G_EVENT: Final = 3
G_TYPE: Final = 4
G_FIELDS: Final = 5
G_SEQ: Final = 7
G_EXPIRES: Final = 8
G_EXPIRY_LOGGED: Final = 9

LoggedRegistration = tuple[str, str, str, str, str, int, int]
"""A registration as the log records it: registration_id, agent_id, host_id, event_type,
event_id, created_us (the ``dualid_registration`` columns, in the table's order), seq.
Its cancellation is :attr:`Replay.cancelled`'s."""
R_AGENT: Final = 1
R_HOST: Final = 2
R_TYPE: Final = 3
R_EVENT: Final = 4
R_SEQ: Final = 6


def _text(value: Any) -> str:
    if type(value) is not str:
        raise TypeError
    return value


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _opt_time(value: Any) -> int | None:
    return None if value is None else to_us(datetime.fromisoformat(_text(value)))


@dataclass
class Replay:
    """The consent state the log's entries leave (:meth:`feed` them in each person's
    commit order)."""

    grants: dict[str, LoggedGrant] = field(default_factory=dict)
    registrations: dict[str, LoggedRegistration] = field(default_factory=dict)
    revoked: dict[str, tuple[int, int]] = field(default_factory=dict)
    """grant id -> (revoked_us, seq) of its last revocation."""
    cancelled: dict[str, int] = field(default_factory=dict)
    """registration id -> the seq of its cancellation."""
    erased: dict[str, int] = field(default_factory=dict)
    """agentId -> the seq of its ``agent.erased``."""
    pruned: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(agentId, hostId) -> (seq, latest_us) of the last prune of that person's copies
    with that host (a revocation, or a purge of expired copies)."""
    entries: int = 0
    unreplayable: int | None = None
    """The seq of the first consent entry that is not what the SDK writes (the replay
    stops there: what follows cannot be trusted)."""
    # (agentId, hostId) -> its grants, oldest first: tuples, not lists, for the collector.
    _by_pair: dict[tuple[str, str], tuple[LoggedGrant, ...]] = field(default_factory=dict)

    def feed(self, rows: Iterable[Sequence[Any]], body_at: int = _LOG_BODY) -> None:
        """Replay rows whose column 0 is the seq and column ``body_at`` the body."""
        find = str.find
        replayed = _REPLAYED
        loads = json.loads
        count = 0
        for row in rows:
            count += 1
            if self.unreplayable is not None:
                continue
            body = row[body_at]
            start = find(body, _ACTION) + _ACTION_LEN
            action = body[start : find(body, '"', start)]
            if action in replayed:
                try:
                    self._apply(row[0], action, loads(body))
                except (KeyError, TypeError, ValueError, AttributeError, OverflowError):
                    self.unreplayable = row[0]
        self.entries += count

    def _apply(self, seq: int, action: str, doc: dict[str, Any]) -> None:
        agent, host, details = _text(doc["subject"]), doc["host"], doc["details"]
        if type(details) is not dict:
            raise TypeError
        at_us = to_us(datetime.fromisoformat(doc["at"]))
        if action == "registration.created":
            reg_id, host_id = _text(details["registration_id"]), _text(host)
            event_id, event_type = _text(details["event_id"]), _text(details["event_type"])
            self.registrations[reg_id] = (reg_id, agent, host_id, event_type, event_id, at_us, seq)
            grant_id = details.get("grant_id")
            if grant_id is not None:
                self._grant(seq, agent, host_id, details, grant_id, at_us, event_id, event_type)
        elif action == "consent.granted":
            self._grant(
                seq,
                agent,
                _text(host),
                details,
                details["grant_id"],
                at_us,
                _opt_text(details["event_id"]),
                _opt_text(details["event_type"]),
            )
        elif action == "consent.revoked":
            grant_id = _text(details["grant_id"])
            if grant_id in self.grants:
                # The last revocation counts: a grant un-revoked outside dualid and
                # revoked again by its person is revoked at that second moment.
                self.revoked[grant_id] = (at_us, seq)
            self.pruned[(agent, _text(host))] = (seq, at_us + int(doc["uncertainty_us"]))
        elif action == "registration.cancelled":
            host_id = _text(host)
            reg_id = _text(details["registration_id"])
            if reg_id in self.registrations:
                self.cancelled.setdefault(reg_id, seq)
            # cancel() ends the event's unrevoked grants without entries of their own.
            event_id = _text(details["event_id"])
            revoked = self.revoked
            for grant in self._by_pair.get((agent, host_id), ()):
                if grant[G_EVENT] == event_id and grant[G_ID] not in revoked:
                    revoked[grant[G_ID]] = (at_us, seq)
        elif action == "consent.expired_purged":
            latest = at_us + int(doc["uncertainty_us"])
            hosts = details["hosts"]
            if type(hosts) is not list:
                raise TypeError
            for purged_host in hosts:
                self.pruned[(agent, _text(purged_host))] = (seq, latest)
        else:  # agent.erased
            self.erased.setdefault(agent, seq)

    def _grant(
        self,
        seq: int,
        agent: str,
        host: str,
        details: dict[str, Any],
        grant_id: Any,
        at_us: int,
        event_id: str | None,
        event_type: str | None,
    ) -> None:
        fields = details["fields"]
        if type(fields) is not list:
            raise TypeError
        for name in fields:
            _text(name)
        logged = "expires_at" in details
        grant: LoggedGrant = (
            _text(grant_id),
            agent,
            host,
            event_id,
            event_type,
            ",".join(sorted(fields)),
            at_us,
            seq,
            _opt_time(details.get("expires_at")),
            logged,
        )
        self.grants[grant[G_ID]] = grant
        key = (agent, host)
        self._by_pair[key] = (*self._by_pair.get(key, ()), grant)

    def grants_of(self, agent_id: str, host_id: str) -> tuple[LoggedGrant, ...]:
        return self._by_pair.get((agent_id, host_id), ())

    def covered(self, reg: LoggedRegistration) -> frozenset[str]:
        """The values the log may leave in ``reg``'s shared copy: fields of the grants of
        the person to the host that the log has not revoked, that apply to the
        registration, and that were filled in after the last prune of that person and
        host or were still active at it. (An expiry the log cannot prove counts as none.)"""
        agent_id, host_id, event_type, event_id = reg[1:5]
        last = self.pruned.get((agent_id, host_id))
        out: set[str] = set()
        revoked = self.revoked
        for grant in self.grants_of(agent_id, host_id):
            if grant[G_ID] in revoked:
                continue
            if not applies(grant[G_EVENT], grant[G_TYPE], event_id, event_type):
                continue
            if last is not None:
                last_seq, last_latest = last
                filled_after = max(grant[G_SEQ], reg[R_SEQ]) > last_seq
                expires = grant[G_EXPIRES] if grant[G_EXPIRY_LOGGED] else None
                if not filled_after and expires is not None and expires <= last_latest:
                    continue
            out.update(grant[G_FIELDS].split(","))
        return frozenset(out)


def replay_log(conn: Conn, batch: int = 5000) -> Replay:
    """Replay every entry of the log, in log-wide order (which is each person's commit
    order too: their writes hold their lock)."""
    replay = Replay()
    after = 0
    while True:
        rows = _audit.entries(conn, after=after, limit=batch)
        if not rows:
            return replay
        replay.feed(rows)
        after = rows[-1][0]


def _pages(
    fetch: Callable[[Any, int], list[Any]], batch: int, key: Callable[[Any], Any]
) -> Iterator[Any]:
    """Every row of a keyset-paged statement ``fetch(after, limit)``, ``after`` being
    ``key(last row)`` of the page before (None for the first)."""
    after: Any = None
    while True:
        rows = fetch(after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = key(rows[-1])


def _last(row: Sequence[Any]) -> Any:
    return row[-1]


def _first(row: Sequence[Any]) -> Any:
    return row[0]


def _first_two(row: Sequence[Any]) -> Any:
    return (row[0], row[1])


class _Findings:
    def __init__(self) -> None:
        self.shown: list[StateMismatch] = []
        self.count = 0

    def add(self, table: str, row_id: str, reason: str, seq: int | None = None) -> None:
        self.count += 1
        if len(self.shown) < _SHOWN:
            self.shown.append(StateMismatch(table, row_id, reason, seq))


def _disagree(columns: list[str], what: str) -> str:
    verb = "disagrees" if len(columns) == 1 else "disagree"
    return f"{', '.join(columns)} {verb} with {what}"


_GRANT_COLUMNS = ("agent_id", "host_id", "event_id", "event_type", "fields", "created_at")


def _grant_problem(row: Sequence[Any], replay: Replay) -> tuple[str, int | None] | None:
    """What is wrong with one ``dualid_grant`` row (as :func:`_grants.grant_states` reads
    it: id, agent, host, event, event type, fields, created, expires, revoked, mac) by the
    log, and the entry it disagrees with; None when it is as logged."""
    logged = replay.grants.get(row[0]) if type(row[0]) is str else None
    if logged is None:
        return "no grant entry in the log", None
    erased = replay.erased.get(row[1])
    if erased is not None:
        return "a row of a person the log erased", erased
    terms = logged[1:7]
    stored = tuple(row[1:7])
    expiry_ok = not logged[G_EXPIRY_LOGGED] or row[7] == logged[G_EXPIRES]
    if stored != terms or not expiry_ok:
        wrong = [name for name, a, b in zip(_GRANT_COLUMNS, stored, terms, strict=True) if a != b]
        if not expiry_ok:
            wrong.append("expires_at")
        return _disagree(wrong, "its grant entry"), logged[G_SEQ]
    revoked = row[8]
    revocation = replay.revoked.get(logged[G_ID])
    if revoked is None:
        if revocation is not None:
            return "not revoked, but the log revoked it", revocation[1]
    elif revocation is None:
        return "revoked, but the log has no revocation of it", logged[G_SEQ]
    elif revoked != revocation[0]:
        return "revoked_at disagrees with its revocation", revocation[1]
    return None


def _grant_pages(conn: Conn, batch: int) -> Iterator[tuple[Any, ...]]:
    def fetch(after: Any, limit: int) -> list[Any]:
        return _grants.grant_states(conn, after, limit)

    return _pages(fetch, batch, _last)


def _check_grants(conn: Conn, replay: Replay, batch: int, found: _Findings) -> int:
    seen: set[str] = set()
    for row in _grant_pages(conn, batch):
        seen.add(row[0])
        problem = _grant_problem(row, replay)
        if problem is not None:
            found.add(_GRANT, str(row[0]), *problem)
    for grant_id in sorted(replay.grants.keys() - seen):
        logged = replay.grants[grant_id]
        if logged[G_AGENT] not in replay.erased:
            found.add(_GRANT, grant_id, "the log's grant has no row", logged[G_SEQ])
    return len(seen)


_REG_COLUMNS = ("agent_id", "host_id", "event_type", "event_id", "created_at")


def _check_registrations(conn: Conn, replay: Replay, batch: int, found: _Findings) -> set[str]:
    seen: set[str] = set()

    def fetch(after: Any, limit: int) -> list[Any]:
        return _events.registration_states(conn, after, limit)

    registrations = replay.registrations
    erased = replay.erased
    for row in _pages(fetch, batch, _last):
        reg_id = row[0]
        seen.add(reg_id)
        logged = registrations.get(reg_id) if type(reg_id) is str else None
        if logged is None:
            found.add(_REGISTRATION, str(reg_id), "no registration.created entry in the log")
            continue
        if row[1] in erased:
            found.add(_REGISTRATION, reg_id, "a row of a person the log erased", erased[row[1]])
            continue
        expected = logged[1:6]
        stored = tuple(row[1:6])
        if stored != expected:
            wrong = [n for n, a, b in zip(_REG_COLUMNS, stored, expected, strict=True) if a != b]
            found.add(
                _REGISTRATION,
                reg_id,
                _disagree(wrong, "its registration.created"),
                logged[R_SEQ],
            )
        elif reg_id in replay.cancelled:
            found.add(_REGISTRATION, reg_id, "the log cancelled it", replay.cancelled[reg_id])
    for reg_id in sorted(registrations.keys() - seen):
        kept = registrations[reg_id]
        if reg_id not in replay.cancelled and kept[R_AGENT] not in erased:
            found.add(_REGISTRATION, reg_id, "the log's registration has no row", kept[R_SEQ])
    return seen


def _check_copies(
    conn: Conn, replay: Replay, present: set[str], batch: int, found: _Findings
) -> int:
    """Every value of a registration's shared copy: the blobs of ``dualid_shared`` (their
    field lists: no key needed) and the per-field copies from before migration 0011
    (every sealed row that is not a profile ``p:`` or userId ``u:`` record)."""

    def legacy(after: Any, limit: int) -> list[Any]:
        return _sealed.copy_fields(conn, after, limit)

    def blobs(after: Any, limit: int) -> list[Any]:
        return _shared.copy_fields(conn, after, limit)

    def blob_values() -> Iterator[tuple[Any, Any, Any]]:
        for record, fields, agent in _pages(blobs, batch, _first):
            for name in str(fields).split(","):
                yield record, name, agent

    values = _check_values(_pages(legacy, batch, _first_two), _SEALED, replay, present, found)
    return values + _check_values(blob_values(), _SHARED, replay, present, found)


def _check_values(
    rows: Iterable[tuple[Any, Any, Any]],
    table: str,
    replay: Replay,
    present: set[str],
    found: _Findings,
) -> int:
    """Check ``(record, field, agent)`` values of shared copies, grouped by record."""
    values = 0
    record_id: Any = None
    reg: LoggedRegistration | None = None
    covered: frozenset[str] = frozenset()
    for record, name, agent in rows:
        values += 1
        if record != record_id:  # the first value of the next record
            record_id = record
            reg = replay.registrations.get(record) if type(record) is str else None
            if reg is None or record not in present or record in replay.cancelled:
                reg = None
                found.add(table, str(record), "a shared copy of no registration the log keeps")
            elif reg[R_AGENT] in replay.erased:
                reg = None  # its registration row is reported
            else:
                covered = replay.covered(reg)
        if reg is None:
            continue
        if agent != reg[R_AGENT]:
            found.add(
                table, f"{record}/{name}", "agent_id disagrees with its registration", reg[R_SEQ]
            )
        elif name not in covered:
            found.add(
                table, f"{record}/{name}", "a shared value no grant in the log covers", reg[R_SEQ]
            )
    return values


def _compare(conn: Conn, replay: Replay, batch: int) -> StateSummary:
    if replay.unreplayable is not None:
        seq = replay.unreplayable
        bad = StateMismatch(
            "dualid_audit",
            str(seq),
            "a consent entry that cannot be replayed (not one the SDK writes)",
            seq,
            tampered=True,
        )
        return StateSummary(replay.entries, 0, 0, 0, (bad,), 1)
    found = _Findings()
    grants = _check_grants(conn, replay, batch, found)
    present = _check_registrations(conn, replay, batch, found)
    values = _check_copies(conn, replay, present, batch, found)
    return StateSummary(
        replay.entries, grants, len(present), values, tuple(found.shown), found.count
    )


class ConsentReplay:
    """The state check of ``audit.verify(deep=True)`` (:class:`dualid.audit._state.
    StateReplay`): replays the partition rows the chain walk verifies, then compares."""

    def __init__(self) -> None:
        self.replay = Replay()

    def visit(self, rows: Sequence[EntryRow]) -> None:
        self.replay.feed(rows, _PARTITION_BODY)

    def finish(self, conn: Conn, batch: int) -> StateSummary:
        return _compare(conn, self.replay, batch)


def check_state(conn: Conn, batch: int = 5000) -> StateSummary:
    """Replay the log (read here, in log-wide order) and compare the consent tables with
    it (see the module docstring); ``conn`` must stand in one snapshot."""
    return _compare(conn, replay_log(conn, batch), batch)


def unsealed_grants(conn: Conn, batch: int = 5000) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The grant rows without a MAC (from before migration 0007, or nulled since) that
    are exactly as the log records them, as :func:`_grants.grant_states` reads them, and
    the ids of those that are not (they stay untrusted); ``conn`` stands in one snapshot.
    A log that cannot be replayed vouches for none."""
    replay = replay_log(conn, batch)
    agreeing: list[tuple[Any, ...]] = []
    refused: list[str] = []
    for row in _grant_pages(conn, batch):
        if row[9] is not None:
            continue
        if replay.unreplayable is None and _grant_problem(row, replay) is None:
            agreeing.append(row)
        else:
            refused.append(str(row[0]))
    return agreeing, refused
