"""The ``cursor``/``limit`` dependency of the paged routes (dualid.fastapi._paging), on a
router of its own: the bounds it declares are the ones it enforces and documents.

No ``from __future__ import annotations``: FastAPI reads the local route's signature."""

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient

from dualid.fastapi._paging import PageQuery, page_query
from dualid.fastapi._routing import ProblemRoute

from .test_host_routes import assert_problem


@pytest.fixture
def app() -> FastAPI:
    router = APIRouter(route_class=ProblemRoute)
    asked_for = page_query(cursor_length=8, limit_max=20, limit=5)

    @router.get("/items")
    def items(asked: Annotated[PageQuery, Depends(asked_for)]) -> dict[str, Any]:
        return {"cursor": asked.cursor, "limit": asked.limit}

    app = FastAPI()
    app.include_router(router)
    return app


def test_the_first_page_by_default_or_with_an_empty_cursor(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/items").json() == {"cursor": None, "limit": 5}
    assert client.get("/items", params={"cursor": ""}).json() == {"cursor": None, "limit": 5}
    asked = client.get("/items", params={"cursor": "abc", "limit": 20}).json()
    assert asked == {"cursor": "abc", "limit": 20}


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 21}, {"limit": "x"}, {"cursor": "123456789"}]
)
def test_out_of_bounds_is_a_validation_problem(app: FastAPI, params: dict[str, Any]) -> None:
    assert_problem(TestClient(app).get("/items", params=params), 422, "VALIDATION_ERROR")


def test_the_openapi_document_shows_the_bounds(app: FastAPI) -> None:
    parameters = {p["name"]: p for p in app.openapi()["paths"]["/items"]["get"]["parameters"]}
    assert list(parameters) == ["cursor", "limit"]
    assert parameters["cursor"]["description"] == "From the previous page."
    assert {"type": "string", "maxLength": 8} in parameters["cursor"]["schema"]["anyOf"]
    assert parameters["limit"]["schema"] == {
        "type": "integer",
        "maximum": 20,
        "minimum": 1,
        "default": 5,
        "title": "Limit",
    }
