"""Concurrent NTP exchanges over UDP with our own sockets and the monotonic clock.

One connected UDP socket per server (the kernel then drops datagrams from any other
address, and each query gets a fresh random source port); all requests of a round go out
together and the replies are collected with a selector until each server has answered
or the timeout expires.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._ntp import NtpReject, NtpSample, build_request, evaluate_reply

__all__ = ["ExchangeResult", "Target", "exchange_round"]


@dataclass
class Target:
    """One server to query in a round."""

    key: int
    family: int
    sockaddr: tuple[str, int]
    last_transmit: int | None = None


@dataclass
class ExchangeResult:
    """What happened with one server in one round."""

    key: int
    sent: bool = False
    sample: NtpSample | None = None
    rejects: list[NtpReject] = field(default_factory=list)
    error: str | None = None  # socket-level trouble (refused, unreachable, timeout)


def exchange_round(
    targets: Sequence[Target],
    *,
    timeout: float,
    mono_ns: Callable[[], int],
    local_offset_ns: int,
) -> dict[int, ExchangeResult]:
    """Send one request to every target and collect validated replies.

    ``mono_ns`` is the monotonic clock; ``local_offset_ns`` maps it to the local timescale
    (Unix ns) used for T1/T4. A reply that fails the origin check does not end the wait
    (it may be a stale or spoofed datagram; the genuine one can still arrive); any other
    rejection does. Never raises for network trouble.
    """
    results = {t.key: ExchangeResult(t.key) for t in targets}
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    socks_by_key: dict[int, socket.socket] = {}
    pending: dict[int, tuple[Target, int, int]] = {}  # key -> (target, transmit, t1 mono)
    try:
        for target in targets:
            res = results[target.key]
            try:
                sock = socket.socket(target.family, socket.SOCK_DGRAM)
            except OSError as exc:
                res.error = f"socket: {exc.strerror or exc}"
                continue
            socks.append(sock)
            try:
                sock.setblocking(False)
                sock.connect(target.sockaddr)
                m1 = mono_ns()
                data, transmit = build_request(m1 + local_offset_ns)
                sock.send(data)
            except OSError as exc:
                res.error = f"send: {exc.strerror or exc}"
                continue
            res.sent = True
            pending[target.key] = (target, transmit, m1)
            socks_by_key[target.key] = sock
            sel.register(sock, selectors.EVENT_READ, target.key)
        deadline = mono_ns() + int(timeout * 1e9)
        while pending:
            remaining = (deadline - mono_ns()) / 1e9
            if remaining <= 0:
                break
            for key_obj, _ in sel.select(remaining):
                key = int(key_obj.data)
                if key not in pending:
                    continue
                target, transmit, m1 = pending[key]
                sock = socks_by_key[key]
                res = results[key]
                try:
                    data = sock.recv(2048)
                except BlockingIOError:
                    continue
                except OSError as exc:
                    res.error = f"recv: {exc.strerror or exc}"
                    sel.unregister(sock)
                    del pending[key]
                    continue
                m4 = mono_ns()
                try:
                    res.sample = evaluate_reply(
                        data,
                        sent_transmit=transmit,
                        t1_local_ns=m1 + local_offset_ns,
                        t4_local_ns=m4 + local_offset_ns,
                        mid_mono_ns=(m1 + m4) // 2,
                        last_transmit=target.last_transmit,
                    )
                except NtpReject as rej:
                    res.rejects.append(rej)
                    if rej.reason in ("origin", "short"):
                        continue  # keep waiting for the genuine reply
                sel.unregister(sock)
                del pending[key]
        for key in pending:
            res = results[key]
            if res.sample is None and res.error is None:
                res.error = "timeout"
    finally:
        sel.close()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()
    return results
