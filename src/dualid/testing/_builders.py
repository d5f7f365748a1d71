"""Builders for realistic, valid personal data (and people in an SDK) for tests.

The values look like what a real reservation or event platform holds (names from many
languages with their diacritics, valid mobile numbers of the matching country, birthdays,
employers, event-specific extras) but are fictional: emails use the reserved
``example.*`` domains.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import phonenumbers

from dualid.models import DataField, EventType, EventUserData

if TYPE_CHECKING:
    from dualid.sdk import DualId

__all__ = ["Person", "add_person", "build_people", "build_user_data"]

# (region, given names, family names): the phone number's country follows the region.
_POOLS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("US", ("Ana", "Marcus", "Priya", "Jordan", "Emily", "DeShawn"),
     ("Garcia", "Johnson", "Patel", "Nguyen", "O'Brien", "Washington")),
    ("GB", ("Olivia", "Harry", "Amelia", "Siobhan", "Oluwaseun"),
     ("Smith", "Clarke", "Okafor", "Hughes", "Fitzgerald")),
    ("DE", ("Jürgen", "Lena", "Maximilian", "Zoë", "Özlem"),
     ("Müller", "Schröder", "Weiß", "Becker", "Yılmaz")),  # noqa: RUF001 - Turkish dotless i
    ("FR", ("Chloé", "Théo", "Léa", "François", "Maëlle"),
     ("Dubois", "Lefèvre", "Moreau", "Girard", "Benali")),
    ("JP", ("Yuki", "Haruto", "Sakura", "Ren", "Aoi"),
     ("Tanaka", "Sato", "Suzuki", "Takahashi", "Watanabe")),
    ("BR", ("João", "Mariana", "Luíza", "Gabriel", "Thaís"),
     ("Silva", "Souza", "Conceição", "Araújo", "Gonçalves")),
    ("IN", ("Aarav", "Ananya", "Rohan", "Diya", "Lakshmi"),
     ("Sharma", "Iyer", "Reddy", "Banerjee", "Menon")),
    ("NG", ("Chinedu", "Ngozi", "Tunde", "Amaka", "Ifeoma"),
     ("Okonkwo", "Adeyemi", "Balogun", "Eze", "Nwosu")),
    ("ES", ("Sofía", "Álvaro", "Lucía", "Íñigo", "Nuria"),
     ("García López", "Martínez", "Muñoz", "Fernández", "Ibáñez")),
    ("SE", ("Åsa", "Björn", "Linnea", "Oskar", "Märta"),
     ("Lindqvist", "Öberg", "Johansson", "Nyström", "Ek")),
    ("PL", ("Łukasz", "Zofia", "Wojciech", "Małgorzata", "Jędrzej"),
     ("Kowalski", "Wiśniewska", "Nowak", "Wójcik", "Zieliński")),
    ("KR", ("Ji-woo", "Min-jun", "Seo-yeon", "Do-hyun", "Ha-eun"),
     ("Kim", "Lee", "Park", "Choi", "Jung")),
)  # fmt: skip

_COMPANIES = (
    "Northwind Traders",
    "Contoso Ltd",
    "Fabrikam, Inc.",
    "Tailspin Toys",
    "Wide World Importers",
    "Adventure Works Cycles",
    "Woodgrove Bank",
    "Alpine Ski House",
    "Coho Winery",
    "Lucerne Publishing",
)
_DOMAINS = ("example.com", "example.org", "example.net")
_BIRTHDAY_FIRST = date(1950, 1, 1)
_BIRTHDAY_LAST = date(2005, 12, 31)
_ALL_FIELDS = frozenset(DataField)
_user_serial = itertools.count(1)


def _extras(rng: random.Random, kind: EventType | None) -> dict[str, Any]:
    """Event-specific extras of the kind a host asks for (camelCase, small, JSON)."""
    if kind is EventType.RESERVATION:
        extras: dict[str, Any] = {
            "partySize": rng.randint(1, 8),
            "seating": rng.choice(["indoor", "terrace", "bar", "no preference"]),
            "dietary": rng.sample(
                ["vegetarian", "vegan", "gluten-free", "nut allergy", "halal", "kosher"],
                rng.randint(0, 2),
            ),
        }
        if rng.random() < 0.3:
            extras["occasion"] = rng.choice(["birthday", "anniversary", "business dinner"])
        return extras
    if kind is EventType.COMMUNITY_EVENT:
        return {
            "tshirtSize": rng.choice(["XS", "S", "M", "L", "XL"]),
            "volunteer": rng.random() < 0.25,
            "accessibility": rng.sample(["step-free access", "sign language", "quiet room"], 1)
            if rng.random() < 0.2
            else [],
        }
    if kind is EventType.CLUB_EVENT:
        return {"memberNumber": f"M-{rng.randint(10000, 99999)}", "guests": rng.randint(0, 2)}
    if kind is EventType.EXPERT_EVENT:
        return {
            "experienceLevel": rng.choice(["beginner", "intermediate", "advanced"]),
            "question": rng.choice(
                ["How do I get started?", "What changed this year?", "Can you share the slides?"]
            ),
        }
    if kind is EventType.BUSINESS_EVENT:
        return {
            "jobTitle": rng.choice(["Engineer", "Product Manager", "Founder", "Analyst"]),
            "interests": rng.sample(["fintech", "retail", "logistics", "health", "AI"], 2),
        }
    if kind is EventType.COMPANY_EVENT:
        return {
            "department": rng.choice(["Sales", "Engineering", "Finance", "People", "Legal"]),
            "employeeNumber": f"E{rng.randint(100000, 999999)}",
        }
    return {"preferredLanguage": rng.choice(["en", "de", "fr", "es", "pt", "ja", "pl", "sv"])}


def _phone(rng: random.Random, region: str) -> str:
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    assert example is not None, region
    digits = str(example.national_number)
    for _ in range(50):
        candidate = digits[:-4] + f"{rng.randrange(10_000):04d}"
        number = phonenumbers.parse(f"+{example.country_code}{candidate}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.replace("ł", "l").replace("Ł", "L"))
    return "".join(ch for ch in folded.lower() if ch.isascii() and ch.isalnum())


def _parse_fields(fields: Iterable[DataField | str] | None) -> frozenset[DataField]:
    if fields is None:
        return _ALL_FIELDS
    if isinstance(fields, str):
        fields = [fields]
    return frozenset(DataField.parse(f) for f in fields)


def _person(
    rng: random.Random, fields: frozenset[DataField], extras_for: EventType | None, serial: str
) -> dict[str, Any]:
    region, given_names, family_names = rng.choice(_POOLS)
    given, family = rng.choice(given_names), rng.choice(family_names)
    span = (_BIRTHDAY_LAST - _BIRTHDAY_FIRST).days
    values: dict[DataField, Any] = {
        DataField.NAME: f"{given} {family}",
        DataField.PHONE_NUMBER: _phone(rng, region),
        DataField.EMAIL: f"{_ascii(given)}.{_ascii(family)}{serial}@{rng.choice(_DOMAINS)}",
        DataField.BIRTHDAY: _BIRTHDAY_FIRST + timedelta(days=rng.randrange(span + 1)),
        DataField.COMPANY_AFFILIATION: rng.choice(_COMPANIES),
        DataField.ADDITIONAL_DATA: _extras(rng, extras_for),
    }
    return {f.value: v for f, v in values.items() if f in fields}


def build_user_data(
    seed: int | None = None,
    *,
    fields: Iterable[DataField | str] | None = None,
    extras_for: EventType | str | None = None,
    **overrides: Any,
) -> EventUserData:
    """A realistic, valid :class:`~dualid.EventUserData` profile.

    ``seed`` makes it reproducible (``None``: a fresh random person each call).
    ``fields`` limits which personal fields are filled (default: all six).
    ``extras_for`` shapes ``additional_data`` for one :class:`~dualid.EventType` (party
    size and dietary needs for a reservation, a T-shirt size for a community event...).
    Keyword ``overrides`` (field names) replace generated values and are validated like
    any input:

    >>> data = build_user_data(seed=7, fields={"name", "email"}, name="Ana Lima")
    >>> data.name, data.phone_number, data.email.rpartition("@")[2].startswith("example.")
    ('Ana Lima', None, True)
    >>> build_user_data(seed=7) == build_user_data(seed=7)
    True
    """
    rng = random.Random(seed)
    kind = EventType(extras_for) if extras_for is not None else None
    values = _person(rng, _parse_fields(fields), kind, serial="")
    values.update(overrides)
    return EventUserData(**values)


def build_people(
    count: int,
    *,
    seed: int = 0,
    fields: Iterable[DataField | str] | None = None,
    extras_for: EventType | str | None = None,
) -> list[EventUserData]:
    """``count`` distinct realistic profiles (no two share an email or phone number),
    reproducible for a given ``seed``:

    >>> people = build_people(50, seed=1)
    >>> len({p.email for p in people}) == len({p.phone_number for p in people}) == 50
    True
    """
    if count < 0:
        raise ValueError("count must not be negative")
    rng = random.Random(seed)
    wanted = _parse_fields(fields)
    kind = EventType(extras_for) if extras_for is not None else None
    seen: set[str] = set()
    out: list[EventUserData] = []
    while len(out) < count:
        # The serial keeps emails unique however small the name pools are.
        values = _person(rng, _ALL_FIELDS, kind, serial=str(len(out) + 1))
        if values["phone_number"] in seen:
            continue
        seen.add(values["phone_number"])
        out.append(EventUserData(**{k: v for k, v in values.items() if k in wanted}))
    return out


@dataclass(frozen=True)
class Person:
    """A person created by :func:`add_person`: the platform's ``user_id``, the opaque
    ``agent_id`` dualid gave it, and the profile ``data`` stored for it."""

    user_id: str
    agent_id: str
    data: EventUserData


def add_person(
    sdk: DualId,
    user_id: str | None = None,
    *,
    data: EventUserData | None = None,
    seed: int | None = None,
) -> Person:
    """Create (or reuse) the agent for ``user_id`` and store a profile for it: ``data``,
    or :func:`build_user_data` with ``seed``. ``user_id`` defaults to a fresh
    ``"user-<n>"``. Birthdays fall in 1950-2005, so the SDK's clock must be later than
    that (:class:`FakeClock` starts in 2026).

    >>> from dualid.testing import memory_sdk
    >>> with memory_sdk() as sdk:
    ...     ana = add_person(sdk, "user-1", seed=3)
    ...     sdk.profiles.get(ana.agent_id) == ana.data
    True
    """
    if user_id is None:
        user_id = f"user-{next(_user_serial)}"
    profile = data if data is not None else build_user_data(seed)
    agent_id = sdk.identity.agent_for(user_id)
    sdk.profiles.put(agent_id, profile)
    return Person(user_id, agent_id, profile)
