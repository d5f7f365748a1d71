"""The audit chain: entries, hashes, reading back, verification of a whole chain."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualid import AuditReport, DualId, EventUserData
from dualid.audit import GENESIS
from dualid.testing import FakeClock

from ..support import rehash_last, rows


def _populate(sdk: DualId, n: int = 3) -> list[str]:
    agents = [sdk.identity.agent_for(f"user-{i}") for i in range(n)]
    for agent in agents:
        sdk.profiles.put(agent, EventUserData(name="Ana"))
    return agents


def test_empty_chain_verifies(sdk: DualId) -> None:
    report = sdk.audit.verify()
    assert report == AuditReport(ok=True, entries=0, first_bad=None, reason=None, head_seq=0)
    assert bool(report)


def test_entries_link_by_hash(sdk: DualId) -> None:
    # Each partition is a chain of its own; numbers are log-wide and unique.
    _populate(sdk)
    chain = rows(
        sdk,
        "SELECT seq, part, pseq, body, prev_hash, entry_hash FROM dualid_audit ORDER BY part, pseq",
    )
    assert sorted(r.seq for r in chain) == list(range(1, 7))
    heads = {r.id: r for r in rows(sdk, "SELECT id, seq, pseq, entry_hash FROM dualid_audit_head")}
    for part in {r.part for r in chain}:
        prev, pseq, seq = GENESIS, 0, 0
        for row in (r for r in chain if r.part == part):
            assert row.prev_hash == prev
            assert row.pseq == pseq + 1
            assert row.seq > seq
            expected = hashlib.sha256(bytes.fromhex(prev) + row.body.encode()).hexdigest()
            assert row.entry_hash == expected
            prev, pseq, seq = row.entry_hash, row.pseq, row.seq
        assert (heads[part].seq, heads[part].pseq, heads[part].entry_hash) == (seq, pseq, prev)


def test_body_is_canonical_json(sdk: DualId) -> None:
    _populate(sdk, 1)
    sdk.identity.agents_for([f"bulk-{i}" for i in range(5)])  # bulk entries share a tail
    for seq, subject, body in rows(sdk, "SELECT seq, subject, body FROM dualid_audit"):
        doc = json.loads(body)
        assert (doc["seq"], doc["subject"]) == (seq, subject)
        assert list(doc) == [
            "seq",
            "subject",
            "action",
            "at",
            "uncertainty_us",
            "hlc",
            "host",
            "actor",
            "details",
        ]
        assert body == json.dumps(doc, separators=(",", ":"), ensure_ascii=True)


def test_records_read_back(sdk: DualId, clock: FakeClock) -> None:
    agent = sdk.identity.agent_for("user-1")
    clock.advance(timedelta(seconds=5))
    sdk.profiles.put(agent, EventUserData(name="Ana"))
    first, second = sdk.audit.entries()
    assert (first.seq, first.action, first.subject) == (1, "agent.created", agent)
    assert (second.seq, second.action) == (2, "profile.updated")
    assert second.at - first.at == timedelta(seconds=5)
    assert first.hlc < second.hlc
    assert first.uncertainty_us == 5000  # the FakeClock's default bound
    assert sdk.audit.entries(subject=agent) == [first, second]
    assert sdk.audit.entries(after=1) == [second]
    assert sdk.audit.entries(limit=1) == [first]


def test_iter_streams_every_entry_in_batches(sdk: DualId) -> None:
    _populate(sdk, 4)
    assert [e.seq for e in sdk.audit.iter(batch=3)] == list(range(1, 9))


def test_verify_in_small_batches(sdk: DualId) -> None:
    _populate(sdk, 4)
    assert sdk.audit.verify(batch=1) == sdk.audit.verify() == AuditReport(True, 8, head_seq=8)


def test_failed_operation_writes_no_entry(sdk: DualId) -> None:
    _populate(sdk, 1)
    before = sdk.audit.verify()
    with contextlib.suppress(Exception):
        sdk.profiles.put("agt_unknown", EventUserData(name="Ana"))
    assert sdk.audit.verify() == before


_TEXT = st.text(max_size=30) | st.sampled_from(["agt_abc", "bistro-7", 'é\u2028"\\', ""])
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    seq=st.integers(min_value=0, max_value=2**62),
    subject=st.none() | _TEXT,
    action=_TEXT,
    host=st.none() | _TEXT,
    actor=st.none() | _TEXT,
    details=st.dictionaries(st.text(max_size=8), _JSONISH, max_size=4),
    micros=st.integers(min_value=0, max_value=10**16),
)
@settings(max_examples=300, deadline=None)
def test_entry_body_is_exactly_the_canonical_json_dump(
    seq: int,
    subject: str | None,
    action: str,
    host: str | None,
    actor: str | None,
    details: dict[str, object],
    micros: int,
) -> None:
    """_body assembles the JSON from its parts; it must be byte-equal to json.dumps of the
    document, which is what the chain's hashes commit to and verify() re-reads."""
    from dualid.audit._chain import _body

    reading = FakeClock(start=datetime(2026, 1, 1, tzinfo=UTC)).now()
    reading = dataclasses.replace(reading, uncertainty=timedelta(microseconds=micros % 10**9))
    doc = {
        "seq": seq,
        "subject": subject,
        "action": action,
        "at": reading.time.isoformat(timespec="microseconds"),
        "uncertainty_us": reading.uncertainty // timedelta(microseconds=1),
        "hlc": str(reading.hlc),
        "host": host,
        "actor": actor,
        "details": details,
    }
    expected = json.dumps(doc, separators=(",", ":"), ensure_ascii=True, sort_keys=False)
    assert _body(seq, subject, action, reading, host, actor, details) == expected


@pytest.mark.parametrize(
    "tail",
    [
        "garbage",  # not JSON
        '"action":"x"}',  # JSON, but not an entry body
        '"action":"x","at":"2026-01-01T00:00:00+00:00","uncertainty_us":0,"hlc":"1",'
        '"host":null,"actor":null,"details":[]}',  # details is not an object
    ],
)
def test_a_rehashed_unreadable_body_is_tampering_and_reading_it_is_corrupt_row(
    sdk: DualId, tail: str
) -> None:
    from dualid.errors import CorruptRow

    _populate(sdk, 1)
    (last,) = sdk.audit.entries()[-1:]
    rehash_last(sdk, f'{{"seq":{last.seq},"subject":null,{tail}', clear_subject=True)
    report = sdk.audit.verify()
    assert (report.ok, report.problem, report.first_bad) == (False, "TAMPERED", last.seq)
    with pytest.raises(CorruptRow) as caught:
        sdk.audit.entries()
    assert caught.value.table == "dualid_audit"
    assert "garbage" not in str(caught.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"after": 10**19},
        {"after": -1},
        {"after": "3"},
        {"limit": -1},
        {"limit": 0},
        {"limit": 1.5},
        {"subject": 5},
        {"subject": "agt_\x00"},
    ],
)
def test_bad_entries_arguments_are_invalid_input(sdk: DualId, kwargs: dict[str, object]) -> None:
    from dualid.errors import InvalidInput

    _populate(sdk, 1)
    with pytest.raises(InvalidInput):
        sdk.audit.entries(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch", [0, -1, 10**19, 2.5, True])
def test_a_bad_verify_batch_is_invalid_input_not_a_false_alarm(sdk: DualId, batch: object) -> None:
    from dualid.errors import InvalidInput

    _populate(sdk, 1)
    with pytest.raises(InvalidInput):
        sdk.audit.verify(batch=batch)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        list(sdk.audit.iter(batch=batch))  # type: ignore[arg-type]
    assert sdk.audit.verify(batch=1).ok
