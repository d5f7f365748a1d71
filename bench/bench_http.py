"""HTTP benchmark: the host attendee list over real HTTP, servers in separate processes.

An event with 1,000 attendees (each sharing name, phone and email) on a SQLite file store.
Each server is a uvicorn process of its own (``--fd``: the socket is bound here, so no port
race), called from this process over loopback with keep-alive, one request at a time, the
endpoints alternating in rounds:

* dualid: ``GET /v1/hosts/me/events/{id}/attendees?limit=1000`` of the host router
  (decrypts every consented field, checks every grant, writes one audit entry per page),
  once on uvicorn's default stack here (httptools + uvloop, which the ``fastapi`` extra
  installs) and once on its pure-Python one (h11 + asyncio);
* ``GET /bare/full`` in the same process: a plain FastAPI endpoint returning the same JSON
  document from memory;
* the peer (``bench/_peer.py``): FastAPI + a SQLAlchemy ORM model with sqlalchemy-utils
  ``StringEncryptedType(AesGcmEngine)`` columns and a pydantic response model, the same
  values, on the same server stack;
* in this process, without HTTP: ``events.attendees_page_json(limit=1000)`` (what the
  endpoint calls), ``events.attendees_page(limit=1000)`` plus the JSON of its model objects
  (``attendee_page_json``), and a raw select + AES-GCM decrypt of the rows.

Figures: dualid against the bare endpoint (>= 0.5x throughput), against the peer (>= 3x),
and the HTTP layer's cost, endpoint time per request over the in-process page + JSON
(<= 1.2x); information rows for the default page size (100), the raw floor, the
model-object path and the pure-Python server stack. Each measurement is the best of a few
rounds, each bounded in requests and seconds. ``python bench/bench_http.py [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from dualid import DataField, DualId, EventType, EventUserData, HostKind, generate_master_key
from dualid.clock import SystemClock
from dualid.fastapi._schemas import attendee_page_json

if __package__ in (None, ""):  # python bench/bench_http.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h
from bench import _peer
from bench.bench_core import own_schema_list

ATTENDEES = 1000
HOST = "bench-host"
EVENT = "gala-2026"
PAGE = 100
ROOT = Path(__file__).resolve().parent.parent
URL_ENV = "DUALID_BENCH_URL"
SHARED = {DataField.NAME, DataField.PHONE_NUMBER, DataField.EMAIL}


def _seed(sdk: DualId, n: int) -> list[tuple[str, str, str]]:
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bench Host")
    sdk.hosts.require(
        HOST,
        EventType.BUSINESS_EVENT,
        required={DataField.NAME, DataField.PHONE_NUMBER},
        optional={DataField.EMAIL, DataField.COMPANY_AFFILIATION},
        purpose="gala",
    )
    agents = sdk.identity.agents_for(f"user-{i}" for i in range(n))
    people = []
    for i, agent in enumerate(agents.values()):
        data = EventUserData(
            name=f"Guest {i}",
            phone_number=f"+1415555{i:04d}",
            email=f"guest{i}@example.org",
            company_affiliation="Acme",
        )
        sdk.profiles.put(agent, data)
        sdk.events.register(agent, HOST, EventType.BUSINESS_EVENT, EVENT, share=SHARED)
        people.append((str(data.name), str(data.phone_number), str(data.email)))
    return people


def create_app() -> Any:
    """The dualid server (a uvicorn factory): the host router over the store at
    ``DUALID_BENCH_URL`` (key from ``DUALID_MASTER_KEY``), the caller's host from the
    ``X-Host-Id`` header, and the bare endpoint serving the same documents from memory."""
    from fastapi import FastAPI, Header
    from fastapi.responses import Response

    from dualid.fastapi import host_router

    sdk = DualId.open(os.environ[URL_ENV], clock=SystemClock())
    documents = {
        "full": _document(sdk, ATTENDEES),
        "page": _document(sdk, PAGE),
    }

    def host(x_host_id: str = Header()) -> str:
        return x_host_id

    app = FastAPI()
    app.include_router(host_router(sdk, authenticate_host=host), prefix="/v1")

    @app.get("/bare/{name}")
    def bare(name: str) -> Response:
        return Response(documents[name], media_type="application/json")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def create_peer_app() -> Any:
    """The peer's server, with a health route for the start-up wait."""
    app = _peer.create_app()

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _document(sdk: DualId, limit: int) -> bytes:
    page = sdk.events.attendees_page(HOST, EVENT, limit=limit)
    return attendee_page_json(page.items, page.next_cursor)


@contextmanager
def _server(factory: str, env: dict[str, str], *, stack: str) -> Iterator[str]:
    """A uvicorn process serving ``factory`` on a socket bound here; its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it; without it small responses wait out delayed ACKs (~40 ms)
    # on loopback and every endpoint measures the kernel's timer instead of itself.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    http, loop = ("httptools", "uvloop") if stack == "fast" else ("h11", "asyncio")
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--fd",
        str(sock.fileno()),
        "--http",
        http,
        "--loop",
        loop,
        "--lifespan",
        "off",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    proc = subprocess.Popen(  # one server process, ended below by its own pid
        cmd, cwd=ROOT, env={**os.environ, **env}, pass_fds=(sock.fileno(),)
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{factory} exited with {proc.returncode}")
            try:
                httpx.get(base + "/healthz", timeout=1.0).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{factory} did not start in 60 s") from None
                time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        sock.close()


def _throughput(call: Callable[[], None], requests: int, seconds: float) -> float:
    """Calls per second over at most ``requests`` calls or ``seconds``."""
    done = 0
    start = time.perf_counter()
    while done < requests and time.perf_counter() - start < seconds:
        call()
        done += 1
    return done / (time.perf_counter() - start)


def _raw_select_decrypt(sdk: DualId) -> Callable[[], None]:
    """What any endpoint serving the list from the store must at least do per request:
    select the event's shared copies and decrypt them (data keys unwrapped beforehand,
    grants not checked, nothing audited, no JSON): the attendees_list baseline at 1,000."""
    from dualid._vault import load_deks
    from dualid.store import _sql as db

    path = sdk.store.sqlite_path
    assert path is not None
    with sdk.store.read() as conn:
        agents = [r[0] for r in db.query(conn, "SELECT agent_id FROM dualid_agent")]
        deks = {a: k.aead for a, k in load_deks(conn, sdk._rt.provider, agents).items()}
    return own_schema_list(path, deks, HOST, EVENT, ATTENDEES)


def run(quick: bool) -> list[h.Row]:
    rounds, per_round, seconds = (2, 8, 2.0) if quick else (4, 30, 5.0)
    with tempfile.TemporaryDirectory(prefix="dualid-bench-http-") as tmp:
        key = generate_master_key()
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        peer_url = f"sqlite:///{Path(tmp) / 'peer.db'}"
        peer_key = secrets.token_urlsafe(32)
        os.environ.setdefault(_peer.KEY_ENV, peer_key)
        with DualId.open(url, keys=key, clock=SystemClock()) as sdk:
            people = _seed(sdk, ATTENDEES)
            _peer.seed(peer_url, HOST, EVENT, people)
            env = {URL_ENV: url, "DUALID_MASTER_KEY": key}
            peer_env = {_peer.URL_ENV: peer_url, _peer.KEY_ENV: os.environ[_peer.KEY_ENV]}
            path = f"/v1/hosts/me/events/{EVENT}/attendees"
            headers = {"X-Host-Id": HOST}
            with ExitStack() as stack:
                fast = stack.enter_context(
                    _server("bench.bench_http:create_app", env, stack="fast")
                )
                slow = stack.enter_context(_server("bench.bench_http:create_app", env, stack="py"))
                peer = stack.enter_context(
                    _server("bench.bench_http:create_peer_app", peer_env, stack="fast")
                )
                clients = {
                    name: stack.enter_context(httpx.Client(base_url=base, timeout=60))
                    for name, base in (("fast", fast), ("slow", slow), ("peer", peer))
                }

                def get(client: str, url: str, **params: Any) -> Callable[[], None]:
                    http = clients[client]

                    def call() -> None:
                        http.get(url, params=params, headers=headers).raise_for_status()

                    return call

                def in_process() -> None:
                    sdk.events.attendees_page_json(HOST, EVENT, limit=ATTENDEES)

                def in_process_models() -> None:
                    page = sdk.events.attendees_page(HOST, EVENT, limit=ATTENDEES)
                    attendee_page_json(page.items, page.next_cursor)

                calls: dict[str, Callable[[], None]] = {
                    "dualid_full": get("fast", path, limit=ATTENDEES),
                    "bare_full": get("fast", "/bare/full"),
                    "peer_full": get("peer", path.removeprefix("/v1"), limit=ATTENDEES),
                    "sdk_full": in_process,
                    "sdk_models": in_process_models,
                    "dualid_py": get("slow", path, limit=ATTENDEES),
                    "dualid_page": get("fast", path, limit=PAGE),
                    "bare_page": get("fast", "/bare/page"),
                    "raw_full": _raw_select_decrypt(sdk),
                }
                ours = clients["fast"].get(path, params={"limit": ATTENDEES}, headers=headers)
                assert ours.json() == clients["fast"].get("/bare/full").json()
                served = clients["peer"].get(
                    path.removeprefix("/v1"), params={"limit": 1000}, headers=headers
                )
                assert len(served.json()["items"]) == ATTENDEES
                for call in calls.values():  # warm up
                    for _ in range(2):
                        call()
                best = dict.fromkeys(calls, 0.0)
                for _ in range(rounds):
                    for name, call in calls.items():
                        best[name] = max(best[name], _throughput(call, per_round, seconds))
    return _rows(best)


def _rows(best: dict[str, float]) -> list[h.Row]:
    n = ATTENDEES
    layer_ms, page_ms = 1000 / best["dualid_full"], 1000 / best["sdk_full"]
    rows = [
        h.figure(
            "attendees_http",
            f"attendees endpoint, all {n} attendees in one page, uvicorn process on loopback",
            value=best["dualid_full"],
            baseline=best["bare_full"],
            ratio=best["dualid_full"] / best["bare_full"],
            unit="req/s",
            target=">= 0.5x throughput",
            kind=h.MIN_RATIO,
            threshold=0.5,
            baseline_desc="a bare FastAPI endpoint of the same server, same JSON from memory",
            note="bound by the SDK's per-attendee work; see attendees_http_layer",
        ),
        h.figure(
            "attendees_http_peer",
            f"attendees endpoint vs the FastAPI + ORM peer endpoint, {n} per page",
            value=best["dualid_full"],
            baseline=best["peer_full"],
            ratio=best["dualid_full"] / best["peer_full"],
            unit="req/s",
            target=">= 3x throughput",
            kind=h.MIN_RATIO,
            threshold=3.0,
            baseline_desc=(
                "FastAPI + SQLAlchemy ORM model with sqlalchemy-utils StringEncryptedType("
                "AesGcmEngine) columns and a pydantic response model (bench/_peer.py), the "
                "same values, its own uvicorn process on the same server stack"
            ),
        ),
        h.figure(
            "attendees_http_layer",
            f"HTTP layer cost: attendees endpoint vs attendees_page_json() in-process, {n}",
            value=layer_ms,
            baseline=page_ms,
            ratio=layer_ms / page_ms,
            unit="ms/page",
            target="<= 1.2x",
            kind=h.MAX_RATIO,
            threshold=1.2,
            baseline_desc=(
                "events.attendees_page_json(limit=1000), the call the endpoint makes, in the "
                "benchmark's process, same store"
            ),
        ),
        _info(
            "attendees_http_page",
            f"attendees endpoint, first page of {PAGE} of the {n} attendees",
            best["dualid_page"],
            best["bare_page"],
            "req/s",
            "the bare endpoint serving the same page",
            "",
        ),
        _info(
            "attendees_http_floor",
            f"raw SQLite select + AES-GCM decrypt of the {n} attendees' shared fields,"
            " in-process, vs the bare endpoint",
            best["raw_full"],
            best["bare_full"],
            "calls/s",
            "the bare endpoint's req/s",
            "the floor: below 0.5, no endpoint that reads and decrypts the list per request "
            "can reach the attendees_http target; only a cache of decrypted personal data could",
        ),
        _info(
            "attendees_http_models",
            f"attendees_page() + JSON of its model objects vs attendees_page_json(), {n}",
            best["sdk_models"],
            best["sdk_full"],
            "calls/s",
            "events.attendees_page_json(limit=1000) in the same process",
            "what building HostAttendee/EventUserData objects costs over the JSON built "
            "straight from the decrypted values",
        ),
        _info(
            "attendees_http_h11",
            f"attendees endpoint on uvicorn's h11 + asyncio vs httptools + uvloop, {n}",
            best["dualid_py"],
            best["dualid_full"],
            "req/s",
            "the same endpoint on httptools + uvloop (the fastapi extra)",
            "what the fastapi extra's server dependencies pay on this endpoint",
        ),
    ]
    return rows


def _info(
    key: str, name: str, value: float, baseline: float, unit: str, desc: str, note: str
) -> h.Row:
    row = h.figure(
        key,
        name,
        value=value,
        baseline=baseline,
        ratio=value / baseline,
        unit=unit,
        target="-",
        kind=h.MIN_RATIO,
        threshold=0.0,
        met=False,
        baseline_desc=desc,
        note=note,
    )
    row["met"] = None
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(h.table(run(args.quick)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
