"""Test helpers for code that uses dualid.

* :class:`FakeClock`: a deterministic clock (advance, set, offline, drift, tick).
* :func:`memory_sdk`: a real SDK on in-memory SQLite with a random key and a FakeClock.
* :class:`FakeNtpServer`: a real NTP server on 127.0.0.1 with knobs for bad behaviour.
* :func:`build_user_data`, :func:`build_people`, :func:`add_person`: realistic, valid
  personal data (and people stored in an SDK).
* :mod:`dualid.testing.strategies`: the same as hypothesis strategies (needs hypothesis).

Importing this module never requires pytest or hypothesis. The pytest plugin (fixtures
``dualid_sdk``, ``dualid_clock``, ``ntp_server`` and the ``dualid_clock`` marker) lives in
:mod:`dualid.testing.plugin` and is registered through the ``pytest11`` entry point. See
``docs/testing.md``.
"""

from ._builders import Person, add_person, build_people, build_user_data
from ._fake_clock import DEFAULT_START, FakeClock
from ._memory import memory_sdk
from ._ntp_server import FakeNtpServer

__all__ = [
    "DEFAULT_START",
    "FakeClock",
    "FakeNtpServer",
    "Person",
    "add_person",
    "build_people",
    "build_user_data",
    "memory_sdk",
]
