"""The error contract: one shape, one status mapping, nothing leaked, nothing changed."""

from __future__ import annotations

import inspect
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from starlette.testclient import TestClient

from dualid import DualId, errors
from dualid.fastapi import (
    STATUS_BY_CODE,
    ErrorCode,
    ProblemRoute,
    problem_response,
    status_for,
)

from .conftest import ANA, BISTRO, World, host_headers, make_app, state, user_headers
from .test_host_routes import assert_problem

ALL_ERRORS = [
    cls
    for _, cls in inspect.getmembers(errors, inspect.isclass)
    if issubclass(cls, errors.DualIdError)
]


def test_every_sdk_error_has_an_explicit_status() -> None:
    # A new error class must be given a status on purpose, not by inheritance alone.
    assert {cls.code for cls in ALL_ERRORS} == set(STATUS_BY_CODE)


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (errors.UnknownGrant, 404),
        (errors.UnknownEvent, 404),
        (errors.NotFound, 404),
        (errors.DuplicateRegistration, 409),
        (errors.GrantNotActive, 409),
        (errors.AlreadyExists, 409),
        (errors.ConsentRequired, 422),
        (errors.FieldNotRequested, 422),
        (errors.InvalidInput, 422),
        (errors.InvalidExpiry, 422),
        (errors.KeyDestroyed, 410),
        (errors.StoreUnavailable, 503),
        (errors.SchemaOutOfDate, 503),
        (errors.MissingKeyError, 500),
        (errors.ConfigurationError, 500),
        (errors.DecryptionFailed, 500),
        (errors.AuditError, 500),
        (errors.DualIdError, 500),
    ],
)
def test_status_mapping(cls: type[errors.DualIdError], status: int) -> None:
    assert status_for(cls("m")) == status


def test_an_unmapped_subclass_inherits_its_familys_status() -> None:
    class NewNotFound(errors.NotFound):
        code = "SOMETHING_NEW"

    assert status_for(NewNotFound("m")) == 404


def test_consent_errors_name_fields_in_camel_case() -> None:
    resp = problem_response(errors.ConsentRequired("m", fields=["phone_number", "name"]))
    assert json.loads(resp.body)["fields"] == ["name", "phoneNumber"]


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.MissingKeyError("key agt_secret missing at /etc/x"), 500, "INTERNAL_ERROR"),
        (errors.DecryptionFailed("ciphertext of agt_abc"), 500, "INTERNAL_ERROR"),
        (errors.StoreUnavailable("OperationalError at host db-1"), 503, "STORE_UNAVAILABLE"),
    ],
)
def test_server_errors_disclose_nothing(
    exc: errors.DualIdError, status: int, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, "dualid.fastapi"):
        resp = problem_response(exc)
    body = json.loads(resp.body)
    assert resp.status_code == status
    assert body["code"] == code
    assert exc.message not in json.dumps(body)
    assert "agt_" not in json.dumps(body)
    assert exc.code in caplog.text


def test_error_codes_are_stable() -> None:
    # Adding is fine; removing or renaming one breaks clients (docs/versioning.md).
    for code in (
        "UNKNOWN_GRANT",
        "UNKNOWN_EVENT",
        "UNKNOWN_HOST",
        "UNKNOWN_REQUIREMENT",
        "CONSENT_REQUIRED",
        "FIELD_NOT_REQUESTED",
        "DUPLICATE_REGISTRATION",
        "GRANT_NOT_ACTIVE",
        "VALIDATION_ERROR",
        "PAYLOAD_TOO_LARGE",
        "INTERNAL_ERROR",
    ):
        assert ErrorCode(code).value == code


# -- faults inside a route --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (errors.StoreUnavailable("db down"), 503, "STORE_UNAVAILABLE"),
        (errors.MissingKeyError("no key"), 500, "INTERNAL_ERROR"),
        (errors.KeyDestroyed("gone"), 410, "KEY_DESTROYED"),
    ],
)
def test_sdk_faults_become_problems(
    client: TestClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    exc: errors.DualIdError,
    status: int,
    code: str,
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


# -- the request itself ---------------------------------------------------------------------
def test_malformed_json_is_422_and_changes_nothing(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    for path, method in (
        ("/v1/me/profile", "PUT"),
        ("/v1/me/registrations", "POST"),
        ("/v1/me/grants", "POST"),
        ("/v1/me/defaults/reservation", "PUT"),
        ("/v1/hosts/me/requirements/reservation", "PUT"),
    ):
        headers = {
            **user_headers(ANA),
            **host_headers(BISTRO),
            "content-type": "application/json",
        }
        for raw in (b"{", b'{"name": "Ana Lima",}', b"[]", b"null", b"\xff\xfe", b'"x"', b""):
            resp = client.request(method, path, headers=headers, content=raw)
            problem = assert_problem(resp, 422, "VALIDATION_ERROR")
            assert "Ana Lima" not in json.dumps(problem)
        resp = client.request(
            method, path, headers={**headers, "content-type": "text/plain"}, content=b"{}"
        )
        assert_problem(resp, 422, "VALIDATION_ERROR")
    assert state(world.sdk) == before


def test_oversized_bodies_are_413(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    big = {"name": "Ana", "additionalData": {"blob": "x" * (70 * 1024)}}
    resp = client.put("/v1/me/profile", headers=user_headers(ANA), json=big)
    body = assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")
    assert "x" * 100 not in json.dumps(body)

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked
        yield b'{"name": "Ana", "additionalData": {"blob": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}}'

    resp = client.put(
        "/v1/me/profile",
        headers={**user_headers(ANA), "content-type": "application/json"},
        content=chunks(),
    )
    assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")
    assert state(world.sdk) == before


def test_body_limit_is_configurable(sdk: DualId, world: World) -> None:
    with TestClient(make_app(sdk, max_body_bytes=100)) as small:
        resp = small.put(
            "/v1/me/defaults/reservation",
            headers=user_headers(ANA),
            json={"fields": ["phoneNumber"] * 12},
        )
        assert_problem(resp, 413, "PAYLOAD_TOO_LARGE")
        ok = small.put(
            "/v1/me/defaults/reservation", headers=user_headers(ANA), json={"fields": ["name"]}
        )
        assert ok.status_code == 200


def test_bad_content_length_is_400() -> None:
    app = FastAPI()
    router = APIRouter(route_class=ProblemRoute)

    @router.post("/echo")
    def echo(body: dict[str, int]) -> dict[str, int]:
        return body

    app.include_router(router)
    with TestClient(app) as client:
        resp = client.post("/echo", content=b"{}", headers={"content-length": "x2"})
        assert_problem(resp, 400, "BAD_REQUEST")


def test_routers_answer_problems_without_the_app_handlers(client: TestClient, world: World) -> None:
    # The app of this fixture has no install_error_handlers(): the route class is enough.
    assert_problem(
        client.get("/v1/me/grants/gr_x/receipt", headers=user_headers(ANA)), 404, "UNKNOWN_GRANT"
    )
    assert_problem(
        client.get("/v1/hosts/me/requirements/x", headers=host_headers(BISTRO)),
        422,
        "VALIDATION_ERROR",
    )
    # Outside the routers, the app's own defaults still apply.
    assert client.get("/v1/nowhere").json() == {"detail": "Not Found"}


def test_install_error_handlers_covers_the_whole_app(sdk: DualId, world: World) -> None:
    app = make_app(sdk, handlers=True)

    @app.get("/own/{n}")
    def own(n: int) -> dict[str, int]:
        if n == 1:
            raise errors.UnknownEvent("no such event")
        if n == 2:
            raise RuntimeError("agt_leaky internal detail")
        return {"n": n}

    with TestClient(app, raise_server_exceptions=False) as client:
        assert_problem(client.get("/nowhere"), 404, "ROUTE_NOT_FOUND")
        assert_problem(client.post("/v1/hosts/me"), 405, "METHOD_NOT_ALLOWED")
        assert_problem(client.get("/own/x"), 422, "VALIDATION_ERROR")
        assert_problem(client.get("/own/1"), 404, "UNKNOWN_EVENT")
        with pytest.MonkeyPatch.context() as quiet:
            quiet.setattr(logging.getLogger("dualid.fastapi"), "disabled", True)
            resp = client.get("/own/2")
        body = assert_problem(resp, 500, "INTERNAL_ERROR")
        assert "agt_" not in json.dumps(body)
        assert client.get("/own/3").json() == {"n": 3}


# -- packaging -------------------------------------------------------------------------------
def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_missing_fastapi_names_the_extra() -> None:
    proc = _run(
        "import sys; sys.modules['fastapi'] = None\n"
        "try:\n"
        "    import dualid.fastapi\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert "pip install 'dualid[fastapi]'" in proc.stdout


def test_the_core_never_imports_fastapi() -> None:
    proc = _run(
        "import sys, dualid, dualid.testing, dualid.sdk\n"
        "with dualid.DualId.open('sqlite://') as sdk: sdk.identity.agent_for('u')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
