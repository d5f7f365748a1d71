"""A hypothesis state machine: random registrations, grants, revocations, expiries and
erasures; after every step each host's view must equal a simple model of what should be
visible (P2), and the audit chain must stay whole (P7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dualid import DataField, EventType, EventUserData
from dualid.errors import DuplicateRegistration, GrantNotActive, UnknownEvent
from dualid.testing import FakeClock, memory_sdk

NAME, PHONE, EMAIL = DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL
DECLARED = {NAME, PHONE, EMAIL}
REQUIRED = {NAME}
HOSTS = ["h1", "h2"]
EVENTS = ["e1", "e2"]
PEOPLE = {
    f"user-{i}": EventUserData(
        name=f"Person {i}", phone_number=f"+1415555{2000 + i}", email=f"p{i}@example.com"
    )
    for i in range(3)
}
UNCERTAINTY = timedelta(milliseconds=5)


@dataclass
class ModelGrant:
    id: str
    person: str
    host: str
    event: str | None
    fields: frozenset[DataField]
    expires: object | None
    revoked: bool = False


@dataclass
class Model:
    grants: list[ModelGrant] = field(default_factory=list)
    # (person, host, event) -> fields present in the shared copy
    present: dict[tuple[str, str, str], set[DataField]] = field(default_factory=dict)

    def active(self, g: ModelGrant, now) -> bool:
        return not g.revoked and (g.expires is None or g.expires > now + UNCERTAINTY)

    def covered(self, person, host, event, now) -> set[DataField]:
        out: set[DataField] = set()
        for g in self.grants:
            if (
                g.person == person
                and g.host == host
                and g.event in (event, None)
                and self.active(g, now)
            ):
                out |= g.fields
        return out & DECLARED

    def prune(self, person, host, now) -> None:
        for (p, h, e), fields in self.present.items():
            if p == person and h == host:
                fields &= self.covered(p, h, e, now)


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
            self.sdk.hosts.require(
                host,
                EventType.RESERVATION,
                required=REQUIRED,
                optional=DECLARED - REQUIRED,
                purpose="booking",
            )

    def teardown(self) -> None:
        self.sdk.close()

    def now(self):
        return self.clock.true_time

    @rule(
        person=st.sampled_from(sorted(PEOPLE)),
        host=st.sampled_from(HOSTS),
        event=st.sampled_from(EVENTS),
        extra=st.sets(st.sampled_from([PHONE, EMAIL])),
    )
    def register(self, person, host, event, extra):
        if person not in self.agents:
            return
        share = frozenset(REQUIRED | extra)
        key = (person, host, event)
        if key in self.model.present:
            with pytest.raises(DuplicateRegistration):
                self.sdk.events.register(
                    self.agents[person], host, EventType.RESERVATION, event, share=share
                )
            return
        reg = self.sdk.events.register(
            self.agents[person], host, EventType.RESERVATION, event, share=share
        )
        assert reg.grant_id is not None
        now = self.now()
        self.model.grants.append(ModelGrant(reg.grant_id, person, host, event, share, None))
        self.model.present[key] = set(self.model.covered(person, host, event, now))

    @rule(
        person=st.sampled_from(sorted(PEOPLE)),
        host=st.sampled_from(HOSTS),
        event=st.one_of(st.none(), st.sampled_from(EVENTS)),
        fields=st.sets(st.sampled_from(sorted(DECLARED)), min_size=1),
        minutes=st.one_of(st.none(), st.integers(1, 120)),
    )
    def grant(self, person, host, event, fields, minutes):
        if person not in self.agents:
            return
        if event is not None and (person, host, event) not in self.model.present:
            return
        expires = self.now() + timedelta(minutes=minutes) if minutes else None
        g = self.sdk.consent.grant(
            self.agents[person],
            host,
            fields=fields,
            event_id=event,
            purpose="p",
            expires_at=expires,
        )
        now = self.now()
        self.model.grants.append(ModelGrant(g.id, person, host, event, frozenset(fields), expires))
        for (p, h, e), present in self.model.present.items():
            if p == person and h == host and (event is None or e == event):
                present |= set(fields) & DECLARED
        del now

    @precondition(lambda self: any(not g.revoked for g in self.model.grants))
    @rule(data=st.data())
    def revoke(self, data):
        g = data.draw(st.sampled_from([g for g in self.model.grants if not g.revoked]))
        self.sdk.consent.revoke(g.id)
        g.revoked = True
        self.model.prune(g.person, g.host, self.now())

    @precondition(lambda self: any(g.revoked for g in self.model.grants))
    @rule(data=st.data())
    def revoke_again_is_refused(self, data):
        g = data.draw(st.sampled_from([g for g in self.model.grants if g.revoked]))
        with pytest.raises(GrantNotActive):
            self.sdk.consent.revoke(g.id)

    @rule(person=st.sampled_from(sorted(PEOPLE)), host=st.sampled_from(HOSTS))
    def revoke_host(self, person, host):
        if person not in self.agents:
            return
        count = self.sdk.consent.revoke_host(self.agents[person], host)
        ended = [
            g for g in self.model.grants if g.person == person and g.host == host and not g.revoked
        ]
        assert count == len(ended)
        for g in ended:
            g.revoked = True
        self.model.prune(person, host, self.now())

    @rule(
        person=st.sampled_from(sorted(PEOPLE)),
        host=st.sampled_from(HOSTS),
        event=st.sampled_from(EVENTS),
    )
    def revoke_event(self, person, host, event):
        key = (person, host, event)
        if person not in self.agents or key not in self.model.present:
            return
        self.sdk.consent.revoke_event(self.agents[person], host, event)
        for g in self.model.grants:
            if g.person == person and g.host == host and g.event == event:
                g.revoked = True
        self.model.present[key] = set()

    @rule(minutes=st.integers(1, 90))
    def advance(self, minutes):
        self.clock.advance(timedelta(minutes=minutes))

    @rule(person=st.sampled_from(sorted(PEOPLE)))
    def erase(self, person):
        if person not in self.agents:
            return
        self.sdk.erase(self.agents.pop(person))
        self.model.grants = [g for g in self.model.grants if g.person != person]
        self.model.present = {k: v for k, v in self.model.present.items() if k[0] != person}

    @invariant()
    def host_views_match_the_model(self):
        now = self.now()
        by_name = {data.name: user for user, data in PEOPLE.items()}
        for host in HOSTS:
            for event in EVENTS:
                expected = {
                    p: self.model.covered(p, h, e, now) & present
                    for (p, h, e), present in self.model.present.items()
                    if h == host and e == event
                }
                try:
                    attendees = self.sdk.events.attendees(host, event)
                except UnknownEvent:
                    assert expected == {}
                    continue
                assert len(attendees) == len(expected)
                refs = set()
                for attendee in attendees:
                    refs.add(attendee.ref)
                    fields = attendee.data.personal_fields()
                    if NAME in fields:
                        person = by_name[attendee.data.name]
                        assert fields == expected[person]
                        for f in fields:
                            assert getattr(attendee.data, f.value) == getattr(
                                PEOPLE[person], f.value
                            )
                    else:
                        # a name-less attendee must match some person expected to show
                        # exactly these (name-less) fields
                        assert fields in [v for v in expected.values() if NAME not in v]
                assert len(refs) == len(attendees)

    @invariant()
    def audit_chain_is_whole(self):
        assert self.sdk.audit.verify().ok


ConsentMachine.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestConsentMachine = ConsentMachine.TestCase
