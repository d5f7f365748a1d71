"""Keys derived from the store's root secret: blind index, pairwise refs, receipt signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["DerivedKeys"]


def _hkdf(root: bytes, info: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info.encode()).derive(root)


@dataclass(frozen=True)
class DerivedKeys:
    """Separate keys for separate purposes, all derived (HKDF-SHA256) from one random root
    secret kept wrapped by the master key in the store. Rotating the master key re-wraps the
    root; the derived keys, and so blind indexes and pairwise refs, stay stable."""

    blind_index: bytes
    pairwise: bytes
    signing: Ed25519PrivateKey
    # The blind-index HMAC with its key already absorbed: copying it is cheaper than keying
    # a new one for every userId (bulk lookups hash tens of thousands).
    _index_base: hmac.HMAC = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index_base", hmac.new(self.blind_index, None, hashlib.sha256))

    @classmethod
    def from_root(cls, root: bytes) -> DerivedKeys:
        return cls(
            blind_index=_hkdf(root, "dualid/blind-index/v1"),
            pairwise=_hkdf(root, "dualid/pairwise-ref/v1"),
            signing=Ed25519PrivateKey.from_private_bytes(_hkdf(root, "dualid/receipt-sign/v1")),
        )

    def user_index(self, user_id: str) -> bytes:
        """Keyed blind index of a userId (HMAC-SHA256): equality lookups without storing
        the userId or a plain, guessable hash of it (P3)."""
        h = self._index_base.copy()
        h.update(user_id.encode())
        return h.digest()

    def pairwise_refs(self, host_id: str) -> Callable[[str], str]:
        """``pairwise_ref`` for one host, many agents: the keyed HMAC state is set up once
        and copied per agent (a host's attendee list computes thousands)."""
        base = hmac.new(self.pairwise, f"{host_id}\x1f".encode(), hashlib.sha256)
        encode = base64.urlsafe_b64encode

        def ref(agent_id: str) -> str:
            h = base.copy()
            h.update(agent_id.encode())
            return "ref_" + encode(h.digest()[:18]).decode()

        return ref

    def pairwise_ref(self, host_id: str, agent_id: str) -> str:
        """The pseudonym a host sees for a person (P5): stable at one host, different at
        every other, not reversible without the key."""
        msg = f"{host_id}\x1f{agent_id}".encode()
        digest = hmac.new(self.pairwise, msg, hashlib.sha256).digest()[:18]
        return "ref_" + base64.urlsafe_b64encode(digest).decode()

    def __repr__(self) -> str:
        return "DerivedKeys(<hidden>)"
