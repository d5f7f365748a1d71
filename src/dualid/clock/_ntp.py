"""The NTP wire format and one client/server exchange (RFC 5905), with strict validation.

ntplib's codec turns timestamps into floats, which loses the exact bits of the origin
timestamp that a reply must echo; this module parses the 48-byte header with ``struct``
and keeps every timestamp as the raw 64-bit NTP value (32.32 fixed point).

Time arithmetic follows RFC 5905: differences of NTP timestamps are taken modulo 2**64 and
read as signed, so offsets and delays come out right across the era rollover of
2036-02-07 as long as the two clocks are within 68 years of each other.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import socket
import struct
from dataclasses import dataclass

__all__ = [
    "KOD_DROP",
    "KOD_RATE",
    "MAX_ROOT_DISTANCE_NS",
    "NTP_UNIX_DELTA_S",
    "NtpPacket",
    "NtpReject",
    "NtpSample",
    "ServerAddress",
    "build_request",
    "evaluate_reply",
    "is_public_address",
    "ntp_diff_ns",
    "ntp_to_unix_ns",
    "parse_packet",
    "parse_servers",
    "resolve",
    "unix_ns_to_ntp",
]

#: Seconds between the NTP prime epoch (1900-01-01) and the Unix epoch.
NTP_UNIX_DELTA_S = 2_208_988_800
_ERA = 1 << 32  # seconds in one NTP era (~136 years)
_MOD64 = 1 << 64
_HEADER = struct.Struct("!BBbbII4sQQQQ")
HEADER_LEN = _HEADER.size  # 48

#: Replies whose root distance (root delay / 2 + root dispersion) reaches this are refused.
MAX_ROOT_DISTANCE_NS = 16 * 10**9

#: Kiss codes that ask the client to slow down / to stop using the server.
KOD_RATE = frozenset({"RATE"})
KOD_DROP = frozenset({"DENY", "RSTR"})

MODE_CLIENT = 3
MODE_SERVER = 4
LI_ALARM = 3


def unix_ns_to_ntp(unix_ns: int) -> int:
    """64-bit NTP timestamp (era-wrapped) for nanoseconds since the Unix epoch."""
    total = unix_ns + NTP_UNIX_DELTA_S * 10**9
    seconds, rem = divmod(total, 10**9)
    frac = (rem << 32) // 10**9
    return ((seconds % _ERA) << 32) | frac


def ntp_to_unix_ns(ntp: int, pivot_unix_ns: int) -> int:
    """Unix nanoseconds for a 64-bit NTP timestamp, choosing the era closest to
    ``pivot_unix_ns`` (a rough idea of the current time). This is what makes dates after
    2036-02-07 06:28:16 UTC (NTP era 1) come out right."""
    pivot = unix_ns_to_ntp(pivot_unix_ns)
    return pivot_unix_ns + ntp_diff_ns(ntp, pivot)


def ntp_diff_ns(a: int, b: int) -> int:
    """``a - b`` in nanoseconds for two 64-bit NTP timestamps, modulo 2**64 read as signed
    (RFC 5905 section 6), so the result is right across an era boundary."""
    diff = (a - b) % _MOD64
    if diff >= 1 << 63:
        diff -= _MOD64
    # 32.32 fixed point to ns; floor division keeps the sign right for negatives.
    return (diff * 10**9) >> 32


def _short_to_ns(value: int) -> int:
    """NTP short format (16.16 fixed point seconds) to ns."""
    return (value * 10**9) >> 16


@dataclass(frozen=True, slots=True)
class NtpPacket:
    """A decoded NTP header. Timestamps are raw 64-bit NTP values."""

    leap: int
    version: int
    mode: int
    stratum: int
    poll: int
    precision: int
    root_delay_ns: int
    root_dispersion_ns: int
    ref_id: bytes
    reference_ts: int
    origin_ts: int
    receive_ts: int
    transmit_ts: int

    @property
    def kiss_code(self) -> str:
        """The ASCII kiss code of a stratum-0 packet (``RATE``, ``DENY``, ...)."""
        return self.ref_id.decode("ascii", "replace").rstrip("\x00 ")

    @property
    def root_distance_ns(self) -> int:
        return self.root_delay_ns // 2 + self.root_dispersion_ns

    def encode(self) -> bytes:
        first = ((self.leap & 3) << 6) | ((self.version & 7) << 3) | (self.mode & 7)
        return _HEADER.pack(
            first,
            self.stratum & 0xFF,
            self.poll,
            self.precision,
            ((self.root_delay_ns << 16) // 10**9) & 0xFFFFFFFF,
            ((self.root_dispersion_ns << 16) // 10**9) & 0xFFFFFFFF,
            self.ref_id[:4].ljust(4, b"\x00"),
            self.reference_ts % _MOD64,
            self.origin_ts % _MOD64,
            self.receive_ts % _MOD64,
            self.transmit_ts % _MOD64,
        )


class NtpReject(Exception):
    """A reply failed validation. ``reason`` is a short machine-friendly word; ``kiss``
    is set for kiss-o'-death replies (which are still rejections)."""

    def __init__(self, reason: str, detail: str = "", kiss: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.kiss = kiss


def parse_packet(data: bytes) -> NtpPacket:
    """Decode an NTP header; raises :class:`NtpReject` (``short``) for fewer than 48 bytes.
    Extension fields and MACs after the header are ignored."""
    if len(data) < HEADER_LEN:
        raise NtpReject("short", f"{len(data)} bytes")
    first, stratum, poll, precision, rdelay, rdisp, ref_id, ref, org, rec, xmt = (
        _HEADER.unpack_from(data)
    )
    return NtpPacket(
        leap=first >> 6,
        version=(first >> 3) & 7,
        mode=first & 7,
        stratum=stratum,
        poll=poll,
        precision=precision,
        root_delay_ns=_short_to_ns(rdelay),
        root_dispersion_ns=_short_to_ns(rdisp),
        ref_id=ref_id,
        reference_ts=ref,
        origin_ts=org,
        receive_ts=rec,
        transmit_ts=xmt,
    )


def build_request(local_unix_ns: int) -> tuple[bytes, int]:
    """A client request (version 4, mode 3) and its transmit timestamp.

    The transmit timestamp carries the local time's seconds and 32 random low bits, so a
    reply can be matched to this request only if its origin timestamp echoes those exact
    64 bits (an off-path attacker cannot guess them)."""
    seconds = unix_ns_to_ntp(local_unix_ns) >> 32
    transmit = (seconds << 32) | secrets.randbits(32)
    if transmit == 0:  # pragma: no cover - one chance in 2**64
        transmit = 1
    packet = NtpPacket(
        leap=0,
        version=4,
        mode=MODE_CLIENT,
        stratum=0,
        poll=0,
        precision=0,
        root_delay_ns=0,
        root_dispersion_ns=0,
        ref_id=b"\x00" * 4,
        reference_ts=0,
        origin_ts=0,
        receive_ts=0,
        transmit_ts=transmit,
    )
    return packet.encode(), transmit


@dataclass(frozen=True, slots=True)
class NtpSample:
    """One validated measurement against one server.

    ``offset_ns`` is server time minus local time at the midpoint of the exchange;
    ``delay_ns`` the round trip minus the server's processing time; ``mono_ns`` the local
    monotonic time of the midpoint. ``root_delay_ns``/``root_dispersion_ns`` come from the
    server (its own distance to the reference clock); ``stratum`` likewise.
    """

    offset_ns: int
    delay_ns: int
    mono_ns: int
    root_delay_ns: int
    root_dispersion_ns: int
    stratum: int
    leap: int
    precision_ns: int
    transmit_ts: int

    @property
    def server_time_at_mono(self) -> int:  # pragma: no cover - convenience
        return self.mono_ns + self.offset_ns


def evaluate_reply(
    data: bytes,
    *,
    sent_transmit: int,
    t1_local_ns: int,
    t4_local_ns: int,
    mid_mono_ns: int,
    last_transmit: int | None = None,
) -> NtpSample:
    """Validate a reply to a request whose transmit timestamp was ``sent_transmit``, sent at
    local time ``t1_local_ns`` and answered at ``t4_local_ns`` (both on the local monotonic
    timescale, mapped to Unix ns). Raises :class:`NtpReject` for anything unusable.

    Order of checks: size, mode, version, origin echo (before anything else is believed, so
    a spoofed kiss-o'-death cannot make us drop a server), kiss-o'-death, leap alarm,
    stratum, zero timestamps, root distance, duplicate transmit timestamp, causality.
    """
    pkt = parse_packet(data)
    if pkt.mode != MODE_SERVER:
        raise NtpReject("mode", f"mode {pkt.mode}, want {MODE_SERVER}")
    if not 1 <= pkt.version <= 4:
        raise NtpReject("version", f"version {pkt.version}")
    if pkt.origin_ts != sent_transmit:
        raise NtpReject("origin", "origin timestamp does not echo our transmit timestamp")
    if pkt.stratum == 0:
        code = pkt.kiss_code
        raise NtpReject("kod", f"kiss-o'-death {code!r}", kiss=code or "?")
    if pkt.leap == LI_ALARM:
        raise NtpReject("unsynchronized", "leap indicator 3 (server not synchronized)")
    if pkt.stratum >= 16:
        raise NtpReject("stratum", f"stratum {pkt.stratum}")
    if pkt.transmit_ts == 0 or pkt.receive_ts == 0 or pkt.reference_ts == 0:
        raise NtpReject("zero_timestamp", "zero receive, transmit or reference timestamp")
    if pkt.root_distance_ns >= MAX_ROOT_DISTANCE_NS:
        raise NtpReject("root_distance", f"root distance {pkt.root_distance_ns / 1e9:.3f} s")
    if last_transmit is not None and pkt.transmit_ts == last_transmit:
        raise NtpReject("duplicate", "transmit timestamp seen before (replay)")
    t1 = unix_ns_to_ntp(t1_local_ns)
    t4 = unix_ns_to_ntp(t4_local_ns)
    server_hold = ntp_diff_ns(pkt.transmit_ts, pkt.receive_ts)
    if server_hold < 0:
        raise NtpReject("causality", "server transmit before its receive")
    round_trip = t4_local_ns - t1_local_ns
    delay = round_trip - server_hold
    precision_ns = int(2.0**pkt.precision * 1e9) if pkt.precision < 0 else 0
    if delay < -precision_ns - 1000:
        raise NtpReject("causality", "negative round-trip delay")
    offset = (ntp_diff_ns(pkt.receive_ts, t1) + ntp_diff_ns(pkt.transmit_ts, t4)) // 2
    return NtpSample(
        offset_ns=offset,
        delay_ns=max(delay, 0),
        mono_ns=mid_mono_ns,
        root_delay_ns=pkt.root_delay_ns,
        root_dispersion_ns=pkt.root_dispersion_ns,
        stratum=pkt.stratum,
        leap=pkt.leap,
        precision_ns=precision_ns,
        transmit_ts=pkt.transmit_ts,
    )


@dataclass(frozen=True, slots=True)
class ServerAddress:
    """A configured server: the text the user gave, host and port."""

    text: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> ServerAddress:
        """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address. The host is an
        IP address or a DNS name (letters, digits and hyphens, dot-separated); anything
        else raises ``ValueError`` naming the entry (so a typo fails at configuration, not
        as an unreachable server)."""
        raw = text.strip()
        if not raw:
            raise ValueError("empty server name")
        host, port = raw, 123
        bracketed = raw.startswith("[")
        if bracketed:
            end = raw.find("]")
            if end < 0:
                raise ValueError(f"bad server address {_shown(text)}")
            host = raw[1:end]
            rest = raw[end + 1 :]
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"bad server address {_shown(text)}")
                port = _parse_port(rest[1:], text)
        elif raw.count(":") == 1:
            host, _, port_text = raw.partition(":")
            port = _parse_port(port_text, text)
        if not _valid_host(host, ipv6_only=bracketed or raw.count(":") > 1):
            raise ValueError(f"bad server address {_shown(text)}")
        return cls(text=raw, host=host, port=port)


# RFC 1123 host names (labels of letters, digits and inner hyphens, at most 253 characters),
# plus the underscores that container and internal DNS names often carry.
_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)")


def _valid_host(host: str, *, ipv6_only: bool) -> bool:
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])  # fe80::1%eth0: a zone index
    except ValueError:
        ip = None
    if ipv6_only:
        return isinstance(ip, ipaddress.IPv6Address)
    if ip is not None:
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _shown(text: str) -> str:
    # The entry, quoted, and cut short: it is only there to say which entry was wrong.
    return repr(text if len(text) <= 80 else text[:77] + "...")


_SEPARATORS = re.compile(r"\s*,\s*|\s+")


def parse_servers(text: str) -> list[str]:
    """The NTP servers in ``text``: entries separated by commas, whitespace or both
    (``"a.example, b.example:123 [2001:db8::1]:123"``), each ``host[:port]`` as
    :meth:`ServerAddress.parse` takes it. Raises ``ValueError`` naming the first bad
    entry, an empty one (``"a,,b"``), or a text that names no server at all.

    >>> parse_servers("127.0.0.1:11123, time.example.org  [::1]:123")
    ['127.0.0.1:11123', 'time.example.org', '[::1]:123']
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("no NTP server given")
    entries = _SEPARATORS.split(stripped)
    for position, entry in enumerate(entries, start=1):
        if not entry:
            raise ValueError(f"empty entry (number {position}) in the server list {_shown(text)}")
        ServerAddress.parse(entry)
    return entries


def _parse_port(value: str, text: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 65536:
        raise ValueError(f"bad port in server address {_shown(text)}")
    return int(value)


def is_public_address(sockaddr_host: str) -> bool:
    """Whether an address is on the public internet (poll etiquette applies)."""
    try:
        ip = ipaddress.ip_address(sockaddr_host.split("%", 1)[0])
    except ValueError:
        return True
    return not (ip.is_private or ip.is_loopback or ip.is_link_local)


def resolve(host: str, port: int) -> tuple[int, tuple[str, int]]:
    """Resolve to (family, sockaddr) for UDP; raises ``OSError`` (``gaierror``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:  # pragma: no cover - getaddrinfo raises instead
        raise socket.gaierror("no address")
    family, _, _, _, sockaddr = infos[0]
    return int(family), (str(sockaddr[0]), int(sockaddr[1]))
