"""The P2 rule (``dualid.consent._rules``) against a spec written here from its docstring.

The spec below is deliberately written another way than the module (a scope per grant,
a loop over the declared fields rather than over the grants), so that a slip in one is
not repeated in the other:

- a grant is *active* iff it is not revoked and ``expires`` is None or later than the
  reading's ``latest`` (``expires == latest`` is expired: the uncertainty counts against
  sharing);
- a grant *applies* to a registration for event E of type T iff it names E when it names
  an event, else (host-wide) it names no event type or T;
- a field is shown iff the host declared it and some active, applying grant lists it; the
  covering grants are listed in input order.
"""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import example, given, settings

from dualid.consent._rules import GrantTerms, applies, coverage, state
from dualid.consent._types import GrantState
from dualid.models import DataField, EventType

FIELD_NAMES = sorted(f.value for f in DataField)
TYPES = sorted(e.value for e in EventType)
EVENTS = ["ev-1", "ev-2", "ev-3"]
LATEST = 1_700_000_000_000_000  # microseconds since the epoch

# -- the spec ----------------------------------------------------------------------------


def spec_active(revoked: bool, expires_us: int | None, latest_us: int) -> bool:
    if revoked:
        return False
    if expires_us is None:
        return True
    return expires_us > latest_us


def spec_scope(g_event: str | None, g_type: str | None) -> str:
    if g_event is not None:
        return "event"
    if g_type is not None:
        return "type"
    return "host"


def spec_applies(g_event: str | None, g_type: str | None, event_id: str, event_type: str) -> bool:
    match spec_scope(g_event, g_type):
        case "event":
            return g_event == event_id
        case "type":
            return g_type == event_type
        case _:
            return True


def spec_coverage(
    grants: list[GrantTerms], event_id: str, event_type: str, declared: set[str], latest_us: int
) -> dict[str, list[int]]:
    out = {}
    for name in declared:
        covering = [
            i
            for i, g in enumerate(grants)
            if name in set(g.fields.split(","))
            and spec_active(g.revoked, g.expires_us, latest_us)
            and spec_applies(g.event_id, g.event_type, event_id, event_type)
        ]
        if covering:
            out[name] = covering
    return out


# -- strategies --------------------------------------------------------------------------

# Expiries right around the reading (equality included) and far from it, or none.
expiries = st.one_of(
    st.none(),
    st.integers(-3, 3).map(lambda d: LATEST + d),
    st.integers(-(10**12), 10**12).map(lambda d: LATEST + d),
)
# The stored form: sorted, distinct, comma-separated (never empty for a real grant, but
# the rule must not invent a field from an empty list either).
stored_fields = st.sets(st.sampled_from(FIELD_NAMES)).map(lambda s: ",".join(sorted(s)))
grant_terms = st.builds(
    GrantTerms,
    event_id=st.one_of(st.none(), st.sampled_from(EVENTS)),
    event_type=st.one_of(st.none(), st.sampled_from(TYPES)),
    fields=stored_fields,
    expires_us=expiries,
    revoked=st.booleans(),
)
grant_lists = st.lists(grant_terms, max_size=8)
declared_sets = st.sets(st.sampled_from(FIELD_NAMES))
event_ids = st.sampled_from(EVENTS)
event_types = st.sampled_from(TYPES)
latests = st.one_of(st.just(LATEST), st.integers(0, 2 * LATEST))

# -- state -------------------------------------------------------------------------------


@settings(max_examples=500)
@given(revoked=st.booleans(), expires_us=expiries, latest_us=latests)
@example(revoked=False, expires_us=LATEST, latest_us=LATEST)
@example(revoked=False, expires_us=LATEST + 1, latest_us=LATEST)
@example(revoked=True, expires_us=LATEST - 1, latest_us=LATEST)
def test_state_matches_the_spec(revoked, expires_us, latest_us):
    got = state(revoked, expires_us, latest_us)
    assert (got is GrantState.ACTIVE) == spec_active(revoked, expires_us, latest_us)
    # revoked wins over expired; expired is "not revoked, not active"
    assert (got is GrantState.REVOKED) == revoked
    assert (got is GrantState.EXPIRED) == (
        not revoked and not spec_active(revoked, expires_us, latest_us)
    )


def test_expiring_exactly_at_latest_is_expired():
    # The reading's latest possible time has reached expires_at: the grant may have
    # expired already, so it counts as expired (the uncertainty counts against sharing).
    assert state(False, LATEST, LATEST) is GrantState.EXPIRED
    assert state(False, LATEST + 1, LATEST) is GrantState.ACTIVE
    assert state(False, None, LATEST) is GrantState.ACTIVE
    terms = [GrantTerms(None, None, "email", LATEST, False)]
    assert coverage(terms, "ev-1", "reservation", {"email"}, LATEST) == {}
    assert coverage(terms, "ev-1", "reservation", {"email"}, LATEST - 1) == {"email": [0]}


# -- applies -----------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    g_event=st.one_of(st.none(), event_ids),
    g_type=st.one_of(st.none(), event_types),
    event_id=event_ids,
    event_type=event_types,
)
def test_applies_matches_the_spec(g_event, g_type, event_id, event_type):
    assert applies(g_event, g_type, event_id, event_type) == spec_applies(
        g_event, g_type, event_id, event_type
    )


def test_applies_every_scope_exhaustively():
    """Every combination of the small domain, not a sample."""
    for g_event in [None, *EVENTS]:
        for g_type in [None, *TYPES]:
            for event_id in EVENTS:
                for event_type in TYPES:
                    assert applies(g_event, g_type, event_id, event_type) == spec_applies(
                        g_event, g_type, event_id, event_type
                    ), (g_event, g_type, event_id, event_type)


def test_host_wide_grant_limited_to_another_type_does_not_apply():
    club, reservation = EventType.CLUB_EVENT.value, EventType.RESERVATION.value
    assert not applies(None, club, "ev-1", reservation)
    assert applies(None, club, "ev-1", club)
    assert applies(None, None, "ev-1", reservation)
    terms = [GrantTerms(None, club, "email,name", None, False)]
    assert coverage(terms, "ev-1", reservation, {"email", "name"}, LATEST) == {}
    assert coverage(terms, "ev-1", club, {"email", "name"}, LATEST) == {
        "email": [0],
        "name": [0],
    }


def test_an_event_grant_applies_to_its_event_only():
    assert applies("ev-1", "club_event", "ev-1", "club_event")
    assert not applies("ev-2", "club_event", "ev-1", "club_event")
    assert not applies("ev-2", None, "ev-1", "club_event")


# -- coverage ----------------------------------------------------------------------------


@settings(max_examples=400)
@given(
    grants=grant_lists,
    event_id=event_ids,
    event_type=event_types,
    declared=declared_sets,
    latest_us=st.one_of(st.just(LATEST), st.integers(LATEST - 4, LATEST + 4)),
)
def test_coverage_matches_the_spec(grants, event_id, event_type, declared, latest_us):
    got = coverage(grants, event_id, event_type, frozenset(declared), latest_us)
    assert got == spec_coverage(grants, event_id, event_type, declared, latest_us)
    for name, ix in got.items():
        assert name in declared
        assert ix, name  # a field is listed only with a grant behind it
        assert ix == sorted(set(ix)), "covering grants in input order, each once"


@settings(max_examples=150)
@given(
    grants=grant_lists,
    extra=grant_terms,
    position=st.integers(0, 8),
    event_id=event_ids,
    event_type=event_types,
    declared=declared_sets,
)
def test_more_consent_never_hides_a_field(grants, extra, position, event_id, event_type, declared):
    """Adding a grant anywhere never removes a field; revoking one never adds a field."""
    before = coverage(grants, event_id, event_type, frozenset(declared), LATEST)
    position = min(position, len(grants))
    more = [*grants[:position], extra, *grants[position:]]
    after = coverage(more, event_id, event_type, frozenset(declared), LATEST)
    assert set(before) <= set(after)
    if grants:
        i = position % len(grants)
        fewer = [*grants[:i], grants[i]._replace(revoked=True), *grants[i + 1 :]]
        assert set(coverage(fewer, event_id, event_type, frozenset(declared), LATEST)) <= set(
            before
        )


def test_coverage_of_one_grant_exhaustively():
    """Every shape of one grant (scope, type, expiry around the reading, revoked) against
    every registration of the small domain, with the grant's field declared or not."""
    for g_event in [None, *EVENTS]:
        for g_type in [None, *TYPES]:
            for expires_us in [None, LATEST - 1, LATEST, LATEST + 1]:
                for revoked in [False, True]:
                    grants = [GrantTerms(g_event, g_type, "email", expires_us, revoked)]
                    for event_id in EVENTS:
                        for event_type in TYPES:
                            for declared in [set(), {"email"}, {"email", "name"}]:
                                assert coverage(
                                    grants, event_id, event_type, declared, LATEST
                                ) == spec_coverage(grants, event_id, event_type, declared, LATEST)


def test_coverage_lists_indexes_in_input_order():
    grants = [
        GrantTerms("ev-1", "reservation", "email,name", None, False),  # 0: event grant
        GrantTerms(None, "club_event", "email", None, False),  # 1: other type
        GrantTerms(None, None, "email", None, True),  # 2: revoked
        GrantTerms(None, "reservation", "email,phone_number", LATEST + 1, False),  # 3
        GrantTerms(None, None, "email,name", None, False),  # 4: host-wide
        GrantTerms("ev-2", None, "email", None, False),  # 5: another event
        GrantTerms(None, None, "birthday", None, False),  # 6: not declared
    ]
    got = coverage(grants, "ev-1", "reservation", {"email", "name", "phone_number"}, LATEST)
    assert got == {"email": [0, 3, 4], "name": [0, 4], "phone_number": [3]}
    assert list(got["email"]) == [0, 3, 4]


def test_no_grants_no_fields():
    assert coverage([], "ev-1", "reservation", set(FIELD_NAMES), LATEST) == {}
    empty = [GrantTerms(None, None, "", None, False)]
    assert coverage(empty, "ev-1", "reservation", set(FIELD_NAMES), LATEST) == {}


@given(
    grants=st.lists(
        st.tuples(grant_terms, st.integers(0, 10**9)).filter(lambda t: not t[0].revoked),
        max_size=8,
    ),
    event_id=event_ids,
    event_type=event_types,
    declared=declared_sets,
    latest_us=st.one_of(st.just(LATEST), st.integers(LATEST - 4, LATEST + 4)),
)
@settings(max_examples=300)
def test_the_host_views_bulk_form_agrees_with_coverage(
    grants, event_id, event_type, declared, latest_us
):
    from dualid.consent._rules import host_view_coverage

    # One registration of agent "a"; the bulk form keeps the earliest covering grant.
    rows = [
        ("a", g.event_id, g.event_type, g.fields, created, g.expires_us, f"g{i}", b"mac")
        for i, (g, created) in enumerate(grants)
    ]
    bulk = host_view_coverage(
        rows, {"a": ("reg_1", event_type)}, event_id, {event_type: declared}, latest_us
    )
    single = coverage([g for g, _ in grants], event_id, event_type, declared, latest_us)
    expected = {name: min(grants[i][1] for i in ix) for name, ix in single.items()}
    assert bulk == ({"reg_1": expected} if expected else {})
