"""The transactional outbox: every change that a host must hear of writes its notice in the
change's own transaction (a failure at any statement leaves neither), thin and PII-free,
and the person's history and sharing show whether and when the host was told."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from dualid import DataField
from dualid.webhooks import NoticeStatus

from ..support import InjectedFault, assert_no_pii, rows, statement_hook
from .conftest import ANA, EMAIL, HOST, NAME, PHONE, RES, World

pytestmark = pytest.mark.usefixtures("receiver")


def _notices(world: World) -> list[dict[str, Any]]:
    found = rows(
        world.sdk,
        "SELECT notice_id, type, grant_id, payload, status FROM dualid_webhook_notice ORDER BY seq",
    )
    return [
        {"id": n, "type": t, "grant_id": g, "payload": json.loads(p), "status": s}
        for n, t, g, p, s in found
    ]


def _ref(world: World) -> str:
    return world.sdk._rt.derived.pairwise_ref(HOST, world.ana)


def test_every_change_writes_its_notice(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    reg = sdk.events.register(ana, HOST, RES, "res-1", share={NAME, PHONE})
    grant = sdk.consent.grant(ana, HOST, fields={EMAIL}, event_id="res-1", purpose="confirm")
    sdk.consent.revoke(grant.id)
    sdk.events.register(ana, HOST, RES, "res-2", share={NAME})
    sdk.consent.revoke_event(ana, HOST, "res-2")
    sdk.events.cancel(ana, HOST, "res-1")
    notices = _notices(world)
    assert [n["type"] for n in notices] == [
        "consent.granted",
        "consent.granted",
        "consent.revoked",
        "consent.granted",
        "consent.revoked",
        "registration.cancelled",
    ]
    ref = _ref(world)
    first, granted, revoked, _, ended_event, cancelled = (n["payload"] for n in notices)
    assert first["data"] == {
        "hostId": HOST,
        "ref": ref,
        "grantId": reg.grant_id,
        "eventId": "res-1",
        "eventType": "reservation",
        "fields": ["name", "phoneNumber"],
        "expiresAt": None,
    }
    assert granted["data"]["fields"] == ["email"]
    assert revoked["data"] == {
        "hostId": HOST,
        "ref": ref,
        "grants": [
            {
                "grantId": grant.id,
                "eventId": "res-1",
                "eventType": "reservation",
                "fields": ["email"],
            }
        ],
        "delete": [{"eventId": "res-1", "eventType": "reservation", "fields": ["email"]}],
    }
    assert ended_event["data"]["delete"] == [
        {"eventId": "res-2", "eventType": "reservation", "fields": ["name"]}
    ]
    assert cancelled["data"]["eventId"] == "res-1"
    assert cancelled["data"]["delete"] == [
        {"eventId": "res-1", "eventType": "reservation", "fields": ["name", "phoneNumber"]}
    ]
    assert [g["grantId"] for g in cancelled["data"]["grants"]] == [reg.grant_id]
    assert all(n["status"] == "pending" for n in notices)
    assert sdk.audit.verify(deep=True).ok


def test_a_revocation_names_only_what_the_host_must_delete(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME, EMAIL})
    # A host-wide grant keeps the email shared: revoking the event's grant deletes nothing
    # of it, so the notice does not ask the host to delete it.
    sdk.consent.grant(ana, HOST, fields={EMAIL}, purpose="newsletter")
    (event_grant,) = [g for g in sdk.consent.grants(ana) if g.event_id == "res-1"]
    sdk.consent.revoke(event_grant.id)
    revoked = _notices(world)[-1]["payload"]["data"]
    assert revoked["grants"][0]["fields"] == ["name", "email"]
    assert revoked["delete"] == [
        {"eventId": "res-1", "eventType": "reservation", "fields": ["name"]}
    ]
    (guest,) = sdk.events.attendees(HOST, "res-1")
    assert guest.data.email == ANA["email"]
    assert guest.data.name is None
    # revoke_host ends the host-wide grant too: now the email goes.
    sdk.consent.revoke_host(ana, HOST)
    last = _notices(world)[-1]["payload"]["data"]
    assert last["delete"] == [{"eventId": "res-1", "eventType": "reservation", "fields": ["email"]}]


def test_expiry_is_told_by_the_purge_once(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    reg = sdk.events.register(
        ana,
        HOST,
        RES,
        "res-1",
        share={NAME},
        expires_at=world.clock.now().time + timedelta(hours=1),
    )
    world.clock.advance(timedelta(hours=2))
    assert sdk.consent.purge_expired() == 1
    sdk.consent.purge_expired()  # nothing new to tell
    expired = [n for n in _notices(world) if n["type"] == "consent.expired"]
    assert len(expired) == 1
    assert expired[0]["grant_id"] == reg.grant_id
    assert expired[0]["payload"]["data"]["delete"] == [
        {"eventId": "res-1", "eventType": "reservation", "fields": ["name"]}
    ]
    history = sdk.consent.history(ana)
    (purge,) = [e for e in history if e.action == "consent.expired_purged"]
    assert [n.id for n in purge.notices] == [expired[0]["id"]]
    assert sdk.audit.verify(deep=True).ok


def test_erasure_tells_every_host_the_person_dealt_with(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    sdk.hosts.register("quiet", kind="club", name="No webhook")
    sdk.hosts.require("quiet", RES, required={NAME}, purpose="p")
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME})
    sdk.events.register(ana, "quiet", RES, "q-1", share={NAME})
    ref = _ref(world)
    sdk.erase(ana)
    erased = [n for n in _notices(world) if n["type"] == "person.erased"]
    assert [n["payload"]["data"] for n in erased] == [{"hostId": HOST, "refs": [ref]}]
    assert sdk.audit.verify(deep=True).ok


def test_no_endpoint_no_notice(world: World) -> None:
    world.sdk.hosts.remove_webhook(HOST)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.consent.revoke_host(world.ana, HOST)
    assert _notices(world) == []
    for entry in world.sdk.consent.history(world.ana):
        assert entry.notices == ()
        assert "notice" not in entry.details


def test_payloads_hold_no_personal_data_and_no_agent_id(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME, EMAIL, PHONE})
    sdk.consent.revoke_host(ana, HOST)
    sdk.erase(ana)
    text = "".join(p for (p,) in rows(sdk, "SELECT payload FROM dualid_webhook_notice")) + "".join(
        str(r) for r in rows(sdk, "SELECT * FROM dualid_webhook_notice")
    )
    assert_no_pii(text, [*ANA.values(), "user-ana", ana, ana.removeprefix("agt_")])


def test_the_person_sees_whether_and_when_the_host_was_told(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME})
    grant = sdk.consent.grant(ana, HOST, fields={EMAIL}, event_id="res-1", purpose="x")
    (shared,) = [s for s in sdk.consent.shared(ana) if s.grant_id == grant.id]
    assert shared.notice is not None
    assert shared.notice.status is NoticeStatus.PENDING
    sdk.consent.revoke(grant.id)
    (revocation,) = [e for e in sdk.consent.history(ana) if e.action == "consent.revoked"]
    (notice,) = revocation.notices
    assert notice.status is NoticeStatus.PENDING
    assert notice.delivered_at is None
    world.clock.advance(timedelta(seconds=3))
    sdk.webhooks.deliver_pending()
    (revocation,) = [e for e in sdk.consent.history(ana) if e.action == "consent.revoked"]
    (notice,) = revocation.notices
    assert notice.status is NoticeStatus.DELIVERED
    assert notice.delivered_at == world.clock.now().time  # the FakeClock does not tick


# -- atomicity: a failure at each statement -----------------------------------------------
def _revoke_plan(world: World) -> Callable[[], object]:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME})
    grant = sdk.consent.grant(ana, HOST, fields={EMAIL}, event_id="res-1", purpose="x")
    return lambda: sdk.consent.revoke(grant.id)


def _grant_plan(world: World) -> Callable[[], object]:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME})
    return lambda: sdk.consent.grant(ana, HOST, fields={EMAIL}, event_id="res-1", purpose="x")


def _cancel_plan(world: World) -> Callable[[], object]:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME, EMAIL})
    return lambda: world.sdk.events.cancel(world.ana, HOST, "res-1")


def _erase_plan(world: World) -> Callable[[], object]:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    return lambda: world.sdk.erase(world.ana)


def _state(world: World) -> dict[str, Any]:
    sdk = world.sdk
    return {
        "notices": rows(sdk, "SELECT notice_id FROM dualid_webhook_notice ORDER BY seq"),
        "grants": rows(sdk, "SELECT grant_id, revoked_at FROM dualid_grant ORDER BY grant_id"),
        "regs": rows(sdk, "SELECT registration_id FROM dualid_registration ORDER BY 1"),
        "sealed": rows(sdk, "SELECT record_id, field FROM dualid_sealed ORDER BY 1, 2"),
        "agents": rows(sdk, "SELECT agent_id FROM dualid_agent ORDER BY 1"),
        "audit": rows(sdk, "SELECT seq FROM dualid_audit ORDER BY seq"),
    }


@pytest.mark.parametrize("plan", [_revoke_plan, _grant_plan, _cancel_plan, _erase_plan])
def test_a_failure_at_any_statement_leaves_neither_change_nor_notice(
    world: World, plan: Callable[[World], Callable[[], object]]
) -> None:
    change = plan(world)
    before = _state(world)
    seen: list[str] = []
    # The statements of the change, as it runs: learnt on a copy of the plan's first step
    # would differ per backend, so each is failed in turn on the real one.
    step = 0
    while True:
        calls = {"n": 0}

        def fail_at(statement: str, target: int = step) -> None:
            if calls["n"] == target:
                seen.append(statement.split()[0])
                raise InjectedFault(statement)
            calls["n"] += 1

        with statement_hook(world.sdk, fail_at):
            try:
                change()
            except InjectedFault:
                pass
            else:
                break  # every statement has been failed once; this run went through
        assert _state(world) == before, f"statement {step} ({seen[-1]}) left a trace"
        step += 1
    after = _state(world)
    assert len(after["notices"]) == len(before["notices"]) + 1  # the change and its notice
    assert after["audit"] != before["audit"]
    assert step >= 4
    assert world.sdk.audit.verify(deep=True).ok


def test_notice_ids_in_the_log_are_the_rows(world: World) -> None:
    sdk, ana = world.sdk, world.ana
    sdk.events.register(ana, HOST, RES, "res-1", share={NAME})
    sdk.consent.grant(ana, HOST, fields={DataField.EMAIL}, event_id="res-1", purpose="x")
    sdk.consent.revoke_host(ana, HOST)
    logged = [e.details["notice"] for e in sdk.audit.entries() if "notice" in e.details]
    stored = [n["id"] for n in _notices(world)]
    assert sorted(set(logged)) == sorted(stored)
