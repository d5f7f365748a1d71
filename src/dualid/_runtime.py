"""What every service shares: the store, the clock, the keys. Internal."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection

from dualid.clock import Clock, ClockReading
from dualid.crypto import DerivedKeys, KeyProvider
from dualid.store import Store
from dualid.store._fast import RawConnection

__all__ = ["FastTx", "Runtime", "Tx", "new_id"]


def new_id(prefix: str) -> str:
    """An opaque random id: ``prefix_`` + 26 base32 characters (128 bits)."""
    return prefix + "_" + base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=")


@dataclass(frozen=True)
class Tx:
    """A transaction and the clock reading that stamps everything it writes."""

    conn: Connection
    now: ClockReading


@dataclass(frozen=True)
class FastTx:
    """A :class:`Tx` on a bare DBAPI connection (see :meth:`Runtime.write_fast`)."""

    conn: RawConnection
    now: ClockReading


@dataclass
class Runtime:
    store: Store
    clock: Clock
    provider: KeyProvider
    derived: DerivedKeys

    @contextmanager
    def write(self) -> Iterator[Tx]:
        with self.store.write() as conn:
            yield Tx(conn, self.clock.now())

    @contextmanager
    def write_fast(self) -> Iterator[FastTx]:
        """A write transaction for code that only runs :mod:`dualid.store._fast`
        statements (the per-request hot paths)."""
        with self.store.write_raw() as conn:
            yield FastTx(conn, self.clock.now())

    @contextmanager
    def read(self) -> Iterator[Tx]:
        with self.store.read() as conn:
            yield Tx(conn, self.clock.now())
