"""Migration 0008_key_ids: master key ids up to 2,048 characters on both backends (a KMS
key ARN failed on PostgreSQL's VARCHAR(64)), and a downgrade that refuses while a longer
id is stored and narrows the columns back once none is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dualid import DualId, EventUserData, generate_master_key
from dualid.crypto import MAX_KEY_ID_LENGTH
from dualid.errors import Conflict
from dualid.store import Store, current, head, upgrade
from dualid.store._migrate import history
from dualid.testing import FakeClock, FakeKms

ARN = "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"


def _lengths(url: str) -> dict[str, int | None]:
    store = Store(url)
    try:
        inspector = sa.inspect(store.engine)
        return {
            table: next(
                c["type"].length
                for c in inspector.get_columns(table)
                if c["name"] == "master_key_id"
            )
            for table in ("dualid_agent_key", "dualid_secret")
        }
    finally:
        store.dispose()


def test_0008_is_applied_and_the_columns_are_wide(db_url: str, clock: FakeClock) -> None:
    with DualId.open(db_url, keys=FakeKms(), clock=clock) as sdk:
        assert current(sdk.store) == head()
    assert "0008_key_ids" in [rev for rev, _, _ in history()]
    assert _lengths(db_url) == {"dualid_agent_key": 2048, "dualid_secret": 2048}
    assert MAX_KEY_ID_LENGTH == 2048


@pytest.mark.parametrize("key_id", [ARN, "k" * MAX_KEY_ID_LENGTH], ids=["arn", "2048"])
def test_a_long_key_id_works_on_both_backends(db_url: str, clock: FakeClock, key_id: str) -> None:
    kms = FakeKms(key_id)
    with DualId.open(db_url, keys=kms, clock=clock) as sdk:
        agents = sdk.identity.agents_for(["ana", "ben"])
        sdk.profiles.put(agents["ana"], EventUserData(name="Ana"))
        assert sdk.keys.status().in_use == {key_id: 3}
    with DualId.open(db_url, keys=kms, clock=clock) as sdk:
        assert sdk.profiles.get(agents["ana"]).name == "Ana"  # type: ignore[union-attr]


def test_the_downgrade_refuses_while_a_long_id_is_stored(db_url: str, clock: FakeClock) -> None:
    kms = FakeKms(ARN)
    with DualId.open(db_url, keys=kms, clock=clock) as sdk:
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        with pytest.raises(Conflict, match="2 wrapped key") as caught:
            sdk.downgrade("0007_grant_mac")
        assert caught.value.details == {"wrapped_keys": 2}
        assert current(sdk.store) == head()  # nothing changed
        assert _lengths(db_url)["dualid_agent_key"] == 2048
        assert sdk.profiles.get(agent).name == "Ana"  # type: ignore[union-attr]


def test_after_rotating_to_a_short_id_the_downgrade_runs(db_url: str, clock: FakeClock) -> None:
    kms = FakeKms(ARN)
    with DualId.open(db_url, keys=kms, clock=clock) as sdk:
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        kms.rotate_to("short")
        sdk.keys.rotate()
        sdk.downgrade("0007_grant_mac")
        assert current(sdk.store) == "0007_grant_mac"
        assert _lengths(db_url) == {"dualid_agent_key": 64, "dualid_secret": 64}
        upgrade(sdk.store)
    with DualId.open(db_url, keys=kms, clock=clock) as sdk:
        assert sdk.profiles.get(agent).name == "Ana"  # type: ignore[union-attr]


def test_data_from_before_0008_survives_the_upgrade(db_url: str, clock: FakeClock) -> None:
    key = generate_master_key()
    store = Store(db_url)
    try:
        upgrade(store, "0007_grant_mac")
    finally:
        store.dispose()
    assert _lengths(db_url)["dualid_agent_key"] == 64
    # DualId.open needs head; write through a store at 0007 by opening, then downgrading.
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        agent = sdk.identity.agent_for("ana")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        sdk.downgrade("0007_grant_mac")
    with DualId.open(db_url, keys=key, clock=clock) as sdk:  # upgrades again
        assert current(sdk.store) == head()
        assert sdk.profiles.get(agent).name == "Ana"  # type: ignore[union-attr]
        assert sdk.audit.verify().ok


@pytest.mark.postgres
def test_control_before_0008_postgresql_refused_an_arn(postgres_url: str) -> None:
    store = Store(postgres_url)
    try:
        upgrade(store, "0007_grant_mac")
        with pytest.raises(sa.exc.DataError), store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO dualid_secret (name, master_key_id, wrapped, created_at)"
                    " VALUES ('root', :k, :w, 0)"
                ),
                {"k": ARN, "w": b"x"},
            )
    finally:
        store.dispose()
