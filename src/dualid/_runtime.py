"""What every service shares: the store, the clock, the keys. Internal."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from dualid._keyring import Keyring
from dualid.clock import Clock, ClockReading
from dualid.crypto import DerivedKeys
from dualid.crypto._ring import KeyRing
from dualid.store import Store
from dualid.store._sql import Conn

__all__ = ["Runtime", "Tx", "new_id"]


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_B32_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]  # ten bits, two characters


def new_id(prefix: str) -> str:
    """An opaque random id: ``prefix_`` + 26 base32 characters (128 bits).

    The characters are lowercase RFC 4648 base32 of the 16 random bytes without padding,
    as ``base64.b32encode`` gives them (the 128 bits and two zero bits, five bits a
    character), two characters per table lookup: bulk onboarding makes thousands."""
    n = int.from_bytes(secrets.token_bytes(16), "big") << 2
    pairs = _B32_PAIRS
    return prefix + "_" + "".join([pairs[(n >> shift) & 1023] for shift in range(120, -1, -10)])


@dataclass(frozen=True, slots=True)
class Tx:
    """A transaction and the clock reading that stamps everything it writes."""

    conn: Conn
    now: ClockReading


@dataclass
class Runtime:
    store: Store
    clock: Clock
    # The configured provider with batch calls and the data-key cache (crypto._ring).
    provider: KeyRing
    derived: DerivedKeys
    # Called after every committed write (the audit checkpoint schedule counts them).
    after_write: list[Callable[[], None]] = field(default_factory=list)
    # The derived keys by generation: blind-index and signing keys that rotate.
    keyring: Keyring = field(init=False)

    def __post_init__(self) -> None:
        self.keyring = Keyring(self.derived, self.provider)

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.store.write() as conn:
            yield Tx(conn, self.clock.now())
        for hook in self.after_write:
            hook()

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.store.read() as conn:
            yield Tx(conn, self.clock.now())
