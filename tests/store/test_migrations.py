"""Alembic migrations shipped in the package: up, down to base, up again, on SQLite and
PostgreSQL; the migrated schema matches the SQLModel metadata; own version table."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from dualid import DualId, EventUserData, generate_master_key
from dualid.errors import InvalidInput, StoreError
from dualid.store import VERSION_TABLE, Store, current, downgrade, head, history, upgrade
from dualid.store._tables import metadata
from dualid.testing import FakeClock

from ..support import DUALID_TABLES


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    opened = Store(db_url)
    yield opened
    opened.dispose()


def _tables(store: Store) -> set[str]:
    return set(sa.inspect(store.engine).get_table_names())


def _diff(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        return list(compare_metadata(ctx, metadata))


def test_version_table_name() -> None:
    assert VERSION_TABLE == "dualid_alembic_version"


def test_history_is_linear_and_ends_at_head() -> None:
    revisions = history()
    assert revisions[0][1] is None
    for (rev, _, _), (_, down, _) in itertools.pairwise(revisions):
        assert down == rev
    assert revisions[-1][0] == head()


def test_upgrade_downgrade_upgrade(store: Store) -> None:
    assert current(store) is None
    upgrade(store)
    assert current(store) == head()
    assert set(DUALID_TABLES) <= _tables(store)
    assert VERSION_TABLE in _tables(store)
    assert "alembic_version" not in _tables(store)  # the host app's own table stays free
    assert _diff(store) == []

    downgrade(store, "base")
    assert current(store) is None
    assert _tables(store) <= {VERSION_TABLE}

    upgrade(store)
    assert current(store) == head()
    assert _diff(store) == []


def test_every_step_down_and_up(store: Store) -> None:
    revisions = [rev for rev, _, _ in history()]
    upgrade(store)
    for target in reversed(["base", *revisions[:-1]]):
        downgrade(store, target)
        assert current(store) == (None if target == "base" else target)
    for target in revisions:
        upgrade(store, target)
        assert current(store) == target
    assert _diff(store) == []


def test_metadata_matches_the_migrations(store: Store) -> None:
    upgrade(store)
    assert _diff(store) == []


def test_the_comparison_can_fail(store: Store) -> None:
    # Control for the test above: a schema change without a migration shows up.
    upgrade(store)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE dualid_host ADD COLUMN extra INTEGER")
    assert _diff(store) != []


def test_upgrade_is_idempotent(store: Store) -> None:
    upgrade(store)
    upgrade(store)
    assert current(store) == head()


def test_unknown_revision(store: Store) -> None:
    with pytest.raises(InvalidInput):
        upgrade(store, "9999_nope")


def test_open_migrates_and_data_survives_a_reopen(db_url: str, clock: FakeClock) -> None:
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        assert current(sdk.store) == head()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        assert sdk.profiles.get(agent) == EventUserData(name="Ana")


def test_open_without_migrate_leaves_the_schema_alone(db_url: str, clock: FakeClock) -> None:
    store = Store(db_url)
    try:
        assert current(store) is None
    finally:
        store.dispose()
    with pytest.raises(StoreError):  # no tables: the store refuses, it does not create
        DualId.open(db_url, keys=generate_master_key(), clock=clock, migrate=False)


def test_downgrade_base_then_reopen_starts_empty(db_url: str, clock: FakeClock) -> None:
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
        sdk.downgrade("base")
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        assert sdk.identity.lookup("user-1") is None
        assert sdk.audit.verify().entries == 0


def test_open_without_migrating_requires_a_current_schema(tmp_path, master_key) -> None:
    from dualid import DualId
    from dualid.errors import SchemaOutOfDate

    url = f"sqlite:///{tmp_path}/fresh.db"
    with pytest.raises(SchemaOutOfDate):
        DualId.open(url, keys=master_key, migrate=False)
    with DualId.open(url, keys=master_key) as sdk:
        sdk.identity.agent_for("u1")
    with DualId.open(url, keys=master_key, migrate=False) as sdk:
        assert sdk.identity.lookup("u1") is not None


def test_data_survives_every_step_down_to_0002_and_back(db_url: str, clock: FakeClock) -> None:
    """Migrations 0003-0004 rebuild tables on SQLite: what was stored stays readable and
    the audit chain stays whole across the rebuild, both ways."""
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        agents = [sdk.identity.agent_for(f"user-{i}") for i in range(3)]
        for i, agent in enumerate(agents):
            sdk.profiles.put(agent, EventUserData(name=f"P{i}", email=f"p{i}@example.org"))
        entries = sdk.audit.verify().entries
        for target in ("0003_grant_covering_index", "0002_consent"):
            sdk.downgrade(target)
            assert current(sdk.store) == target
            with sdk.store.engine.connect() as conn:
                count = conn.exec_driver_sql("SELECT count(*) FROM dualid_sealed").scalar()
                assert count == 3 * 3  # each agent's userId, name and email
        upgrade(sdk.store)
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        for i, agent in enumerate(agents):
            assert sdk.profiles.get(agent) == EventUserData(name=f"P{i}", email=f"p{i}@example.org")
        report = sdk.audit.verify()
        assert report.ok
        assert report.entries == entries
        sdk.profiles.put(agents[0], EventUserData(name="Again"))  # the chain goes on
        assert sdk.audit.verify().entries == entries + 1
