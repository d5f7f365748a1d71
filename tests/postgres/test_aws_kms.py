"""A store on PostgreSQL with its master key in AWS KMS (moto's server on 127.0.0.1): key
ARNs longer than the old VARCHAR(64) stored, bulk onboarding, host reads and rotation
between KMS keys; and several processes (each its own DualId and boto3 client, all on
``aws-kms:<arn>``) racing bulk onboarding and profile writes on the same people."""

from __future__ import annotations

import math
from typing import Any

import pytest

from dualid import DualId
from dualid.integration.aws_kms import AwsKmsKeyProvider
from dualid.testing import counting

from .. import kms
from ..support import EVENT, HOST, names, open_event, seat
from . import _workers
from .test_concurrency import PROCESSES, _count, _run_all

pytestmark = [pytest.mark.postgres]


def test_a_postgresql_store_on_aws_kms(postgres_url: str, kms_client: Any) -> None:
    old = kms.new_key(kms_client, alias="alias/dualid-pg-old")
    new = kms.new_key(kms_client)
    provider = AwsKmsKeyProvider("alias/dualid-pg-old", client=kms_client)
    with DualId.open(postgres_url, keys=provider) as sdk:
        open_event(sdk)
        with counting(kms_client) as calls:
            agents = sdk.identity.agents_for([f"u{i}" for i in range(40)], batch=16)
        assert calls == {"GenerateDataKey": math.ceil(40 / 16)}
        seat(sdk, agents.values())
        assert sdk.keys.status().in_use == {old: 41}
        assert len(old) > 64
    with DualId.open(postgres_url, keys=AwsKmsKeyProvider(old, client=kms_client)) as sdk:
        with counting(kms_client) as calls:
            seen = names(sdk)
        assert seen == sorted(f"P{i}" for i in range(40))
        assert calls == {"Decrypt": math.ceil(40 / 16)}  # one per batch key, cold
    rotated = AwsKmsKeyProvider(new, client=kms_client, previous=[old])
    with DualId.open(postgres_url, keys=rotated) as sdk:
        report = sdk.keys.rotate(batch=25)
        assert (report.rewrapped, report.remaining) == (41, 0)
        assert sdk.keys.status().removable == (old,)
    with DualId.open(postgres_url, keys=AwsKmsKeyProvider(new, client=kms_client)) as sdk:
        assert len(sdk.events.attendees(HOST, EVENT)) == 40
        assert sdk.audit.verify().ok


def test_processes_race_bulk_onboarding_on_aws_kms(postgres_url: str, kms_key: str) -> None:
    users = [f"shared-{i}" for i in range(40)]
    keys = f"aws-kms:{kms_key}"  # each process makes its own client (AWS_ENDPOINT_URL_KMS)
    results = _run_all(
        _workers.race_agents_for, [(postgres_url, keys, w, users) for w in range(PROCESSES)]
    )
    mappings = list(results.values())
    assert all(m == mappings[0] for m in mappings), "processes disagree on agentIds"
    assert _count(postgres_url, "SELECT count(*) FROM dualid_agent") == len(users)
    assert _count(
        postgres_url,
        f"SELECT count(*) FROM dualid_agent_key WHERE master_key_id = '{kms_key}'",
    ) == len(users)
    with DualId.open(postgres_url, keys=keys) as sdk:
        report = sdk.audit.verify()
        assert report.ok, report
        assert report.entries == len(users)
        for user, agent in mappings[0].items():
            assert sdk.identity.user_for(agent, actor="test", reason="race") == user


def test_processes_write_profiles_on_aws_kms(postgres_url: str, kms_key: str) -> None:
    keys = f"aws-kms:{kms_key}"
    per_worker = 6
    results = _run_all(
        _workers.write_people, [(postgres_url, keys, w, per_worker) for w in range(PROCESSES)]
    )
    with DualId.open(postgres_url, keys=keys) as sdk:
        report = sdk.audit.verify()
        assert report.ok, report
        assert report.entries == PROCESSES * per_worker * 2
        for worker, mapping in enumerate(sorted(results)):
            for user, agent in results[mapping].items():
                w, i = user.removeprefix("w").split("-user-")
                assert sdk.profiles.get(agent).name == f"Person {w}/{i}"  # type: ignore[union-attr]
