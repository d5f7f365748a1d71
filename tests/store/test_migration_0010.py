"""Migration 0010_index_keys (derived keys by generation): an existing store keeps every
blind index and signature, generation 1 of each key is the root-derived one; downgrading
works until a key was rotated, and is refused (changing nothing) after."""

from __future__ import annotations

import pytest

from dualid import DualId, generate_master_key
from dualid.errors import InvalidInput
from dualid.store import current, head, upgrade
from dualid.testing import FakeClock

from ..support import rows

REVISION = "0010_index_keys"
BEFORE = "0007_grant_mac"


def test_upgrade_from_0007_keeps_indexes_and_marks_generation_1(
    db_url: str, clock: FakeClock
) -> None:
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        agents = sdk.identity.agents_for([f"user-{i}" for i in range(4)])
        sdk.downgrade(BEFORE)
        assert current(sdk.store) == BEFORE
        upgrade(sdk.store, REVISION)
        gens = rows(
            sdk,
            "SELECT purpose, generation, state, secret, public_key FROM dualid_key_generation"
            " ORDER BY purpose",
        )
        assert [tuple(r) for r in gens] == [
            ("audit-signing", 1, "active", None, None),
            ("blind-index", 1, "active", None, None),
            ("receipt-signing", 1, "active", None, None),
        ]
        assert {r[0] for r in rows(sdk, "SELECT index_gen FROM dualid_agent")} == {1}
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        assert sdk.identity.lookup_many(list(agents)) == agents


def test_downgrade_works_until_a_key_is_rotated(db_url: str, clock: FakeClock) -> None:
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        agents = sdk.identity.agents_for(["a", "b"])
        sdk.downgrade(BEFORE)
        with sdk.store.engine.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_name = 'dualid_key_generation'"
                if sdk.store.dialect == "postgresql"
                else "SELECT count(*) FROM sqlite_master WHERE name = 'dualid_key_generation'"
            ).scalar_one()
        assert tables == 0
        upgrade(sdk.store)
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        assert sdk.identity.lookup_many(["a", "b"]) == agents


@pytest.mark.parametrize("rotate", ["index", "signing"])
def test_downgrade_is_refused_once_a_key_was_rotated(
    db_url: str, clock: FakeClock, rotate: str
) -> None:
    key = generate_master_key()
    with DualId.open(db_url, keys=key, clock=clock) as sdk:
        sdk.identity.agents_for(["a", "b"])
        if rotate == "index":
            sdk.keys.rotate_index()
        else:
            sdk.keys.rotate_signing(checkpoints=False)
        with pytest.raises(InvalidInput, match="derived keys were rotated"):
            sdk.downgrade(BEFORE)
        assert current(sdk.store) == head()  # nothing was undone
        assert sdk.identity.lookup("a") is not None
        assert sdk.keys.status().index.generation == (2 if rotate == "index" else 1)
