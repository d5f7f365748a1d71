"""P4: every ciphertext is bound to its agent, record, field and key version. Moved to
another row or field (raw SQL, as an attacker with write access would), it fails with
DecryptionFailed; the SDK never returns another person's or another field's data."""

from __future__ import annotations

import pytest

from dualid import DecryptionFailed, DualId, EventUserData

from ..support import execute, rows

ANA = EventUserData(name="Ana", email="ana@example.com", company_affiliation="Acme")
BEA = EventUserData(name="Bea", email="bea@example.com", company_affiliation="Initech")


def _two(sdk: DualId) -> tuple[str, str]:
    a = sdk.identity.agent_for("user-a")
    b = sdk.identity.agent_for("user-b")
    sdk.profiles.put(a, ANA)
    sdk.profiles.put(b, BEA)
    return a, b


def _blob(sdk: DualId, record: str, field: str) -> bytes:
    ((blob,),) = rows(
        sdk,
        "SELECT ciphertext FROM dualid_sealed WHERE record_id = :r AND field = :f",
        r=record,
        f=field,
    )
    return bytes(blob)


def _set(sdk: DualId, record: str, field: str, blob: bytes) -> None:
    changed = execute(
        sdk,
        "UPDATE dualid_sealed SET ciphertext = :c WHERE record_id = :r AND field = :f",
        c=blob,
        r=record,
        f=field,
    )
    assert changed == 1


def test_swap_between_people(sdk: DualId) -> None:
    a, b = _two(sdk)
    blob_a, blob_b = _blob(sdk, "p:" + a, "name"), _blob(sdk, "p:" + b, "name")
    _set(sdk, "p:" + a, "name", blob_b)
    _set(sdk, "p:" + b, "name", blob_a)
    for agent in (a, b):
        with pytest.raises(DecryptionFailed) as info:
            sdk.profiles.get(agent)
        assert info.value.code == "DECRYPTION_FAILED"
        assert "Ana" not in str(info.value)
        assert agent not in str(info.value)


def test_swap_between_fields_of_one_person(sdk: DualId) -> None:
    a, _ = _two(sdk)
    name, company = _blob(sdk, "p:" + a, "name"), _blob(sdk, "p:" + a, "company_affiliation")
    _set(sdk, "p:" + a, "name", company)
    _set(sdk, "p:" + a, "company_affiliation", name)
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_copy_one_field_over_another(sdk: DualId) -> None:
    a, _ = _two(sdk)
    _set(sdk, "p:" + a, "email", _blob(sdk, "p:" + a, "name"))
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_row_relabelled_to_another_agent(sdk: DualId) -> None:
    # Move Bea's name row under Ana's profile (agent_id and record_id rewritten).
    a, b = _two(sdk)
    execute(sdk, "DELETE FROM dualid_sealed WHERE record_id = :r AND field = 'name'", r="p:" + a)
    execute(
        sdk,
        "UPDATE dualid_sealed SET record_id = :ra, agent_id = :aa "
        "WHERE record_id = :rb AND field = 'name'",
        ra="p:" + a,
        aa=a,
        rb="p:" + b,
    )
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_user_id_ciphertext_moved_into_a_profile(sdk: DualId) -> None:
    a, _ = _two(sdk)
    _set(sdk, "p:" + a, "name", _blob(sdk, "u:" + a, "user_id"))
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_user_id_swapped_between_agents(sdk: DualId) -> None:
    a, b = _two(sdk)
    blob_a, blob_b = _blob(sdk, "u:" + a, "user_id"), _blob(sdk, "u:" + b, "user_id")
    _set(sdk, "u:" + a, "user_id", blob_b)
    _set(sdk, "u:" + b, "user_id", blob_a)
    with pytest.raises(DecryptionFailed):
        sdk.identity.user_for(a, actor="support", reason="p4")


def test_key_version_changed(sdk: DualId) -> None:
    a, _ = _two(sdk)
    execute(sdk, "UPDATE dualid_sealed SET dek_version = 2 WHERE record_id = :r", r="p:" + a)
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_wrapped_data_keys_swapped_between_agents(sdk: DualId) -> None:
    a, b = _two(sdk)
    ((wa,),) = rows(sdk, "SELECT wrapped FROM dualid_agent_key WHERE agent_id = :a", a=a)
    ((wb,),) = rows(sdk, "SELECT wrapped FROM dualid_agent_key WHERE agent_id = :a", a=b)
    execute(sdk, "UPDATE dualid_agent_key SET wrapped = :w WHERE agent_id = :a", w=bytes(wb), a=a)
    execute(sdk, "UPDATE dualid_agent_key SET wrapped = :w WHERE agent_id = :a", w=bytes(wa), a=b)
    for agent in (a, b):
        with pytest.raises(DecryptionFailed):
            sdk.profiles.get(agent)


def test_bit_flip_in_a_stored_ciphertext(sdk: DualId) -> None:
    a, _ = _two(sdk)
    blob = bytearray(_blob(sdk, "p:" + a, "email"))
    blob[-1] ^= 0x01
    _set(sdk, "p:" + a, "email", bytes(blob))
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(a)


def test_untouched_rows_still_open(sdk: DualId) -> None:
    # The control: without tampering both profiles read back as written.
    a, b = _two(sdk)
    assert sdk.profiles.get(a) == ANA
    assert sdk.profiles.get(b) == BEA
