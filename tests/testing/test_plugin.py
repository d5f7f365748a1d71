"""The pytest plugin, tested the way a downstream project uses it (pytester)."""

from __future__ import annotations

import importlib.metadata
import textwrap

import pytest

pytestmark = pytest.mark.filterwarnings("error")

ARGS = ("-p", "no:cacheprovider", "-W", "error", "--strict-markers")


def test_registered_through_the_pytest11_entry_point() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "dualid"]
    assert entry.value == "dualid.testing.plugin"
    module = entry.load()
    assert {"dualid_clock", "dualid_sdk", "ntp_server"} <= set(vars(module))


def test_fixtures_need_no_set_up_code(pytester: pytest.Pytester) -> None:
    # No conftest.py, no imports of dualid.testing, no pytest_plugins: the entry point
    # alone provides the fixtures.
    pytester.makepyfile(
        test_downstream="""
        from datetime import timedelta

        from dualid import DataField, DualId, EventType, EventUserData, HostKind
        from dualid.clock import ClockStatus


        def test_sdk(dualid_sdk):
            assert isinstance(dualid_sdk, DualId)
            agent_id = dualid_sdk.identity.agent_for("user-1")
            dualid_sdk.profiles.put(agent_id, EventUserData(name="Ana"))
            assert dualid_sdk.profiles.get(agent_id).name == "Ana"


        def test_clock(dualid_clock):
            start = dualid_clock.now().time
            dualid_clock.advance(timedelta(hours=1))
            assert dualid_clock.now().time - start == timedelta(hours=1)
            assert dualid_clock.now().status is ClockStatus.SYNCED


        def test_sdk_runs_on_the_clock(dualid_sdk, dualid_clock):
            assert dualid_sdk.clock is dualid_clock
            dualid_clock.advance(timedelta(days=3))
            host = dualid_sdk.hosts.register("club-1", kind=HostKind.CLUB, name="Chess Club")
            assert host.created_at == dualid_clock.true_time


        def test_each_test_gets_a_fresh_sdk(dualid_sdk):
            assert dualid_sdk.hosts.list() == []
            dualid_sdk.hosts.register("club-1", kind=HostKind.CLUB, name="Chess Club")


        def test_ntp_server(ntp_server):
            host, _, port = ntp_server.address.rpartition(":")
            assert host == "127.0.0.1" and int(port) > 0
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=5)


def test_fake_ntp_server_syncs_an_atomic_clock(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from dualid.clock import AtomicClock, ClockStatus


        def test_sync(ntp_server):
            ntp_server.offset = 2.5
            with AtomicClock([ntp_server.address], burst=1, timeout=2.0) as clock:
                report = clock.sync()
                assert report.ok, report
                assert clock.now().status is ClockStatus.SYNCED
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=1)


def test_marker_sets_the_start_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime

        import pytest

        from dualid.testing import DEFAULT_START

        MAY_DAY = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


        @pytest.mark.dualid_clock(start=MAY_DAY)
        def test_keyword(dualid_clock):
            assert dualid_clock.now().time == MAY_DAY


        @pytest.mark.dualid_clock(MAY_DAY)
        def test_positional(dualid_clock):
            assert dualid_clock.now().time == MAY_DAY


        @pytest.mark.dualid_clock("2026-05-01T11:30:00+02:00")
        def test_iso_string(dualid_clock):
            assert dualid_clock.now().time == MAY_DAY


        @pytest.mark.dualid_clock(start=MAY_DAY)
        def test_the_sdk_starts_there_too(dualid_sdk):
            host = dualid_sdk.hosts.register("h1", kind="club", name="Club")
            assert host.created_at == MAY_DAY


        def test_unmarked_uses_the_default(dualid_clock):
            assert dualid_clock.now().time == DEFAULT_START


        @pytest.mark.dualid_clock(start=None)
        def test_none_uses_the_default(dualid_clock):
            assert dualid_clock.now().time == DEFAULT_START
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=6)


def test_marker_on_module_and_class_closest_wins(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from datetime import UTC, datetime

        import pytest

        pytestmark = pytest.mark.dualid_clock(start=datetime(2030, 1, 1, tzinfo=UTC))


        def test_module_level(dualid_clock):
            assert dualid_clock.now().time.year == 2030


        @pytest.mark.dualid_clock(start=datetime(2031, 1, 1, tzinfo=UTC))
        class TestClass:
            def test_class_level(self, dualid_clock):
                assert dualid_clock.now().time.year == 2031

            @pytest.mark.dualid_clock(start=datetime(2032, 1, 1, tzinfo=UTC))
            def test_function_level(self, dualid_clock):
                assert dualid_clock.now().time.year == 2032
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=3)


def test_marker_passes_fake_clock_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from datetime import timedelta

        import pytest

        from dualid.clock import ClockStatus


        @pytest.mark.dualid_clock(
            status=ClockStatus.UNSYNCED, uncertainty=timedelta(seconds=3), tick=1.0
        )
        def test_options(dualid_clock):
            first, second = dualid_clock.now(), dualid_clock.now()
            assert first.status is ClockStatus.UNSYNCED
            assert first.uncertainty == timedelta(seconds=3)
            assert second.time - first.time == timedelta(seconds=1)


        @pytest.mark.dualid_clock(drift_ppm=100)
        def test_drift(dualid_clock):
            dualid_clock.advance(timedelta(days=1))
            assert dualid_clock.error == timedelta(seconds=8.64)
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ("@pytest.mark.dualid_clock(bogus=1)", "unexpected keyword argument 'bogus'"),
        ('@pytest.mark.dualid_clock("yesterday")', "is not an ISO 8601 time"),
        ('@pytest.mark.dualid_clock("2026-05-01T09:00:00")', "aware datetime"),
        ("@pytest.mark.dualid_clock(1, 2)", "takes one start time"),
    ],
)
def test_bad_marker_is_a_clear_error(pytester: pytest.Pytester, marker: str, message: str) -> None:
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import pytest

            {marker}
            def test_it(dualid_clock):
                pass
            """
        )
    )
    result = pytester.runpytest(*ARGS)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*{message}*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.dualid_clock(start=None, **options)*"])


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(["dualid_clock*", "dualid_sdk*", "ntp_server*"])


def test_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_it(dualid_sdk): pass")
    result = pytester.runpytest("-p", "no:dualid")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'dualid_sdk' not found*"])


def test_the_sdk_is_closed_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        SEEN = []


        def test_use(dualid_sdk):
            SEEN.append(dualid_sdk)


        def test_closed():
            (sdk,) = SEEN
            assert sdk._closed
        """
    )
    result = pytester.runpytest(*ARGS)
    result.assert_outcomes(passed=2)


@pytest.mark.slow
def test_fixtures_in_a_separate_process(pytester: pytest.Pytester) -> None:
    # A real `pytest` process: the plugin comes from the installed entry point.
    pytester.makepyfile(
        """
        import pytest
        from datetime import UTC, datetime


        @pytest.mark.dualid_clock(start=datetime(2027, 2, 3, tzinfo=UTC))
        def test_it(dualid_sdk, dualid_clock):
            assert dualid_sdk.clock.now().time == datetime(2027, 2, 3, tzinfo=UTC)
        """
    )
    result = pytester.runpytest_subprocess(*ARGS)
    result.assert_outcomes(passed=1)
