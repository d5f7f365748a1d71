"""The statement helpers of dualid.store._sql that the store modules share: a statement
written per dialect (``Sql.per_dialect``) and the pages of a whole table
(``TablePages``), on both backends."""

from __future__ import annotations

import pytest

from dualid import DualId, HostKind
from dualid.store import _sql as db

from ..support import statement_hook

_IGNORE = db.Sql.per_dialect(
    sqlite="INSERT OR IGNORE INTO dualid_host (host_id, kind, name, created_at)"
    " VALUES (?, ?, ?, ?)",
    postgresql="INSERT INTO dualid_host (host_id, kind, name, created_at)"
    " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
)
_HOSTS = db.TablePages("dualid_host", "host_id, name", key="host_id")


def test_per_dialect_runs_the_connection_s_text(sdk: DualId) -> None:
    seen: list[str] = []
    with statement_hook(sdk, seen.append), sdk.store.write() as conn:
        assert db.execute(conn, _IGNORE, ("h1", "business", "One", 1)) == 1
        assert db.execute(conn, _IGNORE, ("h1", "business", "Again", 2)) == 0  # ignored
        name = db.query(conn, "SELECT name FROM dualid_host WHERE host_id = ?", ("h1",))
    assert name == [("One",)]
    postgres = sdk.store.dialect == "postgresql"
    assert ("ON CONFLICT DO NOTHING" in seen[0]) is postgres
    assert ("INSERT OR IGNORE" in seen[0]) is not postgres
    assert ("%s" in seen[0]) is postgres
    assert ("?" in seen[0]) is not postgres


def test_per_dialect_refuses_a_percent_sign_in_either_text() -> None:
    with pytest.raises(ValueError, match="'%'"):
        db.Sql.per_dialect(sqlite="SELECT 1", postgresql="SELECT '%'")
    with pytest.raises(ValueError, match="'%'"):
        db.Sql.per_dialect(sqlite="SELECT '%'", postgresql="SELECT 1")


def test_table_pages_read_every_row_once_in_pages(sdk: DualId) -> None:
    ids = [f"host-{i:02}" for i in range(7)]
    for host_id in reversed(ids):  # not in key order: SQLite pages by rowid
        sdk.hosts.register(host_id, kind=HostKind.BUSINESS, name=host_id.upper())
    seen: list[tuple[str, str]] = []
    pages = 0
    after = None
    with sdk.store.read() as conn:
        while page := _HOSTS.page(conn, after, 3):
            pages += 1
            assert len(page) <= 3
            seen += [(host_id, name) for host_id, name, _ in page]
            after = page[-1][-1]  # the page key comes last
    assert pages == 3
    assert sorted(seen) == [(h, h.upper()) for h in ids]
    assert len(set(seen)) == len(seen)


def test_table_pages_of_an_empty_table(sdk: DualId) -> None:
    with sdk.store.read() as conn:
        assert _HOSTS.page(conn, None, 10) == []
