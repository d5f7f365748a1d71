"""Derived-key rotation under real concurrency (issue 16, item 6): processes on one
PostgreSQL database, released together by a barrier, look up, create and register the
same userIds while another rotates the blind-index key again and again; others issue
receipts and checkpoints while the signing keys rotate.

After each race: every call succeeded or lost the one way losing means; every userId has
exactly one agent, the one every caller got; every agent is indexed under the last
generation; the audit log is whole, agrees with the tables (``verify(deep=True)``) and
replays without a P2 violation; everything signed verifies.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from dualid import DataField, DualId, EventType, HostKind, generate_master_key

from . import _rotation_workers as workers
from ._rotation_workers import HOST
from .test_concurrency import _run_all
from .test_lock_protocol import _chain_problems, _log, _p2_violations

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

EXISTING = [f"old-{i}" for i in range(40)]
NEW = [f"new-{i}" for i in range(16)]
ROTATIONS = 3


def _prepare(sdk: DualId) -> None:
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Rotation Bistro")
    sdk.hosts.require(HOST, EventType.RESERVATION, required={DataField.NAME}, purpose="booking")


def _agents_by_user(sdk: DualId) -> Counter[str]:
    """How many agents hold each userId (each agent's sealed userId, opened)."""
    with sdk.store.engine.connect() as conn:
        agent_ids = [r[0] for r in conn.exec_driver_sql("SELECT agent_id FROM dualid_agent")]
    return Counter(sdk.identity.user_for(a, actor="test", reason="count") for a in agent_ids)


def _generations(sdk: DualId) -> dict[int, int]:
    with sdk.store.engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT index_gen, count(*) FROM dualid_agent GROUP BY index_gen"
        ).all()
    return {gen: count for gen, count in found}


def test_no_rotation_begins_while_an_agent_is_being_indexed(postgres_url: str) -> None:
    """The race, step by step. A is creating the agent of "u": it has read the key
    generations (1, no rotation), found no agent and is inserting under generation 1. Now
    a rotation starts and C creates "u" too. If the rotation's start could commit, C would
    read generation 2, find nothing under either key (A has not committed) and insert
    under generation 2: a second agent. It cannot: A read the generations FOR SHARE, the
    rotation waits for A, and C finds A's agent."""
    key = generate_master_key()
    with (
        DualId.open(postgres_url, keys=key) as a,
        DualId.open(postgres_url, keys=key) as rotator,
        DualId.open(postgres_url, keys=key) as c,
    ):
        seeded = a.identity.agents_for(["seed-1", "seed-2"])
        results: dict[str, Any] = {}
        threads: list[threading.Thread] = []

        def run(name: str, call: Any) -> None:
            try:
                results[name] = call()
            except BaseException as exc:  # reported by the assertion below
                results[name] = exc

        def hook(sql: str) -> None:
            if sql.startswith("INSERT INTO dualid_agent (") and not threads:
                for name, call in (
                    ("rotation", rotator.keys.rotate_index),
                    ("c", lambda: c.identity.agent_for("u")),
                ):
                    thread = threading.Thread(target=run, args=(name, call))
                    threads.append(thread)
                    thread.start()
                    # Time for it to commit if it could (it cannot: it waits for A).
                    time.sleep(0.5)

        a.store.hooks.append(hook)
        try:
            got = a.identity.agent_for("u")
        finally:
            a.store.hooks.remove(hook)
        for thread in threads:
            thread.join(60)
        assert len(threads) == 2
        assert results["c"] == got, results
        assert results["rotation"].generation == 2, results
        assert _agents_by_user(a) == Counter({"u": 1, "seed-1": 1, "seed-2": 1})
        assert _generations(a) == {2: 3}
        assert a.identity.lookup_many(["u", *seeded]) == {"u": got, **seeded}


def test_lookups_creations_and_registrations_while_the_index_key_rotates(
    postgres_url: str,
) -> None:
    key = generate_master_key()
    read_events = [f"ev-{u}" for u in EXISTING[:4] + NEW[:4]]
    with DualId.open(postgres_url, keys=key) as sdk:
        _prepare(sdk)
        before = sdk.identity.agents_for(EXISTING)
        for event in read_events:
            sdk.events.create(HOST, event, EventType.RESERVATION)
    outcomes = _run_all(
        workers.play,
        [
            ("rotate_index", postgres_url, key, ROTATIONS),
            *(("use_identities", postgres_url, key, w, EXISTING, NEW) for w in range(3)),
            ("read_attendees", postgres_url, key, read_events),
        ],
    )
    calls = [c for name, value in outcomes.items() if name.startswith("worker") for c in value]
    allowed = {
        "lookup": {"ok"},
        "register_user": {"ok", "DuplicateRegistration"},
        "agent_for": {"ok"},
        "agents_for": {"ok"},
    }
    unexpected = [c for c in calls if c[2] not in allowed[c[1]]]
    assert unexpected == []
    # An existing person is always found, under whichever key they were indexed.
    assert [c for c in calls if c[1] == "lookup" and c[0] in before and c[3] is None] == []
    # Every caller got the one agent of each person.
    seen: dict[str, set[str]] = defaultdict(set)
    for user, name, outcome, value in calls:
        if name != "register_user" and value is not None:
            seen[user].add(value)
    assert {u: len(a) for u, a in seen.items()} == {u: 1 for u in EXISTING + NEW}
    assert all(seen[u] == {a} for u, a in before.items())
    registered = Counter(c[0] for c in calls if c[1] == "register_user" and c[2] == "ok")
    assert registered == Counter(EXISTING + NEW)  # one registration per person and event

    # Each rotation reached the next generation and retired the one before; it re-indexed
    # every agent that existed when it started (the new ones created before that).
    reports = outcomes["rotator"]
    assert [(g, retired) for _, g, retired in reports] == [
        (g, g - 1) for g in range(2, 2 + ROTATIONS)
    ]
    assert all(len(EXISTING) <= n <= len(EXISTING) + len(NEW) for n, _, _ in reports)
    with DualId.open(postgres_url, keys=key) as sdk:
        assert _agents_by_user(sdk) == Counter(EXISTING + NEW)  # exactly one agent each
        assert _generations(sdk) == {1 + ROTATIONS: len(EXISTING) + len(NEW)}
        assert sdk.keys.status().index.generation == 1 + ROTATIONS
        assert sdk.identity.lookup_many(EXISTING + NEW) == {
            u: next(iter(a)) for u, a in seen.items()
        }
        log = _log(sdk)
        created = Counter(e.subject for e in log if e.action == "agent.created")
        assert len(created) == len(EXISTING) + len(NEW)
        assert set(created.values()) == {1}
        keys_entries = [e for e in log if e.action.startswith("keys.")]
        actions = Counter(e.action for e in keys_entries)
        assert actions["keys.index_rotation_started"] == ROTATIONS
        assert actions["keys.index_rotation_finished"] == ROTATIONS
        reindexed = sum(
            e.details["count"] for e in keys_entries if e.action == "keys.index_rotated"
        )
        assert reindexed == sum(r[0] for r in outcomes["rotator"])
        for entry in keys_entries:  # no person in them
            assert entry.subject is None
            text = json.dumps(dict(entry.details))
            assert "agt_" not in text
            assert not any(u in text for u in EXISTING + NEW)
        assert _chain_problems(sdk) == []
        report = sdk.audit.verify(deep=True)
        assert report.ok, report
        p2, _ = _p2_violations(log)
        assert p2 == []


def test_receipts_and_checkpoints_while_the_signing_keys_rotate(postgres_url: str) -> None:
    """Every receipt and checkpoint signed during the race verifies afterwards, under the
    key generation that signed it: none is signed by a key after its retirement (the
    signer holds the key's row shared until it commits; the rotation waits)."""
    key = generate_master_key()
    with DualId.open(postgres_url, keys=key) as sdk:
        _prepare(sdk)
        grants = []
        for i in range(6):
            agent = sdk.identity.agent_for(f"signed-{i}")
            grant = sdk.consent.grant(agent, HOST, fields={DataField.NAME}, purpose="booking")
            grants.append(grant.id)
    outcomes = _run_all(
        workers.play,
        [
            ("rotate_signing", postgres_url, key, ROTATIONS),
            *(("sign", postgres_url, key, w, grants) for w in range(3)),
        ],
    )
    assert outcomes["signing-rotator"] == [g for g in range(2, 2 + ROTATIONS) for _ in (0, 1)]
    with DualId.open(postgres_url, keys=key) as sdk:
        receipt_keys = {k.key_id: k.generation for k in sdk.consent.receipt_public_keys()}
        assert sorted(receipt_keys.values()) == list(range(1, 2 + ROTATIONS))
        assert len(sdk.audit.public_keys()) == 1 + ROTATIONS
        signed_by: Counter[int] = Counter()
        for name, value in outcomes.items():
            if not name.startswith("signer"):
                continue
            receipts, checkpoints = value
            for receipt in receipts:
                assert sdk.consent.verify_receipt(receipt), receipt["signing_key_id"]
                signed_by[receipt_keys[receipt["signing_key_id"]]] += 1
            for note in checkpoints:
                report = sdk.audit.verify(checkpoint=note)
                assert report.ok, report
        assert sum(signed_by.values()) == 3 * len(grants)
        assert _chain_problems(sdk) == []
        latest = sdk.audit.latest_checkpoint()
        assert latest is not None
        assert sdk.audit.verify().ok
