"""The NTP wire format and reply validation, on hand-built packets."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from dualid.clock import datetime_to_ns, parse_servers
from dualid.clock._ntp import (
    NTP_UNIX_DELTA_S,
    NtpPacket,
    NtpReject,
    ServerAddress,
    build_request,
    evaluate_reply,
    is_public_address,
    ntp_diff_ns,
    ntp_to_unix_ns,
    parse_packet,
    unix_ns_to_ntp,
)

ROLLOVER = datetime(2036, 2, 7, 6, 28, 16, tzinfo=UTC)  # NTP era 0 -> era 1
S = 10**9


def test_unix_ntp_round_trip_within_a_nanosecond() -> None:
    now = datetime_to_ns(datetime(2026, 5, 1, 12, 0, tzinfo=UTC)) + 123_456_789
    assert abs(ntp_to_unix_ns(unix_ns_to_ntp(now), now) - now) <= 1
    assert unix_ns_to_ntp(0) >> 32 == NTP_UNIX_DELTA_S


def test_era_rollover_2036() -> None:
    rollover_ns = datetime_to_ns(ROLLOVER)
    after = rollover_ns + 10 * S
    raw = unix_ns_to_ntp(after)
    assert raw >> 32 == 10  # seconds field wrapped to era 1
    # With a pivot just before the rollover the date still comes out after it.
    assert ntp_to_unix_ns(raw, rollover_ns - 5 * S) == after
    # And a timestamp just before the rollover, pivoted after it, stays in era 0.
    before = rollover_ns - 3 * S
    assert ntp_to_unix_ns(unix_ns_to_ntp(before), after) == before
    # Differences across the boundary are small and signed.
    assert ntp_diff_ns(unix_ns_to_ntp(after), unix_ns_to_ntp(before)) == 13 * S
    assert ntp_diff_ns(unix_ns_to_ntp(before), unix_ns_to_ntp(after)) == -13 * S


def test_request_is_client_mode_with_random_low_bits() -> None:
    now = datetime_to_ns(datetime(2026, 5, 1, tzinfo=UTC))
    data1, tx1 = build_request(now)
    _data2, tx2 = build_request(now)
    pkt = parse_packet(data1)
    assert (pkt.mode, pkt.version, pkt.stratum) == (3, 4, 0)
    assert pkt.transmit_ts == tx1 != 0
    assert tx1 >> 32 == tx2 >> 32 == unix_ns_to_ntp(now) >> 32
    assert tx1 != tx2  # 32 random low bits (a collision is a 1 in 2**32 event)
    assert len(data1) == 48


def _reply(
    t1: int, offset_ns: int, hold_ns: int = 1000, **overrides: object
) -> tuple[bytes, int, int]:
    """A server reply for a request sent at local t1 (exchange takes 2 ms)."""
    _, transmit = build_request(t1)
    rx = t1 + 1_000_000 + offset_ns
    fields: dict[str, object] = dict(
        leap=0,
        version=4,
        mode=4,
        stratum=2,
        poll=6,
        precision=-20,
        root_delay_ns=2_000_000,
        root_dispersion_ns=1_000_000,
        ref_id=b"GPS\x00",
        reference_ts=unix_ns_to_ntp(rx - 10 * S),
        origin_ts=transmit,
        receive_ts=unix_ns_to_ntp(rx),
        transmit_ts=unix_ns_to_ntp(rx + hold_ns),
    )
    fields.update(overrides)
    t4 = t1 + 2_000_000 + hold_ns
    return NtpPacket(**fields).encode(), transmit, t4  # type: ignore[arg-type]


T1 = datetime_to_ns(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


def _evaluate(data: bytes, transmit: int, t4: int, **kw: object) -> object:
    return evaluate_reply(
        data, sent_transmit=transmit, t1_local_ns=T1, t4_local_ns=t4, mid_mono_ns=0, **kw
    )  # type: ignore[arg-type]


def test_good_reply_gives_offset_and_delay() -> None:
    data, transmit, t4 = _reply(T1, offset_ns=250_000_000)
    sample = evaluate_reply(
        data, sent_transmit=transmit, t1_local_ns=T1, t4_local_ns=t4, mid_mono_ns=7
    )
    assert abs(sample.offset_ns - 250_000_000) <= 2
    assert abs(sample.delay_ns - 2_000_000) <= 2
    assert sample.root_delay_ns == pytest.approx(2_000_000, abs=2 * 15_259)  # 16.16 format
    assert sample.mono_ns == 7


def test_good_reply_across_the_era_rollover() -> None:
    t1 = datetime_to_ns(ROLLOVER) - 500_000_000  # local clock still in era 0
    data, transmit, t4 = _reply(t1, offset_ns=2 * S)  # server already in era 1
    assert parse_packet(data).receive_ts >> 32 < 10
    sample = evaluate_reply(
        data, sent_transmit=transmit, t1_local_ns=t1, t4_local_ns=t4, mid_mono_ns=0
    )
    assert abs(sample.offset_ns - 2 * S) <= 2


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"mode": 3}, "mode"),
        ({"mode": 5}, "mode"),
        ({"version": 0}, "version"),
        ({"origin_ts": 12345}, "origin"),
        ({"stratum": 0, "ref_id": b"RATE"}, "kod"),
        ({"leap": 3}, "unsynchronized"),
        ({"stratum": 16}, "stratum"),
        ({"stratum": 200}, "stratum"),
        ({"transmit_ts": 0}, "zero_timestamp"),
        ({"receive_ts": 0}, "zero_timestamp"),
        ({"reference_ts": 0}, "zero_timestamp"),
        ({"root_dispersion_ns": 16 * S}, "root_distance"),
        ({"root_delay_ns": 33 * S}, "root_distance"),
    ],
)
def test_bad_replies_are_rejected(overrides: dict[str, object], reason: str) -> None:
    data, transmit, t4 = _reply(T1, 0, **overrides)
    with pytest.raises(NtpReject) as info:
        _evaluate(data, transmit, t4)
    assert info.value.reason == reason


def test_kiss_code_is_reported() -> None:
    data, transmit, t4 = _reply(T1, 0, stratum=0, ref_id=b"DENY", leap=3)
    with pytest.raises(NtpReject) as info:
        _evaluate(data, transmit, t4)
    assert info.value.kiss == "DENY"


def test_spoofed_kiss_is_an_origin_failure_not_a_kiss() -> None:
    data, transmit, t4 = _reply(T1, 0, stratum=0, ref_id=b"DENY", origin_ts=99)
    with pytest.raises(NtpReject) as info:
        _evaluate(data, transmit, t4)
    assert info.value.reason == "origin"
    assert info.value.kiss is None


def test_duplicate_transmit_timestamp_is_rejected() -> None:
    data, transmit, t4 = _reply(T1, 0)
    sample = evaluate_reply(
        data, sent_transmit=transmit, t1_local_ns=T1, t4_local_ns=t4, mid_mono_ns=0
    )
    with pytest.raises(NtpReject) as info:
        _evaluate(data, transmit, t4, last_transmit=sample.transmit_ts)
    assert info.value.reason == "duplicate"


def test_server_transmit_before_receive_is_rejected() -> None:
    data, transmit, t4 = _reply(T1, 0, hold_ns=-5_000_000)
    with pytest.raises(NtpReject) as info:
        _evaluate(data, transmit, t4)
    assert info.value.reason == "causality"


def test_short_packet() -> None:
    with pytest.raises(NtpReject) as info:
        parse_packet(b"\x24" * 47)
    assert info.value.reason == "short"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("pool.ntp.org", "pool.ntp.org", 123),
        ("127.0.0.1:11123", "127.0.0.1", 11123),
        ("[::1]:1234", "::1", 1234),
        ("[::1]", "::1", 123),
        ("fe80::1", "fe80::1", 123),
        (" time.example.org:123 ", "time.example.org", 123),
    ],
)
def test_server_address_parsing(text: str, host: str, port: int) -> None:
    addr = ServerAddress.parse(text)
    assert (addr.host, addr.port) == (host, port)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "host:",
        "host:0",
        "host:70000",
        "host:abc",
        "[::1",
        "[::1]x",
        ":123",
        # Hosts that are neither an IP address nor a DNS name:
        "-x",
        "a..b",
        "host:1:2",
        "[1.2.3.4]",
        "ntp;rm",
        "a b",
        "x" * 64 + ".example",
        "h:\uff11\uff12",  # fullwidth digits are not a port
    ],
)
def test_bad_server_addresses(text: str) -> None:
    with pytest.raises(ValueError, match=r"server|empty"):
        ServerAddress.parse(text)


@pytest.mark.parametrize(
    ("text", "servers"),
    [
        ("a.example", ["a.example"]),
        ("a.example,b.example", ["a.example", "b.example"]),
        ("a.example, b.example", ["a.example", "b.example"]),
        ("a.example b.example\tc.example:124", ["a.example", "b.example", "c.example:124"]),
        ("  [::1]:123 ,127.0.0.1:11123  ", ["[::1]:123", "127.0.0.1:11123"]),
        ("ntp_1.internal", ["ntp_1.internal"]),
        ("time.example.org.", ["time.example.org."]),
    ],
)
def test_server_lists_split_on_commas_and_whitespace(text: str, servers: list[str]) -> None:
    assert parse_servers(text) == servers


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no NTP server"),
        ("  ", "no NTP server"),
        ("a.example,,b.example", "empty entry (number 2)"),
        ("a.example,", "empty entry (number 2)"),
        ("a.example, -bad, c.example", "bad server address '-bad'"),
        ("a.example 127.0.0.1:99999", "bad port in server address '127.0.0.1:99999'"),
    ],
)
def test_a_bad_server_list_names_the_bad_entry(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_servers(text)


def test_public_addresses() -> None:
    assert is_public_address("162.159.200.1")
    assert is_public_address("2606:4700:f1::1")
    assert not is_public_address("127.0.0.1")
    assert not is_public_address("10.1.2.3")
    assert not is_public_address("192.168.0.10")
    assert not is_public_address("::1")
    assert not is_public_address("fe80::1%eth0")
