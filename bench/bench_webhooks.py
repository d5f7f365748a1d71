"""Webhook figures (issue 17).

* ``webhooks_outbox_sqlite`` / ``webhooks_outbox_pg``: one ``consent.grant`` +
  ``consent.revoke`` pair to a host with a webhook endpoint (each writes its notice, in the
  same transaction) against the same pair to a host without one (the SDK still reads that
  the host has no endpoint: one primary-key lookup). Interleaved, same store, same
  process; target: the outbox adds at most 10 %.
* ``webhooks_delivery_1`` (SQLite, one deliverer), ``webhooks_delivery_pg_1`` and
  ``webhooks_delivery_pg_4`` (PostgreSQL, one and four deliverer processes): notices/s
  delivered to a local receiver (a ThreadingHTTPServer in its own process answering 200),
  against the raw baseline of the same run: one process POSTing the same bodies with
  ``http.client``, a connection per request as the deliverer uses. Informational.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench import _harness as h
from bench.bench_postgres import _unreachable, bench_database

HOST_ON = "hooked"
HOST_OFF = "quiet"
_RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
class S(ThreadingHTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@contextmanager
def receiver() -> Iterator[str]:
    proc = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        proc.kill()
        proc.wait(10)


def _world(url: str, hook: str, people: int) -> tuple[Any, list[str]]:
    from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key

    sdk = DualId.open(url, keys=generate_master_key(), webhooks_allow_private=True)
    for host in (HOST_ON, HOST_OFF):
        sdk.hosts.register(host, kind=HostKind.BUSINESS, name=host)
        sdk.hosts.require(
            host,
            EventType.RESERVATION,
            required={DataField.NAME},
            optional={DataField.EMAIL},
            purpose="booking",
        )
    sdk.hosts.set_webhook(HOST_ON, hook)
    agents = list(sdk.identity.agents_for([f"bench-{i}" for i in range(people)]).values())
    for agent in agents:
        sdk.profiles.put(agent, EventUserData(name="Someone", email="someone@example.org"))
        for host in (HOST_ON, HOST_OFF):
            sdk.events.register(agent, host, EventType.RESERVATION, "e-1", share={DataField.NAME})
    return sdk, agents


def _outbox_row(key: str, name: str, url: str, quick: bool) -> h.Row:
    from dualid import DataField

    people = 20
    with receiver() as hook:
        sdk, agents = _world(url, hook, people)
        try:
            turn = {HOST_ON: 0, HOST_OFF: 0}

            def pair(host: str) -> None:
                agent = agents[turn[host] % people]
                turn[host] += 1
                grant = sdk.consent.grant(
                    agent, host, fields={DataField.EMAIL}, event_id="e-1", purpose="confirm"
                )
                sdk.consent.revoke(grant.id)

            number, repeats = (30, 3) if quick else (300, 7)
            with_hooks, without = h.compare(
                lambda: pair(HOST_ON), lambda: pair(HOST_OFF), number=number, repeats=repeats
            )
            notices = sdk.webhooks.counts()["pending"]
        finally:
            sdk.close()
    return h.figure(
        key,
        name,
        value=with_hooks.best / 1000,
        baseline=without.best / 1000,
        ratio=with_hooks.best / without.best,
        unit="us/pair",
        target="<= 1.1x",
        kind=h.MAX_RATIO,
        threshold=1.1,
        baseline_desc="the same grant + revoke to a host without a webhook endpoint",
        note=f"{notices:,} notices written; medians {with_hooks.median / 1000:,.0f} vs "
        f"{without.median / 1000:,.0f} us",
    )


def _fill(url: str, hook: str, notices: int) -> None:
    """``notices`` pending notices over 8 hosts (registrations and cancellations)."""
    from dualid import DataField, DualId, EventType, EventUserData, HostKind

    key = os.environ["DUALID_MASTER_KEY"]
    with DualId.open(url, keys=key, webhooks_allow_private=True) as sdk:
        hosts = [f"h-{i}" for i in range(8)]
        for host in hosts:
            sdk.hosts.register(host, kind=HostKind.BUSINESS, name=host)
            sdk.hosts.require(
                host, EventType.RESERVATION, required={DataField.NAME}, purpose="booking"
            )
            sdk.hosts.set_webhook(host, hook)
        people = notices // (2 * len(hosts))
        agents = list(sdk.identity.agents_for([f"d-{i}" for i in range(people)]).values())
        for agent in agents:
            sdk.profiles.put(agent, EventUserData(name="Someone"))
            for host in hosts:
                sdk.events.register(agent, host, EventType.RESERVATION, "e", share={"name"})
                sdk.events.cancel(agent, host, "e")


def deliverer(out: Any, barrier: Any, url: str, key: str) -> None:
    """Deliver until nothing is pending (spawned)."""
    try:
        from dualid import DualId

        with DualId.open(url, keys=key, webhooks_allow_private=True) as sdk:
            barrier.wait(timeout=120)
            start = time.perf_counter()
            done = 0
            while sdk.webhooks.counts()["pending"]:
                report = sdk.webhooks.deliver_pending(limit=50)
                done += report.delivered
                if not report.attempted:
                    time.sleep(0.005)
            out.put(("ok", (start, time.perf_counter(), done)))
    except BaseException as exc:  # reported to the parent
        out.put(("error", f"{type(exc).__name__}: {exc}"))


def _deliver(url: str, key: str, workers: int) -> tuple[float, int]:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=deliverer, args=(out, barrier, url, key)) for _ in range(workers)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    errors = [r for s, r in results if s != "ok"]
    if errors:
        raise RuntimeError("; ".join(errors))
    spans = [r for _, r in results]
    seconds = max(e for _, e, _ in spans) - min(s for s, _, _ in spans)
    return seconds, sum(d for _, _, d in spans)


def _raw_posts(hook: str, count: int) -> float:
    """Seconds for ``count`` POSTs of a notice-sized body, a connection each."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(hook)
    body = b'{"type":"consent.revoked","timestamp":"2026-12-03T00:00:00.000000Z","data":{}}' * 3
    start = time.perf_counter()
    for i in range(count):
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=15)
        conn.request(
            "POST",
            parts.path,
            body,
            {"Content-Type": "application/json", "webhook-id": f"msg_{i}", "Connection": "close"},
        )
        conn.getresponse().read()
        conn.close()
    return time.perf_counter() - start


def _delivery_row(key: str, name: str, url: str, workers: int, notices: int) -> h.Row:
    from dualid import generate_master_key

    master = generate_master_key()
    os.environ["DUALID_MASTER_KEY"] = master
    try:
        with receiver() as hook:
            _fill(url, hook, notices)
            raw_seconds = _raw_posts(hook, notices)
            seconds, delivered = _deliver(url, master, workers)
    finally:
        os.environ.pop("DUALID_MASTER_KEY", None)
    rate, raw_rate = delivered / seconds, notices / raw_seconds
    return h.figure(
        key,
        name,
        value=rate,
        baseline=raw_rate,
        ratio=rate / raw_rate,
        unit="notices/s",
        target="-",
        kind=h.BOUNDED,
        threshold=0,
        met=True,
        baseline_desc="one process POSTing the same number of bodies with http.client",
        note=f"{delivered:,} notices, {workers} deliverer process(es); informational",
    )


def run(quick: bool, only: set[str] | None = None) -> list[h.Row]:
    rows: list[h.Row] = []
    notices = 160 if quick else 1600

    def wanted(key: str) -> bool:
        return only is None or key in only

    with h.workdir() as tmp:
        if wanted("webhooks_outbox_sqlite"):
            rows.append(
                _outbox_row(
                    "webhooks_outbox_sqlite",
                    "grant + revoke with the outbox, SQLite file",
                    f"sqlite:///{tmp}/outbox.db",
                    quick,
                )
            )
        if wanted("webhooks_delivery_1"):
            rows.append(
                _delivery_row(
                    "webhooks_delivery_1",
                    "webhook delivery, SQLite, 1 deliverer",
                    f"sqlite:///{tmp}/delivery.db",
                    1,
                    notices,
                )
            )
    pg = [
        ("webhooks_outbox_pg", "grant + revoke with the outbox, PostgreSQL", 0),
        ("webhooks_delivery_pg_1", "webhook delivery, PostgreSQL, 1 deliverer", 1),
        ("webhooks_delivery_pg_4", "webhook delivery, PostgreSQL, 4 deliverers", 4),
    ]
    reason = _unreachable()
    for key, name, workers in pg:
        if not wanted(key):
            continue
        if reason is not None:
            rows.append(h.skipped(key, name, "-", reason))
            continue
        with bench_database() as url:
            if workers == 0:
                rows.append(_outbox_row(key, name, url, quick))
            else:
                rows.append(_delivery_row(key, name, url, workers, notices))
    return rows
