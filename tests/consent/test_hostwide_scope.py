"""Host-wide grants and event types, end to end through the public API (both backends).

A host asks for EMAIL for two event types. A host-wide grant limited to one of them must
show EMAIL on that type's events only: in the host view, in ``explain``, in the person's
``registrations``, and in the shared copies written to the database (no sealed EMAIL in a
registration of the other type), whether the grant comes before the registration (the
register path fills it) or after (the grant path fills it). A host-wide grant with no
type covers both.
"""

from __future__ import annotations

import pytest

from dualid import DataField, EventType
from tests.support import copy_fields

from .conftest import World, setup_world

NAME, PHONE, EMAIL = DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL
RES, CLUB = EventType.RESERVATION, EventType.CLUB_EVENT
EVENT_OF = {RES: "res-1", CLUB: "club-1"}
SHARE = {RES: {NAME, PHONE}, CLUB: {NAME}}  # the required fields only: never EMAIL


@pytest.fixture
def world(sdk) -> World:
    w = setup_world(sdk)
    # bistro-7 asks for RESERVATION (name, phone; email optional) and now CLUB_EVENT too
    sdk.hosts.require(
        w.host, CLUB, required={NAME}, optional={EMAIL, DataField.BIRTHDAY}, purpose="club night"
    )
    return w


def register(w: World, etype: EventType) -> str:
    reg = w.sdk.events.register(w.ana, w.host, etype, EVENT_OF[etype], share=SHARE[etype])
    return reg.id


def sealed_fields(w: World, registration_id: str) -> set[str]:
    return copy_fields(w.sdk, registration_id)


def host_sees(w: World, etype: EventType) -> set[DataField]:
    (attendee,) = w.sdk.events.attendees(w.host, EVENT_OF[etype])
    return attendee.data.personal_fields()


def give_and_register(w: World, order: str, event_type: EventType | None) -> tuple[str, dict]:
    """Register Ana for one event of each type and give the host-wide EMAIL grant: before
    both registrations, between them, or after both."""
    regs: dict[EventType, str] = {}

    def grant() -> str:
        return w.sdk.consent.grant(
            w.ana, w.host, fields={EMAIL}, event_type=event_type, purpose="newsletter"
        ).id

    if order == "grant_first":  # the register path fills (or must not fill) both copies
        gid = grant()
        regs[RES] = register(w, RES)
        regs[CLUB] = register(w, CLUB)
    elif order == "between":  # one copy filled by each path
        regs[CLUB] = register(w, CLUB)
        gid = grant()
        regs[RES] = register(w, RES)
    else:  # the grant path fills (or must not fill) both copies
        regs[RES] = register(w, RES)
        regs[CLUB] = register(w, CLUB)
        gid = grant()
    return gid, regs


ORDERS = ["grant_first", "between", "grant_after"]


@pytest.mark.parametrize("order", ORDERS)
def test_grant_limited_to_club_events_stays_off_the_reservation(world, order):
    w, sdk = world, world.sdk
    gid, regs = give_and_register(w, order, CLUB)

    # the host view
    assert host_sees(w, CLUB) == {NAME, EMAIL}
    assert host_sees(w, RES) == {NAME, PHONE}
    (club_attendee,) = sdk.events.attendees(w.host, "club-1")
    assert club_attendee.data.email == "ana.lima@example.com"

    # explain agrees for both registrations
    club = sdk.consent.explain(w.ana, w.host, "club-1", EMAIL)
    assert (club.visible, club.reason, club.grant_ids) == (True, "visible", (gid,))
    res = sdk.consent.explain(w.ana, w.host, "res-1", EMAIL)
    assert (res.visible, res.reason, res.grant_ids) == (False, "no_grant", ())
    assert res.declared  # declared for reservations too: only the grant's type keeps it off

    # the person's views
    (item,) = [i for i in sdk.consent.shared(w.ana) if i.grant_id == gid]
    assert (item.host_id, item.event_id, item.event_type, item.fields) == (
        w.host,
        None,
        CLUB,
        frozenset({EMAIL}),
    )
    shares = {r.event_type: r.shared for r in sdk.events.registrations(w.ana)}
    assert shares == {RES: frozenset({NAME, PHONE}), CLUB: frozenset({NAME, EMAIL})}

    # the shared copies in the database: no sealed EMAIL in the reservation's
    assert sealed_fields(w, regs[RES]) == {"name", "phone_number"}
    assert sealed_fields(w, regs[CLUB]) == {"name", "email"}

    # revoking it prunes the club copy and leaves the reservation as it was
    sdk.consent.revoke(gid)
    assert host_sees(w, CLUB) == {NAME}
    assert host_sees(w, RES) == {NAME, PHONE}
    assert sealed_fields(w, regs[CLUB]) == {"name"}
    assert sealed_fields(w, regs[RES]) == {"name", "phone_number"}
    assert sdk.audit.verify().ok


@pytest.mark.parametrize("order", ORDERS)
def test_grant_limited_to_reservations_stays_off_the_club_event(world, order):
    w, sdk = world, world.sdk
    gid, regs = give_and_register(w, order, RES)
    assert host_sees(w, RES) == {NAME, PHONE, EMAIL}
    assert host_sees(w, CLUB) == {NAME}
    assert sdk.consent.explain(w.ana, w.host, "res-1", EMAIL).grant_ids == (gid,)
    assert sdk.consent.explain(w.ana, w.host, "club-1", EMAIL).reason == "no_grant"
    assert sealed_fields(w, regs[CLUB]) == {"name"}
    assert sealed_fields(w, regs[RES]) == {"name", "phone_number", "email"}


@pytest.mark.parametrize("order", ORDERS)
def test_host_wide_grant_without_a_type_covers_both(world, order):
    w, sdk = world, world.sdk
    gid, regs = give_and_register(w, order, None)
    assert host_sees(w, CLUB) == {NAME, EMAIL}
    assert host_sees(w, RES) == {NAME, PHONE, EMAIL}
    for event_id in ("club-1", "res-1"):
        why = sdk.consent.explain(w.ana, w.host, event_id, EMAIL)
        assert (why.visible, why.reason, why.grant_ids) == (True, "visible", (gid,))
    (item,) = [i for i in sdk.consent.shared(w.ana) if i.grant_id == gid]
    assert (item.event_id, item.event_type) == (None, None)
    assert all(EMAIL in r.shared for r in sdk.events.registrations(w.ana))
    assert sealed_fields(w, regs[RES]) == {"name", "phone_number", "email"}
    assert sealed_fields(w, regs[CLUB]) == {"name", "email"}
    sdk.consent.revoke(gid)
    assert sealed_fields(w, regs[RES]) == {"name", "phone_number"}
    assert sealed_fields(w, regs[CLUB]) == {"name"}
    assert host_sees(w, RES) == {NAME, PHONE}


def test_typed_and_untyped_grants_together(world):
    """A typed and an untyped host-wide grant of the same field: revoking the untyped one
    leaves the field on the typed grant's events only."""
    w, sdk = world, world.sdk
    regs = {RES: register(w, RES), CLUB: register(w, CLUB)}
    typed = sdk.consent.grant(w.ana, w.host, fields={EMAIL}, event_type=CLUB, purpose="club")
    every = sdk.consent.grant(w.ana, w.host, fields={EMAIL}, purpose="all")
    assert sdk.consent.explain(w.ana, w.host, "club-1", EMAIL).grant_ids == (typed.id, every.id)
    assert sdk.consent.explain(w.ana, w.host, "res-1", EMAIL).grant_ids == (every.id,)
    sdk.consent.revoke(every.id)
    assert host_sees(w, CLUB) == {NAME, EMAIL}
    assert host_sees(w, RES) == {NAME, PHONE}
    assert "email" not in sealed_fields(w, regs[RES])
    assert "email" in sealed_fields(w, regs[CLUB])
