"""Opaque ids: lowercase base32 of 128 random bits, as base64.b32encode spells them."""

from __future__ import annotations

import base64
import re

import pytest

from dualid import _runtime


@pytest.mark.parametrize(
    "raw",
    [bytes(16), b"\xff" * 16, bytes(range(16)), b"\x80" + bytes(15), bytes(15) + b"\x01"],
)
def test_new_id_is_base32_of_its_random_bytes(raw: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_runtime.secrets, "token_bytes", lambda n: raw)
    expected = base64.b32encode(raw).decode().lower().rstrip("=")
    assert _runtime.new_id("agt") == "agt_" + expected


def test_new_ids_have_the_documented_shape_and_differ() -> None:
    ids = {_runtime.new_id("reg") for _ in range(2000)}
    assert len(ids) == 2000
    assert all(re.fullmatch(r"reg_[a-z2-7]{26}", i) for i in ids)
