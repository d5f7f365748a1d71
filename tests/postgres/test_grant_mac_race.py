"""Grant MACs under real concurrency (issue 14, item 4): several processes on one
PostgreSQL database, released together by a barrier, revoke, cancel, grant and read the
same person's consent; another run seals rows without a MAC while they are revoked.

After every race: each call succeeded or lost the race the one way losing means; every
grant row's MAC verifies (each write that changes a grant rewrites its MAC under the
person's lock); ``audit.verify(deep=True)`` finds the tables exactly as the log records
them; every host read showed only fields of grants active in its snapshot (P2, replayed
from the log); and the host now sees exactly what the grants the log leaves active cover.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from dualid import DualId, generate_master_key

from .test_lock_protocol import (
    EMAIL,
    HOST,
    NAME,
    PHONE,
    RES,
    ROUNDS,
    _call,
    _chain_problems,
    _db,
    _log,
    _of,
    _open,
    _p2_violations,
    _person,
    _prepare_host,
    _race,
    _unexpected,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _mac_problems(sdk: DualId) -> list[str]:
    """Grant rows whose MAC is missing or does not verify."""
    tag = sdk._rt.derived.grant_tag
    with sdk.store.engine.connect() as conn:
        found = conn.execute(
            sa.text(
                "SELECT grant_id, agent_id, host_id, event_id, event_type, fields, created_at,"
                " expires_at, revoked_at, mac FROM dualid_grant"
            )
        ).all()
    return [
        f"grant {r[0]}: its MAC does not verify"
        for r in found
        if r[9] is None or tag(*r[:9]) != bytes(r[9])
    ]


def _state_problems(sdk: DualId) -> list[str]:
    report = sdk.audit.verify(deep=True)
    return [] if report.ok else [f"the tables disagree with the log: {report}"]


def _shown_fields(sdk: DualId, event_id: str) -> list[set[str]]:
    return [
        {f for f in ("name", "email", "phone_number") if getattr(a.data, f) is not None}
        for a in sdk.events.attendees(HOST, event_id)
    ]


def _host_view_problems(
    sdk: DualId, agents: list[str], left_active: dict[str, tuple[str, frozenset[str]]]
) -> list[str]:
    problems = []
    for r, agent in enumerate(agents):
        covered = set().union(*(f for owner, f in left_active.values() if owner == agent))
        shown = _shown_fields(sdk, f"ev-m-{r}")  # [] once the registration is cancelled
        if shown != [covered] and not (shown == [] and not covered):
            problems.append(f"round {r}: the host sees {shown}, active grants cover {covered}")
    return problems


def _people(url: str, key: str, prefix: str) -> tuple[list[str], list[str]]:
    """Per round, a person registered for their event (sharing their name) with an email
    grant for it: the agents and the email grants."""
    with _open(url, key) as sdk:
        _prepare_host(sdk)
        agents, emails = [], []
        for r in range(ROUNDS):
            agent = _person(sdk, f"{prefix}-{r}")
            sdk.events.register(agent, HOST, RES, f"ev-m-{r}", share={NAME})
            grant = sdk.consent.grant(
                agent, HOST, fields={EMAIL}, event_id=f"ev-m-{r}", purpose="mail"
            )
            agents.append(agent)
            emails.append(grant.id)
    return agents, emails


def _consent_traffic(agents: list[str], emails: list[str]) -> dict[str, list[Any]]:
    """Three workers' plans: revoke each email grant, grant each phone, read each event."""
    return {
        "revoker": [_call("consent.revoke", g) for g in emails],
        "granter": [
            _call("consent.grant", a, HOST, fields={PHONE}, event_id=f"ev-m-{r}", purpose="call")
            for r, a in enumerate(agents)
        ],
        "reader": [_call("events.attendees", HOST, f"ev-m-{r}") for r in range(ROUNDS)],
    }


def _final_problems(sdk: DualId, log: list[Any], agents: list[str]) -> list[str]:
    """P2 replayed from the log, every MAC, the tables against the log, what the host
    sees now, the chains."""
    p2, left_active = _p2_violations(log)
    return [
        *p2,
        *_mac_problems(sdk),
        *_state_problems(sdk),
        *_host_view_problems(sdk, agents, left_active),
        *_chain_problems(sdk),
    ]


def test_revokes_cancels_and_grants_keep_every_mac_and_the_log_in_step(postgres_url: str) -> None:
    key = generate_master_key()
    agents, emails = _people(postgres_url, key, "mac")
    plans = {
        "revoker": [_call("consent.revoke", g) for g in emails],
        # even rounds: a second revoke of the same grant; odd rounds: the registration is
        # cancelled (its grants revoked with it)
        "rival": [
            _call("consent.revoke", g)
            if r % 2 == 0
            else _call("events.cancel", agents[r], HOST, f"ev-m-{r}")
            for r, g in enumerate(emails)
        ],
        "granter": [
            _call("consent.grant", a, HOST, fields={PHONE}, event_id=f"ev-m-{r}", purpose="call")
            for r, a in enumerate(agents)
        ],
        "reader": [_call("events.attendees", HOST, f"ev-m-{r}") for r in range(ROUNDS)],
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(
        outcomes,
        {
            "revoker": {"ok", "GrantNotActive"},
            "rival": {"ok", "GrantNotActive"},
            "granter": {"ok", "UnknownRegistration"},
            "reader": {"ok"},
        },
    )
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, (agent, email) in enumerate(zip(agents, emails, strict=True)):
            revocations = _of(log, agent, "consent.revoked")
            mine = [e for e in revocations if e.details["grant_id"] == email]
            won = [w for w in ("revoker", "rival") if outcomes[w][r][0] == "ok"]
            if r % 2 == 0 and (len(won) != 1 or len(mine) != 1):
                problems.append(f"round {r}: revokes won by {won}, {len(mine)} entries")
            if r % 2 == 1 and len(mine) != (outcomes["revoker"][r][0] == "ok"):
                problems.append(f"round {r}: revoke {outcomes['revoker'][r]}, {len(mine)} entries")
        problems += _final_problems(sdk, log, agents)
    assert problems == [], "\n".join(problems)


def test_sealing_races_revokes_and_grants(postgres_url: str) -> None:
    """Rows without a MAC (as a store upgraded to 0007 has them) are sealed by one process
    while the others revoke them, grant more and read: a revoke that commits first leaves
    its own MAC (the seal skips the row), a seal that commits first is overwritten by the
    revoke's; either way every MAC verifies and nothing revoked is shown."""
    key = generate_master_key()
    agents, emails = _people(postgres_url, key, "seal")
    with _db(postgres_url) as conn:
        conn.execute(sa.text("UPDATE dualid_grant SET mac = NULL"))
        conn.commit()
    plans: dict[str, list[Any]] = {
        "sealer": [_call("consent.seal_grants") for _ in range(ROUNDS)],
        **_consent_traffic(agents, emails),
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        sealed = sum(e.details["sealed"] for e in log if e.action == "consent.grants_sealed")
        refused = [e for e in log if e.action == "consent.grants_sealed" and "refused" in e.details]
        if refused or sealed > 2 * ROUNDS:
            problems.append(f"{sealed} sealed, refused: {refused}")
        problems += _final_problems(sdk, log, agents)
        for r, agent in enumerate(agents):
            if {i.grant_id for i in sdk.consent.shared(agent)} & {emails[r]}:
                problems.append(f"round {r}: the revoked email grant is still shared")
    assert problems == [], "\n".join(problems)
