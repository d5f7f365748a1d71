"""Test helpers for code that uses dualid.

* :class:`FakeClock`: a deterministic clock (advance, set, offline, drift, tick).
* :func:`memory_sdk`: a real SDK on in-memory SQLite with a random key and a FakeClock.
* :class:`FakeNtpServer`: a real NTP server on 127.0.0.1 with knobs for bad behaviour.
* :func:`build_user_data`, :func:`build_people`, :func:`add_person`: realistic, valid
  personal data (and people stored in an SDK).
* :mod:`dualid.testing.strategies`: the same as hypothesis strategies (needs hypothesis).
* :class:`FakeKms`: an in-memory key provider with call counts and injectable failures;
  :func:`check_key_provider`: the key-provider contract as a check for a provider's own
  tests; :func:`counting`: the API calls a boto3 KMS client sends.

Importing this module never requires pytest or hypothesis. The pytest plugin (fixtures
``dualid_sdk``, ``dualid_clock``, ``ntp_server`` and the ``dualid_clock`` marker) lives in
:mod:`dualid.testing.plugin` and is registered through the ``pytest11`` entry point. See
``docs/testing.md``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._fake_clock import DEFAULT_START, FakeClock
from ._ntp_server import FakeNtpServer

if TYPE_CHECKING:
    from ._builders import Person, add_person, build_people, build_user_data
    from ._kms import FakeKms, check_key_provider, counting
    from ._memory import memory_sdk

# Loaded on first use, so the pytest plugin stays cheap for suites that never use the SDK.
_LAZY = {
    "FakeKms": "._kms",
    "Person": "._builders",
    "add_person": "._builders",
    "build_people": "._builders",
    "build_user_data": "._builders",
    "check_key_provider": "._kms",
    "counting": "._kms",
    "memory_sdk": "._memory",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dualid.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_START",
    "FakeClock",
    "FakeKms",
    "FakeNtpServer",
    "Person",
    "add_person",
    "build_people",
    "build_user_data",
    "check_key_provider",
    "counting",
    "memory_sdk",
]
