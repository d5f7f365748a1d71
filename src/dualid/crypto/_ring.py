"""The configured key provider as the SDK uses it: batch calls for every provider, checked
key ids, and the in-process cache of unwrapped data keys. No I/O of its own.

The cache follows the AWS Encryption SDK's hierarchical keyring: bounded in entries and
in age, in memory only, never serialised. What makes it safe is where it is consulted:
either with a ``dualid_agent_key`` row the caller has just read from the store, an entry
answering only for exactly that row (agent, data-key version, master-key id and wrapped
bytes), or, on the host view's hot path, with the rows to decrypt themselves (shared
copies read in one snapshot, each naming its agent and data-key version; an entry
answers for exactly that agent and version). Erasure deletes the key row together with
every row the key could open, in one transaction
(:func:`dualid.store._agents.erase_agent`), so after it commits no read finds a key row to
look up or a row to decrypt, in this process or any other; revocation deletes the host
copies it withdraws in its own transaction, and host reads apply the consent rule (P2) to
the grants of their snapshot whatever keys are cached. A re-wrapped key (rotation) has
other bytes and misses a row-exact lookup; it is still the same data key. Erasure in this
process also drops the entry (:meth:`KeyRing.forget`), so the key material itself does
not linger.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from dualid._checks import unstorable
from dualid.errors import ConfigurationError

from ._dek import DataKey, dek_aad
from ._keys import MAX_KEY_ID_LENGTH, BaseKeyProvider, KeyProvider, batching

__all__ = [
    "DEFAULT_DEK_CACHE_MAX_AGE",
    "DEFAULT_DEK_CACHE_SIZE",
    "DekCache",
    "KeyRing",
    "KeyRow",
]

DEFAULT_DEK_CACHE_SIZE = 10_000
DEFAULT_DEK_CACHE_MAX_AGE = 300.0  # seconds

# (agent_id, master_key_id, dek_version, wrapped): a dualid_agent_key row.
KeyRow = tuple[str, str, int, bytes]
_Entry = tuple[str, int, bytes, DataKey, datetime]


class DekCache:
    """Unwrapped data keys by agent: at most ``size`` entries, each served for at most
    ``max_age`` after it was unwrapped (by the SDK's clock), oldest dropped first.
    ``size=0`` turns it off. Thread-safe."""

    def __init__(self, size: int, max_age: timedelta, now: Callable[[], datetime]) -> None:
        self.size = size
        self.max_age = max_age
        self._now = now
        # Insertion order is age order: the first entry is the oldest.
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def _expire(self, now: datetime) -> None:
        entries = self._entries
        oldest = now - self.max_age
        while entries:
            agent_id = next(iter(entries))
            born = entries[agent_id][4]
            # A clock that went back makes every entry suspect: drop rather than keep.
            if oldest < born <= now:
                break
            del entries[agent_id]

    def take(
        self, rows: Sequence[KeyRow], now: datetime | None = None
    ) -> tuple[dict[str, DataKey], list[KeyRow]]:
        """The cached keys of ``rows`` (exactly those rows: same master key id, version and
        wrapped bytes) and the rows not cached. ``now``: the SDK clock's time, when the
        caller has just read it (a write's reading), instead of reading it again."""
        if not self.size:
            return {}, list(rows)
        hits: dict[str, DataKey] = {}
        misses: list[KeyRow] = []
        with self._lock:
            self._expire(self._now() if now is None else now)
            entries = self._entries
            for row in rows:
                agent_id, key_id, version, wrapped = row
                entry = entries.get(agent_id)
                if (
                    entry is not None
                    and entry[0] == key_id
                    and entry[1] == version
                    and entry[2] == wrapped
                ):
                    hits[agent_id] = entry[3]
                else:
                    misses.append(row)
        return hits, misses

    def take_versions(
        self, wanted: Mapping[str, int | None]
    ) -> tuple[dict[str, DataKey], list[str]]:
        """The cached keys of ``{agent_id: data-key version}`` (an entry of that agent at
        that version) and the agents not cached, for a reader that decrypts rows naming
        the version themselves (the host view's copies, read in one snapshot): such a row
        exists only while the key does, since erasure deletes both in one transaction, and
        a version names one key for ever (agentIds are random and never reused)."""
        if not self.size:
            return {}, list(wanted)
        hits: dict[str, DataKey] = {}
        misses: list[str] = []
        with self._lock:
            self._expire(self._now())
            entries = self._entries
            for agent_id, version in wanted.items():
                entry = entries.get(agent_id)
                if entry is not None and entry[1] == version:
                    hits[agent_id] = entry[3]
                else:
                    misses.append(agent_id)
        return hits, misses

    def put(self, items: Sequence[tuple[KeyRow, DataKey]]) -> None:
        if not self.size or not items:
            return
        with self._lock:
            now = self._now()
            self._expire(now)
            entries = self._entries
            for (agent_id, key_id, version, wrapped), dek in items[-self.size :]:
                entries.pop(agent_id, None)  # re-inserted at the end: youngest
                entries[agent_id] = (key_id, version, bytes(wrapped), dek, now)
            while len(entries) > self.size:
                del entries[next(iter(entries))]

    def forget(self, agent_id: str) -> None:
        with self._lock:
            self._entries.pop(agent_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _checked_id(key_id: object) -> str:
    if (
        not isinstance(key_id, str)
        or not 1 <= len(key_id) <= MAX_KEY_ID_LENGTH
        or not key_id.isascii()
        or unstorable(key_id)
    ):
        raise ConfigurationError(
            f"the key provider gave a key id that is not 1 to {MAX_KEY_ID_LENGTH} ASCII "
            "characters (docs/keys.md)"
        )
    return key_id


def _checked_wrap(result: object) -> tuple[str, bytes]:
    if not isinstance(result, tuple) or len(result) != 2:
        raise ConfigurationError("the key provider's wrap did not return (key_id, blob)")
    key_id, blob = result
    if not isinstance(blob, bytes | bytearray | memoryview):
        raise ConfigurationError("the key provider's wrap did not return bytes")
    return _checked_id(key_id), bytes(blob)


class KeyRing(BaseKeyProvider):
    """What the services hold as ``Runtime.provider``: the configured provider with the
    batch members (:func:`~dualid.crypto._keys.batching`), its key ids checked, and the
    data keys of the agents it unwrapped or created cached in a :class:`DekCache`."""

    def __init__(self, provider: KeyProvider, cache: DekCache | None = None) -> None:
        self.provider = provider
        self._inner = batching(provider)
        self.cache = cache if cache is not None else DekCache(0, timedelta(0), _never)

    # -- the provider, checked ------------------------------------------------------------
    @property
    def primary_id(self) -> str:
        return _checked_id(self._inner.primary_id)

    def key_ids(self) -> Sequence[str]:
        return tuple(self._inner.key_ids())

    def canonical_id(self, key_id: str) -> str:
        return self._inner.canonical_id(key_id)

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        return _checked_wrap(self._inner.wrap(plaintext, aad))

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        return bytes(self._inner.unwrap(key_id, bytes(blob), aad))

    def wrap_many(self, items: Sequence[tuple[bytes, bytes]]) -> list[tuple[str, bytes]]:
        if not items:
            return []
        out = [_checked_wrap(r) for r in self._inner.wrap_many(items)]
        if len(out) != len(items):
            raise ConfigurationError("the key provider's wrap_many lost or added items")
        return out

    def unwrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[bytes]:
        if not items:
            return []
        out = [bytes(raw) for raw in self._inner.unwrap_many(items)]
        if len(out) != len(items):
            raise ConfigurationError("the key provider's unwrap_many lost or added items")
        return out

    # -- data keys -------------------------------------------------------------------------
    def new_deks(self, agent_ids: Sequence[str]) -> list[tuple[DataKey, str, bytes]]:
        """Fresh data keys (version 1) for new agents, wrapped in one batch: each key and
        the master key id and blob that store it. They go into the cache (the next write
        of a new person needs no unwrap); one whose transaction rolls back is never looked
        up, since no stored row has its bytes."""
        raws = [secrets.token_bytes(32) for _ in agent_ids]
        wrapped = self.wrap_many(
            [(raw, dek_aad(a, 1)) for raw, a in zip(raws, agent_ids, strict=True)]
        )
        out: list[tuple[DataKey, str, bytes]] = []
        cached: list[tuple[KeyRow, DataKey]] = []
        for agent_id, raw, (key_id, blob) in zip(agent_ids, raws, wrapped, strict=True):
            dek = DataKey(AESGCM(raw), 1)
            out.append((dek, key_id, blob))
            cached.append(((agent_id, key_id, 1, blob), dek))
        self.cache.put(cached)
        return out

    def deks(self, rows: Sequence[KeyRow], now: datetime | None = None) -> dict[str, DataKey]:
        """The data keys of key rows just read from the store, from the cache where it has
        exactly that row, the rest unwrapped in one :meth:`unwrap_many` (``now``: see
        :meth:`DekCache.take`)."""
        found, missing = self.cache.take(rows, now)
        if missing:
            raws = self.unwrap_many([(k, bytes(w), dek_aad(a, v)) for a, k, v, w in missing])
            opened = [
                (row, DataKey(AESGCM(raw), row[2])) for row, raw in zip(missing, raws, strict=True)
            ]
            self.cache.put(opened)
            found.update((row[0], dek) for row, dek in opened)
        return found

    def rewrap_many(self, items: Sequence[tuple[str, bytes, bytes]]) -> list[tuple[str, bytes]]:
        """Unwrap ``(key_id, blob, aad)`` triples and wrap them again under the primary
        master key: two batch calls."""
        raws = self.unwrap_many(items)
        return self.wrap_many([(raw, aad) for raw, (_, _, aad) in zip(raws, items, strict=True)])

    def forget(self, agent_id: str) -> None:
        """Drop the agent's cached data key (after its erasure)."""
        self.cache.forget(agent_id)

    def __repr__(self) -> str:
        return f"KeyRing({self.provider!r})"


def _never() -> datetime:  # the clock of a cache that is off: never read
    raise AssertionError("a DekCache of size 0 reads no clock")
