"""Shared copies from before migration 0011 re-sealed while their people change consent
(issue 18): several processes on one PostgreSQL database, released together by a barrier.
One re-seals the per-field copies into blobs (``consent.seal_copies``) while the others
revoke, grant more and read the same people's copies.

Each person's re-seal holds their lock, as every write to their copy does, so either
comes first: after every race no per-field copy is left once a last re-seal ran, every
grant row's MAC verifies, ``audit.verify(deep=True)`` finds the tables as the log records
them, every host read showed only fields of grants active in its snapshot (P2, replayed
from the log), and the host sees exactly what the grants the log leaves active cover.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from dualid import generate_master_key
from dualid.store import upgrade

from .test_grant_mac_race import _consent_traffic, _final_problems, _people
from .test_lock_protocol import (
    ROUNDS,
    _call,
    _db,
    _log,
    _open,
    _race,
    _unexpected,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

_LEGACY = "SELECT count(*) FROM dualid_sealed WHERE substr(record_id, 1, 2) NOT IN ('p:', 'u:')"


def test_resealing_races_revokes_grants_and_reads(postgres_url: str) -> None:
    key = generate_master_key()
    agents, emails = _people(postgres_url, key, "blob")
    with _open(postgres_url, key) as sdk:  # per-field copies, as a plain upgrade leaves them
        sdk.downgrade("0007_grant_mac")
        upgrade(sdk.store)
    with _db(postgres_url) as conn:
        assert conn.execute(sa.text(_LEGACY)).scalar_one() == 2 * ROUNDS  # name and email
        assert conn.execute(sa.text("SELECT count(*) FROM dualid_shared")).scalar_one() == 0
    plans: dict[str, list[Any]] = {
        "sealer": [_call("consent.seal_copies", batch=1) for _ in range(ROUNDS)],
        **_consent_traffic(agents, emails),
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        sdk.consent.seal_copies()  # whatever the race left (the writes re-sealed theirs)
        with _db(postgres_url) as conn:
            left = conn.execute(sa.text(_LEGACY)).scalar_one()
            blobs = conn.execute(sa.text("SELECT count(*) FROM dualid_shared")).scalar_one()
        if left or blobs != ROUNDS:
            problems.append(f"{left} per-field values left, {blobs} blobs for {ROUNDS} copies")
        log = _log(sdk)
        sealed = [e for e in log if e.action == "consent.copies_sealed"]
        if any(e.details["copies"] != 1 for e in sealed) or len(sealed) > ROUNDS:
            problems.append(f"re-seal entries: {[e.details for e in sealed]}")
        problems += _final_problems(sdk, log, agents)
    assert problems == [], "\n".join(problems)
