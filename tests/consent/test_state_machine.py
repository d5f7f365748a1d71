"""A hypothesis state machine: random event creations, registrations (of two event types),
cancellations, grants of all three scopes (one event, every event of one type of a host,
every event of a host), revocations, expiries and erasures. After every step each host's
view and the shared copies in the database must equal a simple model of what should be
visible and stored (P2), and the audit chain must stay whole (P7).

The model is the spec, written from the rule text (DESIGN.md P2 and the ``_rules``
docstring), independently of ``dualid.consent._rules``:

- an event has one type, fixed by its creation or first registration; registering it as
  another type is refused and changes nothing; it outlives its registrations;
- a grant is active while not revoked and ``expires_at > now.latest`` (``==`` is expired);
- an event grant applies to its event; a host-wide grant to every event of the host, or,
  limited to a type, to the host's events of that type only;
- the host sees a field while it is declared for the event's type, an active applying
  grant lists it and the registration's shared copy holds it;
- shared copies are filled when consent is given (grant, registration) for the
  registrations it covers, pruned to what active grants still cover on revocation, and
  dropped on cancellation, ``revoke_event`` and erasure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from dualid import DataField, EventType, EventUserData
from dualid.errors import (
    AlreadyExists,
    DuplicateRegistration,
    EventTypeMismatch,
    FieldNotRequested,
    GrantNotActive,
    UnknownEvent,
)
from dualid.testing import FakeClock, memory_sdk
from tests.support import all_copy_fields, json_view

NAME, PHONE, EMAIL, BIRTHDAY = (
    DataField.NAME,
    DataField.PHONE_NUMBER,
    DataField.EMAIL,
    DataField.BIRTHDAY,
)
ALL_FIELDS = [NAME, PHONE, EMAIL, BIRTHDAY]
NEVER_DECLARED = DataField.COMPANY_AFFILIATION
RES, CLUB = EventType.RESERVATION, EventType.CLUB_EVENT
TYPES = [RES, CLUB]
REQUIRED = {NAME}
# What each host declares for each type (NAME required everywhere, the rest optional).
# At h1 both types declare EMAIL and BIRTHDAY, so only a grant's type keeps them off the
# other type's events; at h2 EMAIL is declared for reservations only, so a grant for
# every type and one limited to club events differ in what they may show.
DECLARED = {
    ("h1", RES): {NAME, PHONE, EMAIL, BIRTHDAY},
    ("h1", CLUB): {NAME, EMAIL, BIRTHDAY},
    ("h2", RES): {NAME, PHONE, EMAIL},
    ("h2", CLUB): {NAME, BIRTHDAY},
}
HOSTS = ["h1", "h2"]
EVENTS = ["e1", "e2", "e3"]
PEOPLE = {
    f"user-{i}": EventUserData(
        name=f"Person {i}",
        phone_number=f"+1415555{2000 + i}",
        email=f"p{i}@example.com",
        birthday=f"199{i}-0{i + 1}-1{i}",
    )
    for i in range(3)
}
UNCERTAINTY = timedelta(milliseconds=5)


def declared(host: str, etype: EventType) -> set[DataField]:
    return DECLARED[(host, etype)]


def host_declared(host: str) -> set[DataField]:
    return set().union(*(declared(host, t) for t in TYPES))


@dataclass
class ModelGrant:
    id: str
    person: str
    host: str
    event: str | None  # an event grant names its event
    # a host-wide grant may be limited to one type; an event grant carries its event's
    etype: EventType | None
    fields: frozenset[DataField]
    expires: object | None
    revoked: bool = False

    def scope(self) -> str:
        if self.event is not None:
            return "event"
        return "host" if self.etype is None else "type"

    def applies(self, event: str, etype: EventType) -> bool:
        scope = self.scope()
        if scope == "event":
            return self.event == event
        if scope == "type":
            return self.etype == etype
        return True


@dataclass
class ModelReg:
    id: str
    etype: EventType
    present: set[DataField]  # the fields in the shared copy


@dataclass
class Model:
    grants: list[ModelGrant] = field(default_factory=list)
    regs: dict[tuple[str, str, str], ModelReg] = field(default_factory=dict)
    event_types: dict[tuple[str, str], EventType] = field(default_factory=dict)

    @staticmethod
    def active(g: ModelGrant, now) -> bool:
        return not g.revoked and (g.expires is None or g.expires > now + UNCERTAINTY)

    def applying(self, person, host, event, etype) -> list[ModelGrant]:
        """The person's grants to the host that apply to the event, in any state, in
        the order they were given."""
        return [
            g
            for g in self.grants
            if g.person == person and g.host == host and g.applies(event, etype)
        ]

    def covered(self, person, host, event, etype, now) -> set[DataField]:
        out: set[DataField] = set()
        for g in self.applying(person, host, event, etype):
            if self.active(g, now):
                out |= g.fields
        return out & declared(host, etype)

    def visible(self, person, host, event, now) -> set[DataField]:
        reg = self.regs[(person, host, event)]
        return self.covered(person, host, event, reg.etype, now) & reg.present

    def prune(self, person, host, now) -> None:
        for (p, h, e), reg in self.regs.items():
            if p == person and h == host:
                reg.present &= self.covered(p, h, e, reg.etype, now)


class ConsentMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(uncertainty=UNCERTAINTY)
        self.sdk = memory_sdk(self.clock)
        self.model = Model()
        self.agents: dict[str, str] = {}
        for user_id, data in PEOPLE.items():
            agent = self.sdk.identity.agent_for(user_id)
            self.sdk.profiles.put(agent, data)
            self.agents[user_id] = agent
        for host in HOSTS:
            self.sdk.hosts.register(host, kind="business", name=host.upper())
            for etype in TYPES:
                self.sdk.hosts.require(
                    host,
                    etype,
                    required=REQUIRED,
                    optional=declared(host, etype) - REQUIRED,
                    purpose=f"{etype.value} at {host}",
                )

    def teardown(self) -> None:
        self.sdk.close()

    def now(self):
        return self.clock.true_time

    def registered(self) -> list[tuple[str, str, str]]:
        return sorted(self.model.regs)

    def someone(self, data) -> str:
        """A person not erased (there always is one: see :meth:`erase`)."""
        return data.draw(st.sampled_from(sorted(self.agents)), label="person")

    # Every run starts with a few host-wide grants (of both scopes) and then a few
    # registrations, so the register path meets grants limited to one type or not; the
    # rules below add, cancel and refuse more. Without it most steps find nothing to do.
    @initialize(
        data=st.data(),
        grants=st.lists(
            st.tuples(
                st.sampled_from(HOSTS),
                st.sampled_from(["type", "host"]),
                st.one_of(st.none(), st.integers(1, 120)),
            ),
            max_size=3,
        ),
        regs=st.lists(
            st.tuples(
                st.sampled_from(sorted(PEOPLE)),
                st.sampled_from(HOSTS),
                st.sampled_from(EVENTS),
                st.sampled_from([None, *TYPES]),
                st.sets(st.sampled_from([PHONE, EMAIL, BIRTHDAY])),
            ),
            min_size=1,
            max_size=6,
        ),
    )
    def populate(self, data, grants, regs):
        for host, scope, minutes in grants:
            self._grant(data, self.someone(data), host, scope, minutes)
        for args in regs:
            self._register(*args)

    # -- events and registrations -----------------------------------------------------
    @rule(
        host=st.sampled_from(HOSTS),
        event=st.sampled_from(EVENTS),
        etype=st.sampled_from(TYPES),
        exist_ok=st.booleans(),
    )
    def create_event(self, host, event, etype, exist_ok):
        known = self.model.event_types.get((host, event))
        if known is not None and known != etype:
            with pytest.raises(EventTypeMismatch):
                self.sdk.events.create(host, event, etype, exist_ok=exist_ok)
        elif known is not None and not exist_ok:
            with pytest.raises(AlreadyExists):
                self.sdk.events.create(host, event, etype)
        else:
            made = self.sdk.events.create(host, event, etype, exist_ok=exist_ok)
            assert made.event_type is etype
            self.model.event_types[(host, event)] = etype

    @rule(
        data=st.data(),
        host=st.sampled_from(HOSTS),
        event=st.sampled_from(EVENTS),
        # None: the event's own type (a reservation for a new event)
        etype=st.sampled_from([None, *TYPES]),
        extra=st.sets(st.sampled_from([PHONE, EMAIL, BIRTHDAY])),
    )
    def register(self, data, host, event, etype, extra):
        self._register(self.someone(data), host, event, etype, extra)

    def _register(self, person, host, event, etype, extra):
        known = self.model.event_types.get((host, event))
        if etype is None:
            etype = known or RES
        share = frozenset(REQUIRED | (extra & declared(host, etype)))
        key = (person, host, event)

        def call():
            return self.sdk.events.register(self.agents[person], host, etype, event, share=share)

        duplicate = key in self.model.regs
        mismatch = known is not None and known != etype
        if duplicate or mismatch:
            # refused, and nothing written (the invariants check the copies)
            expected = (DuplicateRegistration,) * duplicate + (EventTypeMismatch,) * mismatch
            with pytest.raises(expected):
                call()
            return
        reg = call()
        assert reg.grant_id is not None
        assert reg.event_type is etype
        self.model.event_types[(host, event)] = etype
        self.model.grants.append(ModelGrant(reg.grant_id, person, host, event, etype, share, None))
        # the event grant and every active host-wide grant that covers it are copied in
        present = self.model.covered(person, host, event, etype, self.now())
        self.model.regs[key] = ModelReg(reg.id, etype, present)

    @precondition(lambda self: self.model.regs)
    @rule(data=st.data())
    def cancel(self, data):
        person, host, event = data.draw(st.sampled_from(self.registered()))
        self.sdk.events.cancel(self.agents[person], host, event)
        for g in self.model.grants:
            if g.person == person and g.host == host and g.event == event:
                g.revoked = True
        del self.model.regs[(person, host, event)]

    # -- grants -----------------------------------------------------------------------
    @rule(
        data=st.data(),
        host=st.sampled_from(HOSTS),
        scope=st.sampled_from(["event", "type", "host"]),
        minutes=st.one_of(st.none(), st.integers(1, 120)),
    )
    def grant(self, data, host, scope, minutes):
        self._grant(data, self.someone(data), host, scope, minutes)

    def _grant(self, data, person, host, scope, minutes):
        event = etype = kind = None  # kind: the type the grant row carries
        if scope == "event":
            mine = [k for k in self.registered() if k[0] == person and k[1] == host]
            if not mine:
                scope = "host"  # nothing to name: a host-wide grant instead
            else:
                event = data.draw(st.sampled_from(mine))[2]
        if scope == "event":
            kind = self.model.regs[(person, host, event)].etype  # stored with the grant
            allowed = declared(host, kind)
        elif scope == "type":
            etype = kind = data.draw(st.sampled_from(TYPES))
            allowed = declared(host, etype)
        else:
            allowed = host_declared(host)
        fields = data.draw(st.sets(st.sampled_from(sorted(allowed)), min_size=1))
        expires = self.now() + timedelta(minutes=minutes) if minutes else None
        g = self.sdk.consent.grant(
            self.agents[person],
            host,
            fields=fields,
            event_id=event,
            event_type=etype,
            purpose="p",
            expires_at=expires,
        )
        mg = ModelGrant(g.id, person, host, event, kind, frozenset(fields), expires)
        self.model.grants.append(mg)
        # copied into every registration it covers, as far as the host declared them
        for (p, h, e), reg in self.model.regs.items():
            if p == person and h == host and mg.applies(e, reg.etype):
                reg.present |= set(fields) & declared(h, reg.etype)

    @rule(host=st.sampled_from(HOSTS), etype=st.sampled_from(TYPES), data=st.data())
    def grant_undeclared_is_refused(self, host, etype, data):
        person = self.someone(data)
        undeclared = sorted({*ALL_FIELDS, NEVER_DECLARED} - declared(host, etype))
        bad = data.draw(st.sampled_from(undeclared))
        with pytest.raises(FieldNotRequested):
            self.sdk.consent.grant(
                self.agents[person], host, fields={bad, NAME}, event_type=etype, purpose="p"
            )

    @precondition(lambda self: any(Model.active(g, self.now()) for g in self.model.grants))
    @rule(data=st.data())
    def revoke(self, data):
        now = self.now()
        g = data.draw(st.sampled_from([g for g in self.model.grants if Model.active(g, now)]))
        self.sdk.consent.revoke(g.id)
        g.revoked = True
        self.model.prune(g.person, g.host, now)

    @precondition(lambda self: any(not Model.active(g, self.now()) for g in self.model.grants))
    @rule(data=st.data())
    def revoke_an_ended_grant_is_refused(self, data):
        """Revoked or expired: only an active grant can be revoked."""
        now = self.now()
        g = data.draw(st.sampled_from([g for g in self.model.grants if not Model.active(g, now)]))
        with pytest.raises(GrantNotActive):
            self.sdk.consent.revoke(g.id)

    @rule(data=st.data(), host=st.sampled_from(HOSTS))
    def revoke_host(self, data, host):
        person = self.someone(data)
        count = self.sdk.consent.revoke_host(self.agents[person], host)
        ended = [
            g for g in self.model.grants if g.person == person and g.host == host and not g.revoked
        ]
        assert count == len(ended)
        for g in ended:
            g.revoked = True
        self.model.prune(person, host, self.now())

    @precondition(lambda self: self.model.regs)
    @rule(data=st.data())
    def revoke_event(self, data):
        person, host, event = key = data.draw(st.sampled_from(self.registered()))
        count = self.sdk.consent.revoke_event(self.agents[person], host, event)
        ended = [
            g
            for g in self.model.grants
            if g.person == person and g.host == host and g.event == event and not g.revoked
        ]
        assert count == len(ended)
        for g in ended:
            g.revoked = True
        if ended:  # a revocation prunes every copy with the host (expired grants too)
            self.model.prune(person, host, self.now())
        # its whole copy goes, host-wide grants stay in force for the other events
        self.model.regs[key].present = set()

    # -- time -------------------------------------------------------------------------
    @rule(minutes=st.integers(1, 90))
    def advance(self, minutes):
        self.clock.advance(timedelta(minutes=minutes))

    @precondition(
        lambda self: any(
            g.expires is not None and Model.active(g, self.now()) for g in self.model.grants
        )
    )
    @rule(data=st.data(), before=st.sampled_from([timedelta(0), timedelta(microseconds=1)]))
    def advance_to_expiry(self, data, before):
        """Move the reading's ``latest`` to exactly a grant's expiry (expired: the
        uncertainty counts against sharing), or one microsecond short of it (active)."""
        now = self.now()
        g = data.draw(
            st.sampled_from(
                [g for g in self.model.grants if g.expires is not None and Model.active(g, now)]
            )
        )
        step = g.expires - before - (now + UNCERTAINTY)
        if step >= timedelta(0):
            self.clock.advance(step)
        assert Model.active(g, self.now()) == bool(before)

    @precondition(lambda self: len(self.agents) > 1)  # someone is always left
    @rule(data=st.data())
    def erase(self, data):
        person = self.someone(data)
        self.sdk.erase(self.agents.pop(person))
        self.model.grants = [g for g in self.model.grants if g.person != person]
        self.model.regs = {k: v for k, v in self.model.regs.items() if k[0] != person}

    # -- the person's views -------------------------------------------------------------
    @precondition(lambda self: self.model.regs)
    @rule(data=st.data())
    def explain_agrees(self, data):
        person, host, event = data.draw(st.sampled_from(self.registered()))
        reg = self.model.regs[(person, host, event)]
        now = self.now()
        for f in ALL_FIELDS:
            why = self.sdk.consent.explain(self.agents[person], host, event, f)
            relevant = [
                g for g in self.model.applying(person, host, event, reg.etype) if f in g.fields
            ]
            active = [g for g in relevant if Model.active(g, now)]
            if f not in declared(host, reg.etype):
                expected = (False, "not_declared", ())
            elif not active:
                if not relevant:
                    expected = (False, "no_grant", ())
                else:
                    last = relevant[-1]
                    reason = "revoked" if last.revoked else "expired"
                    expected = (False, reason, tuple(g.id for g in relevant))
            elif f not in reg.present:
                expected = (False, "no_value", tuple(g.id for g in active))
            else:
                expected = (True, "visible", tuple(g.id for g in active))
            assert (why.visible, why.reason, why.grant_ids) == expected, (f, why)

    @invariant()
    def persons_views_match_the_model(self):
        for person in sorted(self.agents):
            self.registrations_and_shared_agree(person)

    def registrations_and_shared_agree(self, person):
        now = self.now()
        agent = self.agents[person]
        seen = {(r.host_id, r.event_id): r for r in self.sdk.events.registrations(agent)}
        mine = {(h, e): reg for (p, h, e), reg in self.model.regs.items() if p == person}
        assert set(seen) == set(mine)
        for (host, event), reg in mine.items():
            got = seen[(host, event)]
            assert (got.id, got.event_type) == (reg.id, reg.etype)
            # what consent covers; at least what the host sees
            visible = self.model.visible(person, host, event, now)
            assert visible <= got.shared <= self.model.covered(person, host, event, reg.etype, now)
        shared = {
            (i.grant_id, i.host_id, i.event_id, i.event_type, i.fields)
            for i in self.sdk.consent.shared(agent)
        }
        expected = {
            (g.id, g.host, g.event, g.etype, g.fields)
            for g in self.model.grants
            if g.person == person and Model.active(g, now)
        }
        assert shared == expected

    @invariant()
    def host_views_match_the_model(self):
        now = self.now()
        for host in HOSTS:
            for event in EVENTS:
                etype = self.model.event_types.get((host, event))
                if etype is None:
                    with pytest.raises(UnknownEvent):
                        self.sdk.events.attendees(host, event)
                    with pytest.raises(UnknownEvent):
                        self.sdk.events.attendees_page_json(host, event)
                    continue
                expected = sorted(
                    tuple(
                        sorted(
                            (f.value, str(getattr(PEOPLE[p], f.value)))
                            for f in self.model.visible(p, h, e, now)
                        )
                    )
                    for (p, h, e) in self.model.regs
                    if h == host and e == event
                )
                attendees = self.sdk.events.attendees(host, event)
                got = sorted(
                    tuple(
                        sorted(
                            (f.value, str(getattr(a.data, f.value)))
                            for f in a.data.personal_fields()
                        )
                    )
                    for a in attendees
                )
                assert got == expected
                assert all(a.data.event_type is etype for a in attendees)
                assert len({a.ref for a in attendees}) == len(attendees)
                assert len(json_view(self.sdk, host, event)) == len(attendees)

    @invariant()
    def shared_copies_match_the_model(self):
        stored: dict[str, set[str]] = {}
        for record_id, name in all_copy_fields(self.sdk):  # registrations' copies
            stored.setdefault(record_id, set()).add(name)
        expected = {
            reg.id: {f.value for f in reg.present}
            for reg in self.model.regs.values()
            if reg.present
        }
        assert stored == expected

    @invariant()
    def audit_chain_is_whole(self):
        assert self.sdk.audit.verify().ok


# About 10 s on one core: enough for a mutant that ignores a grant's event type to fail
# in most single runs (the focused tests in test_rules.py and test_hostwide_scope.py fail
# for it every time).
ConsentMachine.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestConsentMachine = ConsentMachine.TestCase
