"""Migration 0009_webhooks: up, down (the outbox and endpoints go, nothing else), up."""

from __future__ import annotations

import sqlalchemy as sa

from dualid import DualId
from dualid.store import Store, current, upgrade
from dualid.testing import FakeClock

from ..support import rows
from ._receiver import Receiver
from .conftest import HOST, NAME, RES, open_world

TABLES = {"dualid_webhook", "dualid_webhook_notice"}


def _tables(sdk: DualId) -> set[str]:
    return set(sa.inspect(sdk.store.engine).get_table_names())


def _sequences(sdk: DualId) -> set[str]:
    if sdk.store.dialect != "postgresql":
        return set()
    return {n for (n,) in rows(sdk, "SELECT sequence_name FROM information_schema.sequences")}


def test_downgrade_drops_the_outbox_and_keeps_the_rest(
    db_url: str, master_key: str, real_clock: FakeClock, receiver: Receiver
) -> None:
    world = open_world(db_url, master_key, real_clock, receiver)
    sdk = world.sdk
    sdk.events.register(world.ana, HOST, RES, "res-1", share={NAME})
    assert _tables(sdk) >= TABLES
    grants = rows(sdk, "SELECT grant_id, mac FROM dualid_grant")
    sdk.downgrade("0007_grant_mac")
    assert current(sdk.store) == "0007_grant_mac"
    assert not TABLES & _tables(sdk)
    assert "dualid_webhook_notice_seq" not in _sequences(sdk)
    assert rows(sdk, "SELECT grant_id, mac FROM dualid_grant") == grants
    sdk.close()
    store = Store(db_url)
    try:
        upgrade(store)
    finally:
        store.dispose()
    with DualId.open(db_url, keys=master_key, clock=real_clock) as again:
        assert _tables(again) >= TABLES
        if again.store.dialect == "postgresql":
            assert "dualid_webhook_notice_seq" in _sequences(again)
        assert rows(again, "SELECT count(*) FROM dualid_webhook_notice") == [(0,)]
        assert again.audit.verify(deep=True).ok
        (guest,) = again.events.attendees(HOST, "res-1")
        assert guest.data.name == "Ana Lima"
