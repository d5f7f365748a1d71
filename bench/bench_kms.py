"""KMS calls with the AWS KMS provider (issue 16), against moto's server on 127.0.0.1 (a real
KMS API over HTTP, started here; dummy credentials, never the internet). The figures are
counts of KMS API calls, each against the bound the issue sets, which is the raw baseline
here: one call per cold agent, ceil(n / batch) for bulk onboarding.

``run(quick, only=None)`` returns rows (see ``bench/_harness.py``); run standalone with
``python -m bench.bench_kms [--quick]``. Figures (keys):

* ``kms_agents_for``              ``identity.agents_for()`` of N new people, batch 1,000
* ``kms_attendees_cold``          ``events.attendees()`` of N attendees in a new process
  (empty data-key cache), the people onboarded in bulk (batch-wrapped data keys)
* ``kms_attendees_cold_single``   the same, the people created one by one (each data key
  wrapped by its own KMS ``Encrypt``)
* ``kms_attendees_warm``          the same list read again by the same process

N is 10,000 (1,000 with ``--quick``). Calls are counted on the boto3 client
(``before-call.kms`` events: one per API operation; retries are not counted, and none
happen on loopback). The notes give the wall time of each call next to the same
operation with a local master key, for scale (moto answers on loopback in well under a
millisecond; a real KMS takes milliseconds per request).
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # python bench/bench_kms.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import _harness as h
from bench.bench_core import _guard_many
from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.clock import SystemClock
from dualid.crypto import generate_master_key
from dualid.testing import counting

KEYS = ("kms_agents_for", "kms_attendees_cold", "kms_attendees_cold_single", "kms_attendees_warm")
HOST, EVENT = "bench-host", "bench-event"
BATCH = 1000
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


@contextmanager
def _moto() -> Iterator[Any]:
    """A moto server on a free loopback port and a boto3 KMS client on it."""
    import boto3
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    saved = {k: os.environ.get(k) for k in _AWS_ENV}
    os.environ.update(_AWS_ENV)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield boto3.client(
            "kms",
            region_name=_AWS_ENV["AWS_DEFAULT_REGION"],
            endpoint_url=f"http://127.0.0.1:{port}",
            config=Config(retries={"mode": "standard", "max_attempts": 1}),
        )
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _open(url: str, keys: Any) -> DualId:
    return DualId.open(url, keys=keys, clock=SystemClock())


def _populate(sdk: DualId, users: list[str], *, bulk: bool) -> None:
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bench")
    sdk.hosts.require(HOST, EventType.RESERVATION, required={DataField.NAME}, purpose="b")
    if bulk:
        agents = list(sdk.identity.agents_for(users, batch=BATCH).values())
    else:
        agents = [sdk.identity.agent_for(u) for u in users]
    for i, agent in enumerate(agents):
        sdk.events.register(
            agent,
            HOST,
            EventType.RESERVATION,
            EVENT,
            share={DataField.NAME},
            data=EventUserData(name=f"Person {i}"),
        )


def _timed_calls(kms: Any, fn: Callable[[], object]) -> tuple[int, float]:
    with counting(kms) as calls:
        seconds, _ = h.timed(fn)
    return sum(calls.values()), seconds


def _local_seconds(work: Path, n: int, *, bulk: bool) -> tuple[float, float]:
    """agents_for of n new people and a cold attendees() with a local master key."""
    key = generate_master_key()
    url = f"sqlite:///{work}/local-{bulk}.db"
    with _open(url, key) as sdk:
        onboard, _ = h.timed(lambda: sdk.identity.agents_for([f"x{i}" for i in range(n)]))
    users = [f"l{i}" for i in range(n)]
    url = f"sqlite:///{work}/local-list-{bulk}.db"
    with _open(url, key) as sdk:
        _populate(sdk, users, bulk=bulk)
    with _open(url, key) as sdk:
        cold, _ = h.timed(lambda: sdk.events.attendees(HOST, EVENT))
    return onboard, cold


def _count_row(
    key: str, name: str, calls: int, bound: int, bound_desc: str, target: str, note: str
) -> h.Row:
    """A count of KMS calls against its bound (ratio: calls / bound, met when <= 1; a bound
    of 0 is met by no call at all)."""
    return h.figure(
        key,
        name,
        value=calls,
        baseline=bound,
        ratio=calls / bound if bound else float(calls),
        unit="KMS calls",
        target=target,
        kind=h.MAX_RATIO if bound else h.BOUNDED,
        threshold=1.0,
        baseline_desc=bound_desc,
        met=None if bound else calls == 0,
        note=note,
    )


def _bench(work: Path, kms: Any, n: int, want: set[str]) -> list[h.Row]:
    from dualid.integration.aws_kms import AwsKmsKeyProvider

    arn = kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"][
        "Arn"
    ]

    def provider() -> AwsKmsKeyProvider:
        return AwsKmsKeyProvider(arn, client=kms)

    rows: list[h.Row] = []
    local_onboard, local_cold = _local_seconds(work, n, bulk=True)
    bulk_url = f"sqlite:///{work}/kms-bulk.db"
    if want & {"kms_agents_for"}:
        with _open(f"sqlite:///{work}/kms-onboard.db", provider()) as sdk:
            calls, seconds = _timed_calls(
                kms, lambda: sdk.identity.agents_for([f"n{i}" for i in range(n)], batch=BATCH)
            )
        bound = math.ceil(n / BATCH)
        rows.append(
            _count_row(
                "kms_agents_for",
                f"identity.agents_for() of {n:,} new people, batch {BATCH:,}, AWS KMS (moto)",
                calls,
                bound,
                f"the bound: ceil(n / batch) = {bound}",
                f"<= ceil({n:,} / {BATCH:,}) = {bound} calls",
                f"{seconds:.2f} s (local master key: {local_onboard:.2f} s)",
            )
        )
    if want & {"kms_attendees_cold", "kms_attendees_warm"}:
        with _open(bulk_url, provider()) as sdk:
            _populate(sdk, [f"u{i}" for i in range(n)], bulk=True)
        with _open(bulk_url, provider()) as sdk:  # a new process: an empty cache
            cold_calls, cold_s = _timed_calls(kms, lambda: sdk.events.attendees(HOST, EVENT))
            warm_calls, warm_s = _timed_calls(kms, lambda: sdk.events.attendees(HOST, EVENT))
        rows.append(
            _count_row(
                "kms_attendees_cold",
                f"events.attendees() of {n:,} people cold, onboarded in bulk, AWS KMS (moto)",
                cold_calls,
                n,
                "the bound: one call per cold agent",
                "<= 1 call per cold agent",
                f"one Decrypt per batch key; {cold_s * 1000:,.0f} ms (local master key, "
                f"cold: {local_cold * 1000:,.0f} ms)",
            )
        )
        rows.append(
            _count_row(
                "kms_attendees_warm",
                f"events.attendees() of the same {n:,} people warm (data keys cached)",
                warm_calls,
                0,
                "the bound: no call",
                "0 calls",
                f"{warm_s * 1000:,.0f} ms",
            )
        )
    if "kms_attendees_cold_single" in want:
        single_url = f"sqlite:///{work}/kms-single.db"
        with _open(single_url, provider()) as sdk:
            _populate(sdk, [f"s{i}" for i in range(n)], bulk=False)
        with _open(single_url, provider()) as sdk:
            calls, seconds = _timed_calls(kms, lambda: sdk.events.attendees(HOST, EVENT))
        rows.append(
            _count_row(
                "kms_attendees_cold_single",
                f"events.attendees() of {n:,} people cold, each created alone, AWS KMS (moto)",
                calls,
                n,
                "the bound: one call per cold agent",
                "<= 1 call per cold agent",
                f"{seconds * 1000:,.0f} ms; Decrypt requests 8 at a time",
            )
        )
    return rows


def run(quick: bool, only: set[str] | None = None) -> list[h.Row]:
    want = set(KEYS) if only is None else set(only) & set(KEYS)
    n = 1_000 if quick else 10_000
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        return [h.skipped(k, k, "-", f"skipped: {exc.name} is not installed") for k in KEYS]

    def all_rows() -> list[h.Row]:
        with h.workdir() as work, _moto() as kms:
            return _bench(work, kms, n, want)

    started = time.perf_counter()
    rows = _guard_many("kms_attendees_cold", "KMS calls with AWS KMS (moto)", "-", all_rows)
    print(f"kms: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


if __name__ == "__main__":
    result = run("--quick" in sys.argv)
    print(h.table(result))
