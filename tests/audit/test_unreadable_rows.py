"""Audit rows the SDK cannot read back (issue 13, item 5), on both backends: ``verify()``
reports them as tampering (``TAMPERED`` at the entry), never crashes and never passes a log
that ``entries()`` cannot read; ``entries()`` and every write raise ``CorruptRow`` naming
the table, never the value.

The bodies here are re-hashed with the whole chain after them and the head, as a writer
with database access would: only the readability check can tell.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from dualid import DualId, DualIdError, EventUserData
from dualid.audit import AuditProblem
from dualid.errors import CorruptRow

from ..support import execute, rewrite_partition, rows

TAIL = (
    '"action":"profile.updated","at":"2026-01-01T12:00:00.000000+00:00",'
    '"uncertainty_us":0,"hlc":"1","host":null,"actor":null,"details":{}}'
)


def _person(sdk: DualId) -> str:
    """One person with five entries, all in the person's partition."""
    agent = sdk.identity.agent_for("unreadable-user")
    for name in ("Ana", "Bea", "Cy", "Di"):
        sdk.profiles.put(agent, EventUserData(name=name))
    return agent


def _chain(sdk: DualId, agent: str) -> list[Any]:
    return rows(
        sdk,
        "SELECT seq, part, pseq, subject, body, prev_hash, entry_hash FROM dualid_audit"
        " WHERE part = (SELECT part FROM dualid_audit WHERE subject = :a LIMIT 1)"
        " ORDER BY pseq",
        a=agent,
    )


def _prefix(row: Any) -> str:
    return f'{{"seq":{row.seq},"subject":{json.dumps(row.subject)},'


def _rewrite(sdk: DualId, agent: str, bodies: dict[int, str]) -> None:
    """Replace the bodies of the person's partition entries at the given positions and
    re-hash the chain from the first of them on, head included."""
    rewrite_partition(sdk, _chain(sdk, agent)[0].part, bodies)


def _assert_tampered_at(sdk: DualId, seq: int) -> None:
    report = sdk.audit.verify()
    assert (report.ok, report.problem, report.first_bad) == (False, AuditProblem.TAMPERED, seq)
    with pytest.raises(CorruptRow) as caught:
        sdk.audit.entries()
    assert (caught.value.table, caught.value.column) == ("dualid_audit", "body")


def test_two_bodies_that_only_parse_joined_are_tampering(sdk: DualId) -> None:
    """Neither body is JSON on its own, but joined with a comma inside one JSON array
    they give two entry documents: parsing a batch as one array would pass them."""
    agent = _person(sdk)
    a, b = _chain(sdk, agent)[2:4]
    inner = _prefix(b) + TAIL[:-1].replace('"details":{}', '"details":{"k":[0')
    bodies = {
        a.pseq: _prefix(a) + TAIL + "," + inner,
        b.pseq: _prefix(b) + '"x":1}]}}',
    }
    joined = json.loads("[" + ",".join(bodies.values()) + "]")
    assert len(joined) == 2  # the trap: a valid array of two documents
    assert all(list(d) == list(joined[0]) for d in joined)
    _rewrite(sdk, agent, bodies)
    _assert_tampered_at(sdk, a.seq)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"at":"2026-01-01T12:00:00.000000+00:00"', '"at":"yesterday"'),
        ('"at":"2026-01-01T12:00:00.000000+00:00"', '"at":1767268800'),
        ('"at":"2026-01-01T12:00:00.000000+00:00"', '"at":"2026-01-01T12:00:00"'),
        ('"uncertainty_us":0', '"uncertainty_us":"0"'),
        ('"action":"profile.updated"', '"action":7'),
        ('"hlc":"1"', '"hlc":null'),
        ('"host":null', '"host":["h"]'),
        ('"details":{}}', '"details":{}} '),  # anything after the object
    ],
    ids=[
        "at not a time",
        "at a number",
        "at naive",
        "uncertainty text",
        "action number",
        "hlc null",
        "host list",
        "trailing text",
    ],
)
def test_a_body_with_every_key_but_an_unreadable_value_is_tampering(
    sdk: DualId, old: str, new: str
) -> None:
    agent = _person(sdk)
    row = _chain(sdk, agent)[3]
    body = _prefix(row) + TAIL.replace(old, new)
    assert json.loads(body.strip())  # JSON, with every key in order
    _rewrite(sdk, agent, {row.pseq: body})
    _assert_tampered_at(sdk, row.seq)


def test_a_head_hash_that_is_not_hex(sdk: DualId) -> None:
    agent = _person(sdk)
    part = _chain(sdk, agent)[0].part
    execute(sdk, "UPDATE dualid_audit_head SET entry_hash = :h WHERE id = :p", h="z" * 64, p=part)
    report = sdk.audit.verify()
    assert (report.ok, report.problem) == (False, AuditProblem.TAMPERED)
    # The next write of the person needs the head: refused whole, naming the table.
    before = rows(sdk, "SELECT count(*) AS n FROM dualid_audit")[0].n
    with pytest.raises(DualIdError) as caught:
        sdk.profiles.put(agent, EventUserData(name="Eve"))
    assert "dualid_audit_head" in str(caught.value)
    assert "zzzz" not in str(caught.value)
    assert rows(sdk, "SELECT count(*) AS n FROM dualid_audit")[0].n == before


def test_a_deleted_head_row(sdk: DualId) -> None:
    agent = _person(sdk)
    part = _chain(sdk, agent)[0].part
    execute(sdk, "DELETE FROM dualid_audit_head WHERE id = :p", p=part)
    report = sdk.audit.verify()
    assert (report.ok, report.problem) == (False, AuditProblem.TAMPERED)
    with pytest.raises(DualIdError) as caught:
        sdk.profiles.put(agent, EventUserData(name="Eve"))
    assert "dualid_audit_head" in str(caught.value)
    assert [r.action for r in sdk.consent.history(agent)][-1] == "profile.updated"
