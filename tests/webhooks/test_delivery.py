"""Delivery to a real receiver on 127.0.0.1: delivered and signed, retried on the schedule
while the receiver is down and delivered with the same id once it is up, 410 disables the
endpoint, given up after the schedule, in order per host, timeouts, SSRF refusals, and
the background deliverer of ``DualId.open``. The schedule is driven by the FakeClock."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from dualid import DualId
from dualid.errors import InvalidInput, InvalidWebhookUrl
from dualid.testing import FakeClock
from dualid.webhooks import RETRY_SCHEDULE, NoticeStatus
from dualid.webhooks._http import Target, post

from ..support import assert_no_pii, rows
from ._receiver import Receiver, free_port, serving
from .conftest import ANA, EMAIL, HOST, NAME, RES, World, open_world


def _revoke(world: World) -> str:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME, EMAIL})
    grant = world.sdk.consent.grant(world.ana, HOST, fields={EMAIL}, purpose="newsletter")
    world.sdk.consent.revoke(grant.id)
    return grant.id


def _status(world: World) -> list[tuple[str, str, int]]:
    return [
        (t, s, a)
        for t, s, a in rows(
            world.sdk, "SELECT type, status, attempts FROM dualid_webhook_notice ORDER BY seq"
        )
    ]


def test_revoke_is_delivered_signed_and_without_personal_data(world: World) -> None:
    _revoke(world)
    report = world.sdk.webhooks.deliver_pending()
    assert (report.attempted, report.delivered, report.next_due) == (3, 3, None)
    revoked = world.receiver.requests[-1]
    payload = Webhook(world.secret).verify(revoked.body, revoked.headers)
    assert payload["type"] == "consent.revoked"
    assert payload["data"]["ref"] == world.sdk._rt.derived.pairwise_ref(HOST, world.ana)
    assert revoked.headers["content-type"] == "application/json"
    assert revoked.path == "/hooks"
    for request in world.receiver.requests:
        text = request.body.decode() + json.dumps(request.headers)
        assert_no_pii(text, [*ANA.values(), world.ana, "user-ana"])
    assert [s for _, s, _ in _status(world)] == ["delivered"] * 3
    # Nothing is sent twice: a second run finds nothing due.
    assert world.sdk.webhooks.deliver_pending().attempted == 0
    assert len(world.receiver.requests) == 3


def test_receiver_down_retries_then_delivers_with_the_same_id(
    db_url: str, master_key: str, real_clock: FakeClock
) -> None:
    port = free_port()
    receiver = Receiver(port=port)
    with serving(receiver, port=port):
        world = open_world(db_url, master_key, real_clock, receiver)
    try:
        world.sdk.webhooks.configure(jitter=0)
        world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
        report = world.sdk.webhooks.deliver_pending()  # nobody listens: connection refused
        assert (report.attempted, report.retrying) == (1, 1)
        assert report.next_due == world.clock.now().time + RETRY_SCHEDULE[0]
        ((_, last_error),) = rows(world.sdk, "SELECT status, last_error FROM dualid_webhook_notice")
        assert last_error == "connection refused"
        assert world.sdk.webhooks.deliver_pending().attempted == 0  # not due yet
        for delay in RETRY_SCHEDULE[:3]:
            world.clock.advance(delay)
            assert world.sdk.webhooks.deliver_pending().retrying == 1
        assert _status(world) == [("consent.granted", "pending", 4)]
        with serving(receiver, port=port):
            world.clock.advance(RETRY_SCHEDULE[3])
            report = world.sdk.webhooks.deliver_pending()
        assert report.delivered == 1
        (delivered,) = receiver.requests
        assert _status(world) == [("consent.granted", "delivered", 5)]
        page = world.sdk.hosts.webhook_deliveries(HOST)
        assert [d.id for d in page.items] == [delivered.id]
        assert page.items[0].attempts == 5
        assert page.items[0].status is NoticeStatus.DELIVERED
    finally:
        world.sdk.close()


def test_every_attempt_carries_the_same_id(world: World) -> None:
    world.receiver.statuses = [500, 503]
    world.sdk.webhooks.configure(jitter=0)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.webhooks.deliver_pending()
    world.clock.advance(RETRY_SCHEDULE[0])
    world.sdk.webhooks.deliver_pending()
    world.clock.advance(RETRY_SCHEDULE[1])
    assert world.sdk.webhooks.deliver_pending().delivered == 1
    ids = world.receiver.ids
    assert len(ids) == 3
    assert len(set(ids)) == 1
    timestamps = [r.headers["webhook-timestamp"] for r in world.receiver.requests]
    assert len(set(timestamps)) == 3  # each attempt signs its own time


def test_gone_disables_the_endpoint(world: World) -> None:
    world.receiver.status = 410
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.events.register(world.ana, HOST, RES, "res-2", share={NAME})
    report = world.sdk.webhooks.deliver_pending()
    assert report.disabled == (HOST,)
    assert report.attempted == 1
    endpoint = world.sdk.hosts.webhook(HOST)
    assert not endpoint.enabled
    assert endpoint.disabled_reason == "410 Gone"
    assert [s for _, s, _ in _status(world)] == ["failed", "failed"]
    assert [e.action for e in world.sdk.audit.entries()][-1] == "host.webhook_disabled"
    # Changes while it is disabled write no notice; setting the URL again enables it.
    world.sdk.consent.revoke_host(world.ana, HOST)
    assert len(_status(world)) == 2
    world.receiver.status = 200
    again = world.sdk.hosts.set_webhook(HOST, world.receiver.url)
    assert again.enabled
    assert again.secret is None  # the secret stays
    world.sdk.events.register(world.ana, HOST, RES, "res-3", share={NAME})
    assert world.sdk.webhooks.deliver_pending().delivered == 1
    assert world.sdk.audit.verify(deep=True).ok


def test_given_up_after_the_schedule(world: World) -> None:
    world.receiver.status = 500
    schedule = [timedelta(seconds=1), timedelta(seconds=2)]
    world.sdk.webhooks.configure(schedule=schedule)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.events.register(world.ana, HOST, RES, "res-2", share={NAME})
    for _ in range(len(schedule)):
        assert world.sdk.webhooks.deliver_pending().retrying == 1
        world.clock.advance(timedelta(seconds=3))
    report = world.sdk.webhooks.deliver_pending()
    # Given up, and the host's next notice is tried at once (order per host): it fails too.
    assert (report.failed, report.retrying) == (1, 1)
    assert _status(world) == [("consent.granted", "failed", 3), ("consent.granted", "pending", 1)]
    world.receiver.status = 200
    world.clock.advance(timedelta(seconds=3))
    assert world.sdk.webhooks.deliver_pending().delivered == 1
    delivery = world.sdk.hosts.webhook_deliveries(HOST).items[-1]
    assert delivery.status is NoticeStatus.FAILED
    assert delivery.last_status == 500
    assert delivery.last_error == "HTTP 500"


def test_the_delay_has_jitter_within_its_bounds(world: World) -> None:
    world.receiver.status = 503
    world.sdk.webhooks.configure(jitter=0.5, schedule=[timedelta(seconds=100)] * 20)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    delays = []
    for _ in range(12):
        before = world.clock.now().time
        report = world.sdk.webhooks.deliver_pending()
        assert report.next_due is not None
        delays.append((report.next_due - before).total_seconds())
        world.clock.set(report.next_due)
    assert all(50 <= d <= 150 for d in delays), delays
    assert len({round(d, 3) for d in delays}) > 1  # not one fixed delay


def test_retry_after_is_honoured(world: World) -> None:
    world.receiver.status = 429
    world.receiver.extra_headers = {"Retry-After": "600"}
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    before = world.clock.now().time
    report = world.sdk.webhooks.deliver_pending()
    assert report.next_due is not None
    assert report.next_due - before >= timedelta(seconds=600)


def test_one_host_at_a_time_in_order(world: World) -> None:
    for i in range(5):
        world.sdk.events.register(world.ana, HOST, RES, f"res-{i}", share={NAME})
    world.sdk.webhooks.deliver_pending()
    sent = [json.loads(r.body)["data"]["eventId"] for r in world.receiver.requests]
    assert sent == [f"res-{i}" for i in range(5)]
    # A failing head holds the host's later notices back.
    world.receiver.status = 500
    world.sdk.consent.revoke_event(world.ana, HOST, "res-0")
    world.sdk.consent.revoke_event(world.ana, HOST, "res-1")
    assert world.sdk.webhooks.deliver_pending().attempted == 1
    world.receiver.status = 200
    world.clock.advance(timedelta(minutes=1))
    assert world.sdk.webhooks.deliver_pending().delivered == 2
    tail = [
        json.loads(r.body)["data"]["grants"][0]["eventId"] for r in world.receiver.requests[-3:]
    ]
    assert tail == ["res-0", "res-0", "res-1"]


def test_read_timeout_is_a_failed_attempt(world: World) -> None:
    world.sdk.webhooks.configure(read_timeout=0.3, jitter=0)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    with world.receiver.hold():
        report = world.sdk.webhooks.deliver_pending()
    assert report.retrying == 1
    assert world.sdk.hosts.webhook_deliveries(HOST).items[0].last_error == "timeout"
    world.clock.advance(RETRY_SCHEDULE[0])
    assert world.sdk.webhooks.deliver_pending().delivered == 1
    assert len(set(world.receiver.ids)) == 1


def test_removing_the_endpoint_gives_up_its_pending_notices(world: World) -> None:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.hosts.remove_webhook(HOST)
    assert [s for _, s, _ in _status(world)] == ["failed"]
    assert world.sdk.webhooks.deliver_pending().attempted == 0
    (entry,) = [e for e in world.sdk.consent.history(world.ana) if e.notices]
    assert entry.notices[0].status is NoticeStatus.FAILED


# -- SSRF ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [
        "http://bistro.example/hooks",  # not https
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "https://172.16.5.4/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/",
        "https://[::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://0.0.0.0/",
        "https://user:pw@bistro.example/hooks",
        "https://bistro.example/hooks#frag",
        "ftp://bistro.example/",
        "https://",
        "not a url",
        "https://bistro.example:99999/",
    ],
)
def test_private_and_malformed_targets_are_refused(memory_sdk: DualId, url: str) -> None:
    memory_sdk.hosts.register(HOST, kind="business", name="B")
    with pytest.raises(InvalidWebhookUrl):
        memory_sdk.hosts.set_webhook(HOST, url)
    assert rows(memory_sdk, "SELECT count(*) FROM dualid_webhook") == [(0,)]


def test_public_targets_are_accepted(memory_sdk: DualId) -> None:
    memory_sdk.hosts.register(HOST, kind="business", name="B")
    endpoint = memory_sdk.hosts.set_webhook(HOST, "https://hooks.bistro.example:8443/in?x=1")
    assert endpoint.url == "https://hooks.bistro.example:8443/in?x=1"
    assert endpoint.secret is not None
    assert endpoint.secret.startswith("whsec_")
    assert "whsec_" not in repr(endpoint)


def test_a_name_that_resolves_to_loopback_is_refused_when_sending() -> None:
    with serving() as receiver:
        target = Target("http", "localhost", receiver.port, "/hooks")
        refused = post(target, b"{}", {}, allow_private=False, connect_timeout=2, read_timeout=2)
        allowed = post(target, b"{}", {}, allow_private=True, connect_timeout=2, read_timeout=2)
    assert refused.status is None
    assert refused.error == "refused: the host resolves to a non-public address"
    assert allowed.status == 200
    assert len(receiver.requests) == 1  # the refused one never connected


def test_a_store_opened_without_allow_private_does_not_send_to_loopback(
    db_url: str, master_key: str, real_clock: FakeClock, receiver: Receiver
) -> None:
    world = open_world(db_url, master_key, real_clock, receiver)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.close()
    with DualId.open(db_url, keys=master_key, clock=real_clock) as strict:
        report = strict.webhooks.deliver_pending()
        assert report.retrying == 1
        assert strict.hosts.webhook_deliveries(HOST).items[0].last_error.startswith("refused")
    assert receiver.requests == []


# -- the background deliverer --------------------------------------------------------------
def test_open_delivers_in_the_background(
    db_url: str, master_key: str, real_clock: FakeClock, receiver: Receiver
) -> None:
    world = open_world(db_url, master_key, real_clock, receiver)
    world.sdk.close()
    with DualId.open(
        db_url,
        keys=master_key,
        clock=real_clock,
        webhooks_allow_private=True,
        deliver_webhooks_every=30,
    ) as sdk:
        receiver.arrived.clear()
        sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
        # The write wakes the deliverer at once (the interval is 30 s); a hang guard only.
        assert receiver.arrived.wait(20)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"connect_timeout": 0},
        {"read_timeout": -1},
        {"schedule": "5s"},
        {"schedule": [5]},
        {"schedule": [timedelta(days=31)]},
        {"jitter": 1.0},
        {"jitter": True},
    ],
)
def test_configure_arguments(memory_sdk: DualId, kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        memory_sdk.webhooks.configure(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"webhooks_allow_private": 1}, {"deliver_webhooks_every": 0}])
def test_open_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidInput):
        DualId.open("sqlite://", **kwargs)  # type: ignore[arg-type]


def test_deliveries_page(world: World) -> None:
    for i in range(5):
        world.sdk.events.register(world.ana, HOST, RES, f"res-{i}", share={NAME})
    first = world.sdk.hosts.webhook_deliveries(HOST, limit=2)
    assert first.next_cursor is not None
    second = world.sdk.hosts.webhook_deliveries(HOST, cursor=first.next_cursor, limit=10)
    events = [d.payload["data"]["eventId"] for d in first.items + second.items]
    assert events == [f"res-{i}" for i in reversed(range(5))]
    assert second.next_cursor is None
    with pytest.raises(InvalidInput):
        world.sdk.hosts.webhook_deliveries(HOST, cursor="bogus!")


def test_concurrent_deliverers_in_one_process_do_not_send_twice(world: World) -> None:
    for i in range(20):
        world.sdk.events.register(world.ana, HOST, RES, f"res-{i}", share={NAME})
    world.receiver.delay = 0.005
    threads = [threading.Thread(target=world.sdk.webhooks.deliver_pending) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(world.receiver.ids) == sorted(set(world.receiver.ids))
    assert len(world.receiver.ids) == 20
    assert world.receiver.concurrent_duplicates == []
