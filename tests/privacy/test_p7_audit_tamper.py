"""P7: the audit log is hash-chained; verify() finds an edited, deleted, inserted or
reordered entry (tampering through raw SQL, as someone with database access would), and
names the first bad sequence number.

The entries are one person's, so they are one partition's chain on every backend (on
PostgreSQL the log has 16): tampering with a partition is tampering with a chain.
``test_p7_partitions.py`` covers the log across partitions and against checkpoints."""

from __future__ import annotations

import hashlib
import json

import pytest

from dualid import DualId, EventUserData

from ..support import execute, rows

N = 6  # entries written by _populate


def _populate(sdk: DualId) -> int:
    """Six entries of one person; the partition they are in."""
    agent = sdk.identity.agent_for("user-0")
    for i in range(N - 1):
        sdk.profiles.put(agent, EventUserData(name=f"Ana {i}"))
    report = sdk.audit.verify()
    assert report.ok
    assert report.entries == N
    (part,) = {r.part for r in rows(sdk, "SELECT part FROM dualid_audit")}
    return int(part)


def _entry(sdk: DualId, seq: int) -> object:
    return rows(sdk, "SELECT * FROM dualid_audit WHERE seq = :s", s=seq)[0]


@pytest.mark.parametrize("seq", [1, 3, N])
def test_edited_body_is_detected(sdk: DualId, seq: int) -> None:
    _populate(sdk)
    body = _entry(sdk, seq).body  # type: ignore[attr-defined]
    forged = body.replace('"action":"', '"action":"x')
    assert forged != body
    execute(sdk, "UPDATE dualid_audit SET body = :b WHERE seq = :s", b=forged, s=seq)
    report = sdk.audit.verify()
    assert not report.ok
    assert report.first_bad == seq


def test_edited_details_is_detected(sdk: DualId) -> None:
    _populate(sdk)
    doc = json.loads(_entry(sdk, 2).body)  # type: ignore[attr-defined]
    doc["details"] = {"fields": []}
    execute(
        sdk,
        "UPDATE dualid_audit SET body = :b WHERE seq = 2",
        b=json.dumps(doc, separators=(",", ":")),
    )
    assert sdk.audit.verify().first_bad == 2


def test_edited_subject_column_is_detected(sdk: DualId) -> None:
    _populate(sdk)
    execute(sdk, "UPDATE dualid_audit SET subject = 'agt_someone_else' WHERE seq = 4")
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, 4)


def test_rehashed_edit_still_breaks_the_next_link(sdk: DualId) -> None:
    # A forger who recomputes the edited entry's own hash breaks the link of the next one.
    _populate(sdk)
    entry = _entry(sdk, 3)
    forged = entry.body.replace('"action":"', '"action":"x')  # type: ignore[attr-defined]
    new_hash = hashlib.sha256(bytes.fromhex(entry.prev_hash) + forged.encode()).hexdigest()  # type: ignore[attr-defined]
    execute(
        sdk,
        "UPDATE dualid_audit SET body = :b, entry_hash = :h WHERE seq = 3",
        b=forged,
        h=new_hash,
    )
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, 4)


@pytest.mark.parametrize("seq", [1, 3])
def test_deleted_entry_is_detected(sdk: DualId, seq: int) -> None:
    # Reported at the entry after the gap: the first one whose position is wrong.
    _populate(sdk)
    assert execute(sdk, "DELETE FROM dualid_audit WHERE seq = :s", s=seq) == 1
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, seq + 1)
    assert report.problem == "TAMPERED"


def test_deleted_last_entry_is_detected(sdk: DualId) -> None:
    _populate(sdk)
    execute(sdk, "DELETE FROM dualid_audit WHERE seq = :s", s=N)
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad, report.entries) == (False, N, N - 1)
    assert report.reason is not None
    assert "head" in report.reason


def test_forged_entry_appended_is_detected(sdk: DualId) -> None:
    # Well formed and correctly linked, but the head row does not know it.
    _populate(sdk)
    last = _entry(sdk, N)
    body = last.body.replace(f'"seq":{N},', f'"seq":{N + 1},')  # type: ignore[attr-defined]
    entry_hash = hashlib.sha256(bytes.fromhex(last.entry_hash) + body.encode()).hexdigest()  # type: ignore[attr-defined]
    execute(
        sdk,
        "INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash) "
        "VALUES (:s, :subj, :b, :p, :h)",
        s=N + 1,
        subj=last.subject,  # type: ignore[attr-defined]
        b=body,
        p=last.entry_hash,  # type: ignore[attr-defined]
        h=entry_hash,
    )
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, N + 1)


def test_forged_entry_inserted_in_the_middle_is_detected(sdk: DualId) -> None:
    # Make room at seq 3 (shift 3.. up by one) and put a forged, self-consistent entry there.
    _populate(sdk)
    prev = _entry(sdk, 2)
    execute(sdk, "UPDATE dualid_audit SET seq = seq + 100 WHERE seq >= 3")
    execute(sdk, "UPDATE dualid_audit SET seq = seq - 99 WHERE seq >= 100")
    body = prev.body.replace('"seq":2,', '"seq":3,')  # type: ignore[attr-defined]
    entry_hash = hashlib.sha256(bytes.fromhex(prev.entry_hash) + body.encode()).hexdigest()  # type: ignore[attr-defined]
    execute(
        sdk,
        "INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash) "
        "VALUES (3, :subj, :b, :p, :h)",
        subj=prev.subject,  # type: ignore[attr-defined]
        b=body,
        p=prev.entry_hash,  # type: ignore[attr-defined]
        h=entry_hash,
    )
    report = sdk.audit.verify()
    assert not report.ok
    # Inserted without a position in any partition's chain: outside the log's numbering.
    assert report.first_bad == 3


def test_forged_entry_with_random_hash_is_detected(sdk: DualId) -> None:
    _populate(sdk)
    execute(
        sdk,
        "INSERT INTO dualid_audit (seq, subject, body, prev_hash, entry_hash) "
        "VALUES (:s, NULL, '{}', :p, :h)",
        s=N + 1,
        p="0" * 64,
        h="f" * 64,
    )
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, N + 1)


@pytest.mark.parametrize(("a", "b"), [(2, 3), (1, N), (3, 5)])
def test_swapped_entries_are_detected(sdk: DualId, a: int, b: int) -> None:
    _populate(sdk)
    execute(sdk, "UPDATE dualid_audit SET seq = -1 WHERE seq = :a", a=a)
    execute(sdk, "UPDATE dualid_audit SET seq = :a WHERE seq = :b", a=a, b=b)
    execute(sdk, "UPDATE dualid_audit SET seq = :b WHERE seq = -1", b=b)
    report = sdk.audit.verify()
    # The entry at the earlier position carries the other's number: reported there.
    assert (report.ok, report.first_bad) == (False, max(a, b))


def test_head_rewound_is_detected(sdk: DualId) -> None:
    part = _populate(sdk)
    prev = _entry(sdk, N - 1)
    execute(
        sdk,
        "UPDATE dualid_audit_head SET seq = :s, pseq = :s, entry_hash = :h WHERE id = :p",
        s=N - 1,
        h=prev.entry_hash,  # type: ignore[attr-defined]
        p=part,
    )
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, N)


def test_untouched_chain_keeps_verifying_after_more_writes(sdk: DualId) -> None:
    _populate(sdk)
    sdk.identity.agent_for("late-user")
    assert sdk.audit.verify().ok


def test_rehashed_last_entry_disagrees_with_the_head(sdk: DualId) -> None:
    _populate(sdk)
    entry = _entry(sdk, N)
    forged = entry.body.replace('"action":"', '"action":"x')  # type: ignore[attr-defined]
    new_hash = hashlib.sha256(bytes.fromhex(entry.prev_hash) + forged.encode()).hexdigest()  # type: ignore[attr-defined]
    execute(
        sdk,
        "UPDATE dualid_audit SET body = :b, entry_hash = :h WHERE seq = :s",
        b=forged,
        h=new_hash,
        s=N,
    )
    report = sdk.audit.verify()
    assert (report.ok, report.first_bad) == (False, N)
