"""A KMS outage: moto's server in a process of its own, killed mid-run. Every operation
that needs the KMS fails with KeyServiceUnavailable (HTTP 503 with Retry-After) and
writes nothing; data keys already cached in a process keep serving its reads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.errors import KeyServiceUnavailable
from dualid.integration.aws_kms import AwsKmsKeyProvider
from dualid.testing import FakeClock

from .. import kms
from ..fastapi.conftest import host_headers, make_app, user_headers
from ..support import snapshot

HOST, EVENT = "bistro-7", "dinner-1"


@pytest.fixture
def moto_process() -> Iterator[kms.MotoProcess]:
    kms.require_moto()
    server = kms.MotoProcess()
    yield server
    server.stop()


def test_an_outage_mid_run_gives_503s_and_no_partial_writes(
    moto_process: kms.MotoProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in kms.AWS_ENV.items():
        monkeypatch.setenv(name, value)
    client = kms.client(moto_process.url)
    key = kms.new_key(client)
    url = f"sqlite:///{tmp_path}/outage.db"
    clock = FakeClock()
    # `cold` caches nothing (every operation needs the KMS); `warm` caches as by default.
    cold = DualId.open(
        url, keys=AwsKmsKeyProvider(key, client=client), clock=clock, dek_cache_size=0
    )
    warm = DualId.open(url, keys=AwsKmsKeyProvider(key, client=client), clock=clock)
    try:
        cold.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro")
        cold.hosts.require(HOST, EventType.RESERVATION, required={DataField.NAME}, purpose="table")
        agents = cold.identity.agents_for(["ana", "ben", "cy"])
        for user in ("ana", "ben"):
            cold.events.register(
                agents[user],
                HOST,
                EventType.RESERVATION,
                EVENT,
                share={DataField.NAME},
                data=EventUserData(name=user),
            )
        warm_view = warm.events.attendees(HOST, EVENT)  # caches ana's and ben's keys
        assert len(warm_view) == 2

        moto_process.stop()  # the KMS goes away
        before = snapshot(cold)

        with pytest.raises(KeyServiceUnavailable):
            cold.identity.agents_for(["dee", "eve"])  # wrapping new keys
        with pytest.raises(KeyServiceUnavailable):
            cold.identity.agent_for("fay")
        with pytest.raises(KeyServiceUnavailable):
            cold.profiles.put(agents["cy"], EventUserData(name="Cy"))  # unwrapping
        with pytest.raises(KeyServiceUnavailable):
            cold.events.register(
                agents["cy"],
                HOST,
                EventType.RESERVATION,
                EVENT,
                share={DataField.NAME},
                data=EventUserData(name="Cy"),
            )
        with pytest.raises(KeyServiceUnavailable):
            cold.events.attendees(HOST, EVENT)
        with pytest.raises(KeyServiceUnavailable):
            cold.identity.user_for(agents["ana"], actor="support", reason="ticket 1")

        # Imported after tests.fastapi.conftest, which silences Starlette's httpx warning.
        from starlette.testclient import TestClient

        app = make_app(cold)
        with TestClient(app) as http, pytest.MonkeyPatch.context() as quiet:
            quiet.setattr(logging.getLogger("dualid.fastapi"), "disabled", True)
            answers = [
                http.put("/v1/me/profile", json={"name": "Gus"}, headers=user_headers("gus")),
                http.post(
                    "/v1/me/registrations",
                    json={
                        "hostId": HOST,
                        "eventType": "reservation",
                        "eventId": EVENT,
                        "share": ["name"],
                        "data": {"name": "Cy"},
                    },
                    headers=user_headers("cy"),
                ),
                http.get(f"/v1/hosts/me/events/{EVENT}/attendees", headers=host_headers(HOST)),
            ]
        for resp in answers:
            assert resp.status_code == 503, resp.text
            assert resp.json()["code"] == "KEY_SERVICE_UNAVAILABLE"
            assert int(resp.headers["retry-after"]) > 0

        assert snapshot(cold) == before  # nothing written, not even an audit entry
        report = cold.audit.verify()
        assert report.ok, report
        assert cold.identity.lookup("dee") is None
        assert cold.identity.lookup("gus") is None

        # The warm instance still serves what it cached (an audited host read), and
        # nothing else.
        assert [a.data.name for a in warm.events.attendees(HOST, EVENT)] == [
            a.data.name for a in warm_view
        ]
        assert warm.audit.entries()[-1].action == "host.read_attendees"
        before = snapshot(cold)
        with pytest.raises(KeyServiceUnavailable):
            warm.profiles.put(agents["cy"], EventUserData(name="Cy"))
        assert snapshot(cold) == before
    finally:
        cold.close()
        warm.close()
