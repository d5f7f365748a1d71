"""``audit.verify(deep=True)`` (issue 14, item 4): the log replayed proves the consent
tables. An untouched store with every kind of consent change passes; each edit a
database writer without keys can make to un-revoke, extend or redirect consent is
``STATE_MISMATCH`` naming the table and the row (never a value), on both backends; and
the host's read does not show the field meanwhile (the grant MAC, migration 0007)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.audit import AuditProblem, AuditReport
from dualid.errors import InvalidInput
from dualid.testing import FakeClock

from ..support import copy_fields, execute, rows

RES = EventType.RESERVATION
CLUB = EventType.CLUB_EVENT
NAME, EMAIL, PHONE = DataField.NAME, DataField.EMAIL, DataField.PHONE_NUMBER
VALUES = {"name": "Ana Deep", "email": "ana.deep@example.com", "phone_number": "+14155552671"}


@dataclass
class Story:
    ana: str
    ben: str
    reg: str  # ana's registration for bistro/res-1 (shares name, grant `reg_grant`)
    reg_grant: str
    email: str  # ana's email grant for res-1, revoked
    expiring: str  # ana's phone grant for res-1, expired (not purged)
    expiring_reg: str  # ben's registration for res-2 with an expiring grant, expired
    expiring_reg_grant: str


def _host(sdk: DualId, host_id: str) -> None:
    sdk.hosts.register(host_id, kind=HostKind.BUSINESS, name=f"Host {host_id}")
    sdk.hosts.require(host_id, RES, required={NAME}, optional={EMAIL, PHONE}, purpose="booking")
    sdk.hosts.require(host_id, CLUB, required={NAME}, optional={EMAIL}, purpose="club")


def _person(sdk: DualId, user_id: str) -> str:
    agent = sdk.identity.agent_for(user_id)
    sdk.profiles.put(agent, EventUserData(**VALUES))
    return agent


def _story(sdk: DualId, clock: FakeClock) -> Story:
    """Every kind of consent change, leaving a store the log agrees with."""
    for host_id in ("bistro", "club", "other"):
        _host(sdk, host_id)
    ana, ben, cleo = (_person(sdk, u) for u in ("ana", "ben", "cleo"))
    soon = clock.now().time + timedelta(hours=1)
    reg = sdk.events.register(ana, "bistro", RES, "res-1", share={NAME})
    assert reg.grant_id is not None
    email = sdk.consent.grant(ana, "bistro", fields={EMAIL}, event_id="res-1", purpose="mail")
    sdk.consent.revoke(email.id)
    phone = sdk.consent.grant(
        ana, "bistro", fields={PHONE}, event_id="res-1", purpose="call", expires_at=soon
    )
    later = sdk.events.register(
        ben, "bistro", RES, "res-2", share={NAME, PHONE}, expires_at=soon + timedelta(hours=1)
    )
    assert later.grant_id is not None
    # host-wide grants, one limited to an event type, then registrations they cover
    sdk.consent.grant(ben, "club", fields={EMAIL}, purpose="news")
    sdk.consent.grant(ben, "club", fields={NAME}, event_type=CLUB, purpose="club nights")
    sdk.events.register(ben, "club", CLUB, "night-1", share={NAME})
    sdk.events.register(ben, "club", RES, "dinner-1", share={NAME})
    # cancelled, revoked by host and by event, defaults
    sdk.events.register(ana, "other", RES, "gone", share={NAME, EMAIL})
    sdk.events.cancel(ana, "other", "gone")
    sdk.events.register(ana, "other", RES, "kept", share={NAME})
    sdk.consent.grant(ana, "other", fields={EMAIL}, purpose="any event")
    sdk.consent.revoke_host(ana, "other")
    sdk.events.register(ana, "club", CLUB, "night-1", share={NAME, EMAIL})
    sdk.consent.revoke_event(ana, "club", "night-1")
    sdk.consent.set_default(ben, RES, {NAME})
    sdk.events.register(ben, "other", RES, "kept")
    # an erased person with grants and registrations
    sdk.events.register(cleo, "bistro", RES, "res-1", share={NAME, EMAIL})
    sdk.consent.grant(cleo, "club", fields={EMAIL}, purpose="news")
    sdk.erase(cleo)
    clock.advance(timedelta(hours=3))  # both expiring grants have ended
    return Story(ana, ben, reg.id, reg.grant_id, email.id, phone.id, later.id, later.grant_id)


def _put_back(sdk: DualId, table: str, row: Any, **changes: Any) -> None:
    """Insert ``row`` (a row read before, with ``changes``) into ``table`` by raw SQL."""
    values = {**row._asdict(), **changes}
    execute(
        sdk,
        f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(':' + k for k in values)})",
        **values,
    )


def _copy_of(sdk: DualId, registration_id: str) -> Any:
    """The registration's shared copy (its one ``dualid_shared`` row, migration 0011)."""
    (copy,) = rows(sdk, "SELECT * FROM dualid_shared WHERE registration_id = :r", r=registration_id)
    return copy


def _restore_copy(sdk: DualId, copy: Any, **changes: Any) -> None:
    """Put a saved copy back in place of the registration's copy now, by raw SQL."""
    reg_id = changes.get("registration_id", copy.registration_id)
    execute(sdk, "DELETE FROM dualid_shared WHERE registration_id = :r", r=reg_id)
    _put_back(sdk, "dualid_shared", copy, **changes)


def _mismatch(report: AuditReport, table: str, row_id: str) -> None:
    assert not report.ok, report
    assert report.problem is AuditProblem.STATE_MISMATCH, report
    assert (report.table, report.row_id) == (table, row_id), report
    assert report.reason is not None
    assert row_id.split("/")[0] in report.reason
    for value in VALUES.values():
        assert value not in report.reason


def _shown(sdk: DualId, host_id: str, event_id: str) -> list[set[str]]:
    """The fields the host sees, per attendee."""
    return [
        {f for f in ("name", "email", "phone_number") if getattr(a.data, f) is not None}
        for a in sdk.events.attendees(host_id, event_id)
    ]


# -- an untouched store ----------------------------------------------------------------------
def test_an_untouched_store_passes(sdk: DualId, clock: FakeClock) -> None:
    _story(sdk, clock)
    report = sdk.audit.verify(deep=True)
    assert report.ok, report
    assert report.problem is None
    assert report.entries == sdk.audit.verify().entries


def test_it_passes_after_a_purge_of_expired_copies(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    assert sdk.consent.purge_expired() > 0
    assert sdk.audit.verify(deep=True).ok
    assert copy_fields(sdk, story.reg) == {"name"}


def test_deep_must_be_a_bool(sdk: DualId) -> None:
    with pytest.raises(InvalidInput):
        sdk.audit.verify(deep="yes")  # type: ignore[arg-type]


# -- (a) a registration and its grant moved to another host and event -------------------------
def test_a_registration_moved_to_another_host_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    execute(
        sdk,
        "UPDATE dualid_registration SET host_id = 'club', event_id = 'dinner-1'"
        " WHERE registration_id = :r",
        r=story.reg,
    )
    execute(
        sdk,
        "UPDATE dualid_grant SET host_id = 'club', event_id = 'dinner-1' WHERE grant_id = :g",
        g=story.reg_grant,
    )
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_grant", story.reg_grant)
    assert "host_id, event_id disagree" in (report.reason or "")
    assert "1 more row disagree" in (report.reason or "")  # the registration too
    # the host it was moved to lists the person, but sees no field of theirs
    assert sorted(map(sorted, _shown(sdk, "club", "dinner-1"))) == [[], ["email", "name"]]


def test_the_registration_alone_moved_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    execute(
        sdk,
        "UPDATE dualid_registration SET event_id = 'res-9' WHERE registration_id = :r",
        r=story.reg,
    )
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_registration", story.reg)
    assert "event_id disagrees" in (report.reason or "")


# -- (b) a revoked grant un-revoked, its saved shared copy put back --------------------------
def test_an_unrevoked_grant_with_its_copy_put_back_is_reported(
    db_url: str, master_key: str
) -> None:
    clock = FakeClock()
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:
        _host(sdk, "bistro")
        ana = _person(sdk, "ana")
        reg = sdk.events.register(ana, "bistro", RES, "res-1", share={NAME})
        grant = sdk.consent.grant(ana, "bistro", fields={EMAIL}, event_id="res-1", purpose="x")
        saved = _copy_of(sdk, reg.id)
        sdk.consent.revoke(grant.id)
        assert _shown(sdk, "bistro", "res-1") == [{"name"}]
        assert sdk.audit.verify(deep=True).ok
        execute(sdk, "UPDATE dualid_grant SET revoked_at = NULL WHERE grant_id = :g", g=grant.id)
        _restore_copy(sdk, saved)
        report = sdk.audit.verify(deep=True)
        _mismatch(report, "dualid_grant", grant.id)
        assert "not revoked, but the log revoked it" in (report.reason or "")
        assert "1 more row disagree" in (report.reason or "")  # the copy
        assert _shown(sdk, "bistro", "res-1") == [{"name"}]
        # revoked again, but at another moment than the log's
        execute(
            sdk,
            "UPDATE dualid_grant SET revoked_at = created_at + 1 WHERE grant_id = :g",
            g=grant.id,
        )
        report = sdk.audit.verify(deep=True)
        _mismatch(report, "dualid_grant", grant.id)
        assert "revoked_at disagrees" in (report.reason or "")


def test_a_copy_put_back_after_revocation_is_reported(sdk: DualId, clock: FakeClock) -> None:
    _host(sdk, "bistro")
    ana = _person(sdk, "ana")
    reg = sdk.events.register(ana, "bistro", RES, "res-1", share={NAME})
    grant = sdk.consent.grant(ana, "bistro", fields={EMAIL}, event_id="res-1", purpose="x")
    saved = _copy_of(sdk, reg.id)
    sdk.consent.revoke(grant.id)
    _restore_copy(sdk, saved)
    _mismatch(sdk.audit.verify(deep=True), "dualid_shared", f"{reg.id}/email")


# -- (c) an expired grant given back its life ------------------------------------------------
@pytest.mark.parametrize("which", ["expiring", "expiring_reg_grant"])
def test_an_expired_grant_without_expiry_is_reported(
    sdk: DualId, clock: FakeClock, which: str
) -> None:
    story = _story(sdk, clock)
    grant_id = getattr(story, which)
    event_id = "res-1" if which == "expiring" else "res-2"
    shown_before = _shown(sdk, "bistro", event_id)
    assert all("phone_number" not in s for s in shown_before)
    execute(sdk, "UPDATE dualid_grant SET expires_at = NULL WHERE grant_id = :g", g=grant_id)
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_grant", grant_id)
    assert "expires_at disagrees" in (report.reason or "")
    assert _shown(sdk, "bistro", event_id) == shown_before


def test_an_expiry_moved_later_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    execute(
        sdk,
        "UPDATE dualid_grant SET expires_at = expires_at + 86400000000 WHERE grant_id = :g",
        g=story.expiring,
    )
    _mismatch(sdk.audit.verify(deep=True), "dualid_grant", story.expiring)


# -- other writes the log does not explain -----------------------------------------------------
def test_a_forged_grant_row_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    (row,) = rows(sdk, "SELECT * FROM dualid_grant WHERE grant_id = :g", g=story.reg_grant)
    _put_back(sdk, "dualid_grant", row, grant_id="gr_forged", fields="email,name,phone_number")
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_grant", "gr_forged")
    assert "no grant entry" in (report.reason or "")


def test_a_deleted_grant_row_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    execute(sdk, "DELETE FROM dualid_grant WHERE grant_id = :g", g=story.email)
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_grant", story.email)
    assert "has no row" in (report.reason or "")


def test_a_cancelled_registration_put_back_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    (row,) = rows(sdk, "SELECT * FROM dualid_registration WHERE registration_id = :r", r=story.reg)
    sdk.events.cancel(story.ana, "bistro", "res-1")
    assert sdk.audit.verify(deep=True).ok
    _put_back(sdk, "dualid_registration", row)
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_registration", story.reg)
    assert "the log cancelled it" in (report.reason or "")


def test_a_field_copied_into_a_registration_that_never_shared_it(
    sdk: DualId, clock: FakeClock
) -> None:
    story = _story(sdk, clock)
    # ben's club dinner shares name only; his email (shared with the club host-wide, for
    # every event) is in it too: legitimate. His res-2 copy must not hold an email.
    (email_copy,) = rows(
        sdk,
        "SELECT s.* FROM dualid_shared s JOIN dualid_registration r"
        " ON r.registration_id = s.registration_id WHERE r.event_id = 'dinner-1'",
    )
    assert "email" in email_copy.fields.split(",")
    _restore_copy(sdk, email_copy, registration_id=story.expiring_reg)
    _mismatch(sdk.audit.verify(deep=True), "dualid_shared", f"{story.expiring_reg}/email")


def test_a_copy_left_after_a_purge_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    saved = _copy_of(sdk, story.reg)
    assert "phone_number" in saved.fields.split(",")
    sdk.consent.purge_expired()
    _restore_copy(sdk, saved)
    _mismatch(sdk.audit.verify(deep=True), "dualid_shared", f"{story.reg}/phone_number")


def test_a_row_of_an_erased_person_is_reported(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    (row,) = rows(sdk, "SELECT * FROM dualid_registration WHERE registration_id = :r", r=story.reg)
    sdk.erase(story.ana)
    assert sdk.audit.verify(deep=True).ok
    _put_back(sdk, "dualid_registration", row)
    report = sdk.audit.verify(deep=True)
    _mismatch(report, "dualid_registration", story.reg)
    assert "erased" in (report.reason or "")


def test_a_chain_break_is_reported_before_the_state(sdk: DualId, clock: FakeClock) -> None:
    story = _story(sdk, clock)
    execute(sdk, "UPDATE dualid_grant SET expires_at = NULL WHERE grant_id = :g", g=story.expiring)
    execute(sdk, "UPDATE dualid_audit SET body = body || ' ' WHERE seq = 3")
    report = sdk.audit.verify(deep=True)
    assert report.problem is AuditProblem.TAMPERED
    assert report.table is None
