"""The audit trail as the SDK exposes it: reading, verifying, checkpoints and proofs."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from functools import partial

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dualid._checks import check_callback, check_count, check_seq, check_text
from dualid._micros import to_us
from dualid._runtime import Runtime
from dualid.crypto import SigningKey
from dualid.crypto._generations import AUDIT_SIGNING
from dualid.errors import (
    CorruptRow,
    DualIdError,
    InvalidCheckpoint,
    InvalidInput,
    StoreUnavailable,
)
from dualid.store import _audit as store
from dualid.store._sql import Conn

from ._chain import AuditProblem, AuditRecord, AuditReport, iter_records, verify_chain
from ._checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    key_id,
    log_origin,
    verifier_key,
)
from ._state import StateCheck, StateSummary, collector_paused
from ._tree import build_checkpoint, prove_consistency, prove_inclusion, stored_ranges
from ._witness import CheckpointWitness

__all__ = ["AuditLog", "CheckpointSchedule", "state_report"]

log = logging.getLogger("dualid.audit")
_JOIN_SECONDS = 10.0
_MAX_BATCH = 1_000_000
# Signing a checkpoint again because the key rotated meanwhile (rotations are rare).
_SIGNING_TRIES = 3


class AuditLog:
    """Read, verify and prove the audit trail.

    >>> sdk.audit.verify().ok        # doctest: +SKIP
    True
    >>> cp = sdk.audit.checkpoint()  # doctest: +SKIP
    >>> sdk.audit.verify(checkpoint=cp).ok   # later: nothing was rewound  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        rt: Runtime,
        witness: CheckpointWitness | None = None,
        *,
        state_check: StateCheck | None = None,
    ) -> None:
        self._rt = rt
        self.witness = witness
        # verify(deep=True)'s replay of consent (dualid.consent._replay.check_state,
        # given by DualId: the log itself knows nothing of consent).
        self._state_check = state_check
        self.origin = log_origin(rt.derived.audit_signing.public_key())
        """The checkpoints' origin line: names this log (derived from its first public
        key, so it stays when the signing key rotates)."""

    # -- reading ------------------------------------------------------------------------
    def entries(
        self, *, subject: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[AuditRecord]:
        """The entries after sequence number ``after`` (of one ``subject``), oldest first,
        at most ``limit``. ``after`` is 0 to 2**63 - 1, ``limit`` None or at least 1."""
        if subject is not None:
            if not isinstance(subject, str):
                raise InvalidInput("subject must be an agentId or None", field="subject")
            check_text(subject, "subject")
        check_seq(after, "after")
        if limit is not None:
            check_count(limit, "limit")
        with self._rt.store.read() as conn:
            return list(iter_records(conn, subject=subject, after=after, limit=limit))

    def iter(self, *, batch: int = 5000) -> Iterator[AuditRecord]:
        """Every entry in order, read in batches."""
        check_count(batch, "batch", maximum=_MAX_BATCH)
        after = 0
        while True:
            page = self.entries(after=after, limit=batch)
            if not page:
                return
            yield from page
            after = page[-1].seq

    # -- checkpoints --------------------------------------------------------------------
    def public_key(self) -> str:
        """The PEM of the Ed25519 key that signs this log's checkpoints now (generation 1
        is derived from the store's root secret; after ``sdk.keys.rotate_signing()``, a
        random key of its own; every instance on the store signs with the same one)."""
        return self.public_keys()[0].public_key_pem

    def verifier_key(self) -> str:
        """The same key as a C2SP signed-note verifier key (``origin+keyhash+key``)."""
        return verifier_key(self.origin, self.public_keys()[0].public_key())

    def verifier_keys(self) -> list[str]:
        """Every checkpoint key, current first, as C2SP signed-note verifier keys (the
        key hash in each differs, so a note names the key that signed it).

        .. versionadded:: 0.2.0
        """
        return [verifier_key(self.origin, k.public_key()) for k in self.public_keys()]

    def public_keys(self) -> list[SigningKey]:
        """Every key that has signed this log's checkpoints, the current one first, with
        when each was retired: a checkpoint verifies under a retired key only when its
        ``time`` line is not provably after that key's retirement.

        .. versionadded:: 0.2.0
        """
        with self._rt.store.read() as conn:
            return self._keys(conn)

    def _keys(self, conn: Conn) -> list[SigningKey]:
        return self._rt.keyring.signing_keys(conn, AUDIT_SIGNING, self._key_hex)

    def _key_hex(self, public: Ed25519PublicKey) -> str:
        return key_id(self.origin, public).hex()

    def checkpoint(self, *, witness: bool = True) -> Checkpoint:
        """Sign a checkpoint of the log as it stands, keep it in the database and (unless
        ``witness=False``) hand it to the witness the SDK was opened with. Hashes only the
        entries written since the last stored checkpoint. A witness that fails raises
        :class:`~dualid.audit.WitnessUnavailable` after the checkpoint was stored."""
        ring = self._rt.keyring
        for _ in range(_SIGNING_TRIES):
            with self._rt.store.read() as conn:
                store.begin_snapshot(conn)
                signer = ring.signer(conn, AUDIT_SIGNING)
                accepts = partial(_accepts, self._keys(conn))
                reading = self._rt.clock.now()
                checkpoint, ranges, tiles = build_checkpoint(
                    conn, signer.key, self.origin, reading, accepts
                )
            with self._rt.store.write() as conn:
                # Stored only while its key is still the active one, read under the lock a
                # rotation waits for: no checkpoint signed by a key is kept after the key
                # was retired (docs/keys.md). Else sign again with the new one.
                if ring.signer(conn, AUDIT_SIGNING, lock=True).generation != signer.generation:
                    continue
                store.insert_checkpoint(
                    conn, checkpoint.size, str(checkpoint), ranges, to_us(reading.time)
                )
                store.insert_tiles(conn, tiles)
            break
        else:
            raise StoreUnavailable("the checkpoint key rotated while signing; try again")
        if witness and self.witness is not None:
            self.witness.witness(checkpoint)
        return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint kept in the database that is validly signed by this log."""
        with self._rt.store.read() as conn:
            found = stored_ranges(conn, partial(_accepts, self._keys(conn)), self.origin)
        return None if found is None else found[0]

    def _own(self, checkpoint: Checkpoint | str | bytes) -> Checkpoint:
        if not isinstance(checkpoint, Checkpoint):
            checkpoint = Checkpoint.parse(checkpoint)
        if checkpoint.origin != self.origin:
            raise InvalidCheckpoint("the checkpoint is not signed by this log's key")
        signer = _signer_of(checkpoint, self.public_keys())
        if signer is None:
            raise InvalidCheckpoint("the checkpoint is not signed by this log's key")
        if not signer.covers(checkpoint.time - checkpoint.uncertainty):
            raise InvalidCheckpoint(
                f"the checkpoint is signed by key generation {signer.generation} at a time "
                "after that key was retired"
            )
        return checkpoint

    # -- verification -------------------------------------------------------------------
    def verify(
        self,
        *,
        batch: int = 5000,
        progress: Callable[[int, int], None] | None = None,
        checkpoint: Checkpoint | str | bytes | None = None,
        deep: bool = False,
    ) -> AuditReport:
        """Walk every partition's chain; ``first_bad`` names the first entry that breaks
        it. ``progress(done, total)`` is called after every batch of ``batch`` entries.

        ``deep=True``: once the chains are whole, also replay the log and check that the
        consent tables agree with it (every grant, revocation, expiry, registration and
        shared value as logged; ``docs/privacy.md``), all in one snapshot. A row that
        disagrees is ``problem=STATE_MISMATCH`` with ``table`` and ``row_id`` (never a
        value) and ``reason`` saying which columns.

        With ``checkpoint`` (a :class:`Checkpoint` or its text, say a witness's latest),
        also check that the log still holds exactly what it committed to: a log truncated
        or rewound since is ``problem=TRUNCATED``, one whose past was rewritten
        ``FORKED``. Without, the newest checkpoint kept in the database is used when there
        is one (a witness's copy is the one a database writer cannot rewrite).

        .. versionchanged:: 0.2.0 ``checkpoint``, ``deep``; partitions;
           ``AuditReport.problem``.
        """
        if not isinstance(deep, bool):
            raise InvalidInput("deep must be True or False")
        check_count(batch, "batch", maximum=_MAX_BATCH)
        check_callback(progress, "progress")
        if deep and self._state_check is None:
            raise InvalidInput("this AuditLog has no consent replay (use DualId.audit)")
        against = self._own(checkpoint) if checkpoint is not None else None
        with self._rt.store.read() as conn:
            if deep:
                # One snapshot for the chains and the tables (the first statement).
                store.begin_snapshot(conn)
            if against is None:
                try:
                    found = store.latest_checkpoint(conn)
                except CorruptRow:  # unreadable, so not one this log signed (below)
                    found = (0, "", "")
                if found is not None:
                    try:
                        accepts = partial(_accepts, self._keys(conn))
                    except CorruptRow:  # no key to check it with: not one this log signed
                        accepts = partial(_accepts, [])
                    kept = stored_ranges(conn, accepts, self.origin)
                    if kept is None:
                        return AuditReport(
                            False,
                            0,
                            reason="a stored checkpoint is not one this log signed",
                            problem=AuditProblem.TAMPERED,
                        )
                    against = kept[0]
            if not deep:
                return verify_chain(conn, batch=batch, progress=progress, checkpoint=against)
            assert self._state_check is not None
            replay = self._state_check()
            with collector_paused():
                report = verify_chain(
                    conn, batch=batch, progress=progress, checkpoint=against, visit=replay.visit
                )
                if not report.ok:
                    return report
                return state_report(report, replay.finish(conn, batch))

    # -- proofs -------------------------------------------------------------------------
    def prove(self, seq: int, checkpoint: Checkpoint | str | bytes) -> InclusionProof:
        """The proof that entry ``seq`` is in the log ``checkpoint`` commits to; check it
        with :func:`dualid.audit.verify_inclusion` (no database needed)."""
        own = self._own(checkpoint)
        with self._rt.store.read() as conn:
            return prove_inclusion(conn, seq, own)

    def prove_consistency(
        self, old: Checkpoint | str | bytes, new: Checkpoint | str | bytes
    ) -> ConsistencyProof:
        """The proof that the log ``old`` signed is a prefix of the log ``new`` signed;
        check it with :func:`dualid.audit.verify_consistency`."""
        before, after = self._own(old), self._own(new)
        with self._rt.store.read() as conn:
            return prove_consistency(conn, before, after)


def _signer_of(checkpoint: Checkpoint, keys: Sequence[SigningKey]) -> SigningKey | None:
    """The key of ``keys`` whose signature on ``checkpoint`` verifies."""
    return next((k for k in keys if checkpoint.verify_signature(k.public_key())), None)


def _accepts(keys: Sequence[SigningKey], checkpoint: Checkpoint) -> bool:
    """Signed by one of ``keys`` while it was in use (not provably after its retirement)."""
    signer = _signer_of(checkpoint, keys)
    return signer is not None and signer.covers(checkpoint.time - checkpoint.uncertainty)


def state_report(chain: AuditReport, state: StateSummary) -> AuditReport:
    """``chain`` (a whole log's report) with the outcome of its consent replay."""
    if state.ok:
        return chain
    first = state.mismatches[0]
    more = state.disagreeing - 1
    reason = f"{first.table} row {first.row_id}: {first.reason}"
    if first.seq is not None:
        reason += f" (entry {first.seq})"
    if more:
        reason += f"; {more} more row{'s' if more > 1 else ''} disagree"
    return dataclasses.replace(
        chain,
        ok=False,
        first_bad=first.seq if first.tampered else None,
        reason=reason,
        problem=AuditProblem.TAMPERED if first.tampered else AuditProblem.STATE_MISMATCH,
        table=first.table,
        row_id=first.row_id,
    )


class CheckpointSchedule:
    """Makes checkpoints on a daemon thread while entries are written: after every
    ``every`` writes, and at least every ``interval`` seconds while there are new entries;
    plus one on :meth:`stop` (``DualId.close``). A failure (a witness down) is logged by
    class and code and retried at the next tick; writes never wait on it."""

    def __init__(self, audit: AuditLog, *, every: int, interval: float) -> None:
        self._audit = audit
        self._every = every
        self._interval = interval
        self._writes = 0
        self._pending = threading.Event()
        self._stopping = threading.Event()
        self._last_size = -1
        self._thread = threading.Thread(target=self._run, name="dualid-checkpoints", daemon=True)
        self._thread.start()

    def note_write(self) -> None:
        self._writes += 1  # a lost increment under threads only delays a checkpoint
        if self._writes >= self._every:
            self._writes = 0
            self._pending.set()

    def _tick(self) -> None:
        try:
            with self._audit._rt.store.read() as conn:
                size = sum(h[1] for h in store.heads(conn))
            if size != self._last_size:
                self._last_size = self._audit.checkpoint().size
        except DualIdError as exc:
            log.warning("scheduled audit checkpoint failed: %s [%s]", type(exc).__name__, exc.code)
        except Exception as exc:  # the schedule must survive anything one run raises
            log.error("scheduled audit checkpoint failed: %s", type(exc).__name__)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._pending.wait(self._interval)
            self._pending.clear()
            if self._stopping.is_set():
                return
            self._tick()

    def stop(self) -> None:
        self._stopping.set()
        self._pending.set()
        if self._thread is not threading.current_thread():
            self._thread.join(_JOIN_SECONDS)
        self._tick()
