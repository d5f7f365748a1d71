"""Grant rows carry a MAC (migration 0007) and reads fail closed on rows without their own:
the host view, ``consent.shared``, ``consent.explain`` and ``events.registrations`` trust
a grant only when its MAC verifies. Rows from before 0007 are sealed once the log's replay
shows them as logged (``consent.seal_grants``, the migrating ``DualId.open``); the others
stay untrusted. On both backends."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.audit import AuditProblem
from dualid.store import history, upgrade
from dualid.testing import FakeClock

from ..support import execute, rows

RES = EventType.RESERVATION
NAME, EMAIL, PHONE = DataField.NAME, DataField.EMAIL, DataField.PHONE_NUMBER
VALUES = {"name": "Ana Mac", "email": "ana.mac@example.com", "phone_number": "+14155552671"}


def _setup(sdk: DualId) -> tuple[str, str, str]:
    """Ana registered at bistro/res-1 sharing her name; an email grant for the event. The
    agent, the registration's grant and the email grant."""
    for host_id in ("bistro", "rival"):
        sdk.hosts.register(host_id, kind=HostKind.BUSINESS, name=host_id)
        sdk.hosts.require(host_id, RES, required={NAME}, optional={EMAIL, PHONE}, purpose="p")
    ana = sdk.identity.agent_for("ana")
    sdk.profiles.put(ana, EventUserData(**VALUES))
    reg = sdk.events.register(ana, "bistro", RES, "res-1", share={NAME})
    assert reg.grant_id is not None
    email = sdk.consent.grant(ana, "bistro", fields={EMAIL}, event_id="res-1", purpose="mail")
    return ana, reg.grant_id, email.id


def _shown(sdk: DualId, host_id: str = "bistro", event_id: str = "res-1") -> list[set[str]]:
    return [
        {f for f in VALUES if getattr(a.data, f) is not None}
        for a in sdk.events.attendees(host_id, event_id)
    ]


def _macs_verify(sdk: DualId) -> bool:
    tag = sdk._rt.derived.grant_tag
    found = rows(
        sdk,
        "SELECT grant_id, agent_id, host_id, event_id, event_type, fields, created_at,"
        " expires_at, revoked_at, mac FROM dualid_grant",
    )
    return bool(found) and all(r[9] is not None and tag(*r[:9]) == bytes(r[9]) for r in found)


def test_every_write_leaves_macs_that_verify(sdk: DualId, clock: FakeClock) -> None:
    ana, _, email = _setup(sdk)
    sdk.consent.grant(ana, "bistro", fields={PHONE}, purpose="any", expires_at=None)
    sdk.consent.revoke(email)
    sdk.events.register(ana, "rival", RES, "r-1", share={NAME, EMAIL})
    sdk.consent.revoke_event(ana, "rival", "r-1")
    sdk.events.register(ana, "rival", RES, "r-2", share={NAME})
    sdk.events.cancel(ana, "rival", "r-2")
    sdk.consent.revoke_host(ana, "bistro")
    assert _macs_verify(sdk)
    assert sdk.audit.verify(deep=True).ok


# -- reads fail closed ---------------------------------------------------------------------
EDITS = {
    "host_id": "host_id = 'rival'",
    "event_id": "event_id = 'res-2'",
    "event_type": "event_type = 'club_event'",
    "fields": "fields = 'email,phone_number'",
    "created_at": "created_at = created_at - 1",
    "expires_at": "expires_at = 99999999999999999",
    "agent_id": "agent_id = agent_id",  # a no-op: the MAC still verifies
    "mac": "mac = NULL",
}


@pytest.mark.parametrize("column", sorted(EDITS))
def test_an_edited_grant_shares_nothing(
    sdk: DualId, column: str, caplog: pytest.LogCaptureFixture
) -> None:
    ana, _, email = _setup(sdk)
    assert _shown(sdk) == [{"name", "email"}]
    execute(sdk, f"UPDATE dualid_grant SET {EDITS[column]} WHERE grant_id = :g", g=email)
    with caplog.at_level(logging.WARNING, "dualid.consent"):
        shown = _shown(sdk)
        shared = {item.grant_id for item in sdk.consent.shared(ana)}
        explained = sdk.consent.explain(ana, "bistro", "res-1", EMAIL)
        (registration,) = [r for r in sdk.events.registrations(ana) if r.host_id == "bistro"]
    if column == "agent_id":
        assert shown == [{"name", "email"}]
        assert email in shared
        return
    assert shown == [{"name"}]
    assert email not in shared
    assert (explained.visible, explained.reason) == (False, "no_grant")
    assert EMAIL not in registration.shared
    assert email in caplog.text
    assert ana not in caplog.text
    assert VALUES["email"] not in caplog.text
    if column == "host_id":  # moved to another host: it sees nothing either
        sdk.events.register(ana, "rival", RES, "res-1", share={NAME})
        assert _shown(sdk, "rival", "res-1") == [{"name"}]


def test_a_nulled_mac_is_sealed_again_when_the_row_is_as_logged(sdk: DualId) -> None:
    _, _, email = _setup(sdk)
    execute(sdk, "UPDATE dualid_grant SET mac = NULL WHERE grant_id = :g", g=email)
    assert _shown(sdk) == [{"name"}]
    report = sdk.consent.seal_grants()
    assert (report.sealed, report.refused) == (1, ())
    assert _shown(sdk) == [{"name", "email"}]
    sealed = [e for e in sdk.audit.iter() if e.action == "consent.grants_sealed"]
    assert [e.details for e in sealed] == [{"sealed": 1}]
    assert sdk.consent.seal_grants().sealed == 0  # nothing left: no entry either
    assert len([e for e in sdk.audit.iter() if e.action == "consent.grants_sealed"]) == 1


def test_an_edited_row_with_its_mac_nulled_is_refused(
    sdk: DualId, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ana = _setup(sdk)[0]
    soon = clock.now().time + timedelta(hours=1)
    phone = sdk.consent.grant(
        ana, "bistro", fields={PHONE}, event_id="res-1", purpose="call", expires_at=soon
    )
    clock.advance(timedelta(hours=2))
    execute(
        sdk, "UPDATE dualid_grant SET expires_at = NULL, mac = NULL WHERE grant_id = :g", g=phone.id
    )
    with caplog.at_level(logging.WARNING, "dualid.consent"):
        report = sdk.consent.seal_grants()
    assert (report.sealed, report.refused) == (0, (phone.id,))
    assert phone.id in caplog.text
    assert _shown(sdk) == [{"name", "email"}]
    (entry,) = [e for e in sdk.audit.iter() if e.action == "consent.grants_sealed"]
    assert entry.details == {"sealed": 0, "refused": 1, "refused_ids": [phone.id]}
    assert sdk.audit.verify(deep=True).row_id == phone.id


def test_a_whole_earlier_row_put_back_is_found_by_deep_verify(sdk: DualId) -> None:
    """The limit of a MAC: a row saved before its revocation, MAC and all, and put back
    afterwards (with the saved shared copy) verifies; only the log knows it was revoked.
    ``verify(deep=True)`` reports it (docs/privacy.md)."""
    _, _, email = _setup(sdk)
    (grant,) = rows(sdk, "SELECT * FROM dualid_grant WHERE grant_id = :g", g=email)
    (copy,) = rows(sdk, "SELECT * FROM dualid_shared WHERE fields = 'email,name'")
    sdk.consent.revoke(email)
    execute(
        sdk,
        "UPDATE dualid_grant SET revoked_at = NULL, mac = :m WHERE grant_id = :g",
        m=grant.mac,
        g=email,
    )
    copy_values: dict[str, Any] = copy._asdict()
    execute(sdk, "DELETE FROM dualid_shared WHERE registration_id = :r", r=copy.registration_id)
    execute(
        sdk,
        f"INSERT INTO dualid_shared ({', '.join(copy_values)})"
        f" VALUES ({', '.join(':' + k for k in copy_values)})",
        **copy_values,
    )
    assert _shown(sdk) == [{"name", "email"}]  # the MAC cannot tell
    report = sdk.audit.verify(deep=True)
    assert report.problem is AuditProblem.STATE_MISMATCH
    assert report.row_id == email


# -- rows from before migration 0007 ----------------------------------------------------------
def test_the_before_grant_macs_revisions_are_those_before_0007() -> None:
    from dualid.sdk import _BEFORE_GRANT_MACS

    revisions = [rev for rev, _, _ in history()]
    assert set(revisions[: revisions.index("0007_grant_mac")]) == _BEFORE_GRANT_MACS


def _legacy_store(db_url: str, master_key: str, clock: FakeClock) -> tuple[str, str, str]:
    """A store with grants, taken down to 0006 (no MACs), with one row edited there."""
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:
        ana, _, email = _setup(sdk)
        ben = sdk.identity.agent_for("ben")
        sdk.profiles.put(ben, EventUserData(**VALUES))
        sdk.events.register(ben, "bistro", RES, "res-1", share={NAME, PHONE})
        revoked = sdk.consent.grant(ben, "bistro", fields={EMAIL}, purpose="all events")
        sdk.consent.revoke(revoked.id)
        sdk.downgrade("0006_audit_partitions")
    # while at 0006: ben's registration grant gains the email
    execute_raw(
        db_url,
        "UPDATE dualid_grant SET fields = 'email,name,phone_number'"
        " WHERE agent_id = :a AND event_id = 'res-1'",
        a=ben,
    )
    return ana, ben, email


def execute_raw(db_url: str, sql: str, **params: Any) -> None:
    import sqlalchemy as sa

    from dualid.store import normalise_url

    engine = sa.create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def test_the_open_that_migrates_seals_the_rows_the_log_explains(
    db_url: str, master_key: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    ana, ben, _ = _legacy_store(db_url, master_key, clock)
    with caplog.at_level(logging.WARNING, "dualid.consent"):
        sdk = DualId.open(db_url, keys=master_key, clock=clock)
    with sdk:
        (entry,) = [e for e in sdk.audit.iter() if e.action == "consent.grants_sealed"]
        assert entry.details["sealed"] == 3  # ana's two, ben's revoked one and...
        assert entry.details["refused"] == 1  # ...not ben's edited registration grant
        (refused,) = entry.details["refused_ids"]
        assert refused in caplog.text
        assert ben not in caplog.text
        # ana shares as before; ben's edited grant shares nothing, not even his name
        assert sorted(map(sorted, _shown(sdk))) == [[], ["email", "name"]]
        report = sdk.audit.verify(deep=True)
        assert (report.problem, report.row_id) == (AuditProblem.STATE_MISMATCH, refused)
        assert len(sdk.consent.shared(ana)) == 2
        assert sdk.consent.shared(ben) == []
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:  # once only
        assert len([e for e in sdk.audit.iter() if e.action == "consent.grants_sealed"]) == 1


def test_upgrade_then_open_without_migrating_then_seal(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    ana, _, _ = _legacy_store(db_url, master_key, clock)
    from dualid.store import Store

    store = Store(db_url)
    try:
        upgrade(store)
    finally:
        store.dispose()
    with DualId.open(db_url, keys=master_key, clock=clock, migrate=False) as sdk:
        assert _shown(sdk) == [set(), set()]  # unsealed: nothing is shared
        assert sdk.consent.shared(ana) == []
        report = sdk.consent.seal_grants()
        assert (report.sealed, len(report.refused)) == (3, 1)
        assert sorted(map(sorted, _shown(sdk))) == [[], ["email", "name"]]
