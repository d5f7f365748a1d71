"""The derived keys' MACs are standard HMAC-SHA256, computed a faster way."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

import pytest

from dualid.crypto import DerivedKeys
from dualid.crypto._derive import _HmacSha256


@pytest.mark.parametrize("key_len", [0, 1, 32, 63, 64, 65, 200])
def test_hmac_matches_the_standard_library(key_len: int) -> None:
    key = secrets.token_bytes(key_len)
    for msg_len in (0, 1, 55, 56, 64, 300):
        msg = secrets.token_bytes(msg_len)
        assert _HmacSha256(key).digest(msg) == hmac.new(key, msg, hashlib.sha256).digest()
        prefixed = _HmacSha256(key, b"host\x1f").digest(msg)
        assert prefixed == hmac.new(key, b"host\x1f" + msg, hashlib.sha256).digest()


def test_user_index_and_pairwise_refs_are_hmac_sha256() -> None:
    derived = DerivedKeys.from_root(secrets.token_bytes(32))
    refs = derived.pairwise_refs("bistro-7")
    for i in range(200):
        user = f"user-{i}-é"
        expected = hmac.new(derived.blind_index, user.encode(), hashlib.sha256).digest()
        assert derived.user_index(user) == expected
        agent = "agt_" + secrets.token_hex(13)
        digest = hmac.new(derived.pairwise, f"bistro-7\x1f{agent}".encode(), hashlib.sha256)
        expected_ref = "ref_" + base64.urlsafe_b64encode(digest.digest()[:18]).decode()
        assert refs(agent) == expected_ref == derived.pairwise_ref("bistro-7", agent)


_GRANT = ("gr_a", "agt_b", "bistro-7", "res-1", "reservation", "email,name", 10, 20, None)


def test_grant_tag_is_truncated_hmac_sha256_under_its_own_key() -> None:
    root = secrets.token_bytes(32)
    derived = DerivedKeys.from_root(root)
    message = "gr_a\x1fagt_b\x1fbistro-7\x1f+res-1\x1f+reservation\x1femail,name\x1f10\x1f20\x1f-"
    expected = hmac.new(derived.grant_mac, message.encode(), hashlib.sha256).digest()[:16]
    assert derived.grant_tag(*_GRANT) == expected
    assert len(expected) == 16
    others = {derived.blind_index, derived.pairwise, derived.application}
    assert derived.grant_mac not in others
    assert DerivedKeys.from_root(root).grant_mac == derived.grant_mac  # stable
    assert DerivedKeys.from_root(secrets.token_bytes(32)).grant_tag(*_GRANT) != expected


@pytest.mark.parametrize("index", range(len(_GRANT)))
def test_every_value_of_a_grant_changes_its_tag(index: int) -> None:
    derived = DerivedKeys.from_root(secrets.token_bytes(32))
    changed = list(_GRANT)
    changed[index] = {None: 30, 10: 11, 20: None}.get(changed[index], f"{changed[index]}x")  # type: ignore[call-overload]
    assert derived.grant_tag(*changed) != derived.grant_tag(*_GRANT)


def test_a_missing_value_is_no_text_value() -> None:
    # None is "-", a text "+text": no text stands for a missing event or event type
    derived = DerivedKeys.from_root(secrets.token_bytes(32))
    base = derived.grant_tag("g", "a", "h", None, None, "name", 1, None, None)
    for event_id in ("", "-", "+", "None"):
        assert derived.grant_tag("g", "a", "h", event_id, None, "name", 1, None, None) != base
        assert derived.grant_tag("g", "a", "h", None, event_id, "name", 1, None, None) != base
