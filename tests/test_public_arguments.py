"""P9 for every argument of the public API: a bad one is a DualIdError (InvalidInput for a
malformed value), never a foreign exception (TypeError, ValueError, OverflowError,
UnicodeEncodeError, AttributeError) from wherever the value was first used (issue 13).

``test_no_argument_escapes_as_a_foreign_exception`` substitutes each value of ``BAD`` for
each parameter of each public method of the services, the others kept valid; the tests
after it pin the cases found that way.
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dualid import DualId, DualIdError, EventUserData
from dualid.clock import AtomicClock, ClockStatus
from dualid.errors import ConfigurationError, InvalidInput
from dualid.testing import FakeClock

BAD: dict[str, Any] = {
    "None": None,
    "-1": -1,
    "0": 0,
    "2**64": 2**64,
    "-2**64": -(2**64),
    "empty": "",
    "NUL": "x\x00",
    "surrogate": "\ud800",
    "1.5": 1.5,
    "nan": math.nan,
    "inf": math.inf,
    "True": True,
    "object": object(),
    "list": [],
    "bytes": b"x",
    "dict": {},
    "text": "zzz",
    "naive datetime": datetime(2030, 1, 1),
    "past datetime": datetime(2000, 1, 1, tzinfo=UTC),
    "long text": "a" * 5000,
}
SERVICES = ["identity", "profiles", "hosts", "events", "consent", "keys", "audit", "webhooks"]
# Not public API, though their names have no underscore: they take the caller's transaction.
INTERNAL = {"agent_in"}


def _world() -> tuple[DualId, dict[str, Any]]:
    clock = FakeClock()
    sdk = DualId.open("sqlite://", clock=clock)
    sdk.hosts.register("h1", kind="business", name="H")
    sdk.hosts.require("h1", "reservation", required={"name"}, optional={"email"}, purpose="p")
    agent = sdk.identity.agent_for("u1")
    sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.org"))
    reg = sdk.events.register(agent, "h1", "reservation", "e1", share={"name"})
    grant = sdk.consent.grant(agent, "h1", fields={"email"}, event_id="e1", purpose="x")
    valid: dict[str, Any] = {
        "agent_id": agent,
        "host_id": "h1",
        "event_id": "e1",
        "event_type": "reservation",
        "user_id": "u1",
        "user_ids": ["u1"],
        "grant_id": grant.id,
        "registration_id": reg.id,
        "fields": {"name"},
        "share": {"name"},
        "required": {"name"},
        "optional": {"email"},
        "purpose": "p",
        "kind": "business",
        "name": "N",
        "title": "T",
        "data": EventUserData(name="Bea"),
        "field": "name",
        "receipt": sdk.consent.receipt(grant.id),
        "actor": "support",
        "reason": "ticket 1",
        "batch": 10,
        "limit": 10,
        "cursor": None,
        "expires_at": None,
        "starts_at": None,
        "progress": None,
        "include_inactive": False,
        "exist_ok": True,
        "seq": 1,
        "checkpoint": sdk.audit.checkpoint(witness=False),
        "old": sdk.audit.checkpoint(witness=False),
        "new": sdk.audit.checkpoint(witness=False),
        "witness": False,
        "deep": False,
        "url": "https://hooks.h1.example/in",
        "keep_previous_for": timedelta(hours=1),
        "after": 0,
        "connect_timeout": 5.0,
        "read_timeout": 5.0,
        "schedule": [timedelta(seconds=1)],
        "jitter": 0.1,
    }
    sdk.hosts.set_webhook("h1", valid["url"])
    return sdk, valid


def _methods() -> Iterator[tuple[str, str, list[inspect.Parameter]]]:
    sdk, _ = _world()
    with sdk:
        for service in SERVICES:
            for name, method in inspect.getmembers(type(getattr(sdk, service)), callable):
                if name.startswith("_") or name in INTERNAL:
                    continue
                params = [
                    p
                    for p in list(inspect.signature(method).parameters.values())[1:]
                    if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
                ]
                yield service, name, params


METHODS = [(s, m, p) for s, m, p in _methods() if p]


@pytest.mark.parametrize(
    ("service", "method", "params"), METHODS, ids=[f"{s}.{m}" for s, m, _ in METHODS]
)
def test_no_argument_escapes_as_a_foreign_exception(
    service: str, method: str, params: list[inspect.Parameter]
) -> None:
    escaped: list[str] = []
    for param in params:
        sdk, valid = _world()
        with sdk:
            call = getattr(getattr(sdk, service), method)
            for label, bad in BAD.items():
                args: list[Any] = []
                kwargs: dict[str, Any] = {}
                for p in params:
                    if p.name == param.name:
                        value = bad
                    elif p.name in valid:
                        value = valid[p.name]
                    else:
                        assert p.default is not p.empty, f"no valid value for {p.name}"
                        continue
                    if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty:
                        args.append(value)
                    else:
                        kwargs[p.name] = value
                try:
                    result = call(*args, **kwargs)
                    if inspect.isgenerator(result):
                        list(result)
                except DualIdError:
                    pass
                except Exception as exc:  # what the test is about
                    escaped.append(f"{param.name}={label}: {type(exc).__name__}: {exc}")
    assert not escaped, "\n".join(escaped)


def test_every_service_is_swept() -> None:
    swept = {s for s, _, _ in METHODS}
    assert swept == set(SERVICES)


# -- the cases the sweep found -----------------------------------------------------------------
@pytest.fixture
def world() -> Iterator[tuple[DualId, dict[str, Any]]]:
    sdk, valid = _world()
    with sdk:
        yield sdk, valid


@pytest.mark.parametrize("batch", [0, -1, 2**63, 1.5, "10", None, True])
def test_agents_for_batch(world: tuple[DualId, dict[str, Any]], batch: Any) -> None:
    sdk, _ = world
    with pytest.raises(InvalidInput):
        sdk.identity.agents_for(["new-user"], batch=batch)
    assert sdk.identity.lookup("new-user") is None


@pytest.mark.parametrize("users", ["one-string", b"bytes", 5, None])
def test_user_id_collections(world: tuple[DualId, dict[str, Any]], users: Any) -> None:
    sdk, _ = world
    with pytest.raises(InvalidInput):
        sdk.identity.agents_for(users)
    with pytest.raises(InvalidInput):
        sdk.identity.lookup_many(users)


@pytest.mark.parametrize("batch", [0, -1, 10**19, "5"])
def test_keys_rotate_batch(world: tuple[DualId, dict[str, Any]], batch: Any) -> None:
    sdk, _ = world
    with pytest.raises(InvalidInput):
        sdk.keys.rotate(batch=batch)


def test_keys_rotate_progress_must_be_callable(world: tuple[DualId, dict[str, Any]]) -> None:
    sdk, _ = world
    with pytest.raises(InvalidInput):
        sdk.keys.rotate(progress=5)  # type: ignore[arg-type]


@pytest.mark.parametrize("fields", [5, 1.5, True, object()])
def test_field_collections(world: tuple[DualId, dict[str, Any]], fields: Any) -> None:
    sdk, valid = world
    with pytest.raises(InvalidInput):
        sdk.hosts.require("h1", "reservation", required=fields, purpose="p")
    with pytest.raises(InvalidInput):
        sdk.consent.grant(valid["agent_id"], "h1", fields=fields, purpose="p")


@pytest.mark.parametrize("cursor", [5, b"cmVn", ["x"]])
def test_attendee_cursor_must_be_text(world: tuple[DualId, dict[str, Any]], cursor: Any) -> None:
    sdk, _ = world
    with pytest.raises(InvalidInput):
        sdk.events.attendees_page("h1", "e1", cursor=cursor)


# -- DualId.open --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"url": 5}, ConfigurationError),
        ({"url": b"sqlite://"}, ConfigurationError),
        ({"keys": 5}, ConfigurationError),
        ({"keys": object()}, ConfigurationError),
        ({"clock": "system"}, InvalidInput),
        ({"controller": ""}, InvalidInput),
        ({"controller": 5}, InvalidInput),
        ({"controller": "Acme\x00"}, InvalidInput),
        ({"purge_expired_every": 1e300}, InvalidInput),
        ({"keys": "nope:xyz"}, ConfigurationError),
        ({"keys": "aws-kms:"}, ConfigurationError),
        ({"dek_cache_size": -1}, InvalidInput),
        ({"dek_cache_size": "10"}, InvalidInput),
        ({"dek_cache_max_age": math.inf}, InvalidInput),
    ],
)
def test_open_arguments(kwargs: dict[str, Any], error: type[DualIdError]) -> None:
    options: dict[str, Any] = {"url": "sqlite://", "clock": FakeClock(), **kwargs}
    with pytest.raises(error):
        DualId.open(options.pop("url"), **options).close()


# -- the clock ----------------------------------------------------------------------------------
@pytest.mark.parametrize("state_path", [0, 1, True, 5.5, b"x\x00", "clock\x00.json"])
def test_clock_state_path_is_a_path(state_path: Any) -> None:
    # open() takes an int as a file descriptor: 1 would have been stdout, closed after use.
    with pytest.raises(InvalidInput):
        AtomicClock(servers=["127.0.0.1:1"], state_path=state_path)
    os.fstat(1)  # still open


def test_clock_state_path_may_be_a_pathlike(tmp_path: Path) -> None:
    clock = AtomicClock(servers=["127.0.0.1:1"], state_path=tmp_path / "clock.json")  # type: ignore[arg-type]
    clock.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"servers": 5},
        {"servers": [b"127.0.0.1"]},
        {"servers": [None]},
        {"poll_interval": "300"},
        {"poll_interval": None},
        {"timeout": True},
        {"timeout": object()},
        {"burst": 1.5},
        {"burst": "4"},
        {"max_drift_ppm": "500"},
    ],
)
def test_clock_arguments(kwargs: dict[str, Any]) -> None:
    options: dict[str, Any] = {"servers": ["127.0.0.1:1"], **kwargs}
    with pytest.raises(InvalidInput):
        AtomicClock(**options)


@pytest.mark.parametrize("remote", ["not-an-hlc", "", "1.x", 5, None, b"1.2"])
def test_clock_observe(remote: Any) -> None:
    clock = AtomicClock(servers=["127.0.0.1:1"])
    with pytest.raises(InvalidInput):
        clock.observe(remote)
    with pytest.raises(ValueError):  # InvalidInput is a ValueError, as documented before
        clock.observe("not-an-hlc")


@pytest.mark.parametrize("reading", [None, 5, "now"])
def test_clock_retime(reading: Any) -> None:
    clock = AtomicClock(servers=["127.0.0.1:1"])
    with pytest.raises(InvalidInput):
        clock.retime(reading)
    assert clock.retime(clock.now()).status is ClockStatus.UNSYNCED


@pytest.mark.parametrize("step", [math.nan, math.inf, 10**30])
def test_fake_clock_advance(step: float) -> None:
    clock = FakeClock()
    before = clock.now().time
    with pytest.raises(InvalidInput):
        clock.advance(step)
    assert clock.now().time == before
    clock.advance(timedelta(seconds=1))


@pytest.mark.parametrize("checkpoint", [5, 1.5, None, ["note"], object()])
def test_a_checkpoint_that_is_not_text(
    world: tuple[DualId, dict[str, Any]], checkpoint: Any
) -> None:
    sdk, valid = world
    with pytest.raises(InvalidInput):  # InvalidCheckpoint
        sdk.audit.prove(1, checkpoint)
    with pytest.raises(InvalidInput):
        sdk.audit.prove_consistency(valid["old"], checkpoint)
    if checkpoint is not None:  # None: the newest stored checkpoint
        with pytest.raises(InvalidInput):
            sdk.audit.verify(checkpoint=checkpoint)
