"""Delivery: the outbox's pending notices to the hosts' endpoints, at least once, one at a
time and in order per host, retried on the Standard Webhooks schedule.

Who may deliver a notice (``docs/concurrency.md``): on PostgreSQL the worker that holds
its host's endpoint row (``FOR UPDATE SKIP LOCKED``) in the transaction that sends it and
records the outcome, so several workers never send one notice at once and a worker that
dies mid-delivery (even SIGKILL) holds nothing: its transaction rolls back and the
notice is still pending. On SQLite one deliverer at a time per database (an ``flock`` on
``<database>.webhooks.lock``, released by the kernel when the process dies; in memory, a
lock of the process), which reads the notice, sends it outside any transaction and
records the outcome in a short one: the write lock is never held over the network.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dualid import audit
from dualid._checks import check_count, check_items, check_seconds
from dualid._micros import from_us, to_us
from dualid._runtime import Runtime
from dualid.clock import Clock
from dualid.errors import DualIdError, InvalidInput, InvalidWebhookUrl
from dualid.store import _webhooks as store
from dualid.store._sql import Conn
from dualid.store._webhooks import EndpointRow, NoticeRow

from ._endpoints import Endpoints
from ._http import Answer, check_url, post
from ._outbox import Outbox
from ._signing import signature_header
from ._types import RETRY_SCHEDULE, DeliveryReport

try:  # POSIX; elsewhere SQLite deliverers are serialised within one process only
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

__all__ = ["BackgroundDelivery", "Webhooks"]

log = logging.getLogger("dualid.webhooks")
_PER_HOST = 50  # notices of one host per round before the next host's turn
_MAX_ATTEMPTS_PER_RUN = 1_000_000


@dataclass(frozen=True)
class _Outcome:
    kind: str  # delivered | retrying | failed | disabled | stale
    host_id: str


class Webhooks:
    """Delivers the outbox (``sdk.webhooks``).

    >>> report = sdk.webhooks.deliver_pending()   # doctest: +SKIP
    >>> report.delivered, report.retrying, report.failed   # doctest: +SKIP
    (3, 0, 0)

    Timeouts and the retry schedule are set with :meth:`configure`; a deliverer runs
    ``dualid webhooks run`` or ``DualId.open(deliver_webhooks_every=...)`` continuously.

    .. versionadded:: 0.2.0
    """

    def __init__(self, rt: Runtime, *, allow_private: bool = False) -> None:
        self._rt = rt
        self.outbox = Outbox(rt)
        self.endpoints = Endpoints(rt, allow_private=allow_private)
        self._allow_private = allow_private
        self._connect_timeout = 5.0
        self._read_timeout = 15.0
        self._schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
        self._jitter = 0.1
        self._random: Callable[[], float] = random.random
        self._local = threading.Lock()

    def configure(
        self,
        *,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        schedule: Sequence[timedelta] | None = None,
        jitter: float | None = None,
    ) -> None:
        """Change how notices are sent: ``connect_timeout`` and ``read_timeout`` in
        seconds (5 and 15 by default; the read timeout bounds each wait for the
        receiver), ``schedule`` the delays between attempts after a failure
        (:data:`~dualid.webhooks.RETRY_SCHEDULE` by default; a notice is given up after
        ``len(schedule) + 1`` attempts), ``jitter`` the fraction each delay is varied by at
        random (0.1: ±10 %)."""
        if connect_timeout is not None:
            self._connect_timeout = check_seconds(connect_timeout, "connect_timeout")
        if read_timeout is not None:
            self._read_timeout = check_seconds(read_timeout, "read_timeout")
        if schedule is not None:
            delays = check_items(schedule, "schedule")
            if not all(isinstance(d, timedelta) and d >= timedelta(0) for d in delays):
                raise InvalidInput("schedule is a sequence of non-negative timedeltas")
            if len(delays) > 100 or any(d > timedelta(days=30) for d in delays):
                raise InvalidInput("schedule has at most 100 delays of at most 30 days")
            self._schedule = tuple(delays)
        if jitter is not None:
            if (
                isinstance(jitter, bool)
                or not isinstance(jitter, int | float)
                or not 0 <= jitter < 1
            ):
                raise InvalidInput("jitter is a fraction from 0 to below 1", field="jitter")
            self._jitter = float(jitter)

    def deliver_pending(self, *, limit: int | None = None) -> DeliveryReport:
        """Deliver every notice that is due now (at most ``limit`` attempts), host after
        host, each host's in order, and return what happened. A notice is due when it is
        its host's oldest pending one and its next attempt's time has come; a host whose
        oldest notice waits for a retry waits with it (order per host). Network trouble
        is never raised: it is a failed attempt, retried on the schedule. On PostgreSQL
        hosts another worker is delivering to are skipped; on SQLite this waits for a
        deliverer of another process to finish its run."""
        budget = _MAX_ATTEMPTS_PER_RUN if limit is None else check_count(limit, "limit")
        tally = {"delivered": 0, "retrying": 0, "failed": 0}
        disabled: list[str] = []
        attempted = 0
        with self._exclusive():
            while attempted < budget:
                now_us = to_us(self._rt.clock.now().time)
                with self._rt.store.read() as conn:
                    due = [h for h, _, at in store.heads(conn) if at <= now_us]
                progressed = 0
                for host_id in due:
                    for _ in range(_PER_HOST):
                        if attempted >= budget:
                            break
                        outcome = self._deliver_one(host_id)
                        if outcome is None:
                            break
                        attempted += 1
                        progressed += 1
                        if outcome.kind == "disabled":
                            disabled.append(host_id)
                            tally["failed"] += 1
                        elif outcome.kind in tally:
                            tally[outcome.kind] += 1
                        if outcome.kind != "delivered":
                            break  # the host's next notice waits for this one
                if not progressed:
                    break
        with self._rt.store.read() as conn:
            pending = [at for _, _, at in store.heads(conn)]
        return DeliveryReport(
            attempted=attempted,
            delivered=tally["delivered"],
            retrying=tally["retrying"],
            failed=tally["failed"],
            disabled=tuple(disabled),
            next_due=from_us(min(pending)) if pending else None,
        )

    def counts(self) -> dict[str, int]:
        """How many notices are ``pending``, ``delivered`` and ``failed`` (all hosts)."""
        with self._rt.store.read() as conn:
            found = store.notice_counts(conn)
        return {status: found.get(status, 0) for status in store.NOTICE_STATUSES}

    # -- one notice ------------------------------------------------------------------------
    def _deliver_one(self, host_id: str) -> _Outcome | None:
        """Send the host's oldest pending notice if it is due; None when there is none,
        it is not due, or another worker holds the host."""
        if self._rt.store.dialect == "postgresql":
            with self._rt.store.write() as conn:
                claimed = self._claim(conn, host_id)
                if claimed is None:
                    return None
                endpoint, notice = claimed
                answer = self._send(endpoint, notice)
                return self._record(conn, endpoint, notice, answer)
        with self._rt.store.read() as conn:
            claimed = self._claim(conn, host_id)
        if claimed is None:
            return None
        endpoint, notice = claimed
        answer = self._send(endpoint, notice)
        with self._rt.store.write() as conn:
            return self._record(conn, endpoint, notice, answer)

    def _claim(self, conn: Conn, host_id: str) -> tuple[EndpointRow, NoticeRow] | None:
        endpoint = store.claim_endpoint(conn, host_id)
        if endpoint is None:
            return None
        notice = store.next_notice(conn, host_id)
        if notice is None or notice.next_attempt_at > self._rt.clock.now().time:
            return None
        return endpoint, notice

    def _send(self, endpoint: EndpointRow, notice: NoticeRow) -> Answer:
        try:
            target = check_url(endpoint.url, allow_private=self._allow_private)
        except InvalidWebhookUrl:
            return Answer(None, error="refused: the URL is not allowed for this SDK")
        now = self._rt.clock.now().time
        body = notice.payload.encode()
        stamp = math.floor(now.timestamp())
        generations = self.endpoints.generations(endpoint, now)
        headers = {
            "webhook-id": notice.notice_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(notice.notice_id, stamp, body, generations),
        }
        return post(
            target,
            body,
            headers,
            allow_private=self._allow_private,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )

    def _record(
        self, conn: Conn, endpoint: EndpointRow, notice: NoticeRow, answer: Answer
    ) -> _Outcome:
        reading = self._rt.clock.now()
        at = reading.time
        attempts = notice.attempts + 1
        host_id = endpoint.host_id
        status = answer.status
        fields: dict[str, Any] = {
            "attempts": attempts,
            "attempted_at": at,
            "http_status": status,
            "next_attempt_at": notice.next_attempt_at,
        }
        if status is not None and 200 <= status < 300:
            kind = "delivered"
            done = store.record_attempt(
                conn, notice.seq, status="delivered", delivered_at=at, error=None, **fields
            )
        elif status == 410:
            kind = "disabled"
            done = store.record_attempt(
                conn, notice.seq, status="failed", delivered_at=None, error="410 Gone", **fields
            )
            if done and store.disable_endpoint(conn, host_id, "410 Gone", at):
                given_up = store.fail_pending(conn, host_id, "endpoint disabled (410 Gone)")
                audit.append(
                    conn,
                    reading,
                    "host.webhook_disabled",
                    host_id=host_id,
                    details={
                        "status": 410,
                        "notice": notice.notice_id,
                        "pending_given_up": given_up,
                    },
                )
        else:
            error = answer.error or f"HTTP {status}"
            if attempts > len(self._schedule):
                kind = "failed"
                done = store.record_attempt(
                    conn, notice.seq, status="failed", delivered_at=None, error=error, **fields
                )
            else:
                kind = "retrying"
                fields["next_attempt_at"] = at + self._delay(attempts, answer.retry_after)
                done = store.record_attempt(
                    conn, notice.seq, status="pending", delivered_at=None, error=error, **fields
                )
        if not done:
            return _Outcome("stale", host_id)  # given up meanwhile (endpoint removed)
        if kind != "delivered":
            log.info(
                "webhook notice %s to host %s: %s (%s), attempt %d",
                notice.notice_id,
                host_id,
                kind,
                answer.error or f"HTTP {status}",
                attempts,
            )
        return _Outcome(kind, host_id)

    def _delay(self, attempts: int, retry_after: float | None) -> timedelta:
        base = self._schedule[attempts - 1]
        factor = 1.0 + self._jitter * (2.0 * self._random() - 1.0)
        delay = base * factor
        if retry_after is not None:
            delay = max(delay, timedelta(seconds=retry_after))
        return delay

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """One SQLite deliverer at a time (see the module docstring); PostgreSQL workers
        exclude each other per host, by row lock."""
        store_ = self._rt.store
        if store_.dialect == "postgresql":
            yield
            return
        with self._local:
            path = store_.sqlite_path
            if path is None or fcntl is None:
                yield
                return
            lock_path = path.with_name(path.name + ".webhooks.lock")
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # closing releases the flock


class BackgroundDelivery:
    """Runs ``deliver_pending`` on a daemon thread until :meth:`stop`: every ``interval``
    seconds, sooner when a notice is due sooner, and at once when this process wrote one
    (:meth:`wake`). A failed run is logged (class and code only) and retried."""

    _JOIN_SECONDS = 60.0

    def __init__(self, webhooks: Webhooks, clock: Clock, interval: float) -> None:
        self._webhooks = webhooks
        self._clock = clock
        self._interval = interval
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._seen = webhooks.outbox.written
        self._thread = threading.Thread(target=self._run, name="dualid-webhooks", daemon=True)
        self._thread.start()

    def note_write(self) -> None:
        """After every committed write: wake up when it wrote a notice."""
        written = self._webhooks.outbox.written
        if written != self._seen:
            self._seen = written
            self._wake.set()

    def _run(self) -> None:
        wait = 0.0
        while not self._stopping.is_set():
            self._wake.wait(wait)
            self._wake.clear()
            if self._stopping.is_set():
                return
            wait = self._interval
            try:
                report = self._webhooks.deliver_pending()
            except DualIdError as exc:
                log.warning("webhook delivery failed: %s [%s]", type(exc).__name__, exc.code)
            except Exception as exc:  # the schedule must survive anything one run raises
                log.error("webhook delivery failed: %s", type(exc).__name__)
            else:
                if report.next_due is not None:
                    until = (report.next_due - self._clock.now().time).total_seconds()
                    wait = min(self._interval, max(until, 0.05))

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(self._JOIN_SECONDS)
            if self._thread.is_alive():
                log.warning("the webhook deliverer did not stop in %g s", self._JOIN_SECONDS)
