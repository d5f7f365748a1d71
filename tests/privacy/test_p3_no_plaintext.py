"""P3: no personal data and no userId is stored in plaintext. A byte dump of the database
(the SQLite file and its WAL; every dualid table on PostgreSQL) contains none of them, and
the userId lookup uses a keyed blind index, not a plain hash."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from dualid import DualId, EventUserData, generate_master_key
from dualid.testing import FakeClock

from ..support import DUALID_TABLES, assert_no_pii, rows

USER_ID = "platform-user-8f3c2a91"
PEOPLE = {
    USER_ID: EventUserData(
        name="Zephyrine Quillfeather",
        phone_number="+14155552671",
        email="zephyrine.quill@example.org",
        birthday=date(1987, 3, 14),
        company_affiliation="Umbrageous Widgets GmbH",
        additional_data={"allergy": "marzipan-sensitivity-xq7", "seat": "window"},
    ),
    "second-user-77d1": EventUserData(name="Bartholomew Okonkwo-Lindqvist", email="bol@ex.net"),
}
SECRETS = [
    USER_ID,
    "second-user-77d1",
    "Zephyrine",
    "Quillfeather",
    "4155552671",
    "zephyrine.quill@example.org",
    "zephyrine.quill",
    "Umbrageous Widgets",
    "marzipan-sensitivity-xq7",
    "1987-03-14",
    "Bartholomew",
    "Okonkwo-Lindqvist",
    "bol@ex.net",
]


def _write(sdk: DualId) -> dict[str, str]:
    agents = {}
    for user, data in PEOPLE.items():
        agents[user] = sdk.identity.agent_for(user)
        sdk.profiles.put(agents[user], data)
        sdk.identity.user_for(agents[user], actor="p3-test", reason="scan")
        assert sdk.profiles.get(agents[user]) == data  # the data is really there
    return agents


def test_sqlite_file_bytes_hold_no_plaintext(tmp_path: Path, clock: FakeClock) -> None:
    db = tmp_path / "dualid.db"
    with DualId.open(f"sqlite:///{db}", keys=generate_master_key(), clock=clock) as sdk:
        _write(sdk)
        # Scan while open too: the WAL holds the recent pages before a checkpoint.
        live = b"".join(
            p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("dualid.db")
        )
    assert len(live) > 0
    assert_no_pii(live, SECRETS)
    files = [p for p in tmp_path.iterdir() if p.name.startswith("dualid.db")]
    dump = b"".join(p.read_bytes() for p in files)
    assert dump.startswith(b"SQLite format 3")
    assert_no_pii(dump, SECRETS)
    # The scan itself can fail: the plaintext of a control table would be found.
    with sa.create_engine(f"sqlite:///{db}").begin() as conn:
        conn.exec_driver_sql("CREATE TABLE canary (v TEXT)")
        conn.exec_driver_sql(f"INSERT INTO canary VALUES ('{SECRETS[2]}')")
    canary = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("dualid.db"))
    with pytest.raises(AssertionError):
        assert_no_pii(canary, SECRETS)


@pytest.mark.postgres
def test_postgres_tables_hold_no_plaintext(postgres_url: str, clock: FakeClock) -> None:
    with DualId.open(postgres_url, keys=generate_master_key(), clock=clock) as sdk:
        _write(sdk)
        with sdk.store.engine.connect() as conn:
            tables = [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ]
            assert set(DUALID_TABLES) <= set(tables)
            dump = "\n".join(
                row[0]
                for name in tables
                for row in conn.exec_driver_sql(f"SELECT t::text FROM {name} t")
            )
    assert "agt_" in dump  # the dump is real
    assert_no_pii(dump, SECRETS)


def test_blind_index_is_keyed_not_a_plain_hash(sdk: DualId, master_key: str) -> None:
    agent = sdk.identity.agent_for(USER_ID)
    ((index,),) = rows(sdk, "SELECT user_index FROM dualid_agent WHERE agent_id = :a", a=agent)
    index = bytes(index)
    plain = USER_ID.encode()
    for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.blake2b, hashlib.sha3_256):
        assert digest(plain).digest()[: len(index)] != index
        assert digest(plain).hexdigest().encode()[: len(index)] != index
    assert plain not in index
    # Keyed: another store (another secret) indexes the same userId differently.
    with DualId.open("sqlite://", keys=generate_master_key()) as other:
        other_agent = other.identity.agent_for(USER_ID)
        ((other_index,),) = rows(other, "SELECT user_index FROM dualid_agent")
    assert bytes(other_index) != index
    assert other_agent != agent
    # Yet stable within one store: the same userId finds the same agent.
    assert sdk.identity.lookup(USER_ID) == agent


def test_user_id_is_stored_only_encrypted(sdk: DualId) -> None:
    agent = sdk.identity.agent_for(USER_ID)
    sealed = rows(sdk, "SELECT record_id, field, ciphertext FROM dualid_sealed")
    assert [(r.record_id, r.field) for r in sealed] == [("u:" + agent, "user_id")]
    assert USER_ID.encode() not in bytes(sealed[0].ciphertext)
    assert sdk.identity.user_for(agent, actor="a", reason="b") == USER_ID


def test_audit_bodies_hold_no_personal_data(sdk: DualId) -> None:
    _write(sdk)
    bodies = "\n".join(r[0] for r in rows(sdk, "SELECT body FROM dualid_audit"))
    assert "profile.updated" in bodies
    assert_no_pii(bodies, SECRETS)
