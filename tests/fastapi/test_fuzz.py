"""Schemathesis fuzzing of the whole OpenAPI document, authenticated, on both backends: never
a 5xx, every failure in the problem shape.

PostgreSQL refuses what SQLite stores (a NUL byte, a lone surrogate, an integer beyond 64
bits), so a case that is harmless on one backend is a 500 on the other unless the SDK
refuses it first: the same cases run on each.

Schemathesis' pytest plugin does not load under pytest 9, so the schema is loaded with its
Python API and each operation's cases are drawn with hypothesis directly.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from dualid import DualId
from dualid.testing import FakeClock

from .conftest import ANA, BISTRO, World, make_app

# Cases per operation and mode; raise it for a deeper run (DUALID_FUZZ_EXAMPLES=500).
MAX_EXAMPLES = int(os.environ.get("DUALID_FUZZ_EXAMPLES", "25"))
AUTH = {"X-Host-Id": BISTRO, "X-User-Id": ANA}


@pytest.fixture
def sdk(db_url: str, master_key: str, fake_clock: FakeClock) -> Iterator[DualId]:
    """This module's world lives on each backend (the package's fixture is SQLite memory)."""
    with DualId.open(db_url, keys=master_key, clock=fake_clock) as opened:
        yield opened


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzz_whole_api_never_5xx(world: World, mode: GenerationMode) -> None:
    app = make_app(world.sdk)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 26
    statuses: Counter[int] = Counter()
    failures: list[str] = []

    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode, headers=dict(AUTH))

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def check(case: Any) -> None:
            response = case.call()
            statuses[response.status_code] += 1
            where = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, f"{where}: {response.text[:300]}"
            if response.status_code >= 400:
                body = response.json()
                assert {"type", "title", "status", "code", "detail"} <= set(body), where
                assert body["status"] == response.status_code, where

        try:
            check()
        except Unsatisfiable:
            # Nothing to vary (e.g. a negative case for a route without inputs).
            continue
        except AssertionError as exc:
            failures.append(str(exc))

    assert not failures, "\n".join(failures)
    assert statuses, "no case was sent"
    assert all(status < 500 for status in statuses)
    assert world.sdk.audit.verify().ok
