"""P9: bad input gets a clear DualIdError subclass (or a pydantic ValidationError /
ValueError when building a model), a message without personal data, and changes nothing:
every dualid table's row count and the audit head are the same before and after. A failure
injected in the middle of an operation leaves nothing half-written."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dualid import DualId, DualIdError, EventUserData, generate_master_key
from dualid.crypto import ENV_MASTER_KEY
from dualid.errors import (
    ConfigurationError,
    InvalidField,
    InvalidInput,
    MissingKeyError,
    UnknownAgent,
)
from dualid.testing import FakeClock

from ..support import InjectedFault, fail_on_sql, snapshot

NAME = "Gwendolyn Featherstonehaugh"
EMAIL = "gwendolyn.f@example.org"
USER = "bad-input-user-91b2"


@pytest.fixture
def person(sdk: DualId) -> str:
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, EventUserData(name=NAME, email=EMAIL))
    return agent


def _no_pii(exc: BaseException, *values: str) -> None:
    text = f"{exc}\n{exc!r}"
    if isinstance(exc, DualIdError):
        text += f"\n{exc.to_dict()}"
    for value in (NAME, EMAIL, USER, *values):
        assert value not in text, f"{value!r} leaked into the error"


# Each case: (expected error, call(sdk, agent)) with the offending value it must not echo.
SDK_CASES: dict[str, tuple[type[BaseException], Callable[[DualId, str], Any], str]] = {
    "bad phone": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, phone_number="+1 999 000 12345678"),
        "12345678",
    ),
    "bad email": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, email="gwendolyn.f@@example"),
        "gwendolyn.f@@example",
    ),
    "oversized additional data": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, additional_data={"x": "secretpad" * 2000}),
        "secretpad",
    ),
    "too deep additional data": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, additional_data={"a": {"b": {"c": {"d": ["deep"]}}}}),
        "deep",
    ),
    "non-JSON additional data": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, additional_data={"blob": b"rawbytes-77"}),
        "rawbytes-77",
    ),
    "NaN in additional data": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, additional_data={"score": float("nan")}),
        "nan",
    ),
    "future birthday": (
        InvalidField,
        lambda sdk, a: sdk.profiles.put(
            a, EventUserData(name=NAME, birthday=sdk.clock.now().time.date() + timedelta(days=2))
        ),
        "",
    ),
    "future birthday via update": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(
            a, birthday=sdk.clock.now().time.date() + timedelta(days=400)
        ),
        "",
    ),
    "unknown profile key": (
        InvalidField,
        lambda sdk, a: sdk.profiles.update(a, shoe_size=44),
        "44",
    ),
    "not a model": (
        InvalidInput,
        lambda sdk, a: sdk.profiles.put(a, {"name": NAME}),  # type: ignore[arg-type]
        "",
    ),
    "empty userId": (InvalidInput, lambda sdk, a: sdk.identity.agent_for(""), ""),
    "blank userId": (InvalidInput, lambda sdk, a: sdk.identity.agent_for("   "), ""),
    "huge userId": (
        InvalidInput,
        lambda sdk, a: sdk.identity.agent_for("hugeuser" * 100),
        "hugeuser",
    ),
    "non-string userId": (InvalidInput, lambda sdk, a: sdk.identity.agent_for(12345), "12345"),  # type: ignore[arg-type]
    "bad agentId for get": (
        InvalidInput,
        lambda sdk, a: sdk.profiles.get("user-bad-agent"),
        "user-bad-agent",
    ),
    "bad agentId for put": (
        InvalidInput,
        lambda sdk, a: sdk.profiles.put("x" * 50, EventUserData(name=NAME)),
        "x" * 50,
    ),
    "bad agentId for erase": (InvalidInput, lambda sdk, a: sdk.erase(""), ""),
    "overlong agentId": (
        InvalidInput,
        lambda sdk, a: sdk.identity.user_for("agt_" + "z" * 60, actor="a", reason="b"),
        "z" * 60,
    ),
    "unknown agent for put": (
        UnknownAgent,
        lambda sdk, a: sdk.profiles.put("agt_nobody", EventUserData(name=NAME)),
        "agt_nobody",
    ),
    "unknown agent for erase": (UnknownAgent, lambda sdk, a: sdk.erase("agt_nobody"), "agt_nobody"),
    "unknown agent for user_for": (
        UnknownAgent,
        lambda sdk, a: sdk.identity.user_for("agt_nobody", actor="a", reason="b"),
        "agt_nobody",
    ),
    "unknown agent for delete": (
        UnknownAgent,
        lambda sdk, a: sdk.profiles.delete("agt_nobody"),
        "agt_nobody",
    ),
    "user_for without reason": (
        InvalidInput,
        lambda sdk, a: sdk.identity.user_for(a, actor="support", reason=" "),
        "",
    ),
    "user_for with a huge actor": (
        InvalidInput,
        lambda sdk, a: sdk.identity.user_for(a, actor="actorpad" * 40, reason="r"),
        "actorpad",
    ),
}


@pytest.mark.parametrize("case", list(SDK_CASES))
def test_bad_input_raises_and_changes_nothing(sdk: DualId, person: str, case: str) -> None:
    error, call, value = SDK_CASES[case]
    before = snapshot(sdk)
    with pytest.raises(error) as info:
        call(sdk, person)
    assert isinstance(info.value, DualIdError)
    assert info.value.code == error.code
    _no_pii(info.value, *([value] if value else []), person)
    assert snapshot(sdk) == before
    assert sdk.profiles.get(person) == EventUserData(name=NAME, email=EMAIL)


MODEL_CASES: dict[str, dict[str, Any]] = {
    "bad phone": {"phone_number": "+1 999 000 1234567890"},
    "phone letters": {"phone_number": "call-me-gwen"},
    "bad email": {"email": "gwendolyn.f@"},
    "oversized additional data": {"additional_data": {"x": "y" * 9000}},
    "too deep additional data": {"additional_data": {"a": {"b": {"c": {"d": {"e": 1}}}}}},
    "non-JSON additional data": {"additional_data": {"when": date(2020, 1, 1)}},
    "infinity": {"additional_data": {"x": float("inf")}},
    "not an object": {"additional_data": ["a", "list"]},
    "empty name": {"name": ""},
    "control characters": {"name": "Gwen\x07dolyn"},
    "ancient birthday": {"birthday": date(1850, 1, 1)},
    "unknown key": {"nickname": "gwen"},
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_bad_model_input_is_a_validation_error(case: str) -> None:
    kwargs = MODEL_CASES[case]
    with pytest.raises(ValidationError) as info:
        EventUserData(**kwargs)
    assert isinstance(info.value, ValueError)
    for value in kwargs.values():
        if isinstance(value, str) and len(value) > 3:
            assert value not in str(info.value)


# --- configuration ------------------------------------------------------------------------


def _seeded_sqlite(tmp_path: Path, clock: FakeClock) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path}/dualid.db"
    key = f"main:{generate_master_key()}"
    with DualId.open(url, keys=key, clock=clock) as sdk:
        agent = sdk.identity.agent_for(USER)
        sdk.profiles.put(agent, EventUserData(name=NAME))
    return url, key


def _state(url: str, key: str, clock: FakeClock) -> dict[str, Any]:
    with DualId.open(url, keys=key, clock=clock) as sdk:
        return snapshot(sdk)


@pytest.mark.parametrize(
    "bad_key",
    ["not-a-key", "main:c2hvcnQ=", "a:" + generate_master_key() + ",a:" + generate_master_key()],
    ids=["garbage", "short", "duplicate-ids"],
)
def test_bad_master_key_string(tmp_path: Path, clock: FakeClock, bad_key: str) -> None:
    url, key = _seeded_sqlite(tmp_path, clock)
    before = _state(url, key, clock)
    with pytest.raises(ConfigurationError) as info:
        DualId.open(url, keys=bad_key, clock=clock)
    _no_pii(info.value, bad_key.split(":")[-1])
    assert _state(url, key, clock) == before


def test_wrong_master_key_for_an_existing_database(tmp_path: Path, clock: FakeClock) -> None:
    url, key = _seeded_sqlite(tmp_path, clock)
    before = _state(url, key, clock)
    with pytest.raises(ConfigurationError) as info:
        DualId.open(url, keys=f"main:{generate_master_key()}", clock=clock)
    _no_pii(info.value)
    assert _state(url, key, clock) == before


def test_key_file_with_mode_0644(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, clock=clock) as sdk:
        sdk.identity.agent_for(USER)
    key_file = tmp_path / "dualid.db.key"
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigurationError, match="644") as info:
        DualId.open(url, clock=clock)
    assert key_file.read_text().strip() not in str(info.value)
    os.chmod(key_file, 0o600)
    with DualId.open(url, clock=clock) as sdk:
        assert sdk.identity.lookup(USER) is not None


@pytest.mark.postgres
def test_postgres_without_keys(
    postgres_url: str, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    key = generate_master_key()
    with DualId.open(postgres_url, keys=key, clock=clock) as sdk:
        sdk.identity.agent_for(USER)
        before = snapshot(sdk)
    with pytest.raises(MissingKeyError) as info:
        DualId.open(postgres_url, clock=clock)
    assert info.value.code == "MISSING_KEY"
    with DualId.open(postgres_url, keys=key, clock=clock) as sdk:
        assert snapshot(sdk) == before


@pytest.mark.parametrize(
    "url", ["mysql://user@localhost/db", "not a url at all", "oracle://x"], ids=str
)
def test_unsupported_database_url(url: str) -> None:
    with pytest.raises(ConfigurationError):
        DualId.open(url, keys=generate_master_key())


# --- faults in the middle of an operation ---------------------------------------------------


class Boom(Exception):
    pass


def _boom(*args: object, **kwargs: object) -> Any:
    raise Boom


@pytest.mark.parametrize(
    "needle",
    ["INSERT INTO dualid_audit", "INSERT INTO dualid_sealed", "DELETE FROM dualid_sealed"],
    ids=["audit-append", "seal", "delete-fields"],
)
def test_failed_profile_write_leaves_nothing_half_written(
    sdk: DualId, person: str, needle: str
) -> None:
    before = snapshot(sdk)
    with fail_on_sql(sdk, needle) as seen, pytest.raises(InjectedFault):
        # Changes two fields and removes one: every part must roll back together.
        sdk.profiles.put(person, EventUserData(name="Someone Else", phone_number="+14155552671"))
    assert seen
    assert snapshot(sdk) == before
    assert sdk.profiles.get(person) == EventUserData(name=NAME, email=EMAIL)
    assert sdk.audit.verify().ok


@pytest.mark.parametrize(
    "needle",
    ["INSERT INTO dualid_audit", "INSERT INTO dualid_sealed", "INSERT INTO dualid_agent_key"],
    ids=["audit-append", "seal", "create-dek"],
)
def test_failed_agent_creation_leaves_nothing_half_written(
    sdk: DualId, person: str, needle: str
) -> None:
    before = snapshot(sdk)
    with fail_on_sql(sdk, needle) as seen, pytest.raises(InjectedFault):
        sdk.identity.agent_for("brand-new-user")
    assert seen
    assert snapshot(sdk) == before
    assert sdk.identity.lookup("brand-new-user") is None
    agent = sdk.identity.agent_for("brand-new-user")  # works once the fault is gone
    assert sdk.identity.user_for(agent, actor="a", reason="b") == "brand-new-user"


@pytest.mark.parametrize("needle", ["INSERT INTO dualid_audit ", "INSERT INTO dualid_sealed"])
def test_failed_bulk_creation_rolls_back_its_batch(sdk: DualId, needle: str) -> None:
    sdk.identity.agent_for("bulk-0")  # one exists already
    before = snapshot(sdk)
    with fail_on_sql(sdk, needle) as seen, pytest.raises(InjectedFault):
        sdk.identity.agents_for([f"bulk-{i}" for i in range(5)])
    assert seen
    assert snapshot(sdk) == before
    assert sdk.identity.lookup("bulk-3") is None


@pytest.mark.parametrize(
    "needle", ["INSERT INTO dualid_audit ", "UPDATE dualid_audit_head", "DELETE FROM dualid_sealed"]
)
def test_fault_in_the_database_mid_erasure(sdk: DualId, person: str, needle: str) -> None:
    before = snapshot(sdk)
    with fail_on_sql(sdk, needle), pytest.raises(InjectedFault):
        sdk.erase(person)
    assert snapshot(sdk) == before
    assert sdk.profiles.get(person) == EventUserData(name=NAME, email=EMAIL)


@pytest.mark.parametrize("needle", ["INSERT INTO dualid_audit ", "INSERT INTO dualid_sealed"])
def test_fault_in_the_database_mid_profile_write(sdk: DualId, person: str, needle: str) -> None:
    before = snapshot(sdk)
    with fail_on_sql(sdk, needle), pytest.raises(InjectedFault):
        sdk.profiles.put(person, EventUserData(name="Someone Else"))
    assert snapshot(sdk) == before
    assert sdk.audit.verify().ok


def test_database_errors_become_store_errors(sdk: DualId, person: str) -> None:
    from dualid.errors import StoreError

    from ..support import execute

    execute(sdk, "DROP TABLE dualid_sealed")
    with pytest.raises(StoreError) as info:
        sdk.profiles.get(person)
    _no_pii(info.value, person)
