"""The OpenAPI document: committed, complete, and in step with the SDK."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dualid.consent._engine import _EVENT_ID, _HOST_ID
from dualid.fastapi import API_VERSION
from dualid.fastapi._schemas import EVENT_ID_PATTERN, HOST_ID_PATTERN, FieldName
from dualid.fastapi.openapi import openapi_document, render
from dualid.models import DataField

from .conftest import ANA, BISTRO, TestClient, World, host_headers, state, user_headers
from .test_host_routes import assert_problem

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "openapi.json"

REGENERATE = """
docs/openapi.json is out of date: the HTTP API changed.

If the change is intended, regenerate the file and commit it with the change:

    python -m dualid.fastapi.openapi

and check docs/versioning.md: removing or renaming a route, a field or an error code, or
making an optional input required, is a breaking change that needs a new /vN prefix.
"""

ROUTES = {
    ("get", "/v1/hosts/me"),
    ("get", "/v1/hosts/me/requirements/{event_type}"),
    ("put", "/v1/hosts/me/requirements/{event_type}"),
    ("get", "/v1/hosts/me/events/{event_id}/attendees"),
    ("get", "/v1/hosts/me/webhook"),
    ("put", "/v1/hosts/me/webhook"),
    ("delete", "/v1/hosts/me/webhook"),
    ("post", "/v1/hosts/me/webhook/secret"),
    ("get", "/v1/hosts/me/webhook/deliveries"),
    ("get", "/v1/me/profile"),
    ("put", "/v1/me/profile"),
    ("get", "/v1/me/sharing"),
    ("post", "/v1/me/registrations"),
    ("get", "/v1/me/registrations"),
    ("delete", "/v1/me/registrations/{registration_id}"),
    ("get", "/v1/me/registrations/{registration_id}/explain"),
    ("post", "/v1/me/grants"),
    ("delete", "/v1/me/grants/{grant_id}"),
    ("get", "/v1/me/grants/{grant_id}/receipt"),
    ("delete", "/v1/me/hosts/{host_id}/grants"),
    ("delete", "/v1/me/hosts/{host_id}/events/{event_id}/grants"),
    ("get", "/v1/me/defaults"),
    ("put", "/v1/me/defaults/{event_type}"),
    ("get", "/v1/me/history"),
    ("get", "/v1/me/export"),
    ("delete", "/v1/me"),
}


def test_committed_openapi_is_current() -> None:
    current = openapi_document()
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == current, REGENERATE
    assert COMMITTED.read_text(encoding="utf-8") == render(current), REGENERATE


def _openapi(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dualid.fastapi.openapi", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def test_export_command_checks(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    assert _openapi("--output", str(out)).returncode == 0
    assert _openapi("--output", str(out), "--check").returncode == 0
    assert json.loads(out.read_text()) == json.loads(COMMITTED.read_text())
    out.write_text(out.read_text().replace('"title"', '"Title"', 1))
    stale = _openapi("--check", str(out))
    assert stale.returncode == 1
    assert f"out of date: run python -m dualid.fastapi.openapi {out}" in stale.stderr


def test_check_takes_the_path_and_a_missing_file_is_not_out_of_date(tmp_path: Path) -> None:
    # Outside the repository root the default docs/openapi.json is not there: say so.
    missing = _openapi("--check", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no OpenAPI document at docs/openapi.json" in missing.stderr
    assert "out of date" not in missing.stderr
    assert not (tmp_path / "docs").exists()  # --check writes nothing
    assert _openapi("--check", str(COMMITTED), cwd=tmp_path).returncode == 0
    assert _openapi("--check", cwd=ROOT).returncode == 0  # the default, from the root
    written = _openapi(str(tmp_path / "api.json"), cwd=tmp_path)
    assert written.returncode == 0
    assert (tmp_path / "api.json").read_text() == COMMITTED.read_text()


def test_every_route_is_documented_with_its_failures() -> None:
    doc = openapi_document()
    assert doc["info"]["version"] == API_VERSION
    found = {(m, p) for p, ops in doc["paths"].items() for m in ops}
    assert found == ROUTES
    problem = {"$ref": "#/components/schemas/Problem"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            responses = op["responses"]
            assert {"400", "401", "422", "500", "503"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    assert response["content"]["application/json"]["schema"] == problem
                    assert response["description"]
            if "requestBody" in op:
                assert {"400", "413"} <= set(responses), (method, path)
            assert op["operationId"]
            assert "HTTPValidationError" not in json.dumps(op)


def test_no_agent_id_in_any_schema() -> None:
    doc = openapi_document()
    names = [
        name.lower()
        for schema in doc["components"]["schemas"].values()
        for name in schema.get("properties", {})
    ]
    names += [
        param["name"].lower()
        for ops in doc["paths"].values()
        for op in ops.values()
        for param in op.get("parameters", [])
    ]
    assert names
    assert not [n for n in names if "agent" in n]


def test_patterns_match_the_sdk() -> None:
    assert f"^{_HOST_ID.pattern}$" == HOST_ID_PATTERN
    assert f"^{_EVENT_ID.pattern}$" == EVENT_ID_PATTERN
    assert [f.value for f in FieldName] == [d.alias for d in DataField]
    assert re.fullmatch(HOST_ID_PATTERN[1:-1], "bistro-7")


BODY_ROUTES = [
    (method, path)
    for path, ops in openapi_document()["paths"].items()
    for method, op in ops.items()
    if "requestBody" in op
]


def test_the_routes_that_take_a_body() -> None:
    assert sorted(BODY_ROUTES) == [
        ("post", "/v1/me/grants"),
        ("post", "/v1/me/registrations"),
        ("put", "/v1/hosts/me/requirements/{event_type}"),
        ("put", "/v1/hosts/me/webhook"),
        ("put", "/v1/me/defaults/{event_type}"),
        ("put", "/v1/me/profile"),
    ]


@pytest.mark.parametrize(("method", "path"), [*BODY_ROUTES, ("get", "/v1/me/profile")])
def test_the_documented_400_is_what_a_bad_content_length_gets(
    client: TestClient, world: World, method: str, path: str
) -> None:
    url = path.replace("{event_type}", "reservation")
    headers = {**host_headers(BISTRO), **user_headers(ANA), "content-length": "2x"}
    before = state(world.sdk)
    resp = client.request(method.upper(), url, content=b"{}", headers=headers)
    assert_problem(resp, 400, "BAD_REQUEST")
    assert state(world.sdk) == before
    documented = openapi_document()["paths"][path][method]["responses"]["400"]
    assert "BAD_REQUEST" in documented["description"]
