"""The audit log has no single point every writer waits on (issue 14): a transaction that
has appended an entry for person A holds only A's partition; a grant for person B in
another partition commits meanwhile, while one for a person in A's partition waits. And
several processes writing at once across partitions leave every partition's chain whole,
provable against one checkpoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key
from dualid.audit import append, verify_inclusion
from dualid.audit._chain import partition_of
from dualid.testing import FakeClock

from . import _workers
from .test_concurrency import PROCESSES, _run_all

pytestmark = [pytest.mark.postgres]

HOST = "bistro-7"


@pytest.fixture
def pg(postgres_url: str) -> Iterator[tuple[DualId, DualId]]:
    key = generate_master_key()
    first = DualId.open(postgres_url, keys=key, clock=FakeClock(), lock_timeout=20)
    second = DualId.open(postgres_url, keys=key, clock=FakeClock(), lock_timeout=20)
    try:
        first.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro")
        first.hosts.require(
            HOST,
            EventType.RESERVATION,
            required={DataField.NAME},
            optional={DataField.EMAIL},
            purpose="table booking",
        )
        yield first, second
    finally:
        first.close()
        second.close()


def _person_in(sdk: DualId, *, same_as: int | None, other_than: int | None) -> tuple[str, int]:
    for i in range(1000):
        agent = sdk.identity.agent_for(f"person-{i}-{same_as}-{other_than}")
        part = partition_of(agent, None, sdk.store.audit_partitions)
        if (same_as is None or part == same_as) and (other_than is None or part != other_than):
            return agent, part
    raise AssertionError("no agent in the wanted partition")


def _grant_in_thread(sdk: DualId, agent: str) -> tuple[threading.Thread, threading.Event]:
    done = threading.Event()

    def run() -> None:
        sdk.events.register(agent, HOST, EventType.RESERVATION, f"res-{agent[-6:]}", share={"name"})
        done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_a_writer_of_another_partition_does_not_wait(pg: tuple[DualId, DualId]) -> None:
    holder, other = pg
    assert holder.store.audit_partitions == 16
    a, part_a = _person_in(holder, same_as=None, other_than=None)
    b, _ = _person_in(holder, same_as=None, other_than=part_a)
    c, _ = _person_in(holder, same_as=part_a, other_than=None)
    for agent in (a, b, c):
        holder.profiles.put(agent, EventUserData(name="Ana"))
    release = threading.Event()
    appended = threading.Event()

    def hold() -> None:
        with holder._rt.write() as tx:
            append(tx.conn, tx.now, "test.held", subject=a)
            appended.set()
            release.wait(30)

    holding = threading.Thread(target=hold, daemon=True)
    holding.start()
    assert appended.wait(20)
    try:
        b_thread, b_done = _grant_in_thread(other, b)
        c_thread, c_done = _grant_in_thread(other, c)
        # B's registration and grant commit while A's transaction is still open ...
        assert b_done.wait(15), "a writer of another partition waited on A's transaction"
        # ... C's (A's partition) waits for it: the test would fail with one shared head
        assert not c_done.wait(1.0)
    finally:
        release.set()
    holding.join(20)
    assert c_done.wait(20)
    b_thread.join(5)
    c_thread.join(5)
    assert holder.audit.verify().ok


def test_processes_writing_across_partitions_leave_every_chain_whole(
    postgres_url: str,
) -> None:
    key = generate_master_key()
    with DualId.open(postgres_url, keys=key) as sdk:
        sdk.identity.agent_for("warm-up")
    per_worker = 40
    out = _run_all(
        _workers.write_people, [(postgres_url, key, i, per_worker) for i in range(PROCESSES)]
    )
    assert len(out) == PROCESSES
    with DualId.open(postgres_url, keys=key) as sdk:
        report = sdk.audit.verify()
        assert report.ok, report
        assert report.entries == 1 + PROCESSES * per_worker * 2
        cp = sdk.audit.checkpoint()
        assert cp.size == report.entries
        used = [h for h in cp.partitions if h.size]
        assert len(used) > 4  # the writers really were spread
        public = sdk.audit.public_key()
        for entry in sdk.audit.entries(limit=50):
            assert verify_inclusion(entry, sdk.audit.prove(entry.seq, cp), cp, public)
        assert sdk.audit.verify(checkpoint=cp).ok
