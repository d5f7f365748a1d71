"""Shared copies as one AES-GCM blob per registration (migration 0011): what is stored,
what binds it (P4), what revocation leaves, and the copies from before 0011, read as they
are, re-sealed person by person (resumable), re-sealed by any write, and turned back into
per-field rows by a downgrade that has the keys. On both backends."""

from __future__ import annotations

from typing import Any

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.crypto._shared import open_copy
from dualid.errors import DecryptionFailed, InvalidInput, MissingKeyError
from dualid.store import current, downgrade, head, upgrade
from dualid.testing import FakeClock

from ..support import InjectedFault, copy_fields, execute, fail_on_sql, json_view, rows

RES = EventType.RESERVATION
NAME, EMAIL, PHONE = DataField.NAME, DataField.EMAIL, DataField.PHONE_NUMBER


def _people(sdk: DualId) -> dict[str, Any]:
    """Ana and Ben at bistro/res-1 (name, email), Ana at club/c-1 (name)."""
    for host_id in ("bistro", "club"):
        sdk.hosts.register(host_id, kind=HostKind.BUSINESS, name=host_id)
        sdk.hosts.require(host_id, RES, required={NAME}, optional={EMAIL, PHONE}, purpose="p")
    out: dict[str, Any] = {}
    for who in ("ana", "ben"):
        agent = sdk.identity.agent_for(who)
        sdk.profiles.put(
            agent,
            EventUserData(
                name=who.title(), email=f"{who}@example.org", phone_number="+14155552671"
            ),
        )
        out[who] = agent
        out[f"{who}_reg"] = sdk.events.register(agent, "bistro", RES, "res-1", share={NAME, EMAIL})
    out["ana_club"] = sdk.events.register(out["ana"], "club", RES, "c-1", share={NAME})
    return out


def _view(sdk: DualId, host_id: str = "bistro", event_id: str = "res-1") -> list[tuple[Any, ...]]:
    json_view(sdk, host_id, event_id, limit=1)  # the JSON view says the same, page by page
    return [
        (a.ref, a.data.name, a.data.email, a.data.phone_number, a.shared_at)
        for a in sdk.events.attendees(host_id, event_id)
    ]


def test_a_copy_is_one_blob_holding_the_values_and_the_ref(sdk: DualId) -> None:
    p = _people(sdk)
    reg = p["ana_reg"].id
    (row,) = rows(sdk, "SELECT * FROM dualid_shared WHERE registration_id = :r", r=reg)
    assert (row.agent_id, row.fields) == (p["ana"], "email,name")
    assert rows(sdk, "SELECT field FROM dualid_sealed WHERE record_id = :r", r=reg) == []
    dek = sdk._rt.provider  # the copy opens with the agent's data key only
    from dualid._vault import load_dek

    with sdk.store.read() as conn:
        key = load_dek(conn, dek, p["ana"])
    ref, values = open_copy(
        key, p["ana"], reg, "bistro", "res-1", row.fields, row.dek_version, bytes(row.ciphertext)
    )
    assert values == {"email": "ana@example.org", "name": "Ana"}
    expected_ref = sdk._rt.derived.pairwise_ref("bistro", p["ana"])
    assert ref == expected_ref
    assert expected_ref in [a.ref for a in sdk.events.attendees("bistro", "res-1")]
    assert b"Ana" not in bytes(row.ciphertext)


@pytest.mark.parametrize(
    "edit",
    [
        # another person's copy in Ana's place
        "UPDATE dualid_shared SET ciphertext = (SELECT ciphertext FROM dualid_shared"
        " WHERE registration_id = :other) WHERE registration_id = :reg",
        # the field list widened or narrowed
        "UPDATE dualid_shared SET fields = 'name' WHERE registration_id = :reg",
        "UPDATE dualid_shared SET fields = 'email,name,phone_number' WHERE registration_id = :reg",
        # another key version
        "UPDATE dualid_shared SET dek_version = 2 WHERE registration_id = :reg",
        # Ana's club copy moved into her bistro registration (same person, other host)
        "UPDATE dualid_shared SET ciphertext = (SELECT ciphertext FROM dualid_shared"
        " WHERE registration_id = :club), fields = 'name' WHERE registration_id = :reg",
        # the registration moved to another event of the host
        "UPDATE dualid_registration SET event_id = 'res-2' WHERE registration_id = :reg",
    ],
)
def test_p4_a_copy_moved_or_relabelled_does_not_authenticate(sdk: DualId, edit: str) -> None:
    p = _people(sdk)
    moved = "event_id = 'res-2'" in edit
    if moved:  # a host-wide grant that covers res-2 (the copy's event grant is res-1's)
        sdk.consent.grant(p["ana"], "bistro", fields={NAME}, purpose="any event")
    execute(sdk, edit, reg=p["ana_reg"].id, other=p["ben_reg"].id, club=p["ana_club"].id)
    with pytest.raises(DecryptionFailed):
        sdk.events.attendees("bistro", "res-2" if moved else "res-1")


def test_a_revoked_field_leaves_the_copy_resealed_without_it(sdk: DualId) -> None:
    p = _people(sdk)
    grant = sdk.consent.grant(p["ana"], "bistro", fields={PHONE}, event_id="res-1", purpose="call")
    assert copy_fields(sdk, p["ana_reg"].id) == {"name", "email", "phone_number"}
    sdk.consent.revoke(grant.id)
    assert copy_fields(sdk, p["ana_reg"].id) == {"name", "email"}
    assert sorted(v[1:4] for v in _view(sdk)) == [
        ("Ana", "ana@example.org", None),
        ("Ben", "ben@example.org", None),
    ]
    sdk.consent.revoke_event(p["ana"], "bistro", "res-1")
    assert copy_fields(sdk, p["ana_reg"].id) == set()
    assert (
        rows(sdk, "SELECT 1 FROM dualid_shared WHERE registration_id = :r", r=p["ana_reg"].id) == []
    )
    assert sdk.audit.verify(deep=True).ok


# -- copies from before migration 0011 --------------------------------------------------------
def _legacy(db_url: str, master_key: str, clock: FakeClock) -> tuple[dict[str, Any], list[Any]]:
    """A store whose copies are per-field rows (taken down to 0007 with the keys, then
    upgraded without them, as `dualid db upgrade` does): the people and the host view."""
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:
        p = _people(sdk)
        before = _view(sdk)
        sdk.downgrade("0007_grant_mac")
        assert current(sdk.store) == "0007_grant_mac"
        fields = rows(
            sdk,
            "SELECT record_id, field FROM dualid_sealed WHERE record_id = :r",
            r=p["ana_reg"].id,
        )
        assert sorted(f for _, f in fields) == ["email", "name"]
        upgrade(sdk.store)
        assert current(sdk.store) == head()
    return p, before


def test_legacy_copies_read_as_they_are_then_sealed_person_by_person(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    p, before = _legacy(db_url, master_key, clock)
    with DualId.open(db_url, keys=master_key, clock=clock, migrate=False) as sdk:
        assert rows(sdk, "SELECT count(*) FROM dualid_shared")[0][0] == 0
        assert _view(sdk) == before
        assert sdk.audit.verify(deep=True).ok
        # interrupted after the first person (in agentId order): resumable
        copies = {p["ana"]: 2, p["ben"]: 1}
        first, second = sorted(copies)
        with fail_on_sql(sdk, "INSERT INTO dualid_shared", after=1), pytest.raises(InjectedFault):
            sdk.consent.seal_copies(batch=1)
        assert rows(sdk, "SELECT count(*) FROM dualid_shared") == [(copies[first],)]
        assert _view(sdk) == before  # one person's blobs, the other's legacy rows
        assert sdk.consent.seal_copies() == copies[second]
        assert sdk.consent.seal_copies() == 0
        assert rows(
            sdk,
            "SELECT count(*) FROM dualid_sealed WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:')",
        ) == [(0,)]
        assert _view(sdk) == before
        assert _view(sdk, "club", "c-1")[0][1] == "Ana"
        entries = [e for e in sdk.audit.iter() if e.action == "consent.copies_sealed"]
        assert sorted((e.details["copies"]) for e in entries) == [1, 2]
        assert {e.details["copies"] for e in entries if e.subject == p["ana"]} == {2}
        assert sdk.audit.verify(deep=True).ok


def test_a_write_reseals_the_legacy_copy_it_touches(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    p, _ = _legacy(db_url, master_key, clock)
    with DualId.open(db_url, keys=master_key, clock=clock, migrate=False) as sdk:
        sdk.consent.grant(p["ben"], "bistro", fields={PHONE}, event_id="res-1", purpose="call")
        reg = p["ben_reg"].id
        assert rows(sdk, "SELECT fields FROM dualid_shared WHERE registration_id = :r", r=reg) == [
            ("email,name,phone_number",)
        ]
        assert rows(sdk, "SELECT field FROM dualid_sealed WHERE record_id = :r", r=reg) == []
        (ben,) = [v for v in _view(sdk) if v[1] == "Ben"]
        assert ben[1:4] == ("Ben", "ben@example.org", "+14155552671")
        assert sdk.audit.verify(deep=True).ok


def test_the_open_that_migrates_seals_every_copy(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:
        p = _people(sdk)
        before = _view(sdk)
        sdk.downgrade("0007_grant_mac")
    with DualId.open(db_url, keys=master_key, clock=clock) as sdk:
        assert copy_fields(sdk, p["ana_reg"].id) == {"name", "email"}
        assert rows(sdk, "SELECT count(*) FROM dualid_shared") == [(3,)]
        assert _view(sdk) == before
        assert sdk.consent.seal_copies() == 0


def test_a_downgrade_without_the_keys_refuses_and_changes_nothing(sdk: DualId) -> None:
    _people(sdk)
    held = rows(sdk, "SELECT * FROM dualid_shared ORDER BY registration_id")
    with pytest.raises(MissingKeyError, match="master key"):
        downgrade(sdk.store, "0007_grant_mac")
    assert current(sdk.store) == head()
    assert rows(sdk, "SELECT * FROM dualid_shared ORDER BY registration_id") == held
    with pytest.raises(InvalidInput):
        sdk.downgrade("")  # type: ignore[arg-type]


def test_seal_copies_refuses_a_bad_batch(sdk: DualId) -> None:
    for bad in (0, -1, True, "5", 10**6):
        with pytest.raises(InvalidInput):
            sdk.consent.seal_copies(batch=bad)  # type: ignore[arg-type]
