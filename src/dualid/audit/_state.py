"""What ``verify(deep=True)`` hands over to a state check, and what it gets back.

The audit log knows nothing of consent (it sits below :mod:`dualid.consent` in the
layers): the check that the consent tables agree with the log is the consent package's
(:func:`dualid.consent._replay.check_state`), given to :class:`~dualid.audit.AuditLog`
by :class:`~dualid.DualId`: it sees the log's rows as the chain walk verifies them, then,
once every chain is whole, compares the tables on the same connection, in the same
snapshot. It reports a disagreement by table and row id, never by value.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from dualid.store._audit import EntryRow
from dualid.store._sql import Conn

__all__ = ["StateCheck", "StateMismatch", "StateReplay", "StateSummary", "collector_paused"]


@dataclass(frozen=True)
class StateMismatch:
    """One row that disagrees with the log: its table, its id (a grant or registration
    id, or for a shared value ``registration_id/field``) and what disagrees (column
    names and sequence numbers only, never a value)."""

    table: str
    row_id: str
    reason: str
    seq: int | None = None
    """The entry the row disagrees with, when there is one."""
    tampered: bool = False
    """The entry itself cannot be replayed (not one the SDK writes): the log's problem,
    not the table's."""


@dataclass(frozen=True)
class StateSummary:
    """What a state check compared, and the rows that disagree (the first few, in table
    and id order; ``disagreeing`` counts them all)."""

    entries: int
    grants: int
    registrations: int
    shared_values: int
    mismatches: tuple[StateMismatch, ...] = ()
    disagreeing: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches


class StateReplay(Protocol):
    """One run of a state check: :meth:`visit` is given the log's rows as the chain walk
    verifies them (partition after partition, in position order), :meth:`finish` then
    compares the tables, on the same connection and snapshot."""

    def visit(self, rows: Sequence[EntryRow]) -> None: ...

    def finish(self, conn: Conn, batch: int) -> StateSummary: ...


StateCheck = Callable[[], StateReplay]
"""Starts a :class:`StateReplay`."""


@contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector (when ``pause``) for a deep verification: it
    reads every entry and row once and builds large, acyclic state (reference counting
    frees all of it), and the collector's full passes over that state would otherwise cost
    a third of the run. Restored on exit (left alone when it was paused already)."""
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
