"""Registrations (reservations, attendance) and the host's view of its attendees."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from dualid import audit
from dualid._micros import iso_from_us
from dualid._runtime import Runtime, Tx, new_id
from dualid._vault import load_deks, load_page_deks
from dualid.crypto._fields import open_rows
from dualid.crypto._shared import open_event_copies
from dualid.errors import (
    AlreadyExists,
    ConsentRequired,
    DuplicateRegistration,
    EventTypeMismatch,
    FieldNotRequested,
    InvalidExpiry,
    InvalidInput,
    UnknownEvent,
    UnknownHost,
)
from dualid.identity._agents import check_agent_id
from dualid.identity._profiles import check_against_clock, profile_values
from dualid.models import DataField, EventType, EventUserData
from dualid.store import _events, _grants, _sealed, _shared
from dualid.store import _sql as db
from dualid.store._audit import begin_snapshot
from dualid.store._events import (
    EventRow,
    ensure_event,
    get_event,
    insert_event,
    update_event,
)
from dualid.store._hosts import lock_host
from dualid.store._retry import retrying
from dualid.webhooks import NoticeType

from . import _copies
from . import _rules as rules
from ._engine import (
    VERIFIED_GRANTS_MAX,
    ConsentCore,
    RegRow,
    check_event_id,
    check_host_id,
    check_purpose,
    grant_mac,
    parse_event_type,
    parse_fields,
    reg_from_row,
    untrusted,
)
from ._types import Event, HostAttendee, Registration, host_attendee, json_layout

__all__ = ["AttendeePage", "Events"]

_orjson_dumps: Callable[[Any], bytes] | None
try:  # optional: the fastapi extra installs it
    from orjson import dumps as _orjson_dumps
except ImportError:  # pragma: no cover - without the extra
    _orjson_dumps = None

_PAGE_MAX = 1000
_T = TypeVar("_T")
# Of a page, per registration: the covered fields with since when, the ref, the values
# shown (absent: none)
_Opened = tuple[dict[str, dict[str, int]], dict[str, str], dict[str, dict[str, Any]]]
_EVENT_TYPES = {e.value: e for e in EventType}
_EMPTY_DATA: dict[str, Any] = dict.fromkeys(EventUserData.model_fields)


@dataclass(frozen=True)
class AttendeePage:
    """One page of a host's attendee list; pass ``next_cursor`` to get the next one (None
    on the last page). Order is stable (by registration)."""

    items: list[HostAttendee]
    next_cursor: str | None


def _encode_cursor(registration_id: str) -> str:
    return base64.urlsafe_b64encode(registration_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode("ascii")).decode()
    except (binascii.Error, ValueError, UnicodeError, TypeError):  # TypeError: not a str
        raise InvalidInput("invalid cursor") from None
    if not value.startswith("reg_") or len(value) > 40:
        raise InvalidInput("invalid cursor")
    return value


class Events:
    """Registrations for events of every type, and what hosts see of them."""

    def __init__(self, rt: Runtime, core: ConsentCore, agent_in: Callable[[Tx, str], str]) -> None:
        self._rt = rt
        self._core = core
        self._agent_in = agent_in

    # -- events ------------------------------------------------------------------------
    @retrying
    def create(
        self,
        host_id: str,
        event_id: str,
        event_type: EventType | str,
        *,
        title: str | None = None,
        starts_at: datetime | None = None,
        exist_ok: bool = False,
    ) -> Event:
        """Create an event of ``host_id`` with its one event type (optional: the first
        registration of an unknown event creates it). Creating an existing event raises
        :class:`~dualid.errors.AlreadyExists` unless ``exist_ok`` (then ``title`` and
        ``starts_at`` are updated when given); one with another type raises
        :class:`~dualid.errors.EventTypeMismatch` either way. ``title`` is the host's own
        label (not personal data, stored as it is).

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        check_event_id(event_id)
        etype = parse_event_type(event_type)
        label = _check_title(title)
        if starts_at is not None and (
            not isinstance(starts_at, datetime) or starts_at.tzinfo is None
        ):
            raise InvalidInput("starts_at must be an aware datetime")
        with self._rt.write() as tx:
            # The host's lock, as for its requirements (docs/concurrency.md).
            if not lock_host(tx.conn, host_id):
                raise UnknownHost("no such host", host_id=host_id)
            row = EventRow(host_id, event_id, etype.value, label, starts_at, tx.now.time)
            if insert_event(tx.conn, row):
                _log_event_created(tx, host_id, event_id, etype)
            else:
                existing = get_event(tx.conn, host_id, event_id)
                assert existing is not None  # events are never deleted
                if existing.event_type != etype.value:
                    raise EventTypeMismatch(
                        "this event has another event type",
                        event_id=event_id,
                        event_type=existing.event_type,
                    )
                if not exist_ok:
                    raise AlreadyExists("this event already exists", event_id=event_id)
                if label is not None or starts_at is not None:
                    update_event(
                        tx.conn,
                        host_id,
                        event_id,
                        label if label is not None else existing.title,
                        starts_at if starts_at is not None else existing.starts_at,
                    )
            found = get_event(tx.conn, host_id, event_id)
            assert found is not None
            return _event_view(found)

    def get(self, host_id: str, event_id: str) -> Event:
        """The event; :class:`~dualid.errors.UnknownEvent` when the host has no such event.

        .. versionadded:: 0.2.0
        """
        check_host_id(host_id)
        check_event_id(event_id)
        with self._rt.read() as tx:
            found = get_event(tx.conn, host_id, event_id)
        if found is None:
            raise UnknownEvent("no such event for this host", event_id=event_id)
        return _event_view(found)

    # -- the person's side -------------------------------------------------------------
    @retrying
    def register(
        self,
        agent_id: str,
        host_id: str,
        event_type: EventType | str,
        event_id: str,
        *,
        share: Iterable[DataField | str] | None = None,
        data: EventUserData | None = None,
        purpose: str | None = None,
        expires_at: datetime | None = None,
    ) -> Registration:
        """Register ``agent_id`` for ``event_id`` of ``host_id`` and share ``share``.

        ``share=None`` applies the person's defaults (per host, then per event type; see
        the consent model docs). Only fields the host declared for the event type can be
        shared. Every required field must be shared and have a value (from ``data`` or
        the profile), or :class:`~dualid.errors.ConsentRequired` names the missing ones
        and nothing is written. ``data`` meets the same rules as a profile (a birthday
        after today, per the SDK's clock, is :class:`~dualid.errors.InvalidField`). The
        registration keeps an encrypted snapshot of the shared values and a grant for the
        event; host-wide grants already given apply too.
        """
        check_agent_id(agent_id)
        args = _registration_args(host_id, event_type, event_id, share, data, purpose)
        with self._rt.write() as tx:
            return self._register_in(tx, agent_id, *args, expires_at)

    @retrying
    def register_user(
        self,
        user_id: str,
        host_id: str,
        event_type: EventType | str,
        event_id: str,
        *,
        share: Iterable[DataField | str] | None = None,
        data: EventUserData | None = None,
        purpose: str | None = None,
        expires_at: datetime | None = None,
    ) -> Registration:
        """:meth:`register` for a platform userId: the agentId is looked up, or created in
        the same transaction, so a refused registration provisions nothing (the HTTP API's
        ``POST /me/registrations`` uses it for first-time users).

        .. versionadded:: 0.1.0
        """
        args = _registration_args(host_id, event_type, event_id, share, data, purpose)
        with self._rt.write() as tx:
            agent_id = self._agent_in(tx, user_id)
            return self._register_in(tx, agent_id, *args, expires_at)

    def _register_in(
        self,
        tx: Tx,
        agent_id: str,
        host_id: str,
        etype: EventType,
        event_id: str,
        explicit: bool,
        wanted: frozenset[DataField] | None,
        overrides: dict[str, Any],
        why: str | None,
        expires_at: datetime | None,
    ) -> Registration:
        conn = tx.conn
        self._core.lock_agent(conn, agent_id)
        self._core.host(conn, host_id)
        if expires_at is not None:
            _check_expiry(expires_at, tx)
        check_against_clock(overrides, tx.now)  # data= follows the profile rules
        if self._core.registrations_of(conn, agent_id, host_id, event_id):
            raise DuplicateRegistration(
                "already registered for this event", host_id=host_id, event_id=event_id
            )
        # The event's one type: created by this registration, or fixed before (the event
        # row is locked after the agent's, docs/concurrency.md).
        event_type, created = ensure_event(conn, host_id, event_id, etype.value, tx.now.time)
        if event_type != etype.value:
            raise EventTypeMismatch(
                "this event has another event type", event_id=event_id, event_type=event_type
            )
        req = self._core.requirements(conn, host_id).get(etype)
        declared = req.declared if req else frozenset()
        required = req.required if req else frozenset()
        if wanted is None:
            wanted = self._core.default_share(conn, agent_id, etype, host_id) & declared
        undeclared = wanted - declared
        if explicit and undeclared:
            raise FieldNotRequested(
                "the host did not ask for these fields",
                fields=[f.value for f in undeclared],
            )
        missing_consent = required - wanted
        if missing_consent:
            raise ConsentRequired(
                "the host requires these fields to be shared",
                fields=[f.value for f in missing_consent],
            )
        profile = self._core.profile(conn, agent_id)
        source = {**profile[1], **overrides}
        missing_value = {f for f in required if source.get(f.value) is None}
        if missing_value:
            raise ConsentRequired(
                "required fields have no value in the profile or the given data",
                fields=[f.value for f in missing_value],
            )
        reg = RegRow(new_id("reg"), agent_id, host_id, etype, event_id, tx.now.time)
        row = _events.RegistrationRow(
            reg.registration_id, agent_id, host_id, etype.value, event_id, tx.now.time
        )
        if not _events.insert_registration(conn, row):
            raise DuplicateRegistration(
                "already registered for this event", host_id=host_id, event_id=event_id
            )
        grant_id: str | None = None
        if wanted:
            grant_id = self._core.insert_grant(
                tx,
                agent_id,
                host_id,
                fields=frozenset(wanted),
                event_id=event_id,
                event_type=etype,
                purpose=why or (req.purpose if req else "registration"),
                expires_at=expires_at,
            )
        # Host-wide grants already given that cover this registration (P2 rule: one
        # limited to another event type does not).
        hostwide = set(
            self._core.coverage(
                self._core.active_grants(conn, [agent_id], host_id, tx.now.latest, event_id),
                reg,
                declared,
                tx.now.latest,
            )
        )
        self._core.fill(
            tx, agent_id, [reg], frozenset(wanted | hostwide), overrides, profile=profile
        )
        if created:
            _log_event_created(tx, host_id, event_id, etype)
        details: dict[str, Any] = {
            "registration_id": reg.registration_id,
            "event_id": event_id,
            "event_type": etype.value,
            "grant_id": grant_id,
            "fields": sorted(f.value for f in wanted),
            "defaults_applied": not explicit,
            # The grant's expiry, so the log alone proves it (audit.verify(deep=True)).
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        if grant_id is not None:
            notice = self._core.notices.granted(
                tx,
                agent_id,
                host_id,
                grant_id,
                fields=frozenset(wanted),
                event_id=event_id,
                event_type=etype,
                expires_at=expires_at,
            )
            if notice is not None:
                details["notice"] = notice
        audit.append(
            conn, tx.now, "registration.created", subject=agent_id, host_id=host_id, details=details
        )
        return Registration(
            reg.registration_id,
            host_id,
            etype,
            event_id,
            tx.now.time,
            frozenset(wanted),
            grant_id,
        )

    def registrations(self, agent_id: str) -> list[Registration]:
        """The person's registrations, oldest first, with what each currently shares:
        the fields the host sees (covered by an active grant, with a value in the shared
        copy)."""
        check_agent_id(agent_id)
        with self._rt.read() as tx:
            rows = [reg_from_row(r) for r in _events.registrations_of(tx.conn, agent_id)]
            present = _copies.present(tx.conn, [r.registration_id for r in rows])
            out = []
            for reg in rows:
                grants = [
                    g
                    for g in self._core.active_grants(
                        tx.conn, [agent_id], reg.host_id, tx.now.latest, reg.event_id
                    )
                    if self._core.trusted(g)  # an edited row shares nothing (MAC)
                ]
                declared = self._core.declared(tx.conn, reg.host_id, reg.event_type)
                covered = self._core.coverage(grants, reg, declared, tx.now.latest)
                event_grant = next((g.grant_id for g in grants if g.event_id == reg.event_id), None)
                out.append(
                    Registration(
                        reg.registration_id,
                        reg.host_id,
                        reg.event_type,
                        reg.event_id,
                        reg.created_at,
                        # what the host sees: covered, and with a value in the copy (P2)
                        frozenset(
                            f for f in covered if f.value in present.get(reg.registration_id, ())
                        ),
                        event_grant,
                    )
                )
            return out

    @retrying
    def cancel(self, agent_id: str, host_id: str, event_id: str) -> None:
        """Cancel a registration: its grants are revoked and its shared copy deleted."""
        check_agent_id(agent_id)
        check_host_id(host_id)
        check_event_id(event_id)
        with self._rt.write() as tx:
            self._core.lock_agent(tx.conn, agent_id)
            reg = self._core.one_registration(tx.conn, agent_id, host_id, event_id)
            watch = self._core.notices.watch(tx, agent_id, host_id, [reg])
            open_grants = _grants.unrevoked_grants(tx.conn, agent_id, host_id, event_id)
            at = tx.now.time
            macs = [(g.grant_id, grant_mac(self._rt.derived, g, at)) for g in open_grants]
            _grants.revoke_grants(tx.conn, macs, at)
            _copies.delete(tx.conn, [reg.registration_id])
            _events.delete_registration(tx.conn, reg.registration_id)
            details: dict[str, Any] = {
                "registration_id": reg.registration_id,
                "event_id": event_id,
            }
            if watch is not None:
                details["notice"] = self._core.notices.ended(
                    tx,
                    watch,
                    NoticeType.REGISTRATION_CANCELLED,
                    open_grants,
                    extra={"eventId": event_id, "eventType": reg.event_type.value},
                )
            audit.append(
                tx.conn,
                tx.now,
                "registration.cancelled",
                subject=agent_id,
                host_id=host_id,
                details=details,
            )

    # -- the host's side ------------------------------------------------------------------
    @retrying
    def attendees(self, host_id: str, event_id: str) -> list[HostAttendee]:
        """Every attendee of ``event_id`` as ``host_id`` may see them: a pairwise ref, the
        currently consented fields only, and when sharing began, in a stable order. An
        event without registrations has an empty list; one the host never had raises
        :class:`~dualid.errors.UnknownEvent`.

        The whole list is read from one snapshot (one consistent moment, taking no lock
        that writers need) and is one audited host read. It is held in memory: for large
        events use :meth:`iter_attendees` or :meth:`attendees_page`."""
        check_host_id(host_id)
        check_event_id(event_id)
        with self._rt.read() as tx:
            position = self._start_host_read(tx, host_id)
            regs = _shared.event_page(tx.conn, host_id, event_id)
            if not regs:
                self._known_event(tx, host_id, event_id)
            items: list[HostAttendee] = []
            shown: set[str] = set()
            for start in range(0, len(regs), _PAGE_MAX):  # bounded statements, page by page
                page, page_shown = self._view(
                    tx, host_id, event_id, regs[start : start + _PAGE_MAX]
                )
                items += page
                shown |= page_shown
        self._log_host_read(tx, position, host_id, event_id, len(items), shown)
        return items

    def iter_attendees(
        self, host_id: str, event_id: str, *, batch: int = 500
    ) -> Iterator[HostAttendee]:
        """Stream the attendees page by page (memory bounded by ``batch``); each page is
        one snapshot and one audited host read (see :meth:`attendees_page`)."""
        cursor: str | None = None
        first = True
        while first or cursor is not None:
            page = self.attendees_page(host_id, event_id, cursor=cursor, limit=batch)
            first = False
            yield from page.items
            cursor = page.next_cursor

    @retrying
    def attendees_page(
        self, host_id: str, event_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> AttendeePage:
        """One page of the host's view, in a stable order; every call reads one snapshot
        and is one audited host read of personal data."""
        items, next_cursor = self._page(host_id, event_id, cursor, limit, self._view)
        return AttendeePage(items, next_cursor)

    @retrying
    def attendees_page_json(
        self, host_id: str, event_id: str, *, cursor: str | None = None, limit: int = 100
    ) -> bytes:
        """The same page as :meth:`attendees_page`, as the UTF-8 JSON body the host API
        serves (``{"items": [...], "nextCursor": ...}``: each item ``ref``, the consented
        fields in camelCase, ``sharedAt`` in ISO 8601; fields not shared are left out).

        The same read, rules and audit entry as :meth:`attendees_page`; it builds the JSON
        straight from the decrypted values, without the model objects, so it is the way to
        serve the list from any web framework (the FastAPI router uses it)."""
        items, next_cursor = self._page(host_id, event_id, cursor, limit, self._view_json)
        return json_bytes({"items": items, "nextCursor": next_cursor})

    def _page(
        self,
        host_id: str,
        event_id: str,
        cursor: str | None,
        limit: int,
        view: Callable[[Tx, str, str, list[_shared.PageRow]], tuple[list[_T], set[str]]],
    ) -> tuple[list[_T], str | None]:
        check_host_id(host_id)
        check_event_id(event_id)
        if not isinstance(limit, int) or not 1 <= limit <= _PAGE_MAX:
            raise InvalidInput(f"limit must be between 1 and {_PAGE_MAX}")
        after = _decode_cursor(cursor) if cursor is not None else ""
        with self._rt.read() as tx:
            position = self._start_host_read(tx, host_id)
            regs = _shared.event_page(tx.conn, host_id, event_id, after=after, limit=limit + 1)
            if not regs and cursor is None:
                self._known_event(tx, host_id, event_id)
            more = len(regs) > limit
            regs = regs[:limit]
            items, shown = view(tx, host_id, event_id, regs)
        self._log_host_read(tx, position, host_id, event_id, len(items), shown)
        return items, (_encode_cursor(regs[-1][0]) if more else None)

    def _start_host_read(self, tx: Tx, host_id: str) -> tuple[int, ...]:
        # One snapshot, no lock (docs/concurrency.md); the position it stands at in the
        # log goes into the read's audit entry.
        position = begin_snapshot(tx.conn)
        self._core.host(tx.conn, host_id)
        return position

    @staticmethod
    def _known_event(tx: Tx, host_id: str, event_id: str) -> None:
        if get_event(tx.conn, host_id, event_id) is None:
            raise UnknownEvent("no such event for this host", event_id=event_id)

    def _log_host_read(
        self,
        read: Tx,
        position: tuple[int, ...],
        host_id: str,
        event_id: str,
        count: int,
        shown: set[str],
    ) -> None:
        """The audit entry of one host read, in a transaction of its own after the read:
        how many attendees, which fields (no values), and the snapshot it read
        (``snapshot``: per partition, the newest entry it contains, so entry ``e`` is in it
        when ``e.seq <= snapshot[e.partition]``; ``snapshot_seq``: the newest of those;
        ``read_at``: the reading consent was evaluated at)."""
        with self._rt.write() as tx:
            audit.append(
                tx.conn,
                tx.now,
                "host.read_attendees",
                host_id=host_id,
                details={
                    "event_id": event_id,
                    "attendees": count,
                    "fields": sorted(shown),
                    "snapshot_seq": max(position, default=0),
                    "snapshot": list(position),
                    "read_at": read.now.time.isoformat(timespec="microseconds"),
                },
            )

    def _open_page(
        self, tx: Tx, host_id: str, event_id: str, regs: list[_shared.PageRow]
    ) -> _Opened:
        """What the host may see of one page of ``event_id`` (``(registration_id, agent_id,
        event_type, copy fields, copy key version, copy ciphertext)`` rows in
        registration order): per registration, the covered fields (with since when each is
        shared), its ref, and the opened values of those fields (absent when it shows
        nothing). Both views
        build on it: :meth:`_view` (model objects) and :meth:`_view_json` (JSON values).

        The hot path (thousands of attendees per call): plain strings and tuples, one pass
        per registration, the earliest covering grant per field. The rule is
        :func:`._rules.coverage` (the query only narrows the grants it is given to active
        ones that may apply). A copy is one ciphertext: it is opened only when some field
        of it is covered, and the values no grant covers are dropped before anything is
        built; only the data keys of people who share something are unwrapped. The ref
        comes sealed in the copy (computed once, when it was written); only attendees
        without a copy to open cost an HMAC."""
        conn = tx.conn
        declared_by_type = {
            str(etype): frozenset(f.value for f in req.declared)
            for etype, req in self._core.requirements(conn, host_id).items()
        }
        # An agent has at most one registration per event, so each grant row maps straight
        # to the registration it may cover.
        reg_of = {r[1]: (r[0], r[2]) for r in regs}
        latest_us = db.to_us(tx.now.latest)
        # The P2 rule (_rules) over the page's grants; the earliest covering grant of
        # each field says since when it is shared.
        tag = self._rt.derived.grant_tag
        same = hmac.compare_digest
        # Rows verified before, exactly as they were (host lists are read again and again).
        verified = self._core.verified_grants
        terms = []
        # Only rows that carry their own MAC count (fail closed: a row moved to another
        # host or event, or given another expiry, by someone without the keys shares
        # nothing). These rows are unrevoked, by the query.
        first, last = regs[0][0], regs[-1][0]
        for row in _grants.page_grant_terms(conn, host_id, event_id, first, last, latest_us):
            grant_id = row[6]
            seen = verified.get(grant_id)
            if seen is not None and seen[1] == row and seen[0] == host_id:
                terms.append(row)
                continue
            agent, g_event, g_type, fields, created, expires, _, mac = row
            expected = tag(
                grant_id, agent, host_id, g_event, g_type, fields, created, expires, None
            )
            if mac is not None and same(expected, mac):
                terms.append(row)
                if len(verified) >= VERIFIED_GRANTS_MAX:
                    verified.clear()
                verified[grant_id] = (host_id, row)
            else:
                untrusted(grant_id)
        covered_by_reg = rules.host_view_coverage(
            terms, reg_of, event_id, declared_by_type, latest_us
        )
        refs: dict[str, str] = {}
        shown: dict[str, dict[str, Any]] = {}
        if covered_by_reg:
            old_copies = self._core.legacy_copies(conn)
            ring = self._rt.provider
            if old_copies:  # per-field rows name their own versions: read the key rows
                deks = load_deks(conn, ring, [r[1] for r in regs if r[0] in covered_by_reg])
            else:
                versions = {r[1]: r[4] for r in regs if r[0] in covered_by_reg and r[5] is not None}
                deks = load_page_deks(conn, ring, host_id, event_id, first, last, versions)
            refs, shown = open_event_copies(
                ((r[0], r[1], r[3], r[4], r[5]) for r in regs if r[5] is not None),
                deks,
                host_id,
                event_id,
                keep=covered_by_reg,
            )
            if old_copies:  # copies from before migration 0011, not re-sealed yet
                sealed = _sealed.event_copies(conn, host_id, event_id, regs[0][0], regs[-1][0])
                shown.update(open_rows(sealed, deks, keep=covered_by_reg))
        # Every registration gets its ref: attendees without a copy to open (sharing
        # nothing, or a legacy copy) cost an HMAC.
        if len(refs) < len(regs):
            pairwise_ref = self._rt.derived.pairwise_refs(host_id)
            for r in regs:
                if r[0] not in refs:
                    refs[r[0]] = pairwise_ref(r[1])
        return covered_by_reg, refs, shown

    def _view(
        self, tx: Tx, host_id: str, event_id: str, regs: list[_shared.PageRow]
    ) -> tuple[list[HostAttendee], set[str]]:
        """The attendees of one page as :class:`HostAttendee` objects, and the field names
        shown. The hot path (thousands of attendees per call): plain strings and tuples,
        one pass per registration."""
        if not regs:
            return [], set()
        covered_by_reg, refs, opened = self._open_page(tx, host_id, event_id, regs)
        trusted = EventUserData._trusted
        new_attendee = host_attendee
        from_us = db.from_us
        event_types = _EVENT_TYPES
        # The model is frozen and pydantic copies this set whenever it copies a model, so
        # attendees showing the same fields can share one (fewer objects to build and
        # for the garbage collector to track).
        field_sets: dict[tuple[str, ...], set[str]] = {}
        bare = {"shared_with_host", "event_type"}
        out = []
        all_shown: set[str] = set()
        templates = {
            etype: {**_EMPTY_DATA, "shared_with_host": host_id, "event_type": event_types[etype]}
            for etype in {r[2] for r in regs}
        }
        for reg_id, _, etype, _, _, _ in regs:
            values = opened.get(reg_id)
            shown = templates[etype].copy()
            shared_at = None
            if values:
                shown.update(values)
                shared_at = shown["shared_at"] = from_us(
                    _first_shared(covered_by_reg[reg_id], values)
                )
                names = tuple(values)
                fields_set = field_sets.get(names)
                if fields_set is None:
                    fields_set = field_sets[names] = {*bare, "shared_at", *names}
                    all_shown.update(names)
            else:
                fields_set = bare
            out.append(new_attendee(refs[reg_id], trusted(shown, fields_set), shared_at))
        return out, all_shown

    def _view_json(
        self, tx: Tx, host_id: str, event_id: str, regs: list[_shared.PageRow]
    ) -> tuple[list[dict[str, Any]], set[str]]:
        """The attendees of one page as the host API's JSON items (see
        :meth:`attendees_page_json`; equal to :func:`host_attendee_json` of each
        :meth:`_view` item, tested), and the field names shown."""
        if not regs:
            return [], set()
        covered_by_reg, refs, opened = self._open_page(tx, host_id, event_id, regs)
        iso = iso_from_us
        # Per field list of a copy: its (name, JSON name, is a date) in the model's order.
        layouts: dict[tuple[str, ...], tuple[tuple[str, str, bool], ...]] = {}
        out = []
        all_shown: set[str] = set()
        for reg_id, _, _, _, _, _ in regs:
            values = opened.get(reg_id)
            item: dict[str, Any] = {"ref": refs[reg_id]}
            if values:
                names = tuple(values)
                layout = layouts.get(names)
                if layout is None:
                    layout = layouts[names] = json_layout(names)
                    all_shown.update(names)
                for name, key, is_date in layout:
                    value = values[name]
                    if value is not None:
                        item[key] = value.isoformat() if is_date else value
                item["sharedAt"] = iso(_first_shared(covered_by_reg[reg_id], values))
            else:
                item["sharedAt"] = None
            out.append(item)
        return out, all_shown


def json_bytes(body: Any) -> bytes:
    """``body`` as compact UTF-8 JSON: by orjson when it is installed (the ``fastapi``
    extra brings it; about 15x faster on an attendee page), else by the standard library,
    which also takes what orjson refuses (integers beyond 64 bits)."""
    if _orjson_dumps is not None:
        try:
            return _orjson_dumps(body)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _first_shared(covered: dict[str, int], values: dict[str, Any]) -> int:
    """Since when the earliest of the fields shown (``values``) is shared."""
    if len(covered) == len(values):  # every covered field has its copy
        return min(covered.values())
    return min(covered[n] for n in values)


def _check_title(title: object) -> str | None:
    if title is None:
        return None
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise InvalidInput("an event title is 1-200 characters")
    if "\x00" in title:
        raise InvalidInput("an event title cannot hold a NUL character")
    return title.strip()


def _event_view(row: EventRow) -> Event:
    return Event(
        row.host_id,
        row.event_id,
        _EVENT_TYPES[row.event_type],
        row.title,
        row.starts_at,
        row.created_at,
    )


def _log_event_created(tx: Tx, host_id: str, event_id: str, etype: EventType) -> None:
    audit.append(
        tx.conn,
        tx.now,
        "event.created",
        host_id=host_id,
        details={"event_id": event_id, "event_type": etype.value},
    )


def _registration_args(
    host_id: str,
    event_type: EventType | str,
    event_id: str,
    share: Iterable[DataField | str] | None,
    data: EventUserData | None,
    purpose: str | None,
) -> tuple[str, EventType, str, bool, frozenset[DataField] | None, dict[str, Any], str | None]:
    """Validate a registration's arguments before any transaction opens."""
    check_host_id(host_id)
    etype = parse_event_type(event_type)
    check_event_id(event_id)
    wanted = parse_fields(share) if share is not None else None
    if data is not None and not isinstance(data, EventUserData):
        raise InvalidInput("data must be an EventUserData")
    why = check_purpose(purpose) if purpose is not None else None
    overrides = profile_values(data) if data is not None else {}
    return host_id, etype, event_id, share is not None, wanted, overrides, why


def _us(tx: Tx) -> int:
    from datetime import timedelta

    return tx.now.uncertainty // timedelta(microseconds=1)


def _check_expiry(expires_at: datetime, tx: Tx) -> None:
    if not isinstance(expires_at, datetime) or expires_at.tzinfo is None:
        raise InvalidExpiry("expires_at must be an aware datetime")
    if expires_at <= tx.now.latest:
        raise InvalidExpiry("expires_at is in the past (or within the clock's uncertainty)")
