"""HTTP schemas derived from the SDK's own types (DESIGN: declare a shape once): the
webhook endpoint's fields are the SDK's ``WebhookEndpoint`` fields but its host_id."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from dualid import webhooks
from dualid.fastapi._schemas import WebhookEndpoint, _output_fields

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_the_endpoint_schema_has_the_sdk_fields_in_their_order() -> None:
    sdk_fields = [f.name for f in dataclasses.fields(webhooks.WebhookEndpoint)]
    assert list(WebhookEndpoint.model_fields) == [f for f in sdk_fields if f != "host_id"]


def test_every_key_but_the_secret_is_required_in_a_response() -> None:
    required = WebhookEndpoint.model_json_schema(by_alias=True)["required"]
    assert required == [
        "url",
        "enabled",
        "publicKeys",
        "previousValidUntil",
        "createdAt",
        "updatedAt",
        "disabledAt",
        "disabledReason",
    ]


def test_an_endpoint_converts_and_keeps_its_host_id_out() -> None:
    endpoint = webhooks.WebhookEndpoint(
        host_id="bistro-7",
        url="https://bistro.example/hooks",
        enabled=True,
        public_keys=("whpk_a", "whpk_b"),
        previous_valid_until=AT,
        created_at=AT,
        updated_at=AT,
    )
    body = WebhookEndpoint.of(endpoint).model_dump(mode="json", by_alias=True)
    assert body["publicKeys"] == ["whpk_a", "whpk_b"]
    assert body["secret"] is None
    assert "hostId" not in body
    assert "bistro-7" not in str(body)


def test_output_fields_make_tuples_lists_and_every_field_required() -> None:
    @dataclasses.dataclass
    class Shape:
        a: str
        b: tuple[int, ...] = ()
        c: str | None = None

    assert _output_fields(Shape, exclude=frozenset({"c"})) == {
        "a": (str, ...),
        "b": (list[int], ...),
    }
