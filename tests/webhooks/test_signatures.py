"""Standard Webhooks signatures: the ``v1`` ones verify with the independent
``standardwebhooks`` package, the ``v1a`` ones with the published Ed25519 key, and
``dualid.webhooks.verify`` refuses what it must; two signatures during a rotation."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as ForeignVerificationError

from dualid.errors import InvalidInput, UnknownWebhook, WebhookVerificationError
from dualid.webhooks import sign, verify

from .conftest import HOST, NAME, RES, World

pytestmark = pytest.mark.usefixtures("receiver")


def _revoke(world: World) -> None:
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    grant = world.sdk.consent.grant(
        world.ana, HOST, fields={"email"}, event_id="res-1", purpose="x"
    )
    world.sdk.consent.revoke(grant.id)
    report = world.sdk.webhooks.deliver_pending()
    assert report.delivered == 3  # two grants (registration, direct), one revocation


def test_v1_verifies_with_the_standardwebhooks_package(world: World) -> None:
    _revoke(world)
    for request in world.receiver.requests:
        payload = Webhook(world.secret).verify(request.body, request.headers)
        assert payload == json.loads(request.body)
        assert verify(request.headers, request.body, world.secret) == payload
    # A different secret does not verify: the check above could fail.
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    with pytest.raises(ForeignVerificationError):
        Webhook(other).verify(world.receiver.requests[0].body, world.receiver.requests[0].headers)


def test_v1a_verifies_with_the_published_public_key(world: World) -> None:
    _revoke(world)
    published = world.sdk.hosts.webhook(HOST).public_keys
    assert published == world.endpoint.public_keys
    raw = base64.b64decode(published[0].removeprefix("whpk_"))
    key = Ed25519PublicKey.from_public_bytes(raw)
    for request in world.receiver.requests:
        h = request.headers
        content = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + request.body
        (v1a,) = [s for s in h["webhook-signature"].split(" ") if s.startswith("v1a,")]
        key.verify(base64.b64decode(v1a[4:]), content)  # raises InvalidSignature if wrong
        assert verify(h, request.body, published[0])["type"].startswith("consent.")


def test_verify_refuses_tampering_replay_and_missing_headers(world: World) -> None:
    _revoke(world)
    request = world.receiver.requests[-1]
    headers, body = request.headers, request.body
    with pytest.raises(WebhookVerificationError):
        verify(headers, body.replace(b"email", b"phone"), world.secret)
    with pytest.raises(WebhookVerificationError):
        verify({**headers, "webhook-id": "msg_other"}, body, world.secret)
    later = datetime.now(UTC) + timedelta(minutes=6)
    with pytest.raises(WebhookVerificationError):
        verify(headers, body, world.secret, now=later)  # too old: a replay
    assert verify(headers, body, world.secret, now=later, tolerance=timedelta(minutes=7))
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        partial = {k: v for k, v in headers.items() if k != name}
        with pytest.raises(WebhookVerificationError):
            verify(partial, body, world.secret)
    upper = {k.upper(): v for k, v in headers.items()}
    assert verify(upper, body, world.secret)  # header names in any case
    wrong_key = world.sdk.hosts.rotate_webhook_secret(HOST, keep_previous_for=timedelta(0))
    with pytest.raises(WebhookVerificationError):
        verify(headers, body, wrong_key.public_keys[0])


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"secret": "nope"}, InvalidInput),
        ({"secret": "whsec_!!"}, InvalidInput),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, InvalidInput),
        ({"secret": "whpk_AAAA"}, InvalidInput),
        ({"secret": 5}, InvalidInput),
        ({"body": 5}, InvalidInput),
        ({"headers": "x"}, InvalidInput),
        ({"tolerance": 5}, InvalidInput),
        ({"now": datetime(2030, 1, 1)}, InvalidInput),
    ],
)
def test_verify_arguments(kwargs: dict[str, object], error: type[Exception]) -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    base: dict[str, object] = {
        "headers": sign(secret, "msg_1", datetime.now(UTC), b"{}"),
        "body": b"{}",
        "secret": secret,
    }
    with pytest.raises(error):
        verify(**{**base, **kwargs})  # type: ignore[arg-type]


def test_sign_round_trip_and_the_foreign_verifier_agree() -> None:
    secret = "whsec_" + base64.b64encode(b"s" * 24).decode()
    body = '{"type":"consent.revoked","data":{"ref":"ref_x"}}'
    headers = sign(secret, "msg_abc", datetime.now(UTC), body)
    assert Webhook(secret).verify(body, headers) == json.loads(body)
    assert verify(headers, body, secret) == json.loads(body)
    with pytest.raises(InvalidInput):
        sign(secret, "msg.with.dots", 1, body)


def test_rotation_sends_two_signatures_until_the_grace_period_ends(world: World) -> None:
    old = world.secret
    rotated = world.sdk.hosts.rotate_webhook_secret(HOST, keep_previous_for=timedelta(hours=1))
    assert rotated.secret is not None
    assert rotated.secret != old
    assert len(rotated.public_keys) == 2
    assert world.sdk.hosts.webhook(HOST).secret is None  # shown once
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.webhooks.deliver_pending()
    first = world.receiver.requests[-1]
    signatures = first.headers["webhook-signature"].split(" ")
    assert [s.split(",")[0] for s in signatures] == ["v1", "v1a", "v1", "v1a"]
    for secret in (old, rotated.secret):  # either secret verifies, independently
        assert Webhook(secret).verify(first.body, first.headers)
    world.clock.advance(timedelta(hours=1, seconds=1))
    world.sdk.events.register(world.ana, HOST, RES, "res-2", share={NAME})
    world.sdk.webhooks.deliver_pending()
    after = world.receiver.requests[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 2
    now = world.clock.now().time  # an hour ahead of the real clock the foreign check reads
    assert verify(after.headers, after.body, rotated.secret, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(after.headers, after.body, old, now=now)
    assert len(world.sdk.hosts.webhook(HOST).public_keys) == 1


def test_rotation_needs_an_endpoint(world: World) -> None:
    world.sdk.hosts.remove_webhook(HOST)
    with pytest.raises(UnknownWebhook):
        world.sdk.hosts.rotate_webhook_secret(HOST)
    with pytest.raises(UnknownWebhook):
        world.sdk.hosts.webhook(HOST)
    with pytest.raises(UnknownWebhook):
        world.sdk.hosts.remove_webhook(HOST)
    with pytest.raises(InvalidInput):
        world.sdk.hosts.rotate_webhook_secret(HOST, keep_previous_for=timedelta(days=31))
