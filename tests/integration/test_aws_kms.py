"""AwsKmsKeyProvider against a real KMS API: moto's server on 127.0.0.1 (tests/kms.py)."""

from __future__ import annotations

import math
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import Stubber

from dualid import DualId, EventUserData
from dualid.errors import (
    ConfigurationError,
    DecryptionFailed,
    KeyServiceUnavailable,
    MissingKeyError,
)
from dualid.integration.aws_kms import AwsKmsKeyProvider
from dualid.testing import FakeClock, check_key_provider, counting

from .. import kms
from ..support import EVENT, HOST, open_event, rows, seat


def _provider(kms_client: Any, key: str, **kwargs: Any) -> AwsKmsKeyProvider:
    return AwsKmsKeyProvider(key, client=kms_client, **kwargs)


def test_the_provider_keeps_the_key_provider_contract(kms_client: Any, kms_key: str) -> None:
    check_key_provider(_provider(kms_client, kms_key))


def test_an_alias_is_stored_as_its_key_arn(kms_client: Any, tmp_path: Any) -> None:
    arn = kms.new_key(kms_client, alias="alias/dualid-test-alias")
    provider = _provider(kms_client, "alias/dualid-test-alias")
    assert provider.primary_id == arn
    assert len(arn) > 64  # what VARCHAR(64) refused on PostgreSQL
    with DualId.open(f"sqlite:///{tmp_path}/a.db", keys=provider) as sdk:
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        stored = {r[0] for r in rows(sdk, "SELECT master_key_id FROM dualid_agent_key")}
        assert stored == {arn}
        assert sdk.keys.status().in_use == {arn: 2}  # the data key and the root secret


def test_a_uri_names_the_key_and_boto3_finds_the_endpoint(
    kms_client: Any, kms_key: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/u.db"
    with DualId.open(url, keys=f"aws-kms:{kms_key}") as sdk:
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
    monkeypatch.setenv("DUALID_KEYS", f"aws-kms:{kms_key}")
    with DualId.open(url) as sdk:
        assert sdk.profiles.get(agent).name == "Ana"  # type: ignore[union-attr]


def test_a_batch_wrap_is_one_request_and_its_unwrap_one_per_batch_key(
    kms_client: Any, kms_key: str
) -> None:
    provider = _provider(kms_client, kms_key)
    provider.primary_id  # resolved (an ARN: no DescribeKey)
    items = [(bytes([i]) * 32, f"aad-{i}".encode()) for i in range(50)]
    with counting(kms_client) as calls:
        wrapped = provider.wrap_many(items)
    assert calls == {"GenerateDataKey": 1}
    more = provider.wrap_many(items[:10])
    single = provider.wrap(b"s" * 32, b"single")
    triples = [(k, b, a) for (k, b), (_, a) in zip([*wrapped, *more], [*items, *items[:10]])]
    triples.append((*single, b"single"))
    with counting(kms_client) as calls:
        opened = provider.unwrap_many(triples)
    assert opened == [p for p, _ in items] + [p for p, _ in items[:10]] + [b"s" * 32]
    assert calls == {"Decrypt": 3}  # two batch keys and one key wrapped on its own


def test_the_encryption_context_holds_no_agent_id(kms_client: Any, kms_key: str) -> None:
    provider = _provider(kms_client, kms_key)
    sent: list[dict[str, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(params.get("EncryptionContext", {}))

    kms_client.meta.events.register("provide-client-params.kms", record)
    try:
        aad = b"dualid/dek/v1\x1fagt_abcdefghijklmnop\x1f1"
        key_id, blob = provider.wrap(b"k" * 32, aad)
        provider.unwrap(key_id, blob, aad)
    finally:
        kms_client.meta.events.unregister("provide-client-params.kms", record)
    assert sent
    assert all("agt_" not in value for ctx in sent for value in ctx.values())
    assert all(set(ctx) == {"dualid-aad"} for ctx in sent)


def test_moved_between_agents_a_kms_wrapped_key_does_not_open(
    kms_client: Any, kms_key: str
) -> None:
    provider = _provider(kms_client, kms_key)
    key_id, blob = provider.wrap(b"k" * 32, b"dualid/dek/v1\x1fagt_one\x1f1")
    with pytest.raises(DecryptionFailed):
        provider.unwrap(key_id, blob, b"dualid/dek/v1\x1fagt_two\x1f1")


def test_a_key_that_does_not_exist_is_missing(kms_client: Any) -> None:
    with pytest.raises(MissingKeyError):
        _provider(kms_client, "alias/dualid-test-no-such-alias").primary_id


def test_a_signing_key_is_refused(kms_client: Any) -> None:
    meta = kms_client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms_client.create_alias(AliasName="alias/dualid-test-signing", TargetKeyId=meta["Arn"])
    with pytest.raises(ConfigurationError, match="symmetric encryption key"):
        _provider(kms_client, "alias/dualid-test-signing").primary_id


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "KMSInternalException", "DependencyTimeoutException"]
)
def test_throttling_and_service_failures_are_unavailable(
    kms_client: Any, kms_key: str, code: str
) -> None:
    provider = _provider(kms_client, kms_key)
    with Stubber(kms_client) as stub:
        stub.add_client_error("encrypt", service_error_code=code, http_status_code=400)
        with pytest.raises(KeyServiceUnavailable) as caught:
            provider.wrap(b"k" * 32, b"aad")
    assert caught.value.details == {"kms_error": code}
    assert caught.value.retryable


@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "DisabledException",
        "KMSInvalidStateException",
        "InvalidKeyUsageException",
        "UnrecognizedClientException",
    ],
)
def test_a_refused_key_is_a_configuration_error(kms_client: Any, kms_key: str, code: str) -> None:
    # moto does not enforce key policies or states: botocore's Stubber answers as KMS does.
    provider = _provider(kms_client, kms_key)
    with Stubber(kms_client) as stub:
        stub.add_client_error("decrypt", service_error_code=code)
        with pytest.raises(ConfigurationError) as caught:
            provider.unwrap(kms_key, b"\x01" + b"x" * 80, b"aad")
    assert type(caught.value) is ConfigurationError
    assert caught.value.details == {"kms_error": code}


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a KMS that hangs)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_a_kms_that_does_not_answer_is_unavailable(silent_server: int, kms_key: str) -> None:
    client = kms.client(f"http://127.0.0.1:{silent_server}", read_timeout=0.5)
    with pytest.raises(KeyServiceUnavailable) as caught:
        AwsKmsKeyProvider(kms_key, client=client).wrap(b"k" * 32, b"aad")
    assert caught.value.details == {"kms_error": "ReadTimeoutError"}


def test_a_kms_that_is_not_there_is_unavailable(kms_key: str) -> None:
    client = kms.client(f"http://127.0.0.1:{kms.free_port()}")
    with pytest.raises(KeyServiceUnavailable):
        AwsKmsKeyProvider(kms_key, client=client).unwrap(kms_key, b"\x01" + b"x" * 80, b"a")


def test_unknown_key_ids_and_foreign_blobs(kms_client: Any, kms_key: str) -> None:
    provider = _provider(kms_client, kms_key)
    key_id, blob = provider.wrap(b"k" * 32, b"aad")
    with pytest.raises(MissingKeyError):
        provider.unwrap("arn:aws:kms:eu-west-1:000000000000:key/other", blob, b"aad")
    with pytest.raises(DecryptionFailed):
        provider.unwrap(key_id, b"\x07" + blob[1:], b"aad")
    with pytest.raises(DecryptionFailed):
        provider.unwrap(key_id, b"\x02\x00", b"aad")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key_id": ""},
        {"key_id": 5},
        {"key_id": "k" * 2049},
        {"key_id": "k", "previous": [""]},
        {"key_id": "k", "region": ""},
        {"key_id": "k", "endpoint_url": 5},
        {"key_id": "k", "max_concurrency": 0},
        {"key_id": "k", "max_concurrency": True},
    ],
)
def test_bad_arguments(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        AwsKmsKeyProvider(**kwargs)


def test_one_key_configured_twice(kms_client: Any) -> None:
    arn = kms.new_key(kms_client, alias="alias/dualid-test-twice")
    with pytest.raises(ConfigurationError, match="twice"):
        _provider(kms_client, arn, previous=["alias/dualid-test-twice"]).key_ids()


def test_rotation_to_another_kms_key(kms_client: Any, tmp_path: Any) -> None:
    old, new = kms.new_key(kms_client), kms.new_key(kms_client)
    url = f"sqlite:///{tmp_path}/r.db"
    with DualId.open(url, keys=_provider(kms_client, old)) as sdk:
        agents = sdk.identity.agents_for([f"u{i}" for i in range(30)], batch=7)
        sdk.profiles.put(agents["u3"], EventUserData(name="Ana"))
    with DualId.open(url, keys=_provider(kms_client, new, previous=[old])) as sdk:
        with counting(kms_client) as calls:
            report = sdk.keys.rotate(batch=20)
        assert (report.rewrapped, report.remaining) == (31, 0)  # 30 data keys + the root
        # The root secret: one Decrypt and one Encrypt. Each rotation batch (20, then 10
        # keys): one GenerateDataKey, and one Decrypt per onboarding batch key it meets
        # (5 of them: 30 people in batches of 7), not one per data key.
        assert (calls["Encrypt"], calls["GenerateDataKey"]) == (1, 2)
        assert 3 <= calls["Decrypt"] <= 1 + 2 * 5
        assert sdk.keys.status().removable == (old,)
    with DualId.open(url, keys=_provider(kms_client, new)) as sdk:
        assert sdk.profiles.get(agents["u3"]).name == "Ana"  # type: ignore[union-attr]


def test_kms_calls_of_bulk_onboarding_and_host_reads(
    kms_client: Any, kms_key: str, tmp_path: Any
) -> None:
    """The figures bench/bench_kms.py measures at 10,000, here at 120: agents_for makes
    at most ceil(n / batch) KMS calls; a cold attendee list at most one per agent (one per
    batch key, in fact); a warm one none."""
    n, batch = 120, 50
    url = f"sqlite:///{tmp_path}/c.db"
    clock = FakeClock()
    with DualId.open(url, keys=_provider(kms_client, kms_key), clock=clock) as sdk:
        open_event(sdk)
        with counting(kms_client) as calls:
            agents = sdk.identity.agents_for([f"u{i}" for i in range(n)], batch=batch)
        assert sum(calls.values()) == math.ceil(n / batch)
        with counting(kms_client) as calls:
            seat(sdk, agents.values())
        assert sum(calls.values()) == 0  # the new people's keys are cached
    with DualId.open(url, keys=_provider(kms_client, kms_key), clock=clock) as sdk:
        with counting(kms_client) as calls:
            cold = sdk.events.attendees(HOST, EVENT)
        assert len(cold) == n
        assert 1 <= sum(calls.values()) <= math.ceil(n / batch)
        with counting(kms_client) as calls:
            warm = sdk.events.attendees(HOST, EVENT)
        assert sum(calls.values()) == 0
        assert [a.data for a in warm] == [a.data for a in cold]
