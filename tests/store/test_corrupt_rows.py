"""A row the SDK cannot read is :class:`CorruptRow` (a ``DualIdError``) naming its table and
column, never the value: not a ``TypeError``, ``ValueError``, ``KeyError`` or
``OverflowError`` from wherever the value was first used (issue 13).

SQLite stores any value in any column, so every column of every table is given a value of
each wrong type, and every read and write of the public API is run over the damaged store
(``test_every_column_of_every_table``). Values of the right type that dualid never writes
(an unknown event type or field name, a time past the year 9999) are refused the same on
both backends.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dualid import DualId, DualIdError, EventUserData, generate_master_key
from dualid.audit._tree import TILE
from dualid.errors import CorruptRow, DecryptionFailed
from dualid.testing import FakeClock

from ..support import execute, rows

HOST = "bistro-7"
USER = "corrupt-user-1"
# Wrong types SQLite accepts in any column; the names say what each is.
WRONG = {"text": "zz-bad-value", "blob": b"\xff\x00bad", "int": 7, "real": 1.5, "huge": 2**63 - 1}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A SQLite store with one of everything: a host and its requirement, a person with a
    profile, a registration, an event with a title, a grant with an expiry, a default, a
    checkpoint of the audit log."""
    path = tmp_path_factory.mktemp("corrupt") / "template.db"
    key = generate_master_key()
    clock = FakeClock()
    with DualId.open(f"sqlite:///{path}", keys=key, clock=clock) as sdk:
        ids = _populate(sdk, clock)
    return path, key, ids


def _populate(sdk: DualId, clock: FakeClock) -> dict[str, str]:
    sdk.hosts.register(HOST, kind="business", name="Bistro Seven")
    sdk.hosts.require(HOST, "reservation", required={"name"}, optional={"email"}, purpose="booking")
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.org"))
    sdk.events.register(agent, HOST, "reservation", "res-1", share={"name", "email"})
    grant = sdk.consent.grant(
        agent,
        HOST,
        fields={"email"},
        event_id="res-1",
        purpose="mail",
        expires_at=clock.now().time + timedelta(days=3),
    )
    sdk.consent.set_default(agent, "reservation", {"name"})
    sdk.events.create(
        HOST, "res-2", "reservation", title="Dinner", starts_at=clock.now().time + timedelta(1)
    )
    sdk.identity.agents_for([f"bulk-{i}" for i in range(TILE)])  # a full tile of entries
    sdk.audit.checkpoint(witness=False)  # a dualid_audit_checkpoint row and a tile row
    assert rows(sdk, "SELECT idx FROM dualid_audit_tile")
    # Rotated derived keys: generation rows with secrets and public keys of their own.
    sdk.keys.rotate_signing()
    sdk.keys.rotate_index()
    # A webhook endpoint (its host name does not resolve) and a notice in its outbox.
    sdk.hosts.set_webhook(HOST, "https://hooks.bistro.invalid/in")
    sdk.consent.grant(agent, HOST, fields={"name"}, event_id="res-1", purpose="hooked")
    return {"agent": agent, "grant": grant.id}


def operations(sdk: DualId, ids: dict[str, str]) -> dict[str, Callable[[], Any]]:
    """Every public read, and the writes that read what they change."""
    agent, grant = ids["agent"], ids["grant"]
    return {
        "agent_for": lambda: sdk.identity.agent_for(USER),
        "lookup_many": lambda: sdk.identity.lookup_many([USER]),
        "agents_for": lambda: sdk.identity.agents_for([USER, "corrupt-user-2"]),
        "user_for": lambda: sdk.identity.user_for(agent, actor="support", reason="t-1"),
        "profiles.get": lambda: sdk.profiles.get(agent),
        "profiles.update": lambda: sdk.profiles.update(agent, name="Bea"),
        "hosts.get": lambda: sdk.hosts.get(HOST),
        "hosts.list": lambda: sdk.hosts.list(),
        "hosts.requirements": lambda: sdk.hosts.requirements(HOST),
        "hosts.register": lambda: sdk.hosts.register(
            HOST, kind="business", name="Bistro 7", exist_ok=True
        ),
        "events.get": lambda: sdk.events.get(HOST, "res-1"),
        "events.get titled": lambda: sdk.events.get(HOST, "res-2"),
        "events.registrations": lambda: sdk.events.registrations(agent),
        "events.attendees": lambda: sdk.events.attendees(HOST, "res-1"),
        "events.attendees_page": lambda: sdk.events.attendees_page(HOST, "res-1", limit=1),
        "events.register": lambda: sdk.events.register(
            sdk.identity.agent_for("corrupt-user-3"),
            HOST,
            "reservation",
            "res-1",
            share={"name"},
            data=EventUserData(name="Cy"),
        ),
        "consent.get": lambda: sdk.consent.get(grant),
        "consent.grants": lambda: sdk.consent.grants(agent, include_inactive=True),
        "consent.shared": lambda: sdk.consent.shared(agent),
        "consent.explain": lambda: sdk.consent.explain(agent, HOST, "res-1", "email"),
        "consent.defaults": lambda: sdk.consent.defaults(agent),
        "consent.receipt": lambda: sdk.consent.receipt(grant),
        "consent.grant": lambda: sdk.consent.grant(
            agent, HOST, fields={"name"}, event_id="res-1", purpose="again"
        ),
        "consent.purge_expired": lambda: sdk.consent.purge_expired(),
        "consent.history": lambda: sdk.consent.history(agent),
        "hosts.webhook": lambda: sdk.hosts.webhook(HOST),
        "hosts.webhook_deliveries": lambda: sdk.hosts.webhook_deliveries(HOST),
        "webhooks.counts": lambda: sdk.webhooks.counts(),
        "webhooks.deliver_pending": lambda: sdk.webhooks.deliver_pending(limit=1),
        "keys.status": lambda: sdk.keys.status(),
        "keys.rotate": lambda: sdk.keys.rotate(),
        "keys.rotate_index": lambda: sdk.keys.rotate_index(),
        "keys.rotate_signing": lambda: sdk.keys.rotate_signing(),
        "consent.verify_receipt": lambda: sdk.consent.verify_receipt(sdk.consent.receipt(grant)),
        "consent.receipt_public_keys": lambda: sdk.consent.receipt_public_keys(),
        "audit.public_keys": lambda: sdk.audit.public_keys(),
        "audit.verifier_keys": lambda: sdk.audit.verifier_keys(),
        "export": lambda: sdk.export(agent),
        "audit.entries": lambda: sdk.audit.entries(),
        "audit.latest_checkpoint": lambda: sdk.audit.latest_checkpoint(),
        "audit.checkpoint and prove": lambda: sdk.audit.prove(1, sdk.audit.checkpoint()),
        "revoke": lambda: sdk.consent.revoke(grant),
        "revoke_host": lambda: sdk.consent.revoke_host(agent, HOST),
        "erase": lambda: sdk.erase(agent),
    }


def _columns(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as con:
        tables = [
            name
            for (name,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name.startswith("dualid_") and name != "dualid_alembic_version"
        ]
        return [
            (table, column)
            for table in sorted(tables)
            for (_, column, *_rest) in con.execute(f"PRAGMA table_info({table})")
        ]


def _damaged_copy(template: Path, into: Path, table: str, column: str, value: Any) -> bool:
    """A copy of the template store with ``column`` of every row of ``table`` set to
    ``value``; False when SQLite's own constraints refuse it (a primary key clash, ...)."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{template}{suffix}").exists():
            shutil.copy(f"{template}{suffix}", f"{into}{suffix}")
    with sqlite3.connect(into) as con:
        try:
            con.execute(f"UPDATE {table} SET {column} = ?", (value,))
        except sqlite3.Error:
            return False
    return True


def _assert_clean(exc: DualIdError, value: Any) -> None:
    """A CorruptRow names its table and never the value it could not read."""
    if isinstance(exc, CorruptRow):
        assert exc.table.startswith("dualid_")
        assert exc.table in exc.message
        if isinstance(value, str | bytes):
            text = f"{exc}\n{exc!r}\n{exc.to_dict()}"
            assert "bad" not in text


def _tables(path_columns: list[tuple[str, str]]) -> list[str]:
    return sorted({t for t, _ in path_columns})


@pytest.mark.parametrize(
    "table",
    [
        "dualid_agent",
        "dualid_agent_key",
        "dualid_audit",
        "dualid_audit_checkpoint",
        "dualid_audit_head",
        "dualid_audit_tile",
        "dualid_default",
        "dualid_event",
        "dualid_grant",
        "dualid_host",
        "dualid_key_generation",
        "dualid_registration",
        "dualid_requirement",
        "dualid_sealed",
        "dualid_secret",
        "dualid_webhook",
        "dualid_webhook_notice",
        "dualid_shared",
    ],
)
def test_every_column_of_every_table(
    template: tuple[Path, str, dict[str, str]], tmp_path: Path, table: str
) -> None:
    """Only DualIdErrors escape, whatever wrong type any column of ``table`` holds."""
    path, key, ids = template
    columns = [c for t, c in _columns(path) if t == table]
    assert columns
    escaped: list[str] = []
    for column in columns:
        for kind, value in WRONG.items():
            db = tmp_path / f"{column}-{kind}.db"
            if not _damaged_copy(path, db, table, column, value):
                continue
            try:
                sdk = DualId.open(f"sqlite:///{db}", keys=key, clock=FakeClock())
            except DualIdError as exc:
                _assert_clean(exc, value)
                continue
            with sdk:
                # verify() reports what it cannot read, it never raises for it.
                try:
                    sdk.audit.verify()
                except Exception as exc:  # what the test is about
                    escaped.append(f"{column}={kind} audit.verify: {type(exc).__name__}")
                for name, call in operations(sdk, ids).items():
                    try:
                        call()
                    except DualIdError as exc:
                        _assert_clean(exc, value)
                    except Exception as exc:  # what the test is about
                        escaped.append(f"{column}={kind} {name}: {type(exc).__name__}")
    assert not escaped, "\n".join(escaped)


def test_the_sweep_covers_every_table(template: tuple[Path, str, dict[str, str]]) -> None:
    swept = set(test_every_column_of_every_table.pytestmark[0].args[1])  # type: ignore[attr-defined]
    assert swept == set(_tables(_columns(template[0])))


# -- values of the right type that dualid never writes, on both backends ----------------------
@pytest.fixture
def world(sdk: DualId, clock: FakeClock) -> dict[str, str]:
    return _populate(sdk, clock)


# (table, column, SQL value, the call that reads it)
FOREIGN_VALUES: list[tuple[str, str, str, Callable[[DualId, dict[str, str]], Any]]] = [
    ("dualid_host", "kind", "'spaceship'", lambda sdk, ids: sdk.hosts.get(HOST)),
    ("dualid_requirement", "event_type", "'rave'", lambda sdk, ids: sdk.hosts.requirements(HOST)),
    (
        "dualid_requirement",
        "required",
        "'name,shoe_size'",
        lambda sdk, ids: sdk.hosts.requirements(HOST),
    ),
    (
        "dualid_grant",
        "event_type",
        "'rave'",
        lambda sdk, ids: sdk.consent.grants(ids["agent"]),
    ),
    ("dualid_grant", "fields", "'shoe_size'", lambda sdk, ids: sdk.consent.get(ids["grant"])),
    (
        "dualid_grant",
        "expires_at",
        str(2**62),  # microseconds: past the year 9999
        lambda sdk, ids: sdk.consent.get(ids["grant"]),
    ),
    (
        "dualid_registration",
        "event_type",
        "'rave'",
        lambda sdk, ids: sdk.events.attendees(HOST, "res-1"),
    ),
    (
        "dualid_registration",
        "created_at",
        str(-(2**62)),
        lambda sdk, ids: sdk.events.registrations(ids["agent"]),
    ),
    ("dualid_event", "event_type", "'rave'", lambda sdk, ids: sdk.events.get(HOST, "res-2")),
    (
        "dualid_default",
        "fields",
        "'name,,x'",
        lambda sdk, ids: sdk.consent.defaults(ids["agent"]),
    ),
]


@pytest.mark.parametrize(
    ("table", "column", "value", "call"),
    FOREIGN_VALUES,
    ids=[f"{t}.{c}" for t, c, _, _ in FOREIGN_VALUES],
)
def test_a_value_dualid_never_writes_is_a_corrupt_row(
    sdk: DualId,
    world: dict[str, str],
    table: str,
    column: str,
    value: str,
    call: Callable[[DualId, dict[str, str]], Any],
) -> None:
    execute(sdk, f"UPDATE {table} SET {column} = {value}")
    with pytest.raises(CorruptRow) as caught:
        call(sdk, world)
    assert (caught.value.table, caught.value.column) == (table, column)
    assert caught.value.code == "CORRUPT_ROW"
    assert value.strip("'") not in f"{caught.value}{caught.value.to_dict()}"


def test_a_truncated_wrapped_key_is_a_decryption_failure(
    sdk: DualId, world: dict[str, str]
) -> None:
    execute(sdk, "UPDATE dualid_agent_key SET wrapped = :w", w=b"\x01\x02")
    with pytest.raises(DecryptionFailed):
        sdk.profiles.get(world["agent"])
