"""Checks on the arguments of the public API that every service shares (P9). Internal.

Each check returns the value it accepts and raises :class:`~dualid.errors.InvalidInput`
naming the argument, never echoing its value (it may be personal data).

Text: PostgreSQL cannot store a NUL character in a text column, and neither driver can
encode an unpaired surrogate (``"\\ud800"``) as UTF-8, so both are refused on every
backend alike: by :func:`check_text` where a string is used before any statement (the
blind index of a userId), and by the store's backstop on every statement parameter
(:mod:`dualid.store._sql`). Integers: sequence numbers, cursors, limits and batch sizes
are bounded to the signed 64-bit range that both databases store.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from dualid.errors import InvalidInput

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "check_callback",
    "check_count",
    "check_items",
    "check_seconds",
    "check_seq",
    "check_text",
    "unstorable",
]

T = TypeVar("T")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """True when ``text`` holds a NUL character or a surrogate code point (the fast path,
    ASCII without NUL, is two C calls)."""
    return "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def check_text(value: str, name: str) -> str:
    """``value`` unless it holds a NUL character or an unpaired surrogate."""
    if unstorable(value):
        raise InvalidInput(
            f"{name} cannot hold a NUL character or an unpaired surrogate", field=name
        )
    return value


def _integer(value: object, name: str) -> int:
    # bool is an int, but never a count or a position.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer", field=name)
    return value


def check_count(value: object, name: str, *, maximum: int = INT64_MAX) -> int:
    """A batch size or a page limit: an integer from 1 to ``maximum``."""
    count = _integer(value, name)
    if not 1 <= count <= maximum:
        raise InvalidInput(f"{name} must be between 1 and {maximum}", field=name)
    return count


def check_seconds(value: object, name: str) -> float:
    """An interval for a background thread: a finite number of seconds above 0 and within
    what ``threading.Event.wait`` accepts (a larger one crashed the thread)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= threading.TIMEOUT_MAX
    ):
        raise InvalidInput(f"{name} must be a positive number of seconds", field=name)
    return float(value)


def check_seq(value: object, name: str) -> int:
    """An audit sequence number or a position after one: 0 to 2**63 - 1."""
    seq = _integer(value, name)
    if not 0 <= seq <= INT64_MAX:
        raise InvalidInput(f"{name} must be between 0 and 2**63 - 1", field=name)
    return seq


def check_items(values: Iterable[T], name: str) -> list[T]:
    """The items of a collection argument, as a list; one string (or bytes) is refused:
    it is iterable, but a collection of its characters is never what the caller meant."""
    if isinstance(values, str | bytes | bytearray):
        raise InvalidInput(f"{name} must be a collection, not one string", field=name)
    try:
        return list(values)
    except TypeError:
        raise InvalidInput(f"{name} must be a collection", field=name) from None


def check_callback(value: Callable[..., Any] | None, name: str) -> Callable[..., Any] | None:
    """A callback argument: None or a callable."""
    if value is not None and not callable(value):
        raise InvalidInput(f"{name} must be callable or None", field=name)
    return value
