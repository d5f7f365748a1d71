"""Rows as the SDK reads them back: the type (for some columns, the values) that every
result column must have, checked before a row is used.

SQLite stores any value in any column (a text in an INTEGER column, a blob in a TEXT one),
and on either database a row changed outside dualid can hold a value dualid never writes
(an unknown event type, a timestamp past the year 9999). A result that does not fit its
:class:`Shape` raises :class:`~dualid.errors.CorruptRow` naming the table and the column,
never the value, instead of a ``TypeError`` or ``KeyError`` somewhere above the store.

Each check runs column by column over a whole result with set operations in C (about
0.1 µs per value), so even the host view's pages of thousands of rows pay little; a result
of one row (a key, an audit head) has its types checked in one pass instead, and the
statements of the very hottest path (warm ``agent_for``) check their one value inline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from enum import Enum
from functools import partial
from operator import is_not, itemgetter
from typing import Any, TypeVar

from dualid._micros import to_us
from dualid.errors import CorruptRow
from dualid.models import DataField

__all__ = [
    "BLOB",
    "FIELDS",
    "HASH",
    "INT",
    "TEXT",
    "TEXT_OR_NULL",
    "TIME",
    "TIME_OR_NULL",
    "Col",
    "Shape",
    "choice",
    "corrupt",
]

R = TypeVar("R", bound=Sequence[Any])
_NONE = type(None)
_is_one_of = frozenset.__contains__  # (types, a type): is it one of them
_FIELD_NAMES = frozenset(f.value for f in DataField)
_is_value = partial(is_not, None)


def _field_list(value: Any) -> bool:
    return value == "" or _FIELD_NAMES.issuperset(value.split(","))


_NOT_HEX = str.maketrans("", "", "0123456789abcdef")  # deletes every lowercase hex digit


def _sha256_hex(value: Any) -> bool:
    return len(value) == 64 and not value.translate(_NOT_HEX)


def _present(
    rows: Sequence[Sequence[Any]], at: Callable[[Sequence[Any]], Any], nullable: bool
) -> Iterator[Any]:
    """The values at ``at`` of ``rows``, without the NULLs of a nullable column."""
    values = map(at, rows)
    return filter(_is_value, values) if nullable else values


class Col:
    """What one result column may hold: its Python types (exactly: a ``bool`` is no
    ``int``), optionally a closed set of values, bounds for integers, or a test of each
    value."""

    __slots__ = ("bounds", "test", "types", "values")

    def __init__(
        self,
        *types: type,
        values: Iterable[Any] | None = None,
        bounds: tuple[int, int] | None = None,
        test: Callable[[Any], bool] | None = None,
    ) -> None:
        self.types = frozenset(types)
        self.values = None if values is None else frozenset(values)
        self.bounds = bounds
        self.test = test

    def fits(self, rows: Sequence[Sequence[Any]], at: Callable[[Sequence[Any]], Any]) -> bool:
        """Does the value at ``at`` (an ``itemgetter``) of every row fit? Iterators only:
        building containers of thousands of values would cost the garbage collector more
        than the checks themselves."""
        if not self.types.issuperset(map(type, map(at, rows))):
            return False
        if self.values is not None and not self.values.issuperset(map(at, rows)):
            return False
        if self.bounds is None and self.test is None:
            return True
        nullable = _NONE in self.types
        if self.bounds is not None:
            low, high = self.bounds
            if (
                min(_present(rows, at, nullable), default=low) < low
                or max(_present(rows, at, nullable), default=high) > high
            ):
                return False
        return self.test is None or all(map(self.test, _present(rows, at, nullable)))

    def fits_one(self, value: Any) -> bool:
        """:meth:`fits` for one value whose type is already known to fit."""
        if self.values is not None and value not in self.values:
            return False
        if value is None:
            return True  # a NULL of a nullable column: bounds and test are for values
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            return False
        return self.test is None or bool(self.test(value))

    def or_null(self) -> Col:
        values = None if self.values is None else self.values | {None}
        return Col(*self.types, _NONE, values=values, bounds=self.bounds, test=self.test)


# Times are microseconds since the epoch within what a datetime can hold (dualid._micros).
_US_RANGE = (
    to_us(datetime.min.replace(tzinfo=UTC)),
    to_us(datetime.max.replace(tzinfo=UTC)),
)
TEXT = Col(str)
TEXT_OR_NULL = TEXT.or_null()
INT = Col(int)
BLOB = Col(bytes)
TIME = Col(int, bounds=_US_RANGE)
TIME_OR_NULL = TIME.or_null()
FIELDS = Col(str, test=_field_list)
"""Comma-separated :class:`~dualid.models.DataField` values, as ``encode_fields`` writes."""
HASH = Col(str, test=_sha256_hex)
"""A SHA-256 digest in lowercase hex (the audit chain's hashes)."""


def choice(values: type[Enum] | Iterable[str]) -> Col:
    """A text column that holds one of ``values`` (an enum's values)."""
    if isinstance(values, type) and issubclass(values, Enum):
        values = [str(member.value) for member in values]
    return Col(str, values=values)


class Shape:
    """The columns of one statement's result, in order, each with its table: ``Shape(
    "dualid_host", host_id=TEXT, kind=choice(HostKind), ...)``; ``a + b`` for a join."""

    __slots__ = ("_checks", "_types", "_valued", "columns")

    def __init__(self, table: str = "", **columns: Col) -> None:
        self._set([(table, name, col) for name, col in columns.items()])

    def _set(self, columns: Sequence[tuple[str, str, Col]]) -> None:
        self.columns: tuple[tuple[str, str, Col], ...] = tuple(columns)
        self._checks = tuple(
            (table, name, col, itemgetter(i)) for i, (table, name, col) in enumerate(columns)
        )
        self._types = tuple(col.types for _, _, col in columns)
        # the columns that check more than their type (values, bounds, a test)
        self._valued = tuple(
            check
            for check in self._checks
            if check[2].values is not None or check[2].bounds is not None or check[2].test
        )

    def __add__(self, other: Shape) -> Shape:
        joined = Shape()
        joined._set(self.columns + other.columns)
        return joined

    def check(self, rows: list[R]) -> list[R]:
        """``rows``, when every value fits its column; else :class:`CorruptRow`."""
        if len(rows) == 1:
            # One row (a key, a head): its types in one pass, then what some columns check
            # beyond them; a row whose types do not fit goes column by column below, to
            # name the column.
            row = rows[0]
            types = self._types
            if len(row) >= len(types) and all(map(_is_one_of, types, map(type, row))):
                for table, name, col, at in self._valued:
                    if not col.fits_one(at(row)):
                        raise CorruptRow(table, name)
                return rows
        if rows:
            for table, name, col, at in self._checks:
                if not col.fits(rows, at):
                    raise CorruptRow(table, name)
        return rows


def corrupt(table: str, column: str | None = None) -> CorruptRow:
    """The error for a row of ``table`` that cannot be read (for inline checks)."""
    return CorruptRow(table, column)
