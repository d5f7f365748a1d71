"""The CSRF tokens on their own, and the SDK secret they are signed with."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dualid import DualId, InvalidInput
from dualid.testing import FakeClock
from dualid.ui._csrf import CsrfTokens, new_nonce, valid_nonce


@pytest.fixture
def tokens(fake_clock: FakeClock) -> CsrfTokens:
    return CsrfTokens(b"k" * 32, fake_clock, timedelta(hours=2))


def test_a_token_checks_for_its_nonce_and_person_only(tokens: CsrfTokens) -> None:
    nonce = new_nonce()
    token = tokens.issue(nonce, "user-1")
    assert tokens.check(token, nonce, "user-1")
    assert not tokens.check(token, new_nonce(), "user-1")
    assert not tokens.check(token, nonce, "user-2")
    assert not tokens.check(token, None, "user-1")
    issued, _, mac = token.partition(".")
    assert not tokens.check(f"{int(issued) + 1}.{mac}", nonce, "user-1")  # time is signed
    other = "B" if mac.endswith("A") else "A"  # a changed last character, whatever it was
    assert not tokens.check(f"{issued}.{mac[:-1]}{other}", nonce, "user-1")
    for junk in ("", ".", "x.y", "1.", "é.é", "9" * 200):
        assert not tokens.check(junk, nonce, "user-1")


def test_tokens_expire_and_future_ones_are_refused(
    tokens: CsrfTokens, fake_clock: FakeClock
) -> None:
    nonce = new_nonce()
    token = tokens.issue(nonce, "u")
    fake_clock.advance(timedelta(hours=2))
    assert tokens.check(token, nonce, "u")
    fake_clock.advance(timedelta(seconds=1))
    assert not tokens.check(token, nonce, "u")
    ahead = CsrfTokens(
        b"k" * 32, FakeClock(start=fake_clock.now().time + timedelta(hours=1)), timedelta(hours=2)
    )
    assert not tokens.check(ahead.issue(nonce, "u"), nonce, "u")  # "issued" an hour from now


def test_the_user_id_is_never_in_the_token(tokens: CsrfTokens) -> None:
    assert "user-secret-id" not in tokens.issue(new_nonce(), "user-secret-id")


def test_nonces() -> None:
    assert valid_nonce(new_nonce())
    assert new_nonce() != new_nonce()
    assert not valid_nonce("short")
    assert not valid_nonce("x" * 31 + "!")
    assert not valid_nonce(None)


def test_a_short_secret_is_refused(fake_clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        CsrfTokens(b"short", fake_clock, timedelta(hours=1))


def test_derive_secret_is_stable_per_store_and_distinct_per_purpose(
    tmp_path: object, master_key: str
) -> None:
    url = f"sqlite:///{tmp_path}/d.db"
    with DualId.open(url, keys=master_key) as first:
        csrf = first.derive_secret("dualid.ui/csrf")
        other = first.derive_secret("my-app/cookies")
    with DualId.open(url, keys=master_key) as second:
        assert second.derive_secret("dualid.ui/csrf") == csrf
    assert len(csrf) == 32
    assert csrf != other
    with DualId.open("sqlite://") as elsewhere:
        assert elsewhere.derive_secret("dualid.ui/csrf") != csrf
        for bad in ("", "   ", "x" * 201):
            with pytest.raises(InvalidInput):
                elsewhere.derive_secret(bad)
