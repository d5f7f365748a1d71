"""A real NTP server on 127.0.0.1 for tests, with knobs for every kind of bad behaviour."""

from __future__ import annotations

import contextlib
import random
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from dualid.clock import system_time_ns
from dualid.clock._ntp import NtpPacket, parse_packet, unix_ns_to_ntp
from dualid.errors import InvalidInput

__all__ = ["BOGUS_MODES", "KISS_CODES", "FakeNtpServer"]

#: Values accepted for ``bogus``.
BOGUS_MODES = frozenset(
    {
        "mode3",  # reply in client mode
        "mode5",  # broadcast mode
        "version0",
        "stratum0",  # stratum 0 without a known kiss code ("kiss" with code "XXXX")
        "stratum16",
        "li3",  # leap indicator 3: server unsynchronized
        "origin_mismatch",  # origin does not echo the request's transmit timestamp
        "zero_tx",
        "zero_rx",
        "zero_ref",
        "root_distance",  # root dispersion of 20 s
        "tx_before_rx",
        "garbage",  # 48 random bytes
        "short",  # 20 bytes
        "duplicate",  # the reply is sent twice
        "replay",  # the transmit/receive timestamps of the previous reply, re-sent
        "silent",  # receive but never answer
    }
)
#: Values accepted for ``kiss``.
KISS_CODES = frozenset({"RATE", "DENY", "RSTR", "INIT", "STEP"})


class FakeNtpServer:
    """An NTP server on ``127.0.0.1`` (UDP, real packets) serving a configurable clock.

    ::

        with FakeNtpServer(offset=2.5) as server:
            clock = AtomicClock(servers=[server.address])
            clock.sync()        # offset ~ +2.5 s

    Knobs (all may be changed while it runs, by assigning the attribute):

    ``offset``: seconds added to the time source. ``drift_ppm``: the served clock runs
    fast by this much from the moment the server started. ``delay``: simulated network
    round trip in seconds (half before reading the receive timestamp, half after the
    transmit timestamp, so the offset stays right). ``loss``: probability of ignoring a
    request. ``kiss``: answer with a kiss-o'-death (``RATE``, ``DENY``, ``RSTR``...).
    ``bogus``: one of :data:`BOGUS_MODES`. ``stratum``, ``leap``, ``root_delay``,
    ``root_dispersion`` (seconds), ``precision`` (log2 seconds): header fields.
    ``time_ns``: the time source (default: :func:`dualid.clock.system_time_ns`; tests pass
    a driven one). ``seed`` makes ``loss`` and ``garbage`` reproducible.

    ``received`` counts requests received, ``replies`` the packets sent back. The server
    answers from its own thread, so a client can hold a reply before the counter moves:
    :meth:`wait_for` blocks until the counters reach given values.
    """

    def __init__(
        self,
        offset: float = 0.0,
        *,
        delay: float = 0.0,
        loss: float = 0.0,
        drift_ppm: float = 0.0,
        kiss: str | None = None,
        bogus: str | None = None,
        stratum: int = 2,
        leap: int = 0,
        root_delay: float = 0.001,
        root_dispersion: float = 0.001,
        precision: int = -20,
        port: int = 0,
        time_ns: Callable[[], int] | None = None,
        seed: int | None = 0,
    ) -> None:
        self.offset = offset
        self.delay = delay
        self.loss = loss
        self.drift_ppm = drift_ppm
        self.kiss = kiss
        self.bogus = bogus
        self.stratum = stratum
        self.leap = leap
        self.root_delay = root_delay
        self.root_dispersion = root_dispersion
        self.precision = precision
        self.time_ns: Callable[[], int] = time_ns or system_time_ns
        self.received = 0
        self.replies = 0
        self._random = random.Random(seed)
        self._port = port
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._counted = threading.Condition()
        self._start_ns = 0
        self._previous: tuple[int, int] | None = None  # (receive, transmit) of last reply
        self._validate()

    def _validate(self) -> None:
        if self.kiss is not None and self.kiss not in KISS_CODES:
            raise InvalidInput(f"unknown kiss code {self.kiss!r}", field="kiss")
        if self.bogus is not None and self.bogus not in BOGUS_MODES:
            raise InvalidInput(f"unknown bogus mode {self.bogus!r}", field="bogus")
        if not 0.0 <= self.loss <= 1.0:
            raise InvalidInput("loss must be in [0, 1]", field="loss")

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("FakeNtpServer is not running")
        return int(self._sock.getsockname()[1])

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, ready for ``AtomicClock(servers=[...])``."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> FakeNtpServer:
        if self._sock is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", self._port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._sock = sock
        self._start_ns = self.time_ns()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="fake-ntp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(5.0)
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    def __enter__(self) -> FakeNtpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, *, received: int = 0, replies: int = 0, timeout: float = 5.0) -> bool:
        """Block until at least ``received`` requests came in and ``replies`` packets went
        out, or ``timeout`` seconds passed; return whether the counts were reached."""
        with self._counted:
            return self._counted.wait_for(
                lambda: self.received >= received and self.replies >= replies, timeout
            )

    # -------------------------------------------------------------- serving

    def server_time_ns(self) -> int:
        """The time this server serves right now (Unix ns)."""
        now = self.time_ns()
        drift = (now - self._start_ns) * self.drift_ppm * 1e-6
        return now + int(self.offset * 1e9) + int(drift)

    def _serve(self) -> None:
        sock = self._sock
        assert sock is not None
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            while not self._stop.is_set():
                if not sel.select(0.05):
                    continue
                try:
                    data, peer = sock.recvfrom(2048)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    return
                with self._counted:
                    self.received += 1
                    self._counted.notify_all()
                with contextlib.suppress(OSError):
                    self._answer(sock, data, peer)

    def _answer(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        self._validate()
        if self.loss and self._random.random() < self.loss:
            return
        bogus = self.bogus
        if bogus == "silent":
            return
        try:
            request = parse_packet(data)
        except Exception:
            return
        if self.delay:
            time.sleep(self.delay / 2)
        if bogus == "garbage":
            self._send(sock, self._random.randbytes(48), peer)
            return
        receive = unix_ns_to_ntp(self.server_time_ns())
        mode, version, stratum, leap = 4, 4, self.stratum, self.leap
        root_dispersion = self.root_dispersion
        ref_id = b"\x7f\x00\x00\x01"
        origin = request.transmit_ts
        if self.kiss is not None:
            stratum, leap, ref_id = 0, 3, self.kiss.encode("ascii")
        if bogus == "mode3":
            mode = 3
        elif bogus == "mode5":
            mode = 5
        elif bogus == "version0":
            version = 0
        elif bogus == "stratum0":
            stratum, ref_id = 0, b"XXXX"
        elif bogus == "stratum16":
            stratum = 16
        elif bogus == "li3":
            leap = 3
        elif bogus == "origin_mismatch":
            origin = (origin ^ secrets.randbits(32)) or 1
        elif bogus == "root_distance":
            root_dispersion = 20.0
        transmit = unix_ns_to_ntp(self.server_time_ns())
        reference = unix_ns_to_ntp(self.server_time_ns() - 16 * 10**9)
        if bogus == "zero_tx":
            transmit = 0
        elif bogus == "zero_rx":
            receive = 0
        elif bogus == "zero_ref":
            reference = 0
        elif bogus == "tx_before_rx":
            receive, transmit = transmit + (1 << 32), receive
        elif bogus == "replay" and self._previous is not None:
            receive, transmit = self._previous
        self._previous = (receive, transmit)
        reply = NtpPacket(
            leap=leap,
            version=version,
            mode=mode,
            stratum=stratum,
            poll=request.poll,
            precision=self.precision,
            root_delay_ns=int(self.root_delay * 1e9),
            root_dispersion_ns=int(root_dispersion * 1e9),
            ref_id=ref_id,
            reference_ts=reference,
            origin_ts=origin,
            receive_ts=receive,
            transmit_ts=transmit,
        ).encode()
        if bogus == "short":
            reply = reply[:20]
        if self.delay:
            time.sleep(self.delay / 2)
        self._send(sock, reply, peer)
        if bogus == "duplicate":
            self._send(sock, reply, peer)

    def _send(self, sock: socket.socket, data: bytes, peer: tuple[str, int]) -> None:
        sock.sendto(data, peer)
        with self._counted:
            self.replies += 1
            self._counted.notify_all()

    def __repr__(self) -> str:
        where = self.address if self._sock is not None else "stopped"
        return f"FakeNtpServer({where}, offset={self.offset})"
