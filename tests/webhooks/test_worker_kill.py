"""A worker killed mid-delivery (SIGKILL: no cleanup at all) loses nothing: the notice it
was sending is still pending, and the next worker delivers it with the same id."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dualid import DualId
from dualid.testing import FakeClock

from ..support import rows
from ._receiver import Receiver
from .conftest import HOST, NAME, RES, open_world

pytestmark = pytest.mark.slow
_GUARD = 60.0  # hang guards, not timing assertions


def _worker(url: str, key: str, output: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DUALID_MASTER_KEY": key}
    command = [sys.executable, "-m", "dualid.cli", "webhooks", "run", "--db", url]
    return subprocess.Popen(
        [*command, "--allow-private", "--interval", "0.1"],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def _status(url: str, key: str) -> list[tuple[str, int]]:
    with DualId.open(url, keys=key) as sdk:
        return [(s, a) for s, a in rows(sdk, "SELECT status, attempts FROM dualid_webhook_notice")]


def test_a_worker_killed_mid_delivery_is_redelivered_after_restart(
    db_url: str, master_key: str, real_clock: FakeClock, receiver: Receiver
) -> None:
    world = open_world(db_url, master_key, real_clock, receiver)
    world.sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    world.sdk.close()
    with receiver.hold():  # the receiver takes the request and never answers
        first = _worker(db_url, master_key, subprocess.DEVNULL)
        try:
            assert receiver.arrived.wait(_GUARD), "the worker never sent the notice"
            first.send_signal(signal.SIGKILL)
            first.wait(_GUARD)
        finally:
            if first.poll() is None:
                first.kill()
        assert first.returncode == -signal.SIGKILL
        assert _status(db_url, master_key) == [("pending", 0)]  # nothing recorded, nothing lost
    with _worker(db_url, master_key, subprocess.PIPE) as second:
        try:
            give_up = time.monotonic() + _GUARD
            while _status(db_url, master_key) != [("delivered", 1)]:
                assert time.monotonic() < give_up, "the restarted worker did not deliver"
                assert second.poll() is None, "the restarted worker died"
                time.sleep(0.1)
            second.send_signal(signal.SIGTERM)  # finishes what it is doing, then exits 0
            output, _ = second.communicate(timeout=_GUARD)
        finally:
            if second.poll() is None:
                second.kill()
    assert second.returncode == 0, output
    assert "delivered 1" in output.decode()
    (killed, redelivered) = receiver.ids
    assert killed == redelivered  # the same webhook-id: the receiver's idempotency key
