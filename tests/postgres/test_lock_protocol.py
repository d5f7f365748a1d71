"""The lock protocol (docs/concurrency.md, issue 12) under real concurrency: several
processes on one PostgreSQL database, released together by a barrier, round after round.

Every race checks three things: each call either succeeds or fails with the one error that
losing the race means (never a StoreError, never anything else); the tables agree with
the audit log afterwards; and the audit chain is whole. Where hosts read, every field a
host was shown is replayed against the grants active at the read's snapshot (P2).

Each round races on people and events of its own, prepared before the processes start,
so the rounds do not disturb one another and every check runs once, at the end.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

import dualid.errors
from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key
from dualid.audit import AuditRecord

from . import _lock_workers
from ._lock_workers import Call, Outcome
from .test_concurrency import PROCESSES, _run_all

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

ROUNDS = 8
HOST = "h-lock"
RES = EventType.RESERVATION
CLUB = EventType.CLUB_EVENT
NAME, EMAIL, PHONE = DataField.NAME, DataField.EMAIL, DataField.PHONE_NUMBER
FULL = {"name": "Ana", "email": "ana@example.com", "phone_number": "+14155552671"}
# Every table that holds rows of a person; the checks also find any added later.
PERSON_TABLES = {
    "dualid_agent",
    "dualid_agent_key",
    "dualid_default",
    "dualid_grant",
    "dualid_registration",
    "dualid_sealed",
    "dualid_shared",
}
# A host read's audit entry names the last entry its snapshot contains (issue 12, item 4).
SNAPSHOT_DETAIL = "snapshot"


# -- harness ------------------------------------------------------------------------------
def _call(path: str, *args: Any, **kwargs: Any) -> Call:
    return (path, args, kwargs)


def _race(
    url: str,
    key: str,
    plans: dict[str, list[Call]],
    not_before: Sequence[datetime | None] | None = None,
    lags: dict[str, list[float]] | None = None,
) -> dict[str, list[Outcome]]:
    """Run one process per plan, one call per round, the rounds released by a barrier
    (with ``not_before``, each round not before its moment of the SDK's clock; with
    ``lags``, a worker's call that many seconds after the barrier)."""
    assert len(plans) == PROCESSES
    assert len({len(p) for p in plans.values()}) == 1, "every plan needs the same rounds"
    rounds = len(next(iter(plans.values())))
    assert not_before is None or len(not_before) == rounds
    assert lags is None or (set(lags) <= set(plans) and {len(v) for v in lags.values()} <= {rounds})
    outcomes = _run_all(
        _lock_workers.play,
        [
            (url, key, name, plan, not_before, (lags or {}).get(name))
            for name, plan in plans.items()
        ],
    )
    assert set(outcomes) == set(plans)
    return outcomes


def _unexpected(outcomes: dict[str, list[Outcome]], allowed: dict[str, set[str]]) -> list[str]:
    """Outcomes outside ``allowed`` (per worker: "ok" and the exception class names)."""
    return [
        f"round {r}: {worker} -> {kind}: {detail}"
        for worker, results in sorted(outcomes.items())
        for r, (kind, detail) in enumerate(results)
        if kind not in allowed[worker]
    ]


def _open(url: str, key: str) -> DualId:
    return DualId.open(url, keys=key)


def _prepare_host(sdk: DualId, host_id: str = HOST) -> None:
    sdk.hosts.register(host_id, kind=HostKind.BUSINESS, name="Lock Bistro")
    sdk.hosts.require(host_id, RES, required={NAME}, optional={EMAIL, PHONE}, purpose="booking")
    sdk.hosts.require(host_id, CLUB, required={NAME}, optional={EMAIL}, purpose="club night")


def _person(sdk: DualId, user_id: str) -> str:
    agent = sdk.identity.agent_for(user_id)
    sdk.profiles.put(agent, EventUserData(**FULL))
    return agent


@contextmanager
def _db(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _person_tables(conn: sa.Connection) -> list[str]:
    found = conn.execute(
        sa.text(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND column_name = 'agent_id'"
            " ORDER BY table_name"
        )
    ).scalars()
    tables = list(found)
    assert set(tables) >= PERSON_TABLES, tables  # the harness looks at the right schema
    return tables


def _rows_left(url: str, agents: Iterable[str]) -> dict[str, int]:
    """How many rows of ``agents`` each table still holds (only the non-zero ones)."""
    ids = sorted(set(agents))
    with _db(url) as conn:
        left = {
            table: int(
                conn.execute(
                    sa.text(f"SELECT count(*) FROM {table} WHERE agent_id = ANY(:ids)"),
                    {"ids": ids},
                ).scalar_one()
            )
            for table in _person_tables(conn)
        }
    return {t: n for t, n in left.items() if n}


def _orphans(url: str) -> dict[str, int]:
    """Agents without their key or sealed userId, keys without their agent."""
    checks = {
        "agent without key": "SELECT count(*) FROM dualid_agent a WHERE NOT EXISTS"
        " (SELECT 1 FROM dualid_agent_key k WHERE k.agent_id = a.agent_id)",
        "key without agent": "SELECT count(*) FROM dualid_agent_key k WHERE NOT EXISTS"
        " (SELECT 1 FROM dualid_agent a WHERE a.agent_id = k.agent_id)",
        "agent without sealed userId": "SELECT count(*) FROM dualid_agent a WHERE NOT EXISTS"
        " (SELECT 1 FROM dualid_sealed s WHERE s.agent_id = a.agent_id"
        " AND s.field = 'user_id')",
        "sealed row without agent": "SELECT count(*) FROM dualid_sealed s WHERE NOT EXISTS"
        " (SELECT 1 FROM dualid_agent a WHERE a.agent_id = s.agent_id)",
        "shared copy without agent": "SELECT count(*) FROM dualid_shared s WHERE NOT EXISTS"
        " (SELECT 1 FROM dualid_agent a WHERE a.agent_id = s.agent_id)",
    }
    with _db(url) as conn:
        found = {name: int(conn.execute(sa.text(sql)).scalar_one()) for name, sql in checks.items()}
    return {name: n for name, n in found.items() if n}


def _log(sdk: DualId) -> list[AuditRecord]:
    return list(sdk.audit.iter())


def _of(log: Sequence[AuditRecord], subject: str, *actions: str) -> list[AuditRecord]:
    return [e for e in log if e.subject == subject and (not actions or e.action in actions)]


def _refs(sdk: DualId, host_id: str, event_id: str) -> list[str] | str:
    """The refs a host lists for an event, or the code of the error it gets instead."""
    try:
        return [a.ref for a in sdk.events.attendees(host_id, event_id)]
    except dualid.errors.DualIdError as exc:
        return exc.code


def _copy_rows(url: str, record_ids: Sequence[str], field: str) -> list[int]:
    """How many values of ``field`` each registration's shared copy holds: its blob's field
    list (migration 0011) and per-field sealed rows (a copy from before it)."""
    with _db(url) as conn:
        return [
            int(
                conn.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM dualid_sealed"
                        " WHERE record_id = :r AND field = :f)"
                        " + (SELECT count(*) FROM dualid_shared WHERE registration_id = :r"
                        " AND (',' || fields || ',') LIKE '%,' || :f || ',%')"
                    ),
                    {"r": record_id, "f": field},
                ).scalar_one()
            )
            for record_id in record_ids
        ]


def _chain_problems(sdk: DualId) -> list[str]:
    report = sdk.audit.verify()
    return [] if report.ok else [f"the audit chain is broken: {report}"]


# -- P2, replayed from the log -------------------------------------------------------------
def _replay(
    changes: Sequence[AuditRecord],
) -> tuple[
    dict[str, tuple[str, str, str | None, str | None, frozenset[str]]],
    set[str],
    dict[tuple[str, str], dict[str, str]],
]:
    """Consent as the log's changes (in log-wide order) leave it: every grant, the active
    ones, and who is registered for which event with which type."""
    grants: dict[str, tuple[str, str, str | None, str | None, frozenset[str]]] = {}
    active: set[str] = set()
    registered: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)  # -> agent: type
    for e in changes:
        d, agent, host = e.details, e.subject, e.host_id
        if e.action == "registration.created":
            assert agent is not None
            assert host is not None
            registered[(host, d["event_id"])][agent] = d["event_type"]
            if d.get("grant_id"):
                grants[d["grant_id"]] = (agent, host, d["event_id"], None, frozenset(d["fields"]))
                active.add(d["grant_id"])
        elif e.action == "consent.granted":
            assert agent is not None
            assert host is not None
            grants[d["grant_id"]] = (
                agent,
                host,
                d["event_id"],
                d["event_type"],
                frozenset(d["fields"]),
            )
            active.add(d["grant_id"])
        elif e.action == "consent.revoked":
            active.discard(d["grant_id"])
        elif e.action == "registration.cancelled":
            assert host is not None
            registered[(host, d["event_id"])].pop(agent or "", None)
            # cancel() ends the event's grants without an entry of their own.
            active -= {g for g in active if grants[g][:3] == (agent, host, d["event_id"])}
        elif e.action == "agent.erased":
            active -= {g for g in active if grants[g][0] == agent}
            for people in registered.values():
                people.pop(agent or "", None)
    return grants, active, registered


def _in_snapshot(entry: AuditRecord, read: AuditRecord) -> bool:
    """Is ``entry`` in the snapshot ``read`` read? Its ``snapshot`` detail holds, per
    partition, the newest entry the snapshot contains (numbers increase along a partition
    in commit order); a read without one held the chain-head lock: the entries before it."""
    snapshot = read.details.get(SNAPSHOT_DETAIL)
    if snapshot is None:
        return entry.seq < read.seq
    return bool(entry.seq <= snapshot[entry.partition])


def _p2_violations(
    log: Sequence[AuditRecord],
) -> tuple[list[str], dict[str, tuple[str, frozenset[str]]]]:
    """Replay consent from the audit log alone and check every host read against the
    grants active in the snapshot it read.

    Returns the violations and, per grant the log leaves active, its agent and fields."""
    changes = [e for e in log if e.action != "host.read_attendees"]
    problems: list[str] = []
    for read in (e for e in log if e.action == "host.read_attendees"):
        grants, active, registered = _replay([e for e in changes if _in_snapshot(e, read)])
        host, event = read.host_id, read.details["event_id"]
        assert host is not None
        covered: set[str] = set()
        for g in active:
            g_agent, g_host, g_event, g_type, g_fields = grants[g]
            etype = registered[(host, event)].get(g_agent)
            if g_host != host or etype is None:
                continue
            if g_event == event or (g_event is None and g_type in (None, etype)):
                covered |= g_fields
        shown = set(read.details["fields"])
        if not shown <= covered:
            problems.append(
                f"P2: host read #{read.seq} of {event} showed {sorted(shown - covered)}"
                f" that no grant active at its snapshot covers"
            )
    grants, active, _ = _replay(changes)
    return problems, {g: (grants[g][0], grants[g][4]) for g in active}


# -- a control: the harness itself, on a race that is already safe ----------------------
def test_rounds_on_separate_people_all_succeed(postgres_url: str) -> None:
    """Each process writes its own person only: every call succeeds, every round is
    logged, the chain stays whole. (Checks the harness: rounds, barrier, outcomes.)"""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        agents = [_person(sdk, f"control-{w}") for w in range(PROCESSES)]
    plans = {
        f"w{w}": [
            _call("consent.grant", agents[w], HOST, fields={EMAIL}, purpose=f"round {r}")
            if r % 2 == 0
            else _call("profiles.put", agents[w], EventUserData(name=f"Round {r}"))
            for r in range(ROUNDS)
        ]
        for w in range(PROCESSES)
    }
    outcomes = _race(postgres_url, key, plans)
    assert _unexpected(outcomes, {w: {"ok"} for w in plans}) == []
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for w, agent in enumerate(agents):
            granted = {e.details["grant_id"] for e in _of(log, agent, "consent.granted")}
            assert granted == {grant_id for _, grant_id in outcomes[f"w{w}"][::2]}
            assert len(_of(log, agent, "profile.updated")) == 1 + ROUNDS // 2
            profile = sdk.profiles.get(agent)
            assert profile is not None
            assert profile.name == f"Round {ROUNDS - 1}"
        assert _chain_problems(sdk) == []


# -- failure 1: erasure racing the person's other writes ---------------------------------
def test_erase_and_writes_to_the_same_person_serialise(postgres_url: str) -> None:
    """One process erases the person while the others register them, replace their
    profile and grant a host-wide consent: each write commits before the erasure (and is
    erased with the person) or raises UnknownAgent; nothing of the person survives and no
    host lists them (P6)."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        bystander = _person(sdk, "bystander")
        victims = []
        for r in range(ROUNDS):
            agent = _person(sdk, f"erased-{r}")
            sdk.consent.set_default(agent, RES, {NAME})
            sdk.events.register(agent, HOST, RES, f"ev-pre-{r}", share={NAME})
            sdk.events.register(bystander, HOST, RES, f"ev-{r}", share={NAME})
            victims.append(agent)
        (bystander_ref,) = _refs(sdk, HOST, "ev-0")
    plans = {
        "eraser": [_call("erase", a) for a in victims],
        "registrar": [
            _call("events.register", a, HOST, RES, f"ev-{r}", share={NAME})
            for r, a in enumerate(victims)
        ],
        "profiler": [
            _call("profiles.put", a, EventUserData(name=f"Renamed {r}"))
            for r, a in enumerate(victims)
        ],
        "granter": [
            _call("consent.grant", a, HOST, fields={EMAIL}, purpose=f"race {r}")
            for r, a in enumerate(victims)
        ],
    }
    outcomes = _race(postgres_url, key, plans)
    loses = {"ok", "UnknownAgent"}
    problems = _unexpected(
        outcomes, {"eraser": {"ok"}, "registrar": loses, "profiler": loses, "granter": loses}
    )
    left = _rows_left(postgres_url, victims)
    if left:
        problems.append(f"rows of erased agents survive: {left}")
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, agent in enumerate(victims):
            mine = _of(log, agent)
            erased = [e for e in mine if e.action == "agent.erased"]
            if len(erased) != 1 or mine[-1] is not erased[-1]:
                after = [e.action for e in mine[mine.index(erased[0]) + 1 :]] if erased else []
                problems.append(
                    f"round {r}: {len(erased)} agent.erased entries, logged after: {after}"
                )
            # A write that succeeded is logged (before the erasure); one that lost is not.
            logged = {
                "registrar": any(
                    e.action == "registration.created" and e.details["event_id"] == f"ev-{r}"
                    for e in mine
                ),
                "profiler": len([e for e in mine if e.action == "profile.updated"]) == 2,
                "granter": any(e.action == "consent.granted" for e in mine),
            }
            for worker, was_logged in logged.items():
                kind = outcomes[worker][r][0]
                if (kind == "ok") != was_logged:
                    problems.append(f"round {r}: {worker} returned {kind}, logged: {was_logged}")
            listed = _refs(sdk, HOST, f"ev-{r}")
            if listed != [bystander_ref]:
                problems.append(f"round {r}: ev-{r} lists {listed}, not just the bystander")
            # The erased person's own event has no registration left: still an event.
            listed = _refs(sdk, HOST, f"ev-pre-{r}")
            if listed != []:
                problems.append(f"round {r}: ev-pre-{r} answers {listed}, not []")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- failure 2: concurrent revokes of one grant ------------------------------------------
def test_concurrent_revokes_of_one_grant_have_one_winner(postgres_url: str) -> None:
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        agent = _person(sdk, "revoker")
        sdk.events.register(agent, HOST, RES, "ev-revoke", share={NAME})
        grants = [
            sdk.consent.grant(agent, HOST, fields={EMAIL}, purpose=f"round {r}").id
            for r in range(ROUNDS)
        ]
    plans = {f"w{w}": [_call("consent.revoke", g) for g in grants] for w in range(PROCESSES)}
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok", "GrantNotActive"} for w in plans})
    with _open(postgres_url, key) as sdk:
        revoked = Counter(e.details["grant_id"] for e in _of(_log(sdk), agent, "consent.revoked"))
        for r, grant_id in enumerate(grants):
            kinds = Counter(outcomes[w][r][0] for w in plans)
            if kinds != Counter({"ok": 1, "GrantNotActive": PROCESSES - 1}):
                problems.append(f"round {r}: outcomes {dict(kinds)}")
            if revoked[grant_id] != 1:
                problems.append(f"round {r}: {revoked[grant_id]} consent.revoked entries")
            if sdk.consent.get(grant_id).revoked_at is None:
                problems.append(f"round {r}: the grant is still active")
        (attendee,) = sdk.events.attendees(HOST, "ev-revoke")
        assert attendee.data.email is None
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- failure 3: concurrent upserts ---------------------------------------------------------
def _profile_of(worker: int, r: int) -> EventUserData:
    """Each worker writes a different set of fields, so the log tells whose put won."""
    email = {"email": f"w{worker}r{r}@example.com"} if worker % 2 else {}
    phone = {"phone_number": "+14155552671"} if worker >= 2 else {}
    return EventUserData(name=f"Writer {worker} round {r}", **email, **phone)


def _personal(data: EventUserData | None) -> dict[str, Any]:
    assert data is not None
    return {k: v for k, v in data.model_dump(exclude_none=True).items() if k in FULL}


def test_concurrent_profile_puts_all_succeed_and_the_last_wins(postgres_url: str) -> None:
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        agents = [_person(sdk, f"profile-{r}") for r in range(ROUNDS)]
    plans = {
        f"w{w}": [_call("profiles.put", a, _profile_of(w, r)) for r, a in enumerate(agents)]
        for w in range(PROCESSES)
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, agent in enumerate(agents):
            final = _personal(sdk.profiles.get(agent))
            written = [_personal(_profile_of(w, r)) for w in range(PROCESSES)]
            if final not in written:
                problems.append(f"round {r}: the profile is no single put's value: {final}")
            updates = _of(log, agent, "profile.updated")
            if len(updates) != 1 + PROCESSES:
                problems.append(f"round {r}: {len(updates)} profile.updated entries, not 5")
            elif updates[-1].details["fields"] != sorted(final):
                problems.append(
                    f"round {r}: the last logged put wrote {updates[-1].details['fields']},"
                    f" the profile holds {sorted(final)}"
                )
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- profiles.update: read, merge and write under the person's lock -----------------------
# One field per worker; each round's person starts with a birthday that no call touches.
_UPDATED = ("name", "phone_number", "email", "company_affiliation")
_BORN = date(1990, 5, 17)


def _update_of(field: str, r: int) -> str:
    return {
        "name": f"Updated {r}",
        "phone_number": f"+1415555{2670 + r}",
        "email": f"updated{r}@example.com",
        "company_affiliation": f"Company {r}",
    }[field]


def test_concurrent_profile_updates_of_different_fields_all_land(postgres_url: str) -> None:
    """Four processes update one person's profile at once, each a different field: every
    call succeeds and the profile ends with all four new values and the birthday no call
    touched (each update reads the profile again under the person's lock, so none is
    lost). The log has one profile.updated per call, each holding one field more than the
    one before, and each call returned the profile its own entry logged."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        agents = []
        for r in range(ROUNDS):
            agent = sdk.identity.agent_for(f"updater-{r}")
            sdk.profiles.put(agent, EventUserData(birthday=_BORN))
            agents.append(agent)
    plans = {
        field: [
            _call("profiles.update", a, **{field: _update_of(field, r)})
            for r, a in enumerate(agents)
        ]
        for field in _UPDATED
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, agent in enumerate(agents):
            final = sdk.profiles.get(agent)
            want: dict[str, Any] = {"birthday": _BORN} | {f: _update_of(f, r) for f in _UPDATED}
            lost = sorted(f for f, v in want.items() if getattr(final, f, None) != v)
            if lost:  # field names only: the values are the person's
                problems.append(f"round {r}: the profile lost the updates of {lost}")
            updates = _of(log, agent, "profile.updated")[1:]  # after the initial put
            logged = [e.details["fields"] for e in updates]
            if len(logged) != PROCESSES:
                problems.append(f"round {r}: {len(logged)} profile.updated entries, not 4")
                continue
            # The k-th update to commit merged into the k-1 before it: one field more.
            before = ["birthday"]
            for k, fields in enumerate(logged):
                added = set(fields) - set(before)
                if set(before) - set(fields) or len(added) != 1:
                    problems.append(f"round {r}: update #{k} logged {fields} after {before}")
                    break
                (field,) = added
                if field in outcomes and outcomes[field][r] != ("ok", fields):
                    problems.append(
                        f"round {r}: the {field} update returned {outcomes[field][r]},"
                        f" its entry logged {fields}"
                    )
                before = fields
            if before != sorted(want):
                problems.append(f"round {r}: the last update logged {before}")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


_OPTIONAL: list[set[DataField]] = [set(), {EMAIL}, {PHONE}, {EMAIL, PHONE}]


def test_concurrent_requirement_replacements_all_succeed_and_the_last_wins(
    postgres_url: str,
) -> None:
    key = generate_master_key()
    hosts = [f"req-{r}" for r in range(ROUNDS)]
    with _open(postgres_url, key) as sdk:
        for host in hosts:
            sdk.hosts.register(host, kind=HostKind.CLUB, name="Requirement Club")
    plans = {
        f"w{w}": [
            _call(
                "hosts.require",
                host,
                RES,
                required={NAME},
                optional=_OPTIONAL[w],
                purpose=f"purpose {w}",
            )
            for host in hosts
        ]
        for w in range(PROCESSES)
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, host in enumerate(hosts):
            final = sdk.hosts.requirement(host, RES)
            assert final is not None
            writer = int(final.purpose.removeprefix("purpose "))
            if final.optional != _OPTIONAL[writer] or final.required != {NAME}:
                problems.append(f"round {r}: a requirement no single call wrote: {final}")
            sets = [e for e in log if e.action == "host.requirement_set" and e.host_id == host]
            if len(sets) != PROCESSES:
                problems.append(f"round {r}: {len(sets)} host.requirement_set entries, not 4")
            elif sets[-1].details["optional"] != sorted(f.value for f in final.optional):
                problems.append(
                    f"round {r}: the last logged call set {sets[-1].details['optional']},"
                    f" the requirement holds {sorted(final.optional)}"
                )
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- register vs cancel, grant vs revoke_host, agent_for vs erase -------------------------
def test_register_and_cancel_race_state_matches_the_log(postgres_url: str) -> None:
    """Two processes cancel a registration while two register it again: the log is an
    alternation created, cancelled, created, ... matching the outcomes, and the tables hold
    exactly what its last entry says."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        agents = []
        for r in range(ROUNDS):
            agent = _person(sdk, f"booker-{r}")
            sdk.events.register(agent, HOST, RES, f"ev-c-{r}", share={NAME})
            agents.append(agent)
    cancel = [_call("events.cancel", a, HOST, f"ev-c-{r}") for r, a in enumerate(agents)]
    register = [
        _call("events.register", a, HOST, RES, f"ev-c-{r}", share={NAME})
        for r, a in enumerate(agents)
    ]
    plans = {"cancel-0": cancel, "cancel-1": cancel, "register-0": register, "register-1": register}
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(
        outcomes,
        {
            "cancel-0": {"ok", "UnknownRegistration"},
            "cancel-1": {"ok", "UnknownRegistration"},
            "register-0": {"ok", "DuplicateRegistration"},
            "register-1": {"ok", "DuplicateRegistration"},
        },
    )
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        with _db(postgres_url) as conn:
            for r, agent in enumerate(agents):
                event = f"ev-c-{r}"
                mine = [
                    e
                    for e in _of(log, agent, "registration.created", "registration.cancelled")
                    if e.details["event_id"] == event
                ]
                actions = [e.action.removeprefix("registration.") for e in mine]
                if actions != ["created", "cancelled"] * (len(actions) // 2) + (
                    ["created"] if len(actions) % 2 else []
                ):
                    problems.append(f"round {r}: the log does not alternate: {actions}")
                ok = Counter(name.split("-")[0] for name in plans if outcomes[name][r][0] == "ok")
                if actions.count("created") - 1 != ok["register"]:
                    problems.append(f"round {r}: {ok['register']} registers ok, log {actions}")
                if actions.count("cancelled") != ok["cancel"]:
                    problems.append(f"round {r}: {ok['cancel']} cancels ok, log {actions}")
                rows = [reg.id for reg in sdk.events.registrations(agent)]
                expected = [mine[-1].details["registration_id"]] if actions[-1] == "created" else []
                if rows != expected:
                    problems.append(f"round {r}: registrations {rows}, the log says {expected}")
                active = [g for g in sdk.consent.grants(agent) if g.event_id == event]
                expected_grant = [mine[-1].details["grant_id"]] if expected else []
                if [g.id for g in active] != expected_grant:
                    problems.append(f"round {r}: active grants {active} vs log {expected_grant}")
                cancelled = [
                    e.details["registration_id"] for e in mine if e.action.endswith("cancelled")
                ]
                copies = conn.execute(
                    sa.text(
                        "SELECT (SELECT count(*) FROM dualid_sealed WHERE record_id = ANY(:ids))"
                        " + (SELECT count(*) FROM dualid_shared"
                        " WHERE registration_id = ANY(:ids))"
                    ),
                    {"ids": cancelled},
                ).scalar_one()
                if copies:
                    problems.append(f"round {r}: {copies} shared copies of cancelled ones")
                listed = _refs(sdk, HOST, event)
                if not (isinstance(listed, list) and len(listed) == len(expected)):
                    problems.append(f"round {r}: {event} lists {listed}, log says {actions[-1]}")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


def test_grant_and_revoke_host_race_state_matches_the_log(postgres_url: str) -> None:
    """revoke_host races a host-wide and an event grant while the host reads the event:
    the grants active afterwards are exactly those the log leaves active, the host sees
    exactly their fields, and no read showed a field without an active grant (P2)."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        agents = []
        for r in range(ROUNDS):
            agent = _person(sdk, f"sharer-{r}")
            sdk.events.register(agent, HOST, RES, f"ev-g-{r}", share={NAME})
            agents.append(agent)
    plans = {
        "revoker": [_call("consent.revoke_host", a, HOST) for a in agents],
        "host-wide": [
            _call("consent.grant", a, HOST, fields={EMAIL}, purpose=f"host-wide {r}")
            for r, a in enumerate(agents)
        ],
        "event": [
            _call("consent.grant", a, HOST, fields={PHONE}, event_id=f"ev-g-{r}", purpose="ev")
            for r, a in enumerate(agents)
        ],
        "reader": [_call("events.attendees", HOST, f"ev-g-{r}") for r in range(ROUNDS)],
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        p2, left_active = _p2_violations(log)
        problems += p2
        for r, agent in enumerate(agents):
            event = f"ev-g-{r}"
            revoked = _of(log, agent, "consent.revoked")
            if outcomes["revoker"][r] != ("ok", len(revoked)):
                problems.append(
                    f"round {r}: revoke_host returned {outcomes['revoker'][r]},"
                    f" {len(revoked)} consent.revoked entries"
                )
            active = {g.id: frozenset(f.value for f in g.fields) for g in sdk.consent.grants(agent)}
            logged = {g: fields for g, (owner, fields) in left_active.items() if owner == agent}
            if active != logged:
                problems.append(f"round {r}: active grants {active}, the log says {logged}")
            # The race's read: its entry records what the host got.
            reads = [
                e
                for e in log
                if e.action == "host.read_attendees" and e.details["event_id"] == event
            ]
            kind, seen = outcomes["reader"][r]
            if kind == "ok":
                ((_, got),) = seen
                if [e.details["fields"] for e in reads] != [got]:
                    problems.append(f"round {r}: the host got {got}, the log has {reads}")
            # Every grant left active covers this event: the host sees their fields, all.
            (attendee,) = sdk.events.attendees(HOST, event)
            shown = set(_personal(attendee.data))
            covered = set().union(*logged.values())
            if shown != covered:
                problems.append(
                    f"round {r}: the host sees {sorted(shown)}, active grants cover"
                    f" {sorted(covered)}"
                )
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- purge_expired racing grant: a fresh grant keeps the copy it covers -------------------
# Round r's expiring grant expires LEAD + r * STEP after the setup: the workers (spawned,
# a few seconds to start) hold each round until its grant has expired by the SDK's own
# clock, so each round's purge finds an expired grant of that round's person and none of a
# later one. A late start only makes a round's race weaker, never the checks wrong.
_EXPIRY_LEAD = timedelta(seconds=4)
_EXPIRY_STEP = timedelta(milliseconds=400)
# The grants take the person's lock sooner than a purge does (it reads the expired grants
# first), so in odd rounds they start this much later: there the purge deletes the copy's
# email first and both grants fill it again, at once.
_GRANT_LAG = 0.1


def test_purge_expired_racing_a_fresh_grant_keeps_the_copy(postgres_url: str) -> None:
    """Two processes purge expired consent while two grant the same email again, for the
    event whose email grant has just expired: every call succeeds, the shared copy keeps
    its one email row and the host sees the email (each purge reads the person's grants
    again under their lock, so a grant committed first keeps the copy, and a purge that
    went first is refilled by the grants, once), no purge deleted anything after a fresh
    grant was logged, the purges' counts agree with the log, and P2 holds on the replay.
    Even rounds race the grants first, odd rounds the purges (``_GRANT_LAG``)."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)  # CLUB: name required, email optional
        agents, events, copies = [], [], []
        for r in range(ROUNDS):
            agent = _person(sdk, f"expiring-{r}")
            events.append(f"ev-x-{r}")
            copies.append(sdk.events.register(agent, HOST, CLUB, events[-1], share={NAME}).id)
            agents.append(agent)
        start = sdk.clock.now().latest  # expiry is judged by the clock's latest bound
        expiries = [start + _EXPIRY_LEAD + r * _EXPIRY_STEP for r in range(ROUNDS)]
        expiring = [
            sdk.consent.grant(
                a, HOST, fields={EMAIL}, event_id=e, purpose="reminders", expires_at=x
            ).id
            for a, e, x in zip(agents, events, expiries, strict=True)
        ]
    assert _copy_rows(postgres_url, copies, "email") == [1] * ROUNDS  # the copies to purge
    purge = [_call("consent.purge_expired") for _ in range(ROUNDS)]
    grant = [
        _call("consent.grant", a, HOST, fields={"email"}, event_id=e, purpose="newsletter")
        for a, e in zip(agents, events, strict=True)
    ]
    plans = {"purge-0": purge, "purge-1": purge, "grant-0": grant, "grant-1": grant}
    lag = [_GRANT_LAG * (r % 2) for r in range(ROUNDS)]
    outcomes = _race(
        postgres_url, key, plans, not_before=expiries, lags={"grant-0": lag, "grant-1": lag}
    )
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    for r, rows in enumerate(_copy_rows(postgres_url, copies, "email")):
        if rows != 1:
            problems.append(f"round {r}: the shared copy holds {rows} email rows, not 1")
    with _open(postgres_url, key) as sdk:
        for r, event in enumerate(events):
            try:
                listed = sdk.events.attendees(HOST, event)
            except dualid.errors.DualIdError as exc:
                problems.append(f"round {r}: the host cannot read {event}: {exc.code}")
                continue
            if [a.data.email for a in listed] != [FULL["email"]]:
                problems.append(
                    f"round {r}: the host sees {[sorted(_personal(a.data)) for a in listed]}"
                )
        log = _log(sdk)  # after the host reads: the replay judges them too
        p2, _ = _p2_violations(log)
        problems += p2
        for r, agent in enumerate(agents):
            fresh = {outcomes[w][r][1] for w in ("grant-0", "grant-1") if outcomes[w][r][0] == "ok"}
            granted = [
                e
                for e in _of(log, agent, "consent.granted")
                if e.details["grant_id"] != expiring[r]
            ]
            if {e.details["grant_id"] for e in granted} != fresh or len(fresh) != 2:
                problems.append(f"round {r}: grants returned {fresh}, logged {granted}")
            active = {g.id for g in sdk.consent.grants(agent) if EMAIL in g.fields}
            if active != fresh:
                problems.append(f"round {r}: active email grants {active}, granted {fresh}")
            purged = _of(log, agent, "consent.expired_purged")
            if len(purged) > 1 or any(e.details["values"] != 1 for e in purged):
                problems.append(f"round {r}: purged {[e.details for e in purged]}")
            if purged and granted and purged[-1].seq > min(e.seq for e in granted):
                problems.append(
                    f"round {r}: a purge (#{purged[-1].seq}) deleted the email after a"
                    f" fresh grant was logged (#{min(e.seq for e in granted)})"
                )
        returned = sum(
            detail for w in ("purge-0", "purge-1") for kind, detail in outcomes[w] if kind == "ok"
        )
        logged = sum(e.details["values"] for e in log if e.action == "consent.expired_purged")
        if returned != logged:
            problems.append(f"the purges returned {returned} values deleted, the log has {logged}")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


def test_agent_for_racing_erase_leaves_one_whole_agent_or_none(postgres_url: str) -> None:
    """agent_for(U) races the erasure of U's agent: each call returns an agentId; the
    erased agent leaves no row; a new agent, if any was made, is whole (key, sealed
    userId, one agent.created after the erasure) and the only one for U."""
    key = generate_master_key()
    with _open(postgres_url, key) as sdk:
        users = [f"returning-{r}" for r in range(ROUNDS)]
        originals = [_person(sdk, u) for u in users]
    plans = {"eraser": [_call("erase", a) for a in originals]} | {
        f"agent_for-{w}": [_call("identity.agent_for", u) for u in users]
        for w in range(1, PROCESSES)
    }
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok"} for w in plans})
    left = _rows_left(postgres_url, originals)
    if left:
        problems.append(f"rows of erased agents survive: {left}")
    orphans = _orphans(postgres_url)
    if orphans:
        problems.append(f"orphan rows: {orphans}")
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        for r, (user, original) in enumerate(zip(users, originals, strict=True)):
            returned = {
                outcomes[w][r][1] for w in plans if w != "eraser" and outcomes[w][r][0] == "ok"
            }
            new = returned - {original}
            now = sdk.identity.lookup(user)
            if len(new) > 1 or now != (next(iter(new)) if new else None):
                problems.append(f"round {r}: agent_for returned {returned}, lookup says {now}")
                continue
            if not new:
                continue
            (fresh,) = new
            if sdk.identity.user_for(fresh, actor="test", reason="lock race") != user:
                problems.append(f"round {r}: the new agent maps to another user")
            erased = [e.seq for e in _of(log, original, "agent.erased")]
            created = [e.seq for e in _of(log, fresh, "agent.created")]
            if len(erased) != 1 or len(created) != 1 or created[0] < erased[0]:
                problems.append(f"round {r}: agent.created #{created}, agent.erased #{erased}")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)


# -- failure 6: one event, one type --------------------------------------------------------
def test_one_event_gets_one_type_under_concurrent_registrations(postgres_url: str) -> None:
    """Four people register for one new event at once, two as a reservation and two as a
    club event: the first type committed wins, registrations of the other raise
    EventTypeMismatch and write nothing, and the host lists only the winners' type."""
    key = generate_master_key()
    types = [RES, RES, CLUB, CLUB]
    with _open(postgres_url, key) as sdk:
        _prepare_host(sdk)
        people = [_person(sdk, f"typed-{w}") for w in range(PROCESSES)]
    plans = {
        f"{types[w].value}-{w}": [
            _call("events.register", people[w], HOST, types[w], f"ev-t-{r}", share={NAME})
            for r in range(ROUNDS)
        ]
        for w in range(PROCESSES)
    }
    names = list(plans)
    outcomes = _race(postgres_url, key, plans)
    problems = _unexpected(outcomes, {w: {"ok", "EventTypeMismatch"} for w in plans})
    with _open(postgres_url, key) as sdk:
        log = _log(sdk)
        with _db(postgres_url) as conn:
            for r in range(ROUNDS):
                event = f"ev-t-{r}"
                won = {types[w] for w in range(PROCESSES) if outcomes[names[w]][r][0] == "ok"}
                if len(won) != 1:
                    problems.append(
                        f"round {r}: {sorted(t.value for t in won)} accepted for one event"
                    )
                    continue
                (winner,) = won
                for w in range(PROCESSES):
                    expected = "ok" if types[w] is winner else "EventTypeMismatch"
                    if outcomes[names[w]][r][0] != expected:
                        problems.append(f"round {r}: {names[w]} -> {outcomes[names[w]][r]}")
                winners = {people[w] for w in range(PROCESSES) if types[w] is winner}
                rows = conn.execute(
                    sa.text(
                        "SELECT agent_id, event_type FROM dualid_registration"
                        " WHERE host_id = :host AND event_id = :event"
                    ),
                    {"host": HOST, "event": event},
                ).all()
                if {a for a, _ in rows} != winners or {t for _, t in rows} != {winner.value}:
                    problems.append(f"round {r}: registrations {rows}")
                granted = conn.execute(
                    sa.text("SELECT agent_id FROM dualid_grant WHERE event_id = :event"),
                    {"event": event},
                ).scalars()
                if set(granted) != winners:
                    problems.append(f"round {r}: the losers' grants were written")
                created = {
                    e.subject
                    for e in log
                    if e.action == "registration.created" and e.details["event_id"] == event
                }
                if created != winners:
                    problems.append(f"round {r}: registration.created for losers too")
                listed = sdk.events.attendees(HOST, event)
                if len(listed) != len(winners) or {a.data.event_type for a in listed} != {winner}:
                    problems.append(f"round {r}: the host lists {listed}")
        problems += _chain_problems(sdk)
    assert problems == [], "\n".join(problems)
    # New in issue 12: looked up here so that the module imports before it exists.
    mismatch = getattr(dualid.errors, "EventTypeMismatch")
    assert mismatch.code == "EVENT_TYPE_MISMATCH"
    assert issubclass(mismatch, dualid.errors.Conflict)
