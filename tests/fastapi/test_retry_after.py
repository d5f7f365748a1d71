"""A 503 tells the client when to come back: ``Retry-After`` on every STORE_UNAVAILABLE
(and the other 503s), never on other statuses."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from dualid import errors
from dualid.fastapi import problem_response

from .conftest import ANA, BISTRO, World, host_headers, user_headers
from .test_host_routes import assert_problem


@pytest.mark.parametrize(
    "exc",
    [
        errors.StoreUnavailable("the database is unavailable: AdminShutdown (57P01)"),
        errors.StoreUnavailable("rolled back: DeadlockDetected (40P01)", replayable=True),
        errors.SchemaOutOfDate("behind head"),
        errors.KeyServiceUnavailable("AWS KMS cannot decrypt now (ThrottlingException)"),
        errors.ClockError("not synced"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_every_503_carries_retry_after(exc: errors.DualIdError) -> None:
    resp = problem_response(exc)
    assert resp.status_code == 503
    retry_after = resp.headers["retry-after"]
    assert retry_after.isdigit()  # delay-seconds (RFC 9110), not a date
    assert int(retry_after) > 0
    assert exc.message not in bytes(resp.body).decode()


@pytest.mark.parametrize(
    "exc",
    [
        errors.StoreError("the database refused the operation: UniqueViolation (23505)"),
        errors.UnknownGrant("no such grant"),
        errors.GrantNotActive("revoked"),
        errors.MissingKeyError("no key"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_other_statuses_carry_no_retry_after(exc: errors.DualIdError) -> None:
    assert "retry-after" not in problem_response(exc).headers


@pytest.mark.parametrize(
    ("exc", "status", "code", "retry"),
    [
        (errors.StoreUnavailable("QueryCanceled (57014)"), 503, "STORE_UNAVAILABLE", True),
        (errors.StoreError("UniqueViolation (23505)"), 500, "INTERNAL_ERROR", False),
    ],
)
def test_a_route_that_hits_an_unavailable_store_answers_503_retry_after(
    client: TestClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    exc: errors.DualIdError,
    status: int,
    code: str,
    retry: bool,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(world.sdk.events, "attendees_page_json", fail)
    monkeypatch.setattr(world.sdk.consent, "shared", fail)
    with pytest.MonkeyPatch.context() as quiet:
        quiet.setattr(logging.getLogger("dualid.fastapi"), "disabled", True)
        a = client.get("/v1/hosts/me/events/res-1/attendees", headers=host_headers(BISTRO))
        b = client.get("/v1/me/sharing", headers=user_headers(ANA))
    for resp in (a, b):
        assert_problem(resp, status, code)
        assert ("retry-after" in resp.headers) is retry
