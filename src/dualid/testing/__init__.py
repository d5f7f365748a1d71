"""Test helpers for code that uses dualid.

Importing this module never requires pytest. The pytest plugin (fixtures ``dualid_sdk``,
``dualid_clock``, ``ntp_server``) lives in :mod:`dualid.testing.plugin` and is registered
through the ``pytest11`` entry point.
"""

from ._fake_clock import FakeClock
from ._memory import memory_sdk
from ._ntp_server import FakeNtpServer

__all__ = ["FakeClock", "FakeNtpServer", "memory_sdk"]
