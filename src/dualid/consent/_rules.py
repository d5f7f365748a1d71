"""The host view rule (P2), written once, as pure functions of plain values.

A host sees field F of a registration (event E of type T, of person P at host H) while
  1. F is declared (required or optional) in H's requirement for T, and
  2. a grant of P to H is *active* (not revoked, and ``expires_at`` is None or later than
     the reading's ``latest``: the clock's uncertainty counts against sharing, so a grant
     is expired as soon as it may have expired), lists F, and *applies* to the
     registration: it names E, or it is host-wide (no event) and names no event type or
     T, and
  3. the registration's shared copy holds a value for F.

Every caller uses these functions: the host view (``Events.attendees*``), the person's
view (``Consent.shared``, ``Events.registrations``), ``Consent.explain``, and the code that
fills and prunes shared copies. Times are integer microseconds since the epoch (the stored
form), so the rule is the same wherever the values come from.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ._types import GrantState

__all__ = ["GrantTerms", "applies", "coverage", "host_view_coverage", "state"]


class GrantTerms(NamedTuple):
    """What the rule needs of one grant (of the right person and host)."""

    event_id: str | None
    event_type: str | None
    fields: str  # comma-separated field names, as stored
    expires_us: int | None
    revoked: bool


def state(revoked: bool, expires_us: int | None, latest_us: int) -> GrantState:
    """A grant's state at a reading whose ``latest`` is ``latest_us``."""
    if revoked:
        return GrantState.REVOKED
    if expires_us is not None and expires_us <= latest_us:
        return GrantState.EXPIRED
    return GrantState.ACTIVE


def applies(
    grant_event_id: str | None, grant_event_type: str | None, event_id: str, event_type: str
) -> bool:
    """Does a grant (of the registration's person and host) apply to the registration for
    ``event_id`` of ``event_type``, whatever its state?"""
    if grant_event_id is not None:
        return grant_event_id == event_id
    return grant_event_type is None or grant_event_type == event_type


def coverage(
    grants: Sequence[GrantTerms],
    event_id: str,
    event_type: str,
    declared: Container[str],
    latest_us: int,
) -> dict[str, list[int]]:
    """``{field: [indexes into grants]}``: the fields of one registration that the host
    may see (before rule 3, the value being there) and the active grants covering each,
    in the order given."""
    out: dict[str, list[int]] = {}
    active = GrantState.ACTIVE
    for i, (g_event, g_type, fields, expires_us, revoked) in enumerate(grants):
        if state(revoked, expires_us, latest_us) is not active:
            continue
        if not applies(g_event, g_type, event_id, event_type):
            continue
        for name in fields.split(","):
            if name in declared:
                covering = out.get(name)
                if covering is None:
                    out[name] = [i]
                else:
                    covering.append(i)
    return out


def host_view_coverage(
    rows: Iterable[tuple[str, str | None, str | None, str, int, int | None, str, Any]],
    registration_of: Mapping[str, tuple[str, str]],
    event_id: str,
    declared_by_type: Mapping[str, Container[str]],
    latest_us: int,
) -> dict[str, dict[str, int]]:
    """:func:`coverage` for a whole page of the host view at once (tens of thousands of
    grants, one pass, no per-grant objects): ``rows`` are unrevoked grants ``(agent_id,
    event_id, event_type, fields, created_us, expires_us, grant_id, mac)`` of one host (as
    the store reads them; the last two are not looked at),
    ``registration_of`` maps each agent to its ``(registration_id, event_type)`` for
    ``event_id``. Returns ``{registration_id: {field: created_us of the earliest active
    grant covering it}}`` (the predicates of :func:`state` and :func:`applies` inlined, it
    runs once per grant row of a page; tested equal to :func:`coverage`)."""
    empty: frozenset[str] = frozenset()
    out: dict[str, dict[str, int]] = {}
    # (fields, event type) -> the declared names among them: grant rows repeat a few
    # field lists thousands of times.
    names_of: dict[tuple[str, str], list[str]] = {}
    for agent_id, g_event, g_type, fields, created_us, expires_us, _, _ in rows:
        # state(): an unrevoked grant (by the query) is active unless it may have expired
        if expires_us is not None and expires_us <= latest_us:
            continue
        reg_id, etype = registration_of[agent_id]
        # applies(): its own event, or host-wide for every type or for this one
        if g_event is not None:
            if g_event != event_id:
                continue
        elif g_type is not None and g_type != etype:
            continue
        names = names_of.get((fields, etype))
        if names is None:
            declared = declared_by_type.get(etype, empty)
            names = names_of[fields, etype] = [n for n in fields.split(",") if n in declared]
        if not names:
            continue
        covered = out.get(reg_id)
        if covered is None:
            out[reg_id] = dict.fromkeys(names, created_us)
            continue
        for name in names:
            prev = covered.get(name)
            if prev is None or created_us < prev:
                covered[name] = created_us
    return out
