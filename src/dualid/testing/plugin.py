"""The dualid pytest plugin, registered through the ``pytest11`` entry point.

Installing dualid is enough: these fixtures are available in every test, with no
``conftest.py`` and no set-up code.

* ``dualid_clock``: a :class:`~dualid.testing.FakeClock`. The ``dualid_clock`` marker sets
  where it starts and any other FakeClock option::

      @pytest.mark.dualid_clock(start=datetime(2026, 5, 1, 9, 0, tzinfo=UTC))
      @pytest.mark.dualid_clock("2026-05-01T09:00:00+00:00", drift_ppm=50)

  The marker applies to a test, a class or a module (``pytestmark``); the closest wins.
* ``dualid_sdk``: :func:`~dualid.testing.memory_sdk` on that clock (a real SDK on
  in-memory SQLite), closed after the test.
* ``ntp_server``: a running :class:`~dualid.testing.FakeNtpServer` on 127.0.0.1; its
  knobs (``offset``, ``delay``, ``kiss``, ``bogus``...) can be set while it runs.

Disable the plugin with ``-p no:dualid``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

from dualid.errors import InvalidInput

from ._fake_clock import FakeClock
from ._ntp_server import FakeNtpServer

if TYPE_CHECKING:
    from dualid.sdk import DualId

__all__ = ["dualid_clock", "dualid_sdk", "ntp_server"]

MARKER = "dualid_clock"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(start=None, **options): where the dualid_clock fixture starts (an aware "
        "datetime or an ISO 8601 string with an offset) and other FakeClock options",
    )


def _clock_options(marker: pytest.Mark | None) -> dict[str, Any]:
    if marker is None:
        return {}
    if len(marker.args) > 1 or (marker.args and "start" in marker.kwargs):
        raise pytest.UsageError(f"@pytest.mark.{MARKER} takes one start time")
    options: dict[str, Any] = dict(marker.kwargs)
    if marker.args:
        options["start"] = marker.args[0]
    start = options.get("start")
    if start is None:
        options.pop("start", None)
    elif isinstance(start, str):
        try:
            options["start"] = datetime.fromisoformat(start)
        except ValueError:
            raise pytest.UsageError(
                f"@pytest.mark.{MARKER}: start {start!r} is not an ISO 8601 time"
            ) from None
    return options


@pytest.fixture
def dualid_clock(request: pytest.FixtureRequest) -> FakeClock:
    """A :class:`~dualid.testing.FakeClock`; configure it with
    ``@pytest.mark.dualid_clock(start=..., **options)``."""
    options = _clock_options(request.node.get_closest_marker(MARKER))
    try:
        return FakeClock(**options)
    except (TypeError, InvalidInput) as exc:
        raise pytest.UsageError(f"@pytest.mark.{MARKER}: {exc}") from None


@pytest.fixture
def dualid_sdk(dualid_clock: FakeClock) -> Iterator[DualId]:
    """A real SDK on in-memory SQLite, driven by ``dualid_clock``; closed afterwards."""
    from ._memory import memory_sdk  # the SDK loads only for tests that use it

    with memory_sdk(dualid_clock) as sdk:
        yield sdk


@pytest.fixture
def ntp_server() -> Iterator[FakeNtpServer]:
    """A running :class:`~dualid.testing.FakeNtpServer` on 127.0.0.1 (``.address``)."""
    with FakeNtpServer() as server:
        yield server
