"""The two ways to purge expired grants: ``dualid consent purge-expired`` (cron) and
``DualId.open(..., purge_expired_every=seconds)`` (a background thread in the service).

The thread is driven by a FakeClock (for expiry) and a short interval; every wait is
bounded and nothing asserts on timing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key
from dualid.consent import Consent
from dualid.errors import InvalidInput, StoreUnavailable
from dualid.testing import FakeClock

from .conftest import Run

KEY = generate_master_key()
HOST = "bistro-7"
THREAD = "dualid-purge-expired"
INTERVAL = 0.01
WAIT_STEP = 0.01
WAIT_STEPS = 3000  # a bound, not a timing assumption: a loaded machine just takes longer


def _wait_for(condition: Callable[[], bool]) -> bool:
    pause = threading.Event()
    for _ in range(WAIT_STEPS):
        if condition():
            return True
        pause.wait(WAIT_STEP)
    return condition()


def _expiring_grant(sdk: DualId, expires_at: datetime) -> str:
    """A person registered at HOST sharing their name, with an email grant expiring at
    ``expires_at``; returns the agentId."""
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro Seven", exist_ok=True)
    sdk.hosts.require(
        HOST,
        EventType.RESERVATION,
        required={DataField.NAME},
        optional={DataField.EMAIL},
        purpose="table booking",
    )
    agent = sdk.identity.agent_for("user-ana")
    sdk.profiles.put(agent, EventUserData(name="Ana Lima", email="ana@example.org"))
    sdk.events.register(agent, HOST, EventType.RESERVATION, "res-1", share={"name"})
    sdk.consent.grant(
        agent,
        HOST,
        fields={DataField.EMAIL},
        event_id="res-1",
        purpose="reminder",
        expires_at=expires_at,
    )
    return agent


def _purges(sdk: DualId) -> list[int]:
    entries = sdk.audit.entries()
    return [int(e.details["values"]) for e in entries if e.action == "consent.expired_purged"]


def _purge_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def purging(tmp_path: Path, clock: FakeClock) -> Iterator[DualId]:
    with DualId.open(
        f"sqlite:///{tmp_path}/dualid.db", keys=KEY, clock=clock, purge_expired_every=INTERVAL
    ) as sdk:
        yield sdk


# -- the background thread ----------------------------------------------------------------------
def test_background_purge_deletes_expired_copies(purging: DualId, clock: FakeClock) -> None:
    _expiring_grant(purging, clock.now().time + timedelta(hours=1))
    # Running all along, it finds nothing to purge before the grant expires.
    assert _purges(purging) == []
    clock.advance(timedelta(hours=2))
    assert _wait_for(lambda: _purges(purging) == [1])
    # Later runs find nothing left and write nothing.
    assert purging.consent.purge_expired() == 0
    assert _purges(purging) == [1]
    assert purging.audit.verify().ok


def test_close_stops_the_thread(tmp_path: Path, clock: FakeClock) -> None:
    before = set(_purge_threads())
    sdk = DualId.open(
        f"sqlite:///{tmp_path}/dualid.db", keys=KEY, clock=clock, purge_expired_every=3600
    )
    (thread,) = set(_purge_threads()) - before
    assert thread.daemon
    sdk.close()  # wakes the thread from its hour-long wait
    assert not thread.is_alive()
    sdk.close()  # idempotent


def test_no_thread_by_default(tmp_path: Path) -> None:
    before = set(_purge_threads())
    with DualId.open(f"sqlite:///{tmp_path}/dualid.db", keys=KEY):
        assert set(_purge_threads()) == before


@pytest.mark.parametrize("every", [0, -1, float("nan"), float("inf"), True, "60"])
def test_bad_interval_is_refused_before_anything_is_created(tmp_path: Path, every: object) -> None:
    path = tmp_path / "dualid.db"
    with pytest.raises(InvalidInput, match="purge_expired_every"):
        DualId.open(f"sqlite:///{path}", keys=KEY, purge_expired_every=every)  # type: ignore[arg-type]
    assert not path.exists()


def test_failures_are_logged_without_personal_data_and_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []
    recovered = threading.Event()

    def flaky(self: Consent) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise StoreUnavailable("lost the server while deleting ana@example.org")
        if len(calls) == 2:
            raise RuntimeError("+14155552671 broke something")
        recovered.set()
        return 3

    monkeypatch.setattr(Consent, "purge_expired", flaky)
    caplog.set_level(logging.INFO, logger="dualid")
    with DualId.open(f"sqlite:///{tmp_path}/dualid.db", keys=KEY, purge_expired_every=INTERVAL):
        assert recovered.wait(WAIT_STEP * WAIT_STEPS)
    records = [r for r in caplog.records if r.name == "dualid" and "purge" in r.getMessage()]
    messages = [r.getMessage() for r in records]
    assert any("StoreUnavailable [STORE_UNAVAILABLE]" in m for m in messages), messages
    assert any("RuntimeError" in m for m in messages), messages
    assert any("deleted 3 expired shared values" in m for m in messages), messages
    for record in records:
        text = record.getMessage()
        assert "ana@example.org" not in text
        assert "+14155552671" not in text
        assert record.exc_info is None  # no traceback: it would carry the message


# -- dualid consent purge-expired ------------------------------------------------------------------
def test_purge_expired_command(dualid: Run, db_url: str) -> None:
    # Grants that expired long ago by the real clock the command reads.
    past = FakeClock(start=datetime(2020, 1, 1, tzinfo=UTC))
    with DualId.open(db_url, keys=KEY, clock=past) as sdk:
        _expiring_grant(sdk, past.now().time + timedelta(days=1))
    env = {"DUALID_MASTER_KEY": KEY}
    first = dualid("consent", "purge-expired", "--db", db_url, env=env)
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "purged 1 expired shared values"
    assert first.stderr == ""
    again = dualid("consent", "purge-expired", "--db", db_url, env=env)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == "purged 0 expired shared values"
    with DualId.open(db_url, keys=KEY) as sdk:
        assert _purges(sdk) == [1]
        assert sdk.audit.verify().ok


def test_purge_expired_command_failures(dualid: Run, tmp_path: Path) -> None:
    missing = dualid("consent", "purge-expired", "--db", f"sqlite:///{tmp_path}/nope.db")
    assert missing.exit_code == 2
    assert missing.stderr.strip().splitlines() == [
        f"dualid: error: no database at {tmp_path}/nope.db [STORE_ERROR]"
    ]
    assert not (tmp_path / "nope.db").exists()
    url = f"sqlite:///{tmp_path}/dualid.db"
    DualId.open(url, keys=KEY).close()
    no_key = dualid("consent", "purge-expired", "--db", url)
    assert no_key.exit_code == 2
    (line,) = no_key.stderr.strip().splitlines()
    assert line.startswith("dualid: error: no master key")
    assert line.endswith("[MISSING_KEY]")


def test_purge_expired_command_help(cli: Run) -> None:
    listed = cli("consent", "--help")
    assert listed.exit_code == 0
    assert "purge-expired" in listed.stdout
    assert "cron" in cli("consent", "purge-expired", "--help").stdout
