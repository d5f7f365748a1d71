"""A real HTTP receiver on 127.0.0.1 for the webhook tests: it records every request
(headers, body, when it arrived and ended) and answers as the test says (a status, a
delay, or hanging until released). It also catches a notice delivered twice at once: two
requests with the same ``webhook-id`` in flight together."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    headers: dict[str, str]
    body: bytes
    path: str

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """``status`` is what the next requests get; ``statuses`` (popped first) overrides it
    request by request. ``hang`` makes requests wait until it is set again... see
    :meth:`hold`."""

    port: int = 0
    status: int = 200
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0
    requests: list[Request] = field(default_factory=list)
    concurrent_duplicates: list[str] = field(default_factory=list)
    extra_headers: dict[str, str] = field(default_factory=dict)
    arrived: threading.Event = field(default_factory=threading.Event)
    _release: threading.Event | None = None
    _in_flight: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [r.id for r in self.requests]

    @contextmanager
    def hold(self) -> Iterator[threading.Event]:
        """Requests hang (no answer) until the yielded event is set, or the block ends."""
        release = threading.Event()
        self._release = release
        try:
            yield release
        finally:
            self._release = None
            release.set()

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Request(headers, body, handler.path)
        msg_id = headers.get("webhook-id", "")
        with self._lock:
            self.requests.append(request)
            if self._in_flight.get(msg_id):
                self.concurrent_duplicates.append(msg_id)
            self._in_flight[msg_id] = self._in_flight.get(msg_id, 0) + 1
            status = self.statuses.pop(0) if self.statuses else self.status
        self.arrived.set()
        try:
            release = self._release
            if release is not None:
                release.wait(60)
            if self.delay:
                time.sleep(self.delay)
            handler.send_response(status)
            for name, value in self.extra_headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "2")
            handler.end_headers()
            handler.wfile.write(b"ok")
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the sender is gone (timed out, killed)
        finally:
            with self._lock:
                self._in_flight[msg_id] -= 1


@contextmanager
def serving(receiver: Receiver | None = None, port: int = 0) -> Iterator[Receiver]:
    """Run ``receiver`` on 127.0.0.1 (a free port, or ``port``) until the block ends."""
    receiver = receiver or Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            receiver.handle(self)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    server = Server(("127.0.0.1", port), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver._release is not None:
            receiver._release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
