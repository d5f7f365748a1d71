"""store._rows: the shapes every reader checks its result against."""

from __future__ import annotations

import gc

import pytest

from dualid.errors import CorruptRow
from dualid.store._rows import BLOB, FIELDS, INT, TEXT, TEXT_OR_NULL, TIME_OR_NULL, Shape, choice

SHAPE = Shape("t_one", name=TEXT, kind=choice(["a", "b"]), at=TIME_OR_NULL) + Shape(
    "t_two", fields=FIELDS, blob=BLOB, note=TEXT_OR_NULL, n=INT
)
GOOD = ("x", "a", None, "name,email", b"\x00", None, 3)


def test_rows_that_fit_pass_through() -> None:
    rows = [GOOD, ("y", "b", 0, "", b"", "n", -1)]
    assert SHAPE.check(rows) is rows
    assert SHAPE.check([]) == []
    for row in rows:  # a result of one row takes a path of its own
        assert SHAPE.check([row]) == [row]


@pytest.mark.parametrize("alone", [False, True], ids=["among-others", "alone"])
@pytest.mark.parametrize(
    ("index", "value", "table", "column"),
    [
        (0, b"x", "t_one", "name"),
        (0, None, "t_one", "name"),
        (1, "c", "t_one", "kind"),
        (2, "1", "t_one", "at"),
        (2, 2**62, "t_one", "at"),
        (2, -(2**62), "t_one", "at"),
        (2, 1.5, "t_one", "at"),
        (3, "name,shoe_size", "t_two", "fields"),
        (3, "name,", "t_two", "fields"),
        (4, "text", "t_two", "blob"),
        (5, 5, "t_two", "note"),
        (6, True, "t_two", "n"),  # a bool is not an int here
    ],
)
def test_the_first_misfit_names_its_table_and_column(
    index: int, value: object, table: str, column: str, alone: bool
) -> None:
    bad = list(GOOD)
    bad[index] = value
    with pytest.raises(CorruptRow) as caught:
        SHAPE.check([tuple(bad)] if alone else [GOOD, tuple(bad), GOOD])
    assert (caught.value.table, caught.value.column) == (table, column)
    assert repr(value) not in caught.value.message


def test_checking_a_large_result_allocates_no_containers() -> None:
    # Transposing a page of rows (zip(*rows)) made the collector run often enough to cost
    # the host view a fifth of its time; the checks iterate instead.
    rows = [GOOD] * 20_000
    gc.collect()
    before = gc.get_stats()[0]["collections"]
    SHAPE.check(rows)
    assert gc.get_stats()[0]["collections"] == before
