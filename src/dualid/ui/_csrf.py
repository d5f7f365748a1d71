"""CSRF protection for every form: a signed double-submit token tied to the person.

The browser holds a random nonce in a cookie (``HttpOnly``, ``SameSite=Strict``, scoped
to the pages' path). Each form carries ``issued.mac`` where ``mac`` is an HMAC-SHA256,
under a secret only the server knows, of that nonce, the person's userId and the time
the token was issued. A cross-site form can neither read the cookie nor compute the MAC;
a token taken from one person or browser does not work for another; tokens expire after
``max_age``. Time comes from the SDK's clock. The userId is only ever a MAC input: it
never reaches the page or the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Final

from dualid.clock import Clock

__all__ = ["COOKIE_NAME", "FIELD_NAME", "CsrfTokens", "new_nonce", "valid_nonce"]

COOKIE_NAME: Final = "dualid_csrf"
FIELD_NAME: Final = "csrf_token"
_CONTEXT: Final = b"dualid.ui/csrf/v1"
_NONCE_CHARS: Final = 32
# A token issued a little "in the future" is a clock correction between two readings,
# not an attack; more than this is refused.
_FUTURE_SLACK: Final = timedelta(minutes=5)


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def valid_nonce(value: str | None) -> bool:
    return (
        value is not None
        and len(value) == _NONCE_CHARS
        and all(c.isalnum() or c in "-_" for c in value)
    )


class CsrfTokens:
    """Issues and checks the tokens of one set of pages."""

    def __init__(self, secret: bytes, clock: Clock, max_age: timedelta) -> None:
        if len(secret) < 16:
            raise ValueError("the CSRF secret must have at least 16 bytes")
        self._secret = secret
        self._clock = clock
        self._max_age = max_age

    def _mac(self, nonce: str, user_id: str, issued_us: int) -> str:
        message = b"\x1f".join(
            [_CONTEXT, nonce.encode(), user_id.encode(), str(issued_us).encode()]
        )
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def _now_us(self) -> int:
        return int(self._clock.now().time.timestamp() * 1_000_000)

    def issue(self, nonce: str, user_id: str) -> str:
        issued = self._now_us()
        return f"{issued}.{self._mac(nonce, user_id, issued)}"

    def check(self, token: str | None, nonce: str | None, user_id: str) -> bool:
        """True when ``token`` was issued for this cookie ``nonce`` and person and has not
        expired."""
        if not token or not valid_nonce(nonce) or len(token) > 100:
            return False
        assert nonce is not None
        issued_text, _, mac = token.partition(".")
        if not issued_text.isdigit() or not mac:
            return False
        issued = int(issued_text)
        now = self._now_us()
        if issued > now + _FUTURE_SLACK // timedelta(microseconds=1):
            return False
        if now - issued > self._max_age // timedelta(microseconds=1):
            return False
        expected = self._mac(nonce, user_id, issued)
        return hmac.compare_digest(expected.encode(), mac.encode("ascii", "replace"))
