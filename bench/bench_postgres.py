"""Figure 9: consent.grant + consent.revoke on PostgreSQL from 4 processes, against a raw
psycopg insert of the same number of rows from 4 processes.

Each process is started with ``spawn`` and opens its own ``DualId`` (its own engine and
connections) on one shared database, as several service instances would. A barrier starts
them together; throughput is all operations over the wall time from the first start to
the last finish. The database is created for the run (``dualid_bench_<random>``) and
dropped afterwards.

The server: ``DUALID_BENCH_POSTGRES_URL``, else ``DUALID_TEST_POSTGRES_URL``, else
``postgresql://postgres@127.0.0.1:5432/postgres`` (an admin URL: it must be able to
CREATE DATABASE). Unreachable, the figure is skipped with the reason.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/bench_postgres.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h

KEY = "pg_grant_revoke"
NAME = "consent.grant + revoke on PostgreSQL, 4 processes"
TARGET = "<= 5x"
PROCESSES = 4
HOST = "bench-pg-host"
DEFAULT_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> str:
    for var in ("DUALID_BENCH_POSTGRES_URL", "DUALID_TEST_POSTGRES_URL"):
        url = os.environ.get(var, "").strip()
        if url:
            return url
    return DEFAULT_ADMIN


def _libpq(url: str) -> str:
    """A URL psycopg.connect accepts (no SQLAlchemy driver suffix)."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(_libpq(url)).set(database=name).render_as_string(hide_password=False)


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh database for the run (libpq URL); dropped afterwards."""
    import psycopg

    admin = _libpq(_admin_url())
    name = f"dualid_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


# -- worker processes (spawned: module-level, importable) -----------------------------------
def _report(
    out: Any, barrier: Any, worker: int, warm: Callable[[], None], job: Callable[[], int]
) -> None:
    try:
        warm()
        barrier.wait(timeout=120)
        start = time.perf_counter_ns()
        ops = job()
        end = time.perf_counter_ns()
        out.put((worker, "ok", (start, end, ops)))
    except BaseException as exc:  # reported to the parent, which fails the figure
        import traceback

        out.put((worker, "error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def sdk_worker(
    out: Any, barrier: Any, url: str, key: str, worker: int, agents: list[str], pairs: int
) -> None:
    """``pairs`` x (grant of one field to the host, then revoke it), over our own agents."""
    from dualid import DataField, DualId
    from dualid.clock import SystemClock

    sdk = DualId.open(
        "postgresql+psycopg://" + url.split("://", 1)[1],
        keys=key,
        clock=SystemClock(),
        migrate=False,
    )

    def one(agent: str) -> None:
        g = sdk.consent.grant(agent, HOST, fields={DataField.EMAIL}, purpose="newsletter")
        sdk.consent.revoke(g.id)

    def warm() -> None:
        for agent in agents[:3]:
            one(agent)

    def job() -> int:
        for i in range(pairs):
            one(agents[i % len(agents)])
        return 2 * pairs

    try:
        _report(out, barrier, worker, warm, job)
    finally:
        sdk.close()


def raw_worker(out: Any, barrier: Any, url: str, worker: int, rows: int) -> None:
    """``rows`` single-row INSERTs of a grant-like row, one transaction (commit) each."""
    import psycopg

    conn = psycopg.connect(url)
    sql = (
        "INSERT INTO raw_grant (grant_id, agent_id, host_id, fields, purpose, created_at,"
        " created_hlc, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
    )

    def one(i: int) -> None:
        conn.execute(
            sql,
            (
                f"gr_{worker}_{i}_{secrets.token_hex(8)}",
                f"agt_w{worker}_{i % 50}",
                HOST,
                "email",
                "newsletter",
                time.time_ns() // 1000,
                f"{time.time_ns():020d}",
                None,
            ),
        )
        conn.commit()

    def warm() -> None:
        for i in range(-6, 0):
            one(i)

    def job() -> int:
        for i in range(rows):
            one(i)
        return rows

    try:
        _report(out, barrier, worker, warm, job)
    finally:
        conn.close()


def _run_all(target: Callable[..., None], args: list[tuple[Any, ...]]) -> float:
    """Start one process per args tuple; ops/s over the wall time of the timed parts."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(len(args))
    procs = [ctx.Process(target=target, args=(out, barrier, *a)) for a in args]
    for p in procs:
        p.start()
    results, errors = [], []
    try:
        for _ in procs:
            try:
                worker, status, value = out.get(timeout=600)
            except queue_module.Empty:
                raise RuntimeError("a benchmark worker process did not report back") from None
            (results if status == "ok" else errors).append((worker, value))
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.terminate()
    if errors:
        raise RuntimeError(f"worker {errors[0][0]} failed: {errors[0][1]}")
    start = min(v[0] for _, v in results)
    end = max(v[1] for _, v in results)
    ops = sum(v[2] for _, v in results)
    return ops / ((end - start) / 1e9)


def run(quick: bool, only: set[str] | None = None) -> list[h.Row]:
    if only is not None and KEY not in only:
        return []
    pairs, rounds = (25, 1) if quick else (250, 2)
    agents_per_worker = 20
    try:
        import psycopg

        with psycopg.connect(_libpq(_admin_url()), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return [
            h.skipped(
                KEY,
                NAME,
                TARGET,
                f"PostgreSQL unreachable ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0][:120]})",
            )
        ]
    from dualid import DataField, DualId, EventType, HostKind, generate_master_key
    from dualid.clock import SystemClock

    with bench_database() as url:
        key = generate_master_key()
        with DualId.open(
            "postgresql+psycopg://" + url.split("://", 1)[1], keys=key, clock=SystemClock()
        ) as sdk:
            sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bench PG Host")
            sdk.hosts.require(
                HOST,
                EventType.BUSINESS_EVENT,
                required={DataField.NAME},
                optional={DataField.EMAIL},
                purpose="bench",
            )
            users = [f"pg-user-{w}-{i}" for w in range(PROCESSES) for i in range(agents_per_worker)]
            mapping = sdk.identity.agents_for(users)
        per_worker = [
            [mapping[f"pg-user-{w}-{i}"] for i in range(agents_per_worker)]
            for w in range(PROCESSES)
        ]
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE raw_grant (grant_id VARCHAR(40) PRIMARY KEY, agent_id VARCHAR(40)"
                " NOT NULL, host_id VARCHAR(64) NOT NULL, fields VARCHAR(200) NOT NULL,"
                " purpose VARCHAR(500) NOT NULL, created_at BIGINT NOT NULL, created_hlc"
                " VARCHAR(32) NOT NULL, revoked_at BIGINT)"
            )
            conn.execute("CREATE INDEX ix_raw_grant_agent_host ON raw_grant (agent_id, host_id)")
            conn.execute("CREATE INDEX ix_raw_grant_host ON raw_grant (host_id)")
        sdk_rates, raw_rates = [], []
        for _ in range(rounds):
            sdk_rates.append(
                _run_all(
                    sdk_worker, [(url, key, w, per_worker[w], pairs) for w in range(PROCESSES)]
                )
            )
            raw_rates.append(_run_all(raw_worker, [(url, w, 2 * pairs) for w in range(PROCESSES)]))
        with DualId.open(
            "postgresql+psycopg://" + url.split("://", 1)[1],
            keys=key,
            clock=SystemClock(),
            migrate=False,
        ) as sdk:
            chain = sdk.audit.verify()
    value, baseline = max(sdk_rates), max(raw_rates)
    return [
        h.figure(
            KEY,
            NAME,
            value=value,
            baseline=baseline,
            ratio=baseline / value,
            unit="ops/s",
            target=TARGET,
            kind=h.MAX_RATIO,
            threshold=5.0,
            baseline_desc=(
                "4 spawned processes, each psycopg 3 connection doing single-row INSERTs of a "
                "grant-like row into a similar indexed table, one commit per row; as many rows "
                "as the SDK does operations, best round"
            ),
            note=(
                f"{PROCESSES} processes x {pairs} grant+revoke pairs, best of {rounds} "
                "round(s); ratio is raw ops/s / SDK ops/s; audit chain after the run: "
                f"ok={chain.ok}, "
                f"{chain.entries} entries"
            ),
            chain_ok=chain.ok,
        )
    ]


if __name__ == "__main__":
    print(h.table(run(quick="--quick" in sys.argv[1:])))
