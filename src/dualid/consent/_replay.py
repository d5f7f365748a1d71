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
* every value of a shared copy (the sealed rows of a registration's record) belongs to a
  registration the log leaves in place, to its person, and to a field that a grant the
  log has not revoked covers, one that was filled after the last prune of that person and
  host (a revocation or a purge of expired copies) or was still active at it.

A disagreement is a :class:`~dualid.audit._state.StateMismatch` naming the table, the row
id and the columns; never a value. Entries written before the SDK logged a value cannot
prove it: a registration's grant logged without ``expires_at`` (before 0.2.0) has its
expiry taken as stored.

This module interprets consent actions, so it lives in :mod:`dualid.consent`, above
:mod:`dualid.audit` in the layers; :class:`~dualid.DualId` hands :func:`check_state` to
its :class:`~dualid.audit.AuditLog`. It needs no key: an auditor runs it on a copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dualid._micros import to_us
from dualid.audit._state import StateMismatch, StateSummary
from dualid.store import _audit, _events, _grants, _sealed
from dualid.store._sql import Conn

from ._rules import applies

__all__ = ["Replay", "check_state", "replay_log", "unsealed_grants"]

_ACTION = '"action":"'
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


class _Unreplayable(Exception):
    def __init__(self, seq: int) -> None:
        self.seq = seq


@dataclass(slots=True)
class LoggedGrant:
    """A grant as the log records it. Times are microseconds since the epoch."""

    grant_id: str
    agent_id: str
    host_id: str
    event_id: str | None
    event_type: str | None
    fields: str  # comma-separated, sorted: as the table stores them
    created_us: int
    seq: int
    expires_us: int | None
    expiry_logged: bool
    revoked_us: int | None = None
    revoked_seq: int | None = None


@dataclass(slots=True)
class LoggedRegistration:
    registration_id: str
    agent_id: str
    host_id: str
    event_id: str
    event_type: str
    created_us: int
    seq: int
    cancelled_seq: int | None = None


@dataclass
class Replay:
    """The consent state the log's entries leave (:meth:`feed` them in log-wide order)."""

    grants: dict[str, LoggedGrant] = field(default_factory=dict)
    registrations: dict[str, LoggedRegistration] = field(default_factory=dict)
    erased: dict[str, int] = field(default_factory=dict)
    """agentId -> the seq of its ``agent.erased``."""
    pruned: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(agentId, hostId) -> (seq, latest_us) of the last prune of that person's copies
    with that host (a revocation, or a purge of expired copies)."""
    entries: int = 0
    _by_pair: dict[tuple[str, str], list[LoggedGrant]] = field(default_factory=dict)

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Replay ``(seq, body, ...)`` rows; raises :class:`_Unreplayable` for a consent
        entry that is not what the SDK writes."""
        find = str.find
        replayed = _REPLAYED
        for row in rows:
            seq, body = row[0], row[1]
            self.entries += 1
            start = find(body, _ACTION) + len(_ACTION)
            action = body[start : find(body, '"', start)]
            if action in replayed:
                try:
                    self._apply(seq, action, json.loads(body))
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise _Unreplayable(seq) from None

    def _apply(self, seq: int, action: str, doc: dict[str, Any]) -> None:
        agent, host, details = doc["subject"], doc["host"], doc["details"]
        if not isinstance(agent, str) or not isinstance(details, dict):
            raise TypeError
        at_us = to_us(datetime.fromisoformat(doc["at"]))
        if action == "consent.granted" or action == "registration.created":
            if not isinstance(host, str):
                raise TypeError
            if action == "registration.created":
                reg = LoggedRegistration(
                    _text(details["registration_id"]),
                    agent,
                    host,
                    _text(details["event_id"]),
                    _text(details["event_type"]),
                    at_us,
                    seq,
                )
                self.registrations[reg.registration_id] = reg
                grant_id = details.get("grant_id")
                if grant_id is None:
                    return
                event_id: str | None = reg.event_id
                event_type: str | None = reg.event_type
            else:
                grant_id = details["grant_id"]
                event_id = _opt_text(details["event_id"])
                event_type = _opt_text(details["event_type"])
            fields = details["fields"]
            if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
                raise TypeError
            logged = "expires_at" in details
            grant = LoggedGrant(
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
            self.grants[grant.grant_id] = grant
            self._by_pair.setdefault((agent, host), []).append(grant)
        elif action == "consent.revoked":
            if not isinstance(host, str):
                raise TypeError
            found = self.grants.get(_text(details["grant_id"]))
            if found is not None:
                # The last revocation counts: a grant un-revoked outside dualid and
                # revoked again by its person is revoked at that second moment.
                found.revoked_us, found.revoked_seq = at_us, seq
            self.pruned[(agent, host)] = (seq, at_us + int(doc["uncertainty_us"]))
        elif action == "registration.cancelled":
            if not isinstance(host, str):
                raise TypeError
            reg_found = self.registrations.get(_text(details["registration_id"]))
            if reg_found is not None and reg_found.cancelled_seq is None:
                reg_found.cancelled_seq = seq
            # cancel() ends the event's unrevoked grants without entries of their own.
            event_id = _text(details["event_id"])
            for grant in self._by_pair.get((agent, host), ()):
                if grant.event_id == event_id and grant.revoked_seq is None:
                    grant.revoked_us, grant.revoked_seq = at_us, seq
        elif action == "consent.expired_purged":
            latest = at_us + int(doc["uncertainty_us"])
            hosts = details["hosts"]
            if not isinstance(hosts, list):
                raise TypeError
            for purged_host in hosts:
                self.pruned[(agent, _text(purged_host))] = (seq, latest)
        elif action == "agent.erased":
            self.erased.setdefault(agent, seq)

    def grants_of(self, agent_id: str, host_id: str) -> list[LoggedGrant]:
        return self._by_pair.get((agent_id, host_id), [])

    def covers(self, reg: LoggedRegistration, name: str) -> bool:
        """May the log leave value ``name`` in ``reg``'s shared copy? Some grant of the
        person to the host that the log has not revoked applies to the registration and
        lists the field, and was filled in after the last prune of that person and host
        or still active at it. (An expiry the log cannot prove counts as none.)"""
        last = self.pruned.get((reg.agent_id, reg.host_id))
        for grant in self.grants_of(reg.agent_id, reg.host_id):
            if grant.revoked_seq is not None:
                continue
            if not applies(grant.event_id, grant.event_type, reg.event_id, reg.event_type):
                continue
            if name not in grant.fields.split(","):
                continue
            if last is not None:
                last_seq, last_latest = last
                filled_after = max(grant.seq, reg.seq) > last_seq
                expires = grant.expires_us if grant.expiry_logged else None
                if not filled_after and expires is not None and expires <= last_latest:
                    continue
            return True
        return False


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _opt_time(value: Any) -> int | None:
    return None if value is None else to_us(datetime.fromisoformat(_text(value)))


def replay_log(conn: Conn, batch: int = 5000) -> Replay:
    """Replay every entry of the log, in log-wide order."""
    replay = Replay()
    after = 0
    while True:
        rows = _audit.entries(conn, after=after, limit=batch)
        if not rows:
            return replay
        replay.feed(rows)
        after = rows[-1][0]


def _pages(fetch: Any, batch: int) -> Iterator[tuple[Any, ...]]:
    """Every row of a keyset-paged statement ``fetch(after, limit)``."""
    after: Any = None
    while True:
        rows = fetch(after, batch)
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1]


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


def _grant_columns(row: Sequence[Any], logged: LoggedGrant) -> list[str]:
    """The columns of a ``dualid_grant`` row that disagree with its grant entry."""
    _gid, agent, host, event_id, event_type, fields, created, expires, _revoked, _mac = row
    wrong = []
    if agent != logged.agent_id:
        wrong.append("agent_id")
    if host != logged.host_id:
        wrong.append("host_id")
    if event_id != logged.event_id:
        wrong.append("event_id")
    if event_type != logged.event_type:
        wrong.append("event_type")
    if fields != logged.fields:
        wrong.append("fields")
    if created != logged.created_us:
        wrong.append("created_at")
    if logged.expiry_logged and expires != logged.expires_us:
        wrong.append("expires_at")
    return wrong


def _grant_problem(row: Sequence[Any], replay: Replay) -> tuple[str, int | None] | None:
    """What is wrong with one ``dualid_grant`` row (as :func:`_grants.grant_states` reads
    it) by the log, and the entry it disagrees with; None when it is as logged."""
    agent, revoked = row[1], row[8]
    logged = replay.grants.get(str(row[0]))
    if logged is None:
        return "no grant entry in the log", None
    erased = replay.erased.get(str(agent))
    if erased is not None:
        return "a row of a person the log erased", erased
    wrong = _grant_columns(row, logged)
    if wrong:
        return _disagree(wrong, "its grant entry"), logged.seq
    if revoked is None and logged.revoked_seq is not None:
        return "not revoked, but the log revoked it", logged.revoked_seq
    if revoked is not None and logged.revoked_seq is None:
        return "revoked, but the log has no revocation of it", logged.seq
    if revoked is not None and revoked != logged.revoked_us:
        return "revoked_at disagrees with its revocation", logged.revoked_seq
    return None


def _grant_pages(conn: Conn, batch: int) -> Iterator[tuple[Any, ...]]:
    def fetch(after: Any, limit: int) -> list[Any]:
        return _grants.grant_states(conn, "" if after is None else after[0], limit)

    return _pages(fetch, batch)


def _check_grants(conn: Conn, replay: Replay, batch: int, found: _Findings) -> int:
    seen: set[str] = set()
    for row in _grant_pages(conn, batch):
        row_id = str(row[0])
        seen.add(row_id)
        problem = _grant_problem(row, replay)
        if problem is not None:
            found.add(_GRANT, row_id, *problem)
    for grant_id, logged in sorted(replay.grants.items()):
        if grant_id not in seen and logged.agent_id not in replay.erased:
            found.add(_GRANT, grant_id, "the log's grant has no row", logged.seq)
    return len(seen)


def _check_registrations(conn: Conn, replay: Replay, batch: int, found: _Findings) -> set[str]:
    seen: set[str] = set()

    def fetch(after: Any, limit: int) -> list[Any]:
        return _events.registration_states(conn, "" if after is None else after[0], limit)

    for reg_id, agent, host, event_type, event_id, created in _pages(fetch, batch):
        row_id = str(reg_id)
        seen.add(row_id)
        logged = replay.registrations.get(row_id)
        if logged is None:
            found.add(_REGISTRATION, row_id, "no registration.created entry in the log")
            continue
        erased = replay.erased.get(str(agent))
        if erased is not None:
            found.add(_REGISTRATION, row_id, "a row of a person the log erased", erased)
            continue
        wrong = [
            name
            for name, value, expected in (
                ("agent_id", agent, logged.agent_id),
                ("host_id", host, logged.host_id),
                ("event_id", event_id, logged.event_id),
                ("event_type", event_type, logged.event_type),
                ("created_at", created, logged.created_us),
            )
            if value != expected
        ]
        if wrong:
            found.add(
                _REGISTRATION,
                row_id,
                _disagree(wrong, "its registration.created"),
                logged.seq,
            )
        elif logged.cancelled_seq is not None:
            found.add(_REGISTRATION, row_id, "the log cancelled it", logged.cancelled_seq)
    for reg_id, logged_reg in sorted(replay.registrations.items()):
        if (
            reg_id not in seen
            and logged_reg.cancelled_seq is None
            and logged_reg.agent_id not in replay.erased
        ):
            found.add(_REGISTRATION, reg_id, "the log's registration has no row", logged_reg.seq)
    return seen


def _check_copies(
    conn: Conn, replay: Replay, present: set[str], batch: int, found: _Findings
) -> int:
    """Every sealed row that is not a profile (``p:``) or userId (``u:``) record is a
    registration's shared copy."""
    values = 0
    bad_records: set[str] = set()

    def fetch(after: Any, limit: int) -> list[Any]:
        return _sealed.sealed_places(conn, None if after is None else after[:2], limit)

    for record, name, agent in _pages(fetch, batch):
        record_id = str(record)
        if record_id.startswith(("p:", "u:")):
            continue
        values += 1
        row_id = f"{record_id}/{name}"
        reg = replay.registrations.get(record_id)
        if reg is None or record_id not in present or reg.cancelled_seq is not None:
            if record_id not in bad_records:
                bad_records.add(record_id)
                found.add(_SEALED, record_id, "a shared copy of no registration the log keeps")
        elif agent != reg.agent_id:
            found.add(_SEALED, row_id, "agent_id disagrees with its registration", reg.seq)
        elif reg.agent_id not in replay.erased and not replay.covers(reg, str(name)):
            found.add(_SEALED, row_id, "a shared value no grant in the log covers", reg.seq)
    return values


def check_state(conn: Conn, batch: int = 5000) -> StateSummary:
    """Replay the log and compare the consent tables with it (see the module docstring),
    on ``conn``, which must stand in one snapshot (the chains verified in it)."""
    try:
        replay = replay_log(conn, batch)
    except _Unreplayable as exc:
        bad = StateMismatch(
            "dualid_audit",
            str(exc.seq),
            "a consent entry that cannot be replayed (not one the SDK writes)",
            exc.seq,
            tampered=True,
        )
        return StateSummary(0, 0, 0, 0, (bad,), 1)
    found = _Findings()
    grants = _check_grants(conn, replay, batch, found)
    present = _check_registrations(conn, replay, batch, found)
    values = _check_copies(conn, replay, present, batch, found)
    return StateSummary(
        replay.entries, grants, len(present), values, tuple(found.shown), found.count
    )


def unsealed_grants(conn: Conn, batch: int = 5000) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The grant rows without a MAC (from before migration 0007, or nulled since) that
    are exactly as the log records them, as :func:`_grants.grant_states` reads them, and
    the ids of those that are not (they stay untrusted); ``conn`` stands in one snapshot.
    A log that cannot be replayed vouches for none."""
    try:
        replay: Replay | None = replay_log(conn, batch)
    except _Unreplayable:
        replay = None
    agreeing: list[tuple[Any, ...]] = []
    refused: list[str] = []
    for row in _grant_pages(conn, batch):
        if row[9] is not None:
            continue
        if replay is not None and _grant_problem(row, replay) is None:
            agreeing.append(row)
        else:
            refused.append(str(row[0]))
    return agreeing, refused
