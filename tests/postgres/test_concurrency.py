"""Several processes on one PostgreSQL database (as several service instances would be):
one unbroken audit chain (P7), and agent_for race-safe across processes. Each process opens
its own DualId (and so its own engine and connections), started with 'spawn'."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from dualid import DualId, generate_master_key

from . import _workers

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PROCESSES = 4


def _run_all(target: Callable[..., None], args: list[tuple[Any, ...]]) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    barrier = ctx.Barrier(len(args))
    procs = [ctx.Process(target=target, args=(results, barrier, *a)) for a in args]
    for proc in procs:
        proc.start()
    out: dict[str, Any] = {}
    errors: list[str] = []
    try:
        for _ in procs:
            try:
                # A hang guard, not a timing assertion.
                name, status, value = results.get(timeout=300)
            except queue_module.Empty:
                pytest.fail("a worker process did not report back")
            if status == "ok":
                out[name] = value
            else:
                errors.append(f"{name}:\n{value}")
    finally:
        for proc in procs:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.terminate()
    assert errors == [], "\n".join(errors)
    assert all(proc.exitcode == 0 for proc in procs)
    return out


def _count(url: str, sql: str) -> int:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(sql).scalar_one())
    finally:
        engine.dispose()


def test_concurrent_writers_keep_one_chain(postgres_url: str) -> None:
    key = generate_master_key()
    per_worker = 8
    # Workers start on an empty database: they also race through open() and its migration.
    results = _run_all(
        _workers.write_people, [(postgres_url, key, w, per_worker) for w in range(PROCESSES)]
    )
    assert len(results) == PROCESSES
    with DualId.open(postgres_url, keys=key) as sdk:
        report = sdk.audit.verify()
        # One agent.created and one profile.updated per person.
        assert report.ok, report
        assert report.entries == report.head_seq == PROCESSES * per_worker * 2
        seqs = [e.seq for e in sdk.audit.entries()]
        assert seqs == list(range(1, PROCESSES * per_worker * 2 + 1))
        for mapping in results.values():
            for user, agent in mapping.items():
                assert sdk.identity.lookup(user) == agent
                profile = sdk.profiles.get(agent)
                assert profile is not None
                assert profile.name is not None
    assert _count(postgres_url, "SELECT count(*) FROM dualid_secret") == 1


def test_agent_for_races_on_the_same_users(postgres_url: str) -> None:
    key = generate_master_key()
    with DualId.open(postgres_url, keys=key):
        pass  # migrated; the race below is about agent_for only
    users = [f"shared-user-{i}" for i in range(12)]
    results = _run_all(
        _workers.race_agent_for, [(postgres_url, key, w, users) for w in range(PROCESSES)]
    )
    mappings = list(results.values())
    assert len(mappings) == PROCESSES
    assert all(m == mappings[0] for m in mappings), "processes disagree on agentIds"
    assert set(mappings[0]) == set(users)
    assert len(set(mappings[0].values())) == len(users)
    for table in ("dualid_agent", "dualid_agent_key"):
        assert _count(postgres_url, f"SELECT count(*) FROM {table}") == len(users)
    sealed = "SELECT count(*) FROM dualid_sealed WHERE field = 'user_id'"
    assert _count(postgres_url, sealed) == len(users)
    with DualId.open(postgres_url, keys=key) as sdk:
        report = sdk.audit.verify()
        assert report.ok
        assert report.entries == len(users)
        for user, agent in mappings[0].items():
            assert sdk.identity.user_for(agent, actor="test", reason="race") == user


def test_bulk_agents_for_races_on_overlapping_users(postgres_url: str) -> None:
    key = generate_master_key()
    with DualId.open(postgres_url, keys=key):
        pass
    users = [f"bulk-user-{i}" for i in range(30)]
    results = _run_all(
        _workers.race_agents_for, [(postgres_url, key, w, users) for w in range(PROCESSES)]
    )
    mappings = list(results.values())
    assert all(m == mappings[0] for m in mappings), "processes disagree on agentIds"
    assert len(set(mappings[0].values())) == len(users)
    assert _count(postgres_url, "SELECT count(*) FROM dualid_agent") == len(users)
    assert _count(postgres_url, "SELECT count(*) FROM dualid_agent_key") == len(users)
    with DualId.open(postgres_url, keys=key) as sdk:
        report = sdk.audit.verify()
        assert report.ok
        assert report.entries == len(users)
