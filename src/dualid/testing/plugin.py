"""The dualid pytest plugin, registered through the ``pytest11`` entry point.

Fixtures:

* ``dualid_clock``: a :class:`~dualid.testing.FakeClock`; the ``dualid_clock`` marker sets
  where it starts: ``@pytest.mark.dualid_clock(start=datetime(2026, 5, 1, tzinfo=UTC))``.
* ``dualid_sdk``: :func:`~dualid.testing.memory_sdk` on that clock.
* ``ntp_server``: a running :class:`~dualid.testing.FakeNtpServer` on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dualid.sdk import DualId

from ._fake_clock import FakeClock
from ._memory import memory_sdk


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dualid_clock(start=None, **options): where the dualid_clock fixture starts and "
        "its FakeClock options",
    )


@pytest.fixture
def dualid_clock(request: pytest.FixtureRequest) -> FakeClock:
    """A FakeClock; configure it with ``@pytest.mark.dualid_clock(start=...)``."""
    marker = request.node.get_closest_marker("dualid_clock")
    kwargs: dict[str, Any] = dict(marker.kwargs) if marker else {}
    if marker and marker.args:
        kwargs.setdefault("start", marker.args[0])
    if kwargs.get("start") is None:
        kwargs.pop("start", None)
    return FakeClock(**kwargs)


@pytest.fixture
def dualid_sdk(dualid_clock: FakeClock) -> Iterator[DualId]:
    """A real SDK on in-memory SQLite, driven by ``dualid_clock``."""
    with memory_sdk(dualid_clock) as sdk:
        yield sdk


@pytest.fixture
def ntp_server() -> Iterator[Any]:
    """A FakeNtpServer serving real NTP on 127.0.0.1 (``.address``)."""
    from dualid.testing import FakeNtpServer

    with FakeNtpServer() as server:
        yield server
