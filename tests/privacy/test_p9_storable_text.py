"""P9 for text no database stores the same: a NUL character or an unpaired surrogate in any
string argument is :class:`InvalidInput` on SQLite and PostgreSQL alike, never a
``UnicodeEncodeError``, a ``StoreError`` (PostgreSQL refuses NUL) or a silent success
(SQLite stores it), and changes nothing. The message names the argument at most, never the
value. Valid non-ASCII text (accents, CJK, emoji beyond the BMP) is stored and read back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dualid import DataField, DualId, EventType, EventUserData, HostKind
from dualid.errors import InvalidInput

from ..support import snapshot

HOST = "bistro-7"
USER = "text-user-1"

# Each: the call with the bad text substituted for ``{bad}``.
CASES: dict[str, Callable[[DualId, str, str, str], Any]] = {
    "userId agent_for": lambda sdk, a, g, bad: sdk.identity.agent_for(f"user{bad}"),
    "userId lookup": lambda sdk, a, g, bad: sdk.identity.lookup(f"user{bad}"),
    "userId agents_for": lambda sdk, a, g, bad: sdk.identity.agents_for(["u-ok", f"u{bad}"]),
    "userId lookup_many": lambda sdk, a, g, bad: sdk.identity.lookup_many([f"u{bad}"]),
    "userId register_user": lambda sdk, a, g, bad: sdk.events.register_user(
        f"u{bad}", HOST, EventType.RESERVATION, "res-2", data=EventUserData(name="Dan")
    ),
    "user_for actor": lambda sdk, a, g, bad: sdk.identity.user_for(
        a, actor=f"support{bad}", reason="ticket 1"
    ),
    "user_for reason": lambda sdk, a, g, bad: sdk.identity.user_for(
        a, actor="support", reason=f"ticket{bad}"
    ),
    "host name": lambda sdk, a, g, bad: sdk.hosts.register(
        "club-9", kind=HostKind.CLUB, name=f"Club{bad}"
    ),
    "host rename": lambda sdk, a, g, bad: sdk.hosts.register(
        HOST, kind=HostKind.BUSINESS, name=f"Bistro{bad}", exist_ok=True
    ),
    "requirement purpose": lambda sdk, a, g, bad: sdk.hosts.require(
        HOST, EventType.RESERVATION, required={DataField.NAME}, purpose=f"booking{bad}"
    ),
    "grant purpose": lambda sdk, a, g, bad: sdk.consent.grant(
        a, HOST, fields={DataField.EMAIL}, event_id="res-1", purpose=f"mail{bad}"
    ),
    "registration purpose": lambda sdk, a, g, bad: sdk.events.register(
        a, HOST, EventType.RESERVATION, "res-3", share={"name"}, purpose=f"x{bad}"
    ),
    "event title": lambda sdk, a, g, bad: sdk.events.create(
        HOST, "res-4", EventType.RESERVATION, title=f"Dinner{bad}"
    ),
    "grant id revoke": lambda sdk, a, g, bad: sdk.consent.revoke(f"gr_{bad}"),
    "grant id get": lambda sdk, a, g, bad: sdk.consent.get(f"gr_{bad}"),
    "grant id receipt": lambda sdk, a, g, bad: sdk.consent.receipt(f"gr_{bad}"),
    "agent id profile": lambda sdk, a, g, bad: sdk.profiles.get(f"agt_{bad}"),
    "agent id erase": lambda sdk, a, g, bad: sdk.erase(f"agt_{bad}"),
    "agent id grants": lambda sdk, a, g, bad: sdk.consent.grants(f"agt_{bad}"),
    "agent id history": lambda sdk, a, g, bad: sdk.consent.history(f"agt_{bad}"),
    "audit subject": lambda sdk, a, g, bad: sdk.audit.entries(subject=f"agt_{bad}"),
}
BAD = {"nul": "\x00", "high surrogate": "\ud800", "low surrogate": "\udfff", "pair": "\ud83d\ude00"}


@pytest.fixture
def world(sdk: DualId) -> tuple[str, str]:
    sdk.hosts.register(HOST, kind=HostKind.BUSINESS, name="Bistro Seven")
    sdk.hosts.require(
        HOST,
        EventType.RESERVATION,
        required={DataField.NAME},
        optional={DataField.EMAIL},
        purpose="booking",
    )
    agent = sdk.identity.agent_for(USER)
    sdk.profiles.put(agent, EventUserData(name="Ana", email="ana@example.org"))
    reg = sdk.events.register(agent, HOST, EventType.RESERVATION, "res-1", share={"name"})
    assert reg.grant_id is not None
    return agent, reg.grant_id


@pytest.mark.parametrize("bad", list(BAD.values()), ids=list(BAD))
@pytest.mark.parametrize("case", list(CASES))
def test_text_the_database_cannot_store_is_invalid_input(
    sdk: DualId, world: tuple[str, str], case: str, bad: str
) -> None:
    agent, grant_id = world
    before = snapshot(sdk)
    with pytest.raises(InvalidInput) as caught:
        CASES[case](sdk, agent, grant_id, bad)
    assert bad not in str(caught.value)
    assert bad not in repr(caught.value.to_dict())
    assert snapshot(sdk) == before


def test_valid_non_ascii_text_is_stored_and_read_back(sdk: DualId, world: tuple[str, str]) -> None:
    agent, _ = world
    name = "Café 東京 🎻 Ünïcødé"  # the violin is beyond the BMP: one code point, no surrogate
    host = sdk.hosts.register("club-9", kind=HostKind.CLUB, name=name)
    assert sdk.hosts.get("club-9").name == host.name == name
    sdk.hosts.require("club-9", EventType.CLUB_EVENT, required={DataField.NAME}, purpose=name)
    requirement = sdk.hosts.requirement("club-9", EventType.CLUB_EVENT)
    assert requirement is not None
    assert requirement.purpose == name
    other = sdk.identity.agent_for(f"user-{name}")
    assert sdk.identity.agent_for(f"user-{name}") == other != agent
    assert sdk.identity.user_for(other, actor=name, reason=name) == f"user-{name}"
