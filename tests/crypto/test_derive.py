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
