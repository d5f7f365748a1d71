"""Internal rules shared by the consent services: validation, coverage, shared copies.

The host view rule (P2): a host sees field F of a registration when
  1. F is declared (required or optional) in the host's requirement for the event type,
  2. an active grant of that person to that host covers F for that event (an event grant,
     or a host-wide grant for every event or every event of that type), where active means
     not revoked and ``expires_at > now.latest`` (the clock's uncertainty counts against
     sharing: a grant is expired as soon as it may have expired), and
  3. the registration's shared copy holds a value for F.
Shared copies are filled when consent is given and deleted when it is withdrawn; the read
rule alone is enough for P2, the deletion makes revocation real.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dualid._checks import check_items, check_text
from dualid._runtime import Runtime, Tx, new_id
from dualid._vault import load_dek, open_records
from dualid.crypto._dek import DataKey
from dualid.crypto._derive import DerivedKeys
from dualid.errors import InvalidInput, UnknownAgent, UnknownHost, UnknownRegistration
from dualid.identity._profiles import profile_record
from dualid.models import DataField, EventType, HostKind
from dualid.store import _events, _grants, _hosts, _sealed
from dualid.store import _sql as db
from dualid.store._agents import lock_agent
from dualid.store._grants import GrantRow
from dualid.store._sql import Conn
from dualid.webhooks._outbox import Outbox

from . import _copies
from . import _rules as rules
from ._notices import ConsentNotices
from ._rules import GrantTerms
from ._types import Grant as GrantView
from ._types import GrantState
from ._types import Host as HostView
from ._types import Requirement as RequirementView

__all__ = [
    "VERIFIED_GRANTS_MAX",
    "ConsentCore",
    "GrantRow",
    "RegRow",
    "check_event_id",
    "check_host_id",
    "check_purpose",
    "decode_fields",
    "encode_fields",
    "grant_mac",
    "parse_event_type",
    "parse_fields",
]

log = logging.getLogger("dualid.consent")
VERIFIED_GRANTS_MAX = 50_000
"""How many grant rows the host view remembers as verified (then it starts over)."""
_HOST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def check_host_id(host_id: object) -> str:
    if not isinstance(host_id, str) or not _HOST_ID.fullmatch(host_id):
        raise InvalidInput("a host id is 1-64 characters: letters, digits, '.', '_', '-'")
    return host_id


def check_event_id(event_id: object) -> str:
    if not isinstance(event_id, str) or not _EVENT_ID.fullmatch(event_id):
        raise InvalidInput("an event id is 1-128 characters: letters, digits, '.', '_', ':', '-'")
    return event_id


def check_purpose(purpose: object) -> str:
    if not isinstance(purpose, str) or not purpose.strip() or len(purpose) > 500:
        raise InvalidInput("a purpose is a non-empty text of at most 500 characters")
    return check_text(purpose.strip(), "purpose")


def parse_event_type(value: object) -> EventType:
    try:
        return EventType(str(value))
    except ValueError:
        raise InvalidInput("unknown event type", allowed=[e.value for e in EventType]) from None


def parse_host_kind(value: object) -> HostKind:
    try:
        return HostKind(str(value))
    except ValueError:
        raise InvalidInput("unknown host kind", allowed=[k.value for k in HostKind]) from None


def parse_fields(values: Iterable[DataField | str] | None) -> frozenset[DataField]:
    if values is None:
        return frozenset()
    if isinstance(values, str):
        raise InvalidInput("fields must be a collection of field names, not one string")
    out = set()
    for value in check_items(values, "fields"):
        try:
            out.add(DataField.parse(value))
        except (ValueError, TypeError):
            raise InvalidInput("unknown data field", allowed=[f.value for f in DataField]) from None
    return frozenset(out)


def encode_fields(fields: Iterable[DataField]) -> str:
    return ",".join(sorted(f.value for f in fields))


def decode_fields(text: str) -> frozenset[DataField]:
    return frozenset(DataField(v) for v in text.split(",") if v)


@dataclass(frozen=True)
class RegRow:
    registration_id: str
    agent_id: str
    host_id: str
    event_type: EventType
    event_id: str
    created_at: datetime


_EVENT_TYPES = {e.value: e for e in EventType}


def reg_from_row(row: Any) -> RegRow:
    return RegRow(
        row.registration_id,
        row.agent_id,
        row.host_id,
        _EVENT_TYPES[row.event_type],
        row.event_id,
        row.created_at,
    )


def grant_terms(row: Any) -> GrantTerms:
    """What the P2 rule (:mod:`._rules`) needs of a grant row."""
    expires = row.expires_at
    return GrantTerms(
        row.event_id,
        row.event_type,
        row.fields,
        None if expires is None else db.to_us(expires),
        row.revoked_at is not None,
    )


def grant_state(row: Any, latest: datetime) -> GrantState:
    expires = row.expires_at
    return rules.state(
        row.revoked_at is not None,
        None if expires is None else db.to_us(expires),
        db.to_us(latest),
    )


def grant_view(row: Any, latest: datetime) -> GrantView:
    return GrantView(
        id=row.grant_id,
        host_id=row.host_id,
        fields=decode_fields(row.fields),
        event_id=row.event_id,
        event_type=EventType(row.event_type) if row.event_type else None,
        purpose=row.purpose,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        state=grant_state(row, latest),
    )


def grant_mac(derived: DerivedKeys, row: GrantRow, revoked_at: datetime | None = None) -> bytes:
    """The MAC of grant ``row`` (with ``revoked_at`` instead of its own when given)."""
    expires = row.expires_at
    revoked = revoked_at if revoked_at is not None else row.revoked_at
    return derived.grant_tag(
        row.grant_id,
        row.agent_id,
        row.host_id,
        row.event_id,
        row.event_type,
        row.fields,
        db.to_us(row.created_at),
        None if expires is None else db.to_us(expires),
        None if revoked is None else db.to_us(revoked),
    )


def untrusted(grant_id: str) -> None:
    """Log a grant row whose MAC does not verify (by id only): it shares nothing."""
    log.warning(
        "grant %s: its row does not match its MAC (edited outside dualid, or from before "
        "migration 0007 and not sealed); treated as not active",
        grant_id,
    )


def grant_covers(row: Any, reg: RegRow) -> bool:
    """Does grant ``row`` apply to registration ``reg`` (same agent and host assumed),
    whatever its state?"""
    return rules.applies(row.event_id, row.event_type, reg.event_id, reg.event_type.value)


class ConsentCore:
    """Queries and state changes used by :class:`Hosts`, :class:`Events` and
    :class:`Consent`; every method runs inside the caller's transaction."""

    def __init__(self, rt: Runtime, outbox: Outbox | None = None) -> None:
        self.rt = rt
        # What changes tell hosts (the webhook outbox, written in the change's transaction).
        self.notices = ConsentNotices(self, outbox or Outbox(rt))
        # grant id -> (host id, the host view's row of it) for rows whose MAC verified:
        # the same row read again needs no second HMAC; any other value does.
        self.verified_grants: dict[str, tuple[str, tuple[Any, ...]]] = {}
        # False once no shared copy from before migration 0011 is left: none is ever
        # written again (a store at 0011 refuses older versions of the SDK).
        self._legacy_copies = True

    def legacy_copies(self, conn: Conn) -> bool:
        """Are per-field shared copies (from before 0011) left to read? One index probe
        until the answer is no, then none."""
        if self._legacy_copies:
            self._legacy_copies = _sealed.has_copy_fields(conn)
        return self._legacy_copies

    # -- hosts and requirements ------------------------------------------------------
    def host(self, conn: Conn, host_id: str) -> HostView:
        row = _hosts.get_host(conn, host_id)
        if row is None:
            raise UnknownHost("no such host", host_id=host_id)
        return HostView(row.host_id, HostKind(row.kind), row.name, row.created_at)

    def requirements(self, conn: Conn, host_id: str) -> dict[EventType, RequirementView]:
        out = {}
        for row in _hosts.requirements_of(conn, host_id):
            event_type = EventType(row.event_type)
            out[event_type] = RequirementView(
                host_id=host_id,
                event_type=event_type,
                required=decode_fields(row.required),
                optional=decode_fields(row.optional),
                purpose=row.purpose,
                updated_at=row.updated_at,
            )
        return out

    def declared(self, conn: Conn, host_id: str, event_type: EventType) -> frozenset[DataField]:
        req = self.requirements(conn, host_id).get(event_type)
        return req.declared if req else frozenset()

    # -- agents ----------------------------------------------------------------------
    def trusted(self, row: GrantRow) -> bool:
        """Does the grant row carry its own MAC (it shares nothing otherwise)? A row that
        does not is logged, by grant id."""
        mac = row.mac
        if mac is not None and hmac.compare_digest(grant_mac(self.rt.derived, row), mac):
            return True
        untrusted(row.grant_id)
        return False

    def lock_agent(self, conn: Conn, agent_id: str) -> None:
        """Serialise consent changes of one person (PostgreSQL row lock; SQLite write
        transactions are exclusive anyway). Raises UnknownAgent."""
        if not lock_agent(conn, agent_id):
            raise UnknownAgent("no such agent (unknown or erased)")

    # -- registrations and grants ------------------------------------------------------
    def registrations_of(
        self, conn: Conn, agent_id: str, host_id: str, event_id: str | None = None
    ) -> list[RegRow]:
        return [
            reg_from_row(r) for r in _events.registrations_of(conn, agent_id, host_id, event_id)
        ]

    def registrations_of_agent(self, conn: Conn, agent_id: str) -> list[RegRow]:
        return [reg_from_row(r) for r in _events.registrations_of(conn, agent_id)]

    def one_registration(self, conn: Conn, agent_id: str, host_id: str, event_id: str) -> RegRow:
        """The person's registration for one event; :class:`UnknownRegistration` if none."""
        regs = self.registrations_of(conn, agent_id, host_id, event_id)
        if not regs:
            raise UnknownRegistration(
                "not registered for this event", host_id=host_id, event_id=event_id
            )
        return regs[0]

    def profile(self, conn: Conn, agent_id: str) -> tuple[DataKey, dict[str, Any]]:
        """The person's data key and decrypted profile values."""
        dek = load_dek(conn, self.rt.provider, agent_id)
        record = profile_record(agent_id)
        return dek, open_records(conn, {agent_id: dek}, [record]).get(record, {})

    def default_share(
        self, conn: Conn, agent_id: str, event_type: EventType, host_id: str
    ) -> frozenset[DataField]:
        """The default share: the per-host default if set, else the per-event-type default,
        else nothing."""
        rows = _grants.default_fields(conn, agent_id, event_type.value, host_id)
        if host_id in rows:
            return decode_fields(rows[host_id])
        return decode_fields(rows.get("", ""))

    def active_grants(
        self,
        conn: Conn,
        agent_ids: Sequence[str],
        host_id: str,
        latest: datetime,
        event_id: str | None = None,
    ) -> list[GrantRow]:
        """Active grants of ``agent_ids`` to ``host_id``; with ``event_id``, only those that
        can cover that event (its own grants and host-wide grants)."""
        return _grants.active_grants(conn, agent_ids, host_id, db.to_us(latest), event_id)

    def coverage(
        self,
        grants: Iterable[Any],
        reg: RegRow,
        declared: frozenset[DataField],
        latest: datetime,
    ) -> dict[DataField, list[Any]]:
        """``{field: [active grants covering it]}`` for one registration, limited to
        declared fields (the P2 rule, :func:`._rules.coverage`)."""
        mine = [g for g in grants if g.agent_id == reg.agent_id]
        covered = rules.coverage(
            [grant_terms(g) for g in mine],
            reg.event_id,
            reg.event_type.value,
            {f.value for f in declared},
            db.to_us(latest),
        )
        return {DataField(name): [mine[i] for i in ix] for name, ix in covered.items()}

    def insert_grant(
        self,
        tx: Tx,
        agent_id: str,
        host_id: str,
        *,
        fields: frozenset[DataField],
        event_id: str | None,
        event_type: EventType | None,
        purpose: str,
        expires_at: datetime | None,
    ) -> str:
        """Store a new active grant stamped with the transaction's reading; its id."""
        grant_id = new_id("gr")
        row = GrantRow(
            grant_id,
            agent_id,
            host_id,
            event_id,
            event_type.value if event_type is not None else None,
            encode_fields(fields),
            purpose,
            tx.now.time,
            tx.now.uncertainty // timedelta(microseconds=1),
            str(tx.now.hlc),
            expires_at,
            None,
        )
        _grants.insert_grant(tx.conn, row._replace(mac=grant_mac(self.rt.derived, row)))
        return grant_id

    # -- shared copies -----------------------------------------------------------------
    def fill(
        self,
        tx: Tx,
        agent_id: str,
        regs: Sequence[RegRow],
        fields: frozenset[DataField],
        overrides: Mapping[str, Any] | None = None,
        requirements: Mapping[EventType, RequirementView] | None = None,
        profile: tuple[DataKey, dict[str, Any]] | None = None,
    ) -> None:
        """Copy ``fields`` (values from ``overrides`` first, then the profile) into the
        shared copy of each registration, where the copy lacks them and the host declared
        them."""
        if not regs or not fields:
            return
        conn = tx.conn
        dek, values = profile if profile is not None else self.profile(conn, agent_id)
        source = {**values, **(overrides or {})}
        bound = {r.registration_id: (r.registration_id, r.host_id, r.event_id) for r in regs}
        existing = _copies.read(conn, dek, agent_id, list(bound.values()))
        declared_by_type: dict[EventType, frozenset[DataField]] = {}
        changed: dict[_copies.Copy, dict[str, Any]] = {}
        for reg in regs:
            if reg.event_type not in declared_by_type:
                if requirements is not None and reg.host_id == regs[0].host_id:
                    req = requirements.get(reg.event_type)
                    declared_by_type[reg.event_type] = req.declared if req else frozenset()
                else:
                    declared_by_type[reg.event_type] = self.declared(
                        conn, reg.host_id, reg.event_type
                    )
            have = existing.get(reg.registration_id, {})
            added = {
                f.value: source[f.value]
                for f in fields
                if f in declared_by_type[reg.event_type]
                and f.value not in have
                and source.get(f.value) is not None
            }
            if added:
                changed[bound[reg.registration_id]] = {**have, **added}
        _copies.write(conn, self.rt.derived, dek, agent_id, changed, tx.now.time)

    def present_fields(self, conn: Conn, record_ids: Sequence[str]) -> dict[str, set[str]]:
        return _copies.present(conn, record_ids)

    def prune(self, tx: Tx, agent_id: str, regs: Sequence[RegRow]) -> int:
        """Delete from each registration's shared copy every field no active grant covers
        any more (a copy that keeps some is sealed again without the others). Returns the
        number of values deleted."""
        if not regs:
            return 0
        conn = tx.conn
        host_ids = {r.host_id for r in regs}
        present = _copies.present(conn, [r.registration_id for r in regs])
        dek: DataKey | None = None
        deleted = 0
        for host_id in host_ids:
            grants = self.active_grants(conn, [agent_id], host_id, tx.now.latest)
            for reg in (r for r in regs if r.host_id == host_id):
                held = present.get(reg.registration_id, set())
                covered = self.coverage(grants, reg, frozenset(DataField), tx.now.latest)
                keep = {f.value for f in covered}
                if held <= keep:
                    continue
                if not held & keep:
                    deleted += _copies.delete(conn, [reg.registration_id])
                    continue
                if dek is None:
                    dek = load_dek(conn, self.rt.provider, agent_id)
                bound = (reg.registration_id, reg.host_id, reg.event_id)
                values = _copies.read(conn, dek, agent_id, [bound]).get(reg.registration_id, {})
                kept = {k: v for k, v in values.items() if k in keep}
                _copies.write(conn, self.rt.derived, dek, agent_id, {bound: kept}, tx.now.time)
                deleted += len(held - keep)
        return deleted
