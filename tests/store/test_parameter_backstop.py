"""The store's backstop (dualid.store._sql): every parameter of every statement is checked
before the driver sees it, so a value no backend stores the same is InvalidInput on SQLite
and PostgreSQL alike, and the statement never runs (issue 13)."""

from __future__ import annotations

import pytest

from dualid import DualId
from dualid._checks import INT64_MAX, INT64_MIN, unstorable
from dualid.errors import InvalidInput
from dualid.store import _sql as db

from ..support import statement_hook

_SELECT = db.Sql("SELECT count(*) FROM dualid_host WHERE host_id = ? AND created_at > ?")
_INSERT = db.Sql("INSERT INTO dualid_host (host_id, kind, name, created_at) VALUES (?, ?, ?, ?)")

UNSTORABLE = {
    "nul": "a\x00b",
    "only nul": "\x00",
    "high surrogate": "x\ud800",
    "low surrogate": "\udfffx",
    "a pair as two code points": "\ud83d\ude00",
    "non-ascii with a surrogate": "Café\udc80",
}
STORABLE = ["", "plain", "Café", "東京", "🎻", "\u0001\u007f", "\ufffd", "\U0010ffff"]


@pytest.mark.parametrize("text", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
def test_unstorable_text_is_found(text: str) -> None:
    assert unstorable(text)


@pytest.mark.parametrize("text", STORABLE)
def test_storable_text_passes(text: str) -> None:
    assert not unstorable(text)


@pytest.mark.parametrize(
    "params",
    [
        ("h\x00", 0),
        ("h\ud800", 0),
        ("h", INT64_MAX + 1),
        ("h", INT64_MIN - 1),
        ("h", 10**19),
    ],
    ids=["nul", "surrogate", "int64 max + 1", "int64 min - 1", "10**19"],
)
def test_every_statement_form_refuses_before_the_database_sees_it(
    sdk: DualId, params: tuple[str, int]
) -> None:
    seen: list[str] = []
    with statement_hook(sdk, seen.append):
        with pytest.raises(InvalidInput) as caught, sdk.store.read() as conn:
            db.query(conn, _SELECT, params)
        assert "\x00" not in str(caught.value)
        with pytest.raises(InvalidInput), sdk.store.write() as conn:
            db.execute(conn, _INSERT, (params[0], "business", "n", params[1]))
        rows = [("ok-1", "business", "n", 1), (params[0], "business", "n", params[1])]
        with pytest.raises(InvalidInput), sdk.store.write() as conn:
            db.executemany(conn, _INSERT, rows)
    assert seen == []  # no statement ran, not even the valid first row of the batch
    assert sdk.hosts.list() == []


def test_the_int64_bounds_themselves_are_stored(sdk: DualId) -> None:
    with sdk.store.write() as conn:
        db.executemany(
            conn,
            _INSERT,
            [("low", "business", "n", INT64_MIN), ("high", "business", "n", INT64_MAX)],
        )
    with sdk.store.read() as conn:
        assert db.query(conn, _SELECT, ("high", INT64_MAX - 1)) == [(1,)]
        assert db.query(conn, _SELECT, ("low", INT64_MIN)) == [(0,)]
