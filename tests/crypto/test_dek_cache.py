"""The in-process cache of unwrapped data keys (crypto._ring.DekCache): bounded in number
and age, exact to the stored row (or, for the host view, to the agent and key version its
copies name), dropped on erasure, and never able to open anything erased or withdrawn.
FakeKms counts the key-service calls."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import pytest

from dualid import DualId, EventUserData
from dualid.errors import InvalidInput, UnknownAgent
from dualid.testing import FakeClock, FakeKms

from ..support import EVENT, HOST, names, open_event, seat, statement_hook


def _people(sdk: DualId, n: int) -> list[str]:
    open_event(sdk)
    agents = list(sdk.identity.agents_for([f"u{i}" for i in range(n)]).values())
    seat(sdk, agents)
    return agents


def _unwraps(kms: FakeKms) -> int:
    return kms.calls["unwrap"] + kms.calls["unwrap_many"]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cache.db"


def test_a_warm_host_read_calls_no_key_service(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        _people(sdk, 20)
    with DualId.open(url, keys=kms, clock=clock) as sdk:  # a new process: cold
        kms.reset_counts()
        cold = sdk.events.attendees(HOST, EVENT)
        assert kms.calls == {"unwrap_many": 1}  # the whole list in one batch call
        warm = sdk.events.attendees(HOST, EVENT)
        assert kms.calls == {"unwrap_many": 1}
        assert [a.data for a in warm] == [a.data for a in cold]
        assert len(sdk._rt.provider.cache) == 20


def test_new_peoples_keys_are_cached_as_they_are_made(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        kms.reset_counts()
        _people(sdk, 5)  # one batch wrap, then five writes that need the keys
        assert kms.calls == {"wrap_many": 1}
        agent = sdk.identity.agent_for("someone-new")
        sdk.profiles.put(agent, EventUserData(name="New"))
        assert kms.calls == {"wrap_many": 2}


def test_the_cache_holds_at_most_its_size(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock, dek_cache_size=3) as sdk:
        agents = _people(sdk, 5)
        cache = sdk._rt.provider.cache
        assert len(cache) == 3
        kms.reset_counts()
        sdk.events.attendees(HOST, EVENT)
        assert len(cache) == 3
        assert kms.calls == {"unwrap_many": 1}
        # Two of the five are not held: writing for one of them unwraps its key.
        evicted = [a for a in agents if a not in cache._entries]
        assert len(evicted) == 2
        kms.reset_counts()
        sdk.profiles.put(evicted[0], EventUserData(name="again"))
        assert _unwraps(kms) == 1
        assert evicted[0] in cache._entries


def test_an_entry_is_served_for_at_most_its_age(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock, dek_cache_max_age=60) as sdk:
        agents = _people(sdk, 4)
        kms.reset_counts()
        clock.advance(timedelta(seconds=59))
        sdk.events.attendees(HOST, EVENT)
        assert _unwraps(kms) == 0
        clock.advance(timedelta(seconds=2))  # 61 s after the keys were made
        sdk.profiles.put(agents[1], EventUserData(name="x"))  # the expiry sweep runs
        assert len(sdk._rt.provider.cache) == 1  # only the one just unwrapped again
        sdk.events.attendees(HOST, EVENT)
        assert _unwraps(kms) == 2  # agents[1] alone, then the other three in one batch


def test_a_clock_that_goes_back_empties_the_cache(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        _people(sdk, 3)
        clock.set(clock.now().time - timedelta(hours=1))
        kms.reset_counts()
        sdk.events.attendees(HOST, EVENT)
        assert kms.calls == {"unwrap_many": 1}


def test_size_zero_turns_it_off(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock, dek_cache_size=0) as sdk:
        _people(sdk, 3)
        kms.reset_counts()
        sdk.events.attendees(HOST, EVENT)
        sdk.events.attendees(HOST, EVENT)
        assert kms.calls == {"unwrap_many": 2}
        assert len(sdk._rt.provider.cache) == 0


def test_a_rewrapped_key_is_not_served_stale(url: str, clock: FakeClock) -> None:
    kms = FakeKms("kms/old")
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        agents = _people(sdk, 4)
        kms.rotate_to("kms/new")
        sdk.keys.rotate()
        kms.remove_key("kms/old")
        kms.reset_counts()
        # A re-wrapped key is the same data key: the host view, which asks the cache by
        # agent and key version (the copies name theirs), is served without a call.
        assert names(sdk) == ["P0", "P1", "P2", "P3"]
        assert kms.calls == {}
        # A row-exact reader finds the entry naming the old wrapping and unwraps the
        # stored row under the new key (the old one could not have been asked any more).
        sdk.profiles.put(agents[0], EventUserData(name="Ana"))
        assert kms.calls == {"unwrap_many": 1}
        assert sdk.profiles.get(agents[0]).name == "Ana"  # type: ignore[union-attr]
        assert kms.calls == {"unwrap_many": 1}  # now cached for exactly the new row
    with DualId.open(url, keys=kms, clock=clock) as sdk:  # cold: all under the new key
        assert names(sdk) == ["P0", "P1", "P2", "P3"]


def test_a_warm_host_read_reads_no_key_rows(url: str, clock: FakeClock) -> None:
    """The host view asks the cache by the agent and key version its copies name, so a
    warm page reads no ``dualid_agent_key`` row; a cold one reads them (by agent when few
    are missing, by the page's range when many are) and unwraps them in one call."""
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        agents = _people(sdk, 60)
    for cold_limit, by_range in ((3, False), (60, True)):
        with DualId.open(url, keys=kms, clock=clock) as sdk:  # a new process: cold
            seen: list[str] = []
            kms.reset_counts()
            with statement_hook(sdk, seen.append):
                page = sdk.events.attendees_page(HOST, EVENT, limit=cold_limit)
            key_reads = [s for s in seen if "dualid_agent_key" in s]
            assert len(key_reads) == 1
            assert ("JOIN dualid_agent_key" in key_reads[0]) is by_range
            assert kms.calls == {"unwrap_many": 1}
            assert len(sdk._rt.provider.cache) == cold_limit
            seen.clear()
            with statement_hook(sdk, seen.append):
                again = sdk.events.attendees_page(HOST, EVENT, limit=cold_limit)
                body = sdk.events.attendees_page_json(HOST, EVENT, limit=cold_limit)
            assert not [s for s in seen if "dualid_agent_key" in s]
            assert kms.calls == {"unwrap_many": 1}
            assert [a.data.name for a in again.items] == [a.data.name for a in page.items]
            assert body.count(b'"name"') == cold_limit
            assert len(agents) == 60


def test_the_cache_by_version_answers_only_that_agent_and_version(clock: FakeClock) -> None:
    from dualid.crypto._ring import DekCache

    cache = DekCache(10, timedelta(seconds=60), lambda: clock.now().time)
    dek_a, dek_b = object(), object()
    cache.put([(("agt_a", "k1", 1, b"wa"), dek_a), (("agt_b", "k1", 1, b"wb"), dek_b)])  # type: ignore[list-item]
    hits, misses = cache.take_versions({"agt_a": 1, "agt_b": 2, "agt_c": 1, "agt_d": None})
    assert hits == {"agt_a": dek_a}
    assert misses == ["agt_b", "agt_c", "agt_d"]
    clock.advance(timedelta(seconds=61))  # past its age: nothing is served
    assert cache.take_versions({"agt_a": 1}) == ({}, ["agt_a"])
    off = DekCache(0, timedelta(0), lambda: clock.now().time)
    assert off.take_versions({"agt_a": 1}) == ({}, ["agt_a"])


def test_erasure_drops_the_key_from_the_cache(url: str, clock: FakeClock) -> None:
    kms = FakeKms()
    with DualId.open(url, keys=kms, clock=clock) as sdk:
        agents = _people(sdk, 3)
        cache = sdk._rt.provider.cache
        assert agents[1] in cache._entries
        sdk.erase(agents[1])
        assert agents[1] not in cache._entries
        assert len(cache) == 2


def test_a_key_cached_in_one_process_opens_nothing_once_another_erased_it(
    url: str, clock: FakeClock
) -> None:
    kms = FakeKms()
    with (
        DualId.open(url, keys=kms, clock=clock) as first,
        DualId.open(url, keys=kms, clock=clock) as second,
    ):
        agents = _people(first, 3)
        first.profiles.put(agents[0], EventUserData(name="Ana"))
        assert first.profiles.get(agents[0]).name == "Ana"  # type: ignore[union-attr]
        assert agents[0] in first._rt.provider.cache._entries
        second.erase(agents[0])  # "another process": first still caches the key
        assert agents[0] in first._rt.provider.cache._entries
        with pytest.raises(UnknownAgent):
            first.profiles.get(agents[0])
        with pytest.raises(UnknownAgent):
            first.profiles.put(agents[0], EventUserData(name="Ana"))
        assert names(first) == ["P1", "P2"]


def test_a_key_cached_before_a_revocation_shows_nothing_after_it(
    url: str, clock: FakeClock
) -> None:
    kms = FakeKms()
    with (
        DualId.open(url, keys=kms, clock=clock) as first,
        DualId.open(url, keys=kms, clock=clock) as second,
    ):
        agents = _people(first, 2)
        assert names(first) == ["P0", "P1"]
        second.consent.revoke_host(agents[0], HOST)
        assert names(first) == ["-", "P1"]


def test_data_keys_cannot_be_pickled(memory_sdk: DualId) -> None:
    agent = memory_sdk.identity.agent_for("u")
    ((dek, _, _),) = memory_sdk._rt.provider.new_deks([agent])
    with pytest.raises(TypeError, match="cannot be serialised"):
        pickle.dumps(dek)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"dek_cache_size": -1}, "dek_cache_size"),
        ({"dek_cache_size": 1.5}, "dek_cache_size"),
        ({"dek_cache_size": True}, "dek_cache_size"),
        ({"dek_cache_size": 10**8}, "dek_cache_size"),
        ({"dek_cache_max_age": 0}, "dek_cache_max_age"),
        ({"dek_cache_max_age": float("nan")}, "dek_cache_max_age"),
        ({"dek_cache_max_age": "300"}, "dek_cache_max_age"),
    ],
)
def test_bad_cache_settings(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        DualId.open("sqlite://", **kwargs)  # type: ignore[arg-type]
    assert caught.value.details.get("field") == field
