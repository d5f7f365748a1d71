"""Concurrent grant/revoke on one registration from several processes on PostgreSQL:
a host can never read a revoked field, and the audit chain stays whole."""

from __future__ import annotations

import pytest

from dualid import DataField, DualId, EventType, EventUserData, generate_master_key

from . import _consent_workers
from .test_concurrency import PROCESSES, _count, _run_all

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROUNDS = 6


def _setup(url: str, key: str) -> str:
    with DualId.open(url, keys=key) as sdk:
        agent = sdk.identity.agent_for("user-ana")
        sdk.profiles.put(
            agent, EventUserData(name="Ana", phone_number="+14155552671", email="a@example.com")
        )
        sdk.hosts.register("bistro-7", kind="business", name="Bistro")
        sdk.hosts.require(
            "bistro-7",
            EventType.RESERVATION,
            required={DataField.NAME},
            optional={DataField.EMAIL},
            purpose="booking",
        )
        sdk.events.register(agent, "bistro-7", EventType.RESERVATION, "res-1", share={"name"})
        return agent


def _replay_audit(url: str, key: str) -> None:
    """Replay the audit log (P2 from the log alone): a host read takes no lock and records
    the snapshot it read (``snapshot``: per partition, the newest entry it contains). Every
    read that showed the email must have read a snapshot in which an email grant was
    active, and every read of a snapshot with one active must show it."""
    with DualId.open(url, keys=key) as sdk:
        log = list(sdk.audit.iter())
    reads = [e for e in log if e.action == "host.read_attendees"]
    assert reads
    for read in reads:
        snapshot = read.details["snapshot"]
        active: set[str] = set()
        for entry in log:  # in log-wide order; within a partition that is commit order
            if entry.seq > snapshot[entry.partition]:
                continue  # not in the read's snapshot
            details = entry.details
            if entry.action in ("consent.granted", "registration.created"):
                if "email" in details["fields"]:
                    active.add(details["grant_id"])
            elif entry.action == "consent.revoked":
                active.discard(details["grant_id"])
        assert read.details["snapshot_seq"] < read.seq
        shown = "email" in read.details["fields"]
        assert shown == bool(active), (read.seq, snapshot)


@pytest.mark.parametrize("keep_last", [False, True])
def test_grant_revoke_race(postgres_url: str, keep_last: bool) -> None:
    key = generate_master_key()
    agent = _setup(postgres_url, key)
    results = _run_all(
        _consent_workers.grant_revoke,
        [(postgres_url, key, agent, w, ROUNDS, keep_last and w == 0) for w in range(PROCESSES)],
    )
    _replay_audit(postgres_url, key)
    with DualId.open(postgres_url, keys=key) as sdk:
        (attendee,) = sdk.events.attendees("bistro-7", "res-1")
        active = [g for g in sdk.consent.grants(agent) if DataField.EMAIL in g.fields]
        email_rows = _count(
            postgres_url,
            "SELECT count(*) FROM dualid_shared WHERE (',' || fields || ',') LIKE '%%,email,%%'",
        )
        if keep_last:
            assert [g.id for g in active] == [results["w0"]["last"]]
            assert attendee.data.email == "a@example.com"
            assert email_rows == 1
        else:
            assert active == []
            assert attendee.data.email is None
            assert email_rows == 0  # the shared copy is deleted, not just hidden
        report = sdk.audit.verify()
        assert report.ok, report
        grants = _count(
            postgres_url, "SELECT count(*) FROM dualid_audit WHERE body LIKE '%%consent.granted%%'"
        )
        assert grants == PROCESSES * ROUNDS
