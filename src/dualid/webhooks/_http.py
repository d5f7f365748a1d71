"""One webhook request over HTTP(S), with the standard library only: the target checked
against SSRF (loopback, private, link-local and other non-public addresses refused, for
the URL and for every address its name resolves to, and the connection made to the
address that was checked), connect and read timeouts, no redirects followed, at most
64 KiB of the response read."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from dualid.errors import InvalidWebhookUrl

__all__ = ["Answer", "Target", "check_url", "post"]

_MAX_URL = 2000
_MAX_RESPONSE = 64 * 1024
_USER_AGENT = "dualid-webhooks/1"


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


@dataclass(frozen=True)
class Answer:
    """The outcome of one request: the HTTP status (None when none came), the
    ``Retry-After`` seconds it asked for, and a short error text (no data values)."""

    status: int | None
    retry_after: float | None = None
    error: str | None = None


def _refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Not a public unicast address: loopback, private, link-local, shared (CGNAT),
    reserved, multicast, unspecified, and the IPv4 forms hidden in IPv6 ones."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is not None:
            return _refused(inner)
    return not address.is_global or address.is_multicast


def check_url(url: object, *, allow_private: bool) -> Target:
    """The target of a webhook URL, or :class:`InvalidWebhookUrl`: ``https`` (``http`` only
    with ``allow_private``, for local development), a host, no credentials or fragment,
    and, unless ``allow_private``, no literal non-public address or ``localhost``. A name
    is resolved only when a notice is sent (:func:`post` checks every address then)."""
    if not isinstance(url, str) or not url or len(url) > _MAX_URL:
        raise InvalidWebhookUrl(f"a webhook URL is a text of 1-{_MAX_URL} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidWebhookUrl("a webhook URL is ASCII without spaces (IDNA-encode the name)")
    try:
        parts: SplitResult = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidWebhookUrl("the webhook URL cannot be parsed") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise InvalidWebhookUrl(
            "a webhook URL must be https (http only when the SDK is opened with "
            "webhooks_allow_private=True)"
        )
    if parts.username is not None or parts.password is not None:
        raise InvalidWebhookUrl("a webhook URL must not carry credentials")
    if parts.fragment:
        raise InvalidWebhookUrl("a webhook URL must not have a fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidWebhookUrl("a webhook URL needs a host")
    if not allow_private:
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidWebhookUrl("a webhook URL must not point at this machine")
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and _refused(literal):
            raise InvalidWebhookUrl(
                "a webhook URL must not name a loopback, private or other non-public address"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _resolve(target: Target, allow_private: bool) -> list[tuple[int, str]]:
    """``(family, address)`` of the target; raises OSError with the reason when it does
    not resolve, or resolves to a refused address."""
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    out: list[tuple[int, str]] = []
    for family, _, _, _, sockaddr in infos:
        address = str(sockaddr[0])
        if not allow_private and _refused(ipaddress.ip_address(address.split("%", 1)[0])):
            # One refused address refuses the name: its owner may switch between them.
            raise OSError("refused: the host resolves to a non-public address")
        out.append((int(family), address))
    if not out:
        raise OSError("the host name does not resolve")
    return out


def _connect(
    target: Target, allow_private: bool, connect_timeout: float, read_timeout: float
) -> socket.socket:
    last: OSError | None = None
    for family, address in _resolve(target, allow_private):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(connect_timeout)
            sock.connect((address, target.port))
            if target.scheme == "https":
                context = ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=target.host)
            sock.settimeout(read_timeout)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None
    raise last


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None  # the HTTP-date form is not honoured: the schedule applies
    return min(float(value.strip()), 86400.0)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, ssl.SSLError):
        return "TLS error"
    if isinstance(exc, http.client.HTTPException):
        return "bad HTTP response"
    text = str(exc)
    if text.startswith("refused:") or text.startswith("the host name"):
        return text
    if isinstance(exc, socket.gaierror):
        return "the host name does not resolve"
    return type(exc).__name__


def post(
    target: Target,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
) -> Answer:
    """POST ``body`` (JSON) to ``target``; never raises for network trouble."""
    try:
        sock = _connect(target, allow_private, connect_timeout, read_timeout)
    except (OSError, ValueError) as exc:
        return Answer(None, error=_reason(exc))
    conn = http.client.HTTPConnection(target.host, target.port, timeout=read_timeout)
    conn.sock = sock
    try:
        conn.putrequest("POST", target.path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", target.host_header)
        conn.putheader("User-Agent", _USER_AGENT)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders(body)
        response = conn.getresponse()
        response.read(_MAX_RESPONSE)
        return Answer(response.status, _retry_after(response.getheader("Retry-After")))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Answer(None, error=_reason(exc))
    finally:
        conn.close()
