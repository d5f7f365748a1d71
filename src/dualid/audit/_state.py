"""What ``verify(deep=True)`` hands over to a state check, and what it gets back.

The audit log knows nothing of consent (it sits below :mod:`dualid.consent` in the
layers): the check that the consent tables agree with the log is the consent package's
(:func:`dualid.consent._replay.check_state`), given to :class:`~dualid.audit.AuditLog`
by :class:`~dualid.DualId` and run on the connection, in the snapshot, whose chains were
just verified. It reports a disagreement by table and row id, never by value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dualid.store._sql import Conn

__all__ = ["StateCheck", "StateMismatch", "StateSummary"]


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


StateCheck = Callable[[Conn, int], StateSummary]
"""``check(conn, batch) -> StateSummary`` on a connection inside a snapshot."""
