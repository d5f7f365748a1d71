"""Field encryption: AES-GCM round trips, tamper detection, context binding (properties)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from dualid import DecryptionFailed, DualId, EventUserData
from dualid.crypto import field_aad, open_field, seal_field
from dualid.crypto._dek import DataKey
from dualid.crypto._fields import decode_value, encode_value, open_rows, sealed_rows
from dualid.models import DataField
from dualid.testing import FakeClock

from ..test_models import user_data

KEY = AESGCM(secrets.token_bytes(32))
AAD = field_aad("agt_x", "p:agt_x", "name", 1)


@given(st.binary(max_size=2048), st.binary(max_size=64))
def test_seal_open_round_trip(plaintext: bytes, aad: bytes) -> None:
    assert open_field(KEY, seal_field(KEY, plaintext, aad), aad) == plaintext


@given(st.binary(min_size=0, max_size=256), st.data())
def test_any_bit_flip_fails(plaintext: bytes, data: st.DataObject) -> None:
    blob = bytearray(seal_field(KEY, plaintext, AAD))
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1))
    blob[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(DecryptionFailed):
        open_field(KEY, bytes(blob), AAD)


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=40))
def test_truncation_fails(plaintext: bytes, cut: int) -> None:
    blob = seal_field(KEY, plaintext, AAD)
    with pytest.raises(DecryptionFailed):
        open_field(KEY, blob[: max(0, len(blob) - 1 - cut)], AAD)


def test_same_plaintext_seals_differently() -> None:
    assert seal_field(KEY, b"Ana", AAD) != seal_field(KEY, b"Ana", AAD)


@pytest.mark.parametrize(
    "other",
    [
        ("agt_y", "p:agt_x", "name", 1),
        ("agt_x", "p:agt_y", "name", 1),
        ("agt_x", "p:agt_x", "email", 1),
        ("agt_x", "p:agt_x", "name", 2),
    ],
    ids=["agent", "record", "field", "key-version"],
)
def test_ciphertext_is_bound_to_its_context(other: tuple[str, str, str, int]) -> None:
    blob = seal_field(KEY, b"Ana", AAD)
    with pytest.raises(DecryptionFailed, match="did not authenticate"):
        open_field(KEY, blob, field_aad(*other))


def test_context_fields_cannot_be_shifted() -> None:
    # A separator keeps ("ab", "c") and ("a", "bc") apart.
    assert field_aad("agt_ab", "c", "name", 1) != field_aad("agt_a", "bc", "name", 1)


def test_wrong_key_fails() -> None:
    blob = seal_field(KEY, b"Ana", AAD)
    with pytest.raises(DecryptionFailed):
        open_field(AESGCM(secrets.token_bytes(32)), blob, AAD)


@given(user_data)
def test_value_encoding_round_trips_every_field(data: EventUserData) -> None:
    for field in DataField:
        value = getattr(data, field.value)
        if value is None:
            continue
        assert decode_value(field.value, encode_value(field.value, value)) == value


def test_birthday_is_decoded_as_a_date() -> None:
    assert decode_value("birthday", encode_value("birthday", date(1990, 5, 17))) == date(
        1990, 5, 17
    )


@settings(max_examples=40, deadline=None)
@given(user_data)
def test_profile_round_trip_through_the_store(data: EventUserData) -> None:
    with DualId.open("sqlite://", clock=FakeClock()) as sdk:
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, data)
        got = sdk.profiles.get(agent)
    personal = data.only(data.personal_fields())
    if not personal.personal_fields():
        assert got is None
    else:
        assert got is not None
        # A profile stores the personal fields; snapshot metadata is not part of it.
        assert (
            got.model_dump()
            == personal.model_copy(
                update={
                    "shared_with_host": None,
                    "shared_at": None,
                    "revoked_at": None,
                    "event_type": None,
                }
            ).model_dump()
        )


def test_sealed_rows_open_back_with_a_fresh_nonce_per_field() -> None:
    dek = DataKey(AESGCM(AESGCM.generate_key(256)), 3)
    values = {"name": "Ana", "email": "ana@example.org", "birthday": date(1990, 4, 2)}
    values |= {"additional_data": {"diet": ["vegan"], "seats": 2}}
    rows = sealed_rows(dek, "agt_x", "p:agt_x", values, datetime(2026, 1, 1, tzinfo=UTC))
    assert [r[1] for r in rows] == list(values)
    assert {r[3] for r in rows} == {3}
    nonces = {r[4][1:13] for r in rows}
    assert len(nonces) == len(values)
    opened = open_rows([(r[0], r[1], r[2], r[3], r[4]) for r in rows], {"agt_x": dek})
    assert opened == {"p:agt_x": values}
