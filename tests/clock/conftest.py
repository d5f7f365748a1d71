"""Shared fixtures for the clock tests: driven time sources, fake NTP servers, chronyd."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dualid.clock import AtomicClock, system_time_ns
from dualid.testing import FakeNtpServer

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"
REQUIRE_CHRONY = os.environ.get("DUALID_TEST_REQUIRE_CHRONY") == "1"


class SimTime:
    """Driven time sources for deterministic tests.

    True time = the real wall clock at creation + real elapsed time + ``advance()``d time
    (so real UDP exchanges with a FakeNtpServer still see consistent small delays, while
    hours pass at will). The client's monotonic clock runs ``1 + drift_ppm`` times faster
    than true time; its wall clock is true time + ``wall_error`` seconds.
    """

    def __init__(
        self, *, drift_ppm: float = 0.0, wall_error: float = 0.0, start_ns: int | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._real0 = time.monotonic_ns()
        self._true0 = system_time_ns() if start_ns is None else start_ns
        self._jump = 0
        self.drift_ppm = drift_ppm
        self.wall_error = wall_error
        self._mono0 = 5 * 10**12  # an arbitrary monotonic origin

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._jump += int(seconds * 1e9)

    def elapsed_ns(self) -> int:
        return time.monotonic_ns() - self._real0 + self._jump

    def true_ns(self) -> int:
        return self._true0 + self.elapsed_ns()

    def mono_ns(self) -> int:
        return self._mono0 + int(self.elapsed_ns() * (1 + self.drift_ppm * 1e-6))

    def wall_ns(self) -> int:
        return self.true_ns() + int(self.wall_error * 1e9)


@pytest.fixture
def sim() -> SimTime:
    return SimTime()


@pytest.fixture
def servers() -> Iterator[Callable[..., FakeNtpServer]]:
    """Factory: ``servers(offset=..., ...)`` starts a FakeNtpServer, stopped at teardown."""
    with ExitStack() as stack:

        def make(offset: float = 0.0, **kwargs: Any) -> FakeNtpServer:
            return stack.enter_context(FakeNtpServer(offset, **kwargs))

        yield make


@pytest.fixture
def make_clock() -> Iterator[Callable[..., AtomicClock]]:
    """Factory for AtomicClocks tuned for loopback (short timeout, fast burst); closed at
    teardown so no poller thread outlives a test."""
    clocks: list[AtomicClock] = []

    def make(servers: list[str], **kwargs: Any) -> AtomicClock:
        kwargs.setdefault("timeout", 0.5)
        kwargs.setdefault("burst_interval", 0.0)
        kwargs.setdefault("burst", 2)
        clock = AtomicClock(servers, **kwargs)
        clocks.append(clock)
        return clock

    yield make
    for clock in clocks:
        clock.close()


def closed_port() -> int:
    """A UDP port on 127.0.0.1 with nobody listening (ICMP port unreachable)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- chronyd


def _missing(what: str) -> None:
    message = f"{what} not installed (apt-get install -y chrony faketime)"
    if REQUIRE_CHRONY:
        pytest.fail(message + " and DUALID_TEST_REQUIRE_CHRONY=1")
    pytest.skip(message)


def chronyd_path() -> str:
    path = shutil.which("chronyd") or (
        "/usr/sbin/chronyd" if os.path.exists("/usr/sbin/chronyd") else None
    )
    if path is None:
        _missing("chronyd")
    assert path is not None
    return path


def faketime_lib() -> str:
    if not os.path.exists(FAKETIME_LIB):
        _missing("faketime (libfaketimeMT)")
    return FAKETIME_LIB


def free_udp_port() -> int:
    return closed_port()


@dataclass
class Chronyd:
    address: str
    process: subprocess.Popen[bytes]
    log: Path


def _wait_serving(address: str, deadline: float) -> bool:
    clock = AtomicClock([address], timeout=0.3, burst=1)
    try:
        while time.monotonic() < deadline:
            if clock.sync().ok:
                return True
            time.sleep(0.1)
        return False
    finally:
        clock.close()


@pytest.fixture
def chronyd(tmp_path: Path) -> Iterator[Callable[..., Chronyd]]:
    """Factory: ``chronyd(faketime="+37.5s")`` runs chronyd as an NTP server on a free
    high port of 127.0.0.1 (``local stratum 8``, no upstream servers, ``-x``: never
    touches the system clock), optionally under libfaketime; waits until it answers."""
    binary = chronyd_path()
    started: list[subprocess.Popen[bytes]] = []

    def start(faketime: str | None = None) -> Chronyd:
        port = free_udp_port()
        workdir = tmp_path / f"chrony-{port}"
        workdir.mkdir()
        conf = workdir / "chrony.conf"
        conf.write_text(
            "\n".join(
                [
                    f"port {port}",
                    "bindaddress 127.0.0.1",
                    "allow 127.0.0.1",
                    "local stratum 8",
                    "cmdport 0",
                    "bindcmdaddress /",
                    f"pidfile {workdir / 'chronyd.pid'}",
                    f"driftfile {workdir / 'drift'}",
                    "",
                ]
            )
        )
        env = dict(os.environ)
        if faketime is not None:
            env["LD_PRELOAD"] = faketime_lib()
            env["FAKETIME"] = faketime
            env["FAKETIME_NO_CACHE"] = "1"
        log = workdir / "chronyd.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [binary, "-d", "-x", "-u", "root", "-f", str(conf)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        started.append(proc)
        address = f"127.0.0.1:{port}"
        if not _wait_serving(address, time.monotonic() + 10):
            pytest.fail(f"chronyd did not start serving on {address}: {log.read_text()[-2000:]}")
        return Chronyd(address, proc, log)

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
