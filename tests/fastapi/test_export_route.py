"""GET /me/export: the person's whole record over HTTP (GDPR Art. 15 and 20)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.testclient import TestClient

from dualid.fastapi._schemas import (
    Default,
    Export,
    ExportClock,
    ExportHost,
    Grant,
    HistoryEntry,
    Profile,
    Registration,
)
from dualid.sdk import EXPORT_FORMAT

from .conftest import ANA, BEN, CARA, World, agent_ids, state
from .conftest import user_headers as uh

ANA_H = uh(ANA)
CARA_H = uh(CARA)
COMPARABLE = ("format", "exportedAt", "clock", "profile", "hosts", "registrations", "grants")


def _aliases(model: type[BaseModel]) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


def assert_matches_schema(doc: dict[str, Any]) -> None:
    """The document validates against the documented schema, and has exactly its keys
    (the schema is the OpenAPI description of sdk.export; this keeps the two in step)."""
    Export.model_validate(doc)
    assert set(doc) == _aliases(Export)
    assert set(doc["clock"]) == _aliases(ExportClock)
    if doc["profile"] is not None:
        assert set(doc["profile"]) <= _aliases(Profile)
    for key, model in (
        ("hosts", ExportHost),
        ("registrations", Registration),
        ("grants", Grant),
        ("defaults", Default),
        ("history", HistoryEntry),
    ):
        for item in doc[key]:
            assert set(item) == _aliases(model), key


def test_export(client: TestClient, world: World) -> None:
    resp = client.get("/v1/me/export", headers=ANA_H)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert_matches_schema(doc)
    assert doc["format"] == EXPORT_FORMAT
    assert doc["profile"]["name"] == "Ana Lima"
    assert sorted(r["eventId"] for r in doc["registrations"]) == ["meet-1", "res-1"]
    assert world.ana_grant in {g["id"] for g in doc["grants"]}
    assert len(doc["receipts"]) == len(doc["grants"])
    for receipt in doc["receipts"]:
        assert world.sdk.consent.verify_receipt(receipt)
    # The same document as the SDK's (the clock stands still; history and receipts grow
    # with every export).
    again = world.sdk.export(world.ana)
    assert {k: doc[k] for k in COMPARABLE} == {k: again[k] for k in COMPARABLE}
    # The export is recorded in the person's history.
    history = client.get("/v1/me/history", headers=ANA_H).json()["items"]
    assert history[-1]["action"] == "agent.exported"
    assert world.sdk.audit.verify().ok


def test_export_holds_no_agent_id_and_nothing_of_others(client: TestClient, world: World) -> None:
    # P1: the person's export holds no agentId, their own included (it is meant to be
    # handed on, also to hosts).
    world.sdk.identity.user_for(world.ana, actor="support", reason=f"linked to {world.ben}")
    text = client.get("/v1/me/export", headers=ANA_H).text
    assert "agt_" not in text
    for agent in agent_ids(world.sdk):
        assert agent not in text
    for other in ("Ben Okafor", "ben@example.org", "+442079460958", world.ben_grant, BEN):
        assert other not in text
    assert ANA not in text  # the userId is the platform's, not held in the clear


def test_export_of_a_person_with_nothing_stored(client: TestClient, world: World) -> None:
    before = state(world.sdk)
    resp = client.get("/v1/me/export", headers=CARA_H)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert_matches_schema(doc)
    assert doc["format"] == EXPORT_FORMAT
    assert doc["exportedAt"] == world.sdk.clock.now().time.isoformat()
    assert doc["profile"] is None
    assert all(doc[k] == [] for k in doc if k not in ("format", "exportedAt", "clock", "profile"))
    # Nothing created, and the same shape as a full export.
    assert state(world.sdk) == before
    assert world.sdk.identity.lookup(CARA) is None
    assert set(doc) == set(world.sdk.export(world.ana))


def test_export_after_erasure_is_empty(client: TestClient, world: World) -> None:
    assert client.delete("/v1/me", headers=ANA_H).status_code == 204
    doc = client.get("/v1/me/export", headers=ANA_H).json()
    assert doc["profile"] is None
    assert doc["history"] == []
    assert json.dumps(doc).count("Ana") == 0
