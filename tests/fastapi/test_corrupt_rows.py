"""A row the SDK cannot read (CorruptRow) is a 500 problem over HTTP: the shape and code of
every server-side failure, nothing of the row in the body, the code in the server log.
Not a 503: retrying cannot make the row readable (issue 13)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from dualid import DualId
from dualid.testing import FakeClock

from ..support import execute
from .conftest import ANA, BISTRO, World, host_headers, user_headers
from .test_host_routes import assert_problem


@pytest.fixture
def sdk(db_url: str, master_key: str, fake_clock: FakeClock) -> Iterator[DualId]:
    """The router world on each backend (overrides the in-memory SDK of conftest.py)."""
    with DualId.open(db_url, keys=master_key, clock=fake_clock) as opened:
        yield opened


@pytest.mark.parametrize(
    ("damage", "method", "path", "headers"),
    [
        (
            "UPDATE dualid_host SET kind = 'spaceship-x'",
            "GET",
            "/v1/hosts/me",
            host_headers(BISTRO),
        ),
        (
            "UPDATE dualid_registration SET event_type = 'spaceship-x'",
            "GET",
            "/v1/hosts/me/events/res-1/attendees",
            host_headers(BISTRO),
        ),
        (
            "UPDATE dualid_grant SET fields = 'spaceship-x'",
            "GET",
            "/v1/me/sharing",
            user_headers(ANA),
        ),
    ],
    ids=["host kind", "registration event type", "grant fields"],
)
def test_a_corrupt_row_is_a_500_problem(
    client: TestClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    damage: str,
    method: str,
    path: str,
    headers: dict[str, str],
) -> None:
    execute(world.sdk, damage)
    with caplog.at_level(logging.ERROR, "dualid.fastapi"):
        resp = client.request(method, path, headers=headers)
    assert_problem(resp, 500, "INTERNAL_ERROR")
    assert "Retry-After" not in resp.headers
    assert "spaceship" not in resp.text
    assert "dualid_" not in resp.text
    assert "CORRUPT_ROW" in caplog.text
