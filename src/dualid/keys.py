"""Key management as the SDK exposes it: master-key rotation and status, and rotation
of the derived keys: the blind index's and the signing keys (``sdk.keys``).

.. versionadded:: 0.2.0
   ``Keys``, ``KeyStatus`` and ``RotationReport`` are public (``from dualid.keys import
   ...`` or ``from dualid import ...``); ``IndexKeyStatus``, ``IndexRotationReport`` and
   ``SigningKey`` (``from dualid.keys import ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dualid import audit
from dualid._checks import check_callback, check_count
from dualid._runtime import Runtime, Tx
from dualid._vault import key_usage, load_or_create_secret, rewrap_batch
from dualid.audit._checkpoint import key_id, log_origin
from dualid.crypto import SigningKey
from dualid.crypto._generations import (
    AUDIT_SIGNING,
    BLIND_INDEX,
    RECEIPT_SIGNING,
    IndexKeys,
    raw_public_key,
    receipt_key_id,
    secret_name,
    signing_key,
)
from dualid.crypto._ring import KeyRing
from dualid.errors import InvalidInput
from dualid.store import _agents, _keygens, _secrets
from dualid.store._keygens import RETIRED, RETIRING
from dualid.store._retry import retrying
from dualid.store._sql import Conn

__all__ = [
    "IndexKeyStatus",
    "IndexRotationReport",
    "KeyStatus",
    "Keys",
    "RotationReport",
    "SigningKey",
]

Reindex = Callable[[Conn, KeyRing, IndexKeys, int, int], int]
"""One batch of a blind-index rotation: ``(conn, provider, keys, old generation, limit)``
to the number of agents re-indexed (``dualid.identity._agents.reindex_agents``)."""


@dataclass(frozen=True)
class RotationReport:
    """What :meth:`Keys.rotate` did: keys re-wrapped, the primary they are under now, and
    how many are still under another master key (0 when rotation is complete)."""

    rewrapped: int
    primary_id: str
    remaining: int


@dataclass(frozen=True)
class IndexKeyStatus:
    """The blind-index key's state: the ``generation`` new agents are indexed under and,
    while a rotation runs, the one it replaces (``rotating_from``) and how many agents are
    still indexed under that (``remaining``)."""

    generation: int = 1
    rotating_from: int | None = None
    remaining: int = 0

    @property
    def rotating(self) -> bool:
        return self.rotating_from is not None


@dataclass(frozen=True)
class IndexRotationReport:
    """What :meth:`Keys.rotate_index` did: agents re-indexed by this call, the
    ``generation`` every agent is indexed under now, and the generation this call retired
    (None when there was nothing to do, or another process finished the rotation)."""

    reindexed: int
    generation: int
    retired: int | None


@dataclass(frozen=True)
class KeyStatus:
    """Which master keys still protect wrapped keys. A key id absent from ``in_use`` can
    be removed from the configuration. ``index``: the blind-index key's generation and
    rotation; ``signing``: every receipt and checkpoint signing key, current first per
    purpose."""

    primary_id: str
    configured: tuple[str, ...]
    in_use: dict[str, int]
    index: IndexKeyStatus = field(default_factory=IndexKeyStatus)
    signing: tuple[SigningKey, ...] = ()

    @property
    def removable(self) -> tuple[str, ...]:
        return tuple(k for k in self.configured if k not in self.in_use and k != self.primary_id)


class Keys:
    """Master-key rotation: put the new key first in ``DUALID_MASTER_KEY``, call
    :meth:`rotate`, check :meth:`status`, then drop the old key. Derived keys:
    :meth:`rotate_index` (the blind index of userIds), :meth:`rotate_signing` (receipts,
    checkpoints); see ``docs/keys.md``."""

    def __init__(self, rt: Runtime, *, reindex: Reindex | None = None) -> None:
        self._rt = rt
        self._reindex = reindex
        origin = log_origin(rt.derived.audit_signing.public_key())
        self._key_ids: dict[str, Callable[[Ed25519PublicKey], str]] = {
            RECEIPT_SIGNING: receipt_key_id,
            AUDIT_SIGNING: lambda public: key_id(origin, public).hex(),
        }

    def status(self) -> KeyStatus:
        """Configured key ids and how many wrapped keys each protects. Keys stored under
        an id the provider knows by another name (a :class:`~dualid.crypto.LocalKeyProvider`
        key named after the store was started with it unnamed) count for that name. Also
        the blind-index key's generation and rotation (``index``) and the signing keys
        (``signing``)."""
        ring = self._rt.provider
        usage: dict[str, int] = {}
        for stored_id, count in self._stored_usage().items():
            name = ring.canonical_id(stored_id)
            usage[name] = usage.get(name, 0) + count
        with self._rt.store.read() as conn:
            index = self._index_status(conn)
            signing = tuple(
                key
                for purpose, key_id in sorted(self._key_ids.items())
                for key in self._rt.keyring.signing_keys(conn, purpose, key_id)
            )
        return KeyStatus(ring.primary_id, tuple(ring.key_ids()), usage, index, signing)

    def _index_status(self, conn: Conn) -> IndexKeyStatus:
        live = self._rt.keyring.live(conn, BLIND_INDEX)
        if len(live) == 1:
            return IndexKeyStatus(live[0].generation)
        old = live[1].generation
        return IndexKeyStatus(live[0].generation, old, _agents.index_generations(conn).get(old, 0))

    def _stored_usage(self) -> dict[str, int]:
        """Wrapped keys per key id as stored (what :meth:`rotate` re-wraps)."""
        with self._rt.store.read() as conn:
            return key_usage(conn)

    @retrying
    def rotate(
        self, *, batch: int = 500, progress: Callable[[int, int], None] | None = None
    ) -> RotationReport:
        """Re-wrap every DEK and store secret under the primary master key, ``batch`` keys
        per transaction. Field ciphertexts are untouched. Interrupted, it resumes where it
        stopped (each batch commits on its own); run again, it does nothing."""
        check_count(batch, "batch")
        check_callback(progress, "progress")
        primary = self._rt.provider.primary_id
        total = sum(n for k, n in self._stored_usage().items() if k != primary)
        done = 0
        while True:
            with self._rt.write() as tx:
                count = rewrap_batch(tx.conn, self._rt.provider, batch)
                if count:
                    audit.append(
                        tx.conn,
                        tx.now,
                        "keys.rewrapped",
                        details={"count": count, "primary": primary},
                    )
            done += count
            if progress is not None:
                progress(done, total)
            if count == 0:
                break
        remaining = sum(n for k, n in self._stored_usage().items() if k != primary)
        return RotationReport(done, primary, remaining)

    # -- the blind index ------------------------------------------------------------------
    @retrying
    def rotate_index(
        self,
        *,
        to: int | None = None,
        batch: int = 500,
        progress: Callable[[int, int], None] | None = None,
    ) -> IndexRotationReport:
        """Re-compute every agent's blind index (the keyed HMAC its userId is looked up
        by) under a new blind-index key, ``batch`` agents per transaction, online: lookups
        find an agent under the old key or the new one until the last is re-indexed, and
        agents created meanwhile are indexed under the new one. Then the old key is
        retired (a later generation's secret is destroyed).

        Starts the next generation unless a rotation is running, which it resumes (each
        batch commits on its own: an interrupted call leaves nothing half done).
        ``to``: the generation to reach; when the store is there already, it does
        nothing, so a script can run it again safely. ``progress(done, total)`` after
        every batch.

        >>> sdk.keys.rotate_index(to=2).generation     # doctest: +SKIP
        2
        """
        if to is not None:
            check_count(to, "to", maximum=2**31 - 1)
        check_count(batch, "batch", maximum=50_000)
        check_callback(progress, "progress")
        if self._reindex is None:
            raise InvalidInput("this Keys has no blind-index rotation (use DualId.keys)")
        ring = self._rt.keyring
        with self._rt.write() as tx:
            live = ring.live(tx.conn, BLIND_INDEX, lock="update")
            current = live[0].generation
            if len(live) == 1 and to is not None and current >= to:
                ring.refresh_index(tx.conn)
                return IndexRotationReport(0, current, None)
            if len(live) == 1:
                self._start_index_rotation(tx, current, to)
            elif to is not None and current != to:
                raise InvalidInput(f"a rotation to generation {current} is running: finish it")
            keys = ring.lock_index(tx.conn)
            old = keys.previous
            assert old is not None
            total = _agents.index_generations(tx.conn).get(old, 0)
        done = 0
        while True:
            with self._rt.write() as tx:
                count = self._reindex(tx.conn, self._rt.provider, keys, old, batch)
                if count:
                    audit.append(
                        tx.conn,
                        tx.now,
                        "keys.index_rotated",
                        details={"count": count, "generation": keys.current},
                    )
                    retired = None
                else:
                    retired = self._finish_index_rotation(tx, keys.current, old)
            done += count
            if progress is not None:
                progress(done, total)
            if not count:
                return IndexRotationReport(done, keys.current, retired)

    def _start_index_rotation(self, tx: Tx, current: int, to: int | None) -> None:
        new = current + 1
        if to is not None and to != new:
            raise InvalidInput(
                f"the blind-index key is at generation {current}: the next one is {new}"
            )
        name = secret_name(BLIND_INDEX, new)
        load_or_create_secret(tx.conn, self._rt.provider, name, tx.now.time)
        _keygens.set_state(tx.conn, BLIND_INDEX, current, RETIRING)
        _keygens.insert_generation(
            tx.conn, BLIND_INDEX, new, secret=name, public_key=None, at=tx.now.time
        )
        audit.append(
            tx.conn,
            tx.now,
            "keys.index_rotation_started",
            details={"generation": new, "replaces": current},
        )

    def _finish_index_rotation(self, tx: Tx, new: int, old: int) -> int | None:
        """Retire ``old``, now that no agent is indexed under it and none can be (an agent
        is indexed under the active generation only); None when another process did."""
        live = self._rt.keyring.live(tx.conn, BLIND_INDEX, lock="update")
        if [g.generation for g in live] != [new, old]:
            self._rt.keyring.refresh_index(tx.conn)
            return None
        _keygens.set_state(tx.conn, BLIND_INDEX, old, RETIRED, retired_at=tx.now.latest)
        if live[1].secret is not None:
            _secrets.delete_secret(tx.conn, live[1].secret)
        audit.append(
            tx.conn,
            tx.now,
            "keys.index_rotation_finished",
            details={"generation": new, "retired": old},
        )
        self._rt.keyring.refresh_index(tx.conn)
        return old

    # -- signing keys ---------------------------------------------------------------------
    @retrying
    def rotate_signing(
        self, *, receipts: bool = True, checkpoints: bool = True
    ) -> tuple[SigningKey, ...]:
        """Replace the key that signs consent receipts (``receipts``) and the one that
        signs audit checkpoints (``checkpoints``) by new random ones, in one transaction.
        The old public keys are kept: receipts and checkpoints they signed before the
        rotation still verify (``consent.verify_receipt``, ``audit.verify(checkpoint=)``),
        and :meth:`~dualid.consent.Consent.receipt_public_keys`,
        :meth:`~dualid.audit.AuditLog.public_keys` and ``dualid audit public-key --all``
        list them. Something signed by a retired key at a time provably after its
        retirement does not verify. Returns the new keys.

        >>> [k.generation for k in sdk.keys.rotate_signing()]   # doctest: +SKIP
        [2, 2]
        """
        for name, value in (("receipts", receipts), ("checkpoints", checkpoints)):
            if not isinstance(value, bool):
                raise InvalidInput(f"{name} must be True or False", field=name)
        purposes = [
            p for p, on in ((RECEIPT_SIGNING, receipts), (AUDIT_SIGNING, checkpoints)) if on
        ]
        if not purposes:
            raise InvalidInput("nothing to rotate: receipts and checkpoints are both False")
        ring = self._rt.keyring
        with self._rt.write() as tx:
            conn = tx.conn
            for purpose in purposes:
                old = ring.live(conn, purpose, lock="update")[0]
                # Read after the lock: every receipt or checkpoint signed under the old key
                # committed before it (its issuer held the lock shared), so its own reading
                # is not provably later than this one (docs/keys.md).
                retired = self._rt.clock.now()
                new = old.generation + 1
                name = secret_name(purpose, new)
                key = signing_key(
                    load_or_create_secret(conn, self._rt.provider, name, tx.now.time), purpose, new
                )
                old_public = raw_public_key(ring.private_key(purpose, old).public_key())
                _keygens.set_state(
                    conn,
                    purpose,
                    old.generation,
                    RETIRED,
                    retired_at=retired.latest,
                    public_key=old_public,
                )
                _keygens.insert_generation(
                    conn,
                    purpose,
                    new,
                    secret=name,
                    public_key=raw_public_key(key.public_key()),
                    at=tx.now.time,
                )
                if old.secret is not None:
                    _secrets.delete_secret(conn, old.secret)
                audit.append(
                    conn,
                    tx.now,
                    "keys.signing_rotated",
                    details={"key": purpose, "generation": new, "retired": old.generation},
                )
            return tuple(
                ring.signing_keys(conn, purpose, self._key_ids[purpose])[0] for purpose in purposes
            )
