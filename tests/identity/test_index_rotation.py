"""Blind-index key rotation (``sdk.keys.rotate_index``, issue 16 item 6): every agent
re-indexed under a new key, online (lookups and new agents meanwhile), resumable, audited,
with a process that has the old generations cached; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dualid import DualId, EventType, EventUserData, HostKind
from dualid.errors import InvalidInput
from dualid.keys import IndexKeyStatus
from dualid.testing import FakeClock

from ..support import rows, snapshot

USERS = [f"user-{i}" for i in range(23)]


class Stop(Exception):
    """Raised by a progress callback: the rotation is interrupted between batches."""


@pytest.fixture
def people(sdk: DualId) -> dict[str, str]:
    agents = sdk.identity.agents_for(USERS)
    for user, agent in list(agents.items())[:5]:
        sdk.profiles.put(agent, EventUserData(name=f"Name of {user}"))
    return agents


def _indexes(sdk: DualId) -> dict[str, tuple[bytes, int]]:
    return {
        agent: (bytes(index), gen)
        for agent, index, gen in rows(
            sdk, "SELECT agent_id, user_index, index_gen FROM dualid_agent"
        )
    }


def _stop_after(batches: int) -> object:
    calls = []

    def progress(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == batches:
            raise Stop

    return progress


def _found_everyone(sdk: DualId, agents: dict[str, str]) -> None:
    for user, agent in agents.items():
        assert sdk.identity.lookup(user) == agent
        assert sdk.identity.agent_for(user) == agent
    assert sdk.identity.lookup_many(list(agents)) == agents
    assert sdk.identity.agents_for(list(agents), batch=4) == agents


def test_rotation_reindexes_every_agent_and_changes_nothing_else(
    sdk: DualId, people: dict[str, str]
) -> None:
    before = _indexes(sdk)
    assert {gen for _, gen in before.values()} == {1}
    sealed = snapshot(sdk)["sealed_blobs"]
    report = sdk.keys.rotate_index(batch=5)
    assert (report.reindexed, report.generation, report.retired) == (len(USERS), 2, 1)
    after = _indexes(sdk)
    assert set(after) == set(before)
    assert {gen for _, gen in after.values()} == {2}
    # Every index changed (a new key), none is any agent's old one.
    assert not {i for i, _ in after.values()} & {i for i, _ in before.values()}
    assert snapshot(sdk)["sealed_blobs"] == sealed  # no ciphertext is touched
    _found_everyone(sdk, people)
    assert sdk.keys.status().index == IndexKeyStatus(2, None, 0)
    assert sdk.audit.verify(deep=True).ok


def test_the_new_key_is_a_wrapped_secret_and_the_retired_one_is_destroyed(
    sdk: DualId, people: dict[str, str]
) -> None:
    sdk.keys.rotate_index()
    secrets = {name for (name,) in rows(sdk, "SELECT name FROM dualid_secret")}
    assert secrets == {"root", "blind-index/2"}
    sdk.keys.rotate_index()
    secrets = {name for (name,) in rows(sdk, "SELECT name FROM dualid_secret")}
    assert secrets == {"root", "blind-index/3"}  # generation 2's secret is gone with it
    states = rows(
        sdk,
        "SELECT generation, state, retired_at IS NOT NULL FROM dualid_key_generation"
        " WHERE purpose = 'blind-index' ORDER BY generation",
    )
    assert [tuple(r) for r in states] == [
        (1, "retired", True),
        (2, "retired", True),
        (3, "active", False),
    ]
    _found_everyone(sdk, people)


def test_interrupted_it_resumes_and_run_again_it_does_nothing(
    sdk: DualId, people: dict[str, str]
) -> None:
    with pytest.raises(Stop):
        sdk.keys.rotate_index(batch=4, progress=_stop_after(2))
    # Two batches committed, the rest still under generation 1: a rotation is running.
    status = sdk.keys.status().index
    assert status == IndexKeyStatus(2, 1, len(USERS) - 8)
    assert status.rotating
    gens = [gen for _, gen in _indexes(sdk).values()]
    assert (gens.count(1), gens.count(2)) == (len(USERS) - 8, 8)
    _found_everyone(sdk, people)  # agents under either key are found

    seen: list[tuple[int, int]] = []
    resumed = sdk.keys.rotate_index(batch=4, progress=lambda d, t: seen.append((d, t)))
    assert (resumed.reindexed, resumed.generation, resumed.retired) == (len(USERS) - 8, 2, 1)
    assert seen[-1] == (len(USERS) - 8, len(USERS) - 8)
    assert sdk.keys.status().index == IndexKeyStatus(2, None, 0)

    nothing = snapshot(sdk)
    again = sdk.keys.rotate_index(to=2)
    assert (again.reindexed, again.generation, again.retired) == (0, 2, None)
    assert snapshot(sdk) == nothing  # not even an audit entry
    _found_everyone(sdk, people)


def test_to_names_the_generation_to_reach(sdk: DualId, people: dict[str, str]) -> None:
    nothing = snapshot(sdk)
    with pytest.raises(InvalidInput, match="next one is 2"):
        sdk.keys.rotate_index(to=3)
    assert snapshot(sdk) == nothing
    assert sdk.keys.rotate_index(to=1).reindexed == 0  # there already
    with pytest.raises(Stop):
        sdk.keys.rotate_index(to=2, batch=3, progress=_stop_after(1))
    with pytest.raises(InvalidInput, match="rotation to generation 2 is running"):
        sdk.keys.rotate_index(to=3)
    assert sdk.keys.rotate_index(to=2).generation == 2
    assert sdk.keys.rotate_index(to=3).retired == 2


def test_agents_created_during_a_rotation_are_indexed_under_the_new_key(
    sdk: DualId, people: dict[str, str]
) -> None:
    with pytest.raises(Stop):
        sdk.keys.rotate_index(batch=5, progress=_stop_after(1))
    sdk.hosts.register("h1", kind=HostKind.BUSINESS, name="H")
    sdk.hosts.require("h1", EventType.RESERVATION, required={"name"}, purpose="booking")
    fresh = sdk.identity.agent_for("newcomer-1")
    bulk = sdk.identity.agents_for(["newcomer-2", "newcomer-3", USERS[-1]])
    reg = sdk.events.register_user(
        "newcomer-4", "h1", "reservation", "res-1", share={"name"}, data=EventUserData(name="N")
    )
    # An existing person registering during the rotation keeps their agent.
    old = sdk.events.register_user(
        USERS[-2], "h1", "reservation", "res-1", share={"name"}, data=EventUserData(name="O")
    )
    indexes = _indexes(sdk)
    assert indexes[fresh][1] == 2
    assert all(indexes[bulk[u]][1] == 2 for u in ("newcomer-2", "newcomer-3"))
    assert bulk[USERS[-1]] == people[USERS[-1]]
    assert indexes[sdk.identity.lookup("newcomer-4") or ""][1] == 2
    newcomer = sdk.identity.lookup("newcomer-4")
    assert newcomer is not None
    assert [r.id for r in sdk.events.registrations(newcomer)] == [reg.id]
    assert [r.id for r in sdk.events.registrations(people[USERS[-2]])] == [old.id]
    assert len(indexes) == len(USERS) + 4  # nobody got a second agent
    sdk.keys.rotate_index()
    assert {gen for _, gen in _indexes(sdk).values()} == {2}
    everyone = {
        **people,
        **{f"newcomer-{i}": sdk.identity.lookup(f"newcomer-{i}") for i in range(1, 5)},
    }
    _found_everyone(sdk, everyone)  # type: ignore[arg-type]


def test_a_process_with_the_old_keys_cached_finds_and_creates_correctly(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    with DualId.open(db_url, keys=master_key, clock=clock) as stale:
        agents = stale.identity.agents_for(USERS[:6])
        assert stale.identity.lookup(USERS[0]) == agents[USERS[0]]  # generation 1 cached
        with DualId.open(db_url, keys=master_key, clock=clock) as other:
            other.keys.rotate_index(batch=2)
            other.keys.rotate_index(batch=2)  # generation 3: generation 2's secret is gone
        # The stale process still believes in generation 1: a miss makes it read again.
        for user, agent in agents.items():
            assert stale.identity.lookup(user) == agent
        assert stale.identity.agent_for(USERS[1]) == agents[USERS[1]]
        newcomer = stale.identity.agent_for("newcomer")
        assert stale.identity.lookup("nobody") is None
        assert _indexes(stale)[newcomer][1] == 3
        assert len(_indexes(stale)) == 7


def test_a_stale_process_mid_rotation_creates_no_second_agent(
    db_url: str, master_key: str, clock: FakeClock
) -> None:
    with DualId.open(db_url, keys=master_key, clock=clock) as stale:
        agents = stale.identity.agents_for(USERS[:6])
        with DualId.open(db_url, keys=master_key, clock=clock) as other, pytest.raises(Stop):
            other.keys.rotate_index(batch=2, progress=_stop_after(1))
        moved = [a for a, (_, gen) in _indexes(stale).items() if gen == 2]
        assert len(moved) == 2
        for user, agent in agents.items():  # moved or not, under the cached key or not
            assert stale.identity.agent_for(user) == agent
            assert stale.identity.lookup_many([user]) == {user: agent}
        assert stale.identity.agents_for([*agents, "newcomer"])["newcomer"]
        assert len(_indexes(stale)) == 7
        stale.keys.rotate_index()
        assert stale.keys.status().index == IndexKeyStatus(2, None, 0)


def test_each_step_is_audited_without_people_in_it(sdk: DualId, people: dict[str, str]) -> None:
    sdk.keys.rotate_index(batch=10)
    entries = [e for e in sdk.audit.entries() if e.action.startswith("keys.")]
    assert [(e.action, dict(e.details)) for e in entries] == [
        ("keys.index_rotation_started", {"generation": 2, "replaces": 1}),
        ("keys.index_rotated", {"count": 10, "generation": 2}),
        ("keys.index_rotated", {"count": 10, "generation": 2}),
        ("keys.index_rotated", {"count": 3, "generation": 2}),
        ("keys.index_rotation_finished", {"generation": 2, "retired": 1}),
    ]
    for entry in entries:
        assert entry.subject is None
        assert entry.host_id is None
        text = json.dumps(dict(entry.details))
        assert "agt_" not in text
        assert not any(user in text for user in USERS)
    assert sdk.audit.verify(deep=True).ok


def test_an_erasure_during_a_rotation(sdk: DualId, people: dict[str, str]) -> None:
    with pytest.raises(Stop):
        sdk.keys.rotate_index(batch=5, progress=_stop_after(1))
    pending = [a for a, (_, gen) in _indexes(sdk).items() if gen == 1]
    done = [a for a, (_, gen) in _indexes(sdk).items() if gen == 2]
    sdk.erase(pending[0])
    sdk.erase(done[0])
    assert sdk.keys.rotate_index().reindexed == len(USERS) - 5 - 1
    user = next(u for u, a in people.items() if a == pending[0])
    assert sdk.identity.lookup(user) is None
    again = sdk.identity.agent_for(user)  # a new agent, under the new key
    assert again != pending[0]
    assert _indexes(sdk)[again][1] == 2


def test_no_userid_in_the_database_after_rotation(sdk: DualId, people: dict[str, str]) -> None:
    sdk.keys.rotate_index()
    dump = b"".join(
        bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
        for table in ("dualid_agent", "dualid_secret", "dualid_key_generation", "dualid_audit")
        for row in rows(sdk, f"SELECT * FROM {table}")
        for v in row
    )
    assert not any(user.encode() in dump for user in USERS)


@pytest.fixture
def two(db_url: str, master_key: str, clock: FakeClock) -> Iterator[tuple[DualId, DualId]]:
    with (
        DualId.open(db_url, keys=master_key, clock=clock) as a,
        DualId.open(db_url, keys=master_key, clock=clock) as b,
    ):
        yield a, b


def test_two_rotations_at_once_share_the_work(two: tuple[DualId, DualId]) -> None:
    a, b = two
    agents = a.identity.agents_for(USERS)
    with pytest.raises(Stop):
        a.keys.rotate_index(batch=3, progress=_stop_after(1))
    # Another instance resumes the same rotation; a third call finds it finished.
    resumed = b.keys.rotate_index(batch=3)
    assert (resumed.reindexed, resumed.retired) == (len(USERS) - 3, 1)
    late = a.keys.rotate_index(to=2)
    assert (late.reindexed, late.retired) == (0, None)
    _found_everyone(a, agents)
    _found_everyone(b, agents)
