"""The audit trail as the SDK exposes it: reading, verifying, checkpoints and proofs."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
from collections.abc import Callable, Iterator

from cryptography.hazmat.primitives import serialization

from dualid._checks import check_callback, check_count, check_seq, check_text
from dualid._micros import to_us
from dualid._runtime import Runtime
from dualid.errors import CorruptRow, DualIdError, InvalidCheckpoint, InvalidInput
from dualid.store import _audit as store

from ._chain import AuditProblem, AuditRecord, AuditReport, iter_records, verify_chain
from ._checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    public_key_pem,
    verifier_key,
)
from ._state import StateCheck, StateSummary, collector_paused
from ._tree import build_checkpoint, prove_consistency, prove_inclusion, stored_ranges
from ._witness import CheckpointWitness

__all__ = ["AuditLog", "CheckpointSchedule", "state_report"]

log = logging.getLogger("dualid.audit")
_JOIN_SECONDS = 10.0
_MAX_BATCH = 1_000_000


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
        raw = rt.derived.audit_signing.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.origin = "dualid/" + hashlib.sha256(raw).hexdigest()[:16]
        """The checkpoints' origin line: names this log (derived from its public key)."""

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
        """The PEM of the Ed25519 key that signs this log's checkpoints (derived from the
        store's root secret; every instance on the store signs with it)."""
        return public_key_pem(self._rt.derived.audit_signing.public_key())

    def verifier_key(self) -> str:
        """The same key as a C2SP signed-note verifier key (``origin+keyhash+key``)."""
        return verifier_key(self.origin, self._rt.derived.audit_signing.public_key())

    def checkpoint(self, *, witness: bool = True) -> Checkpoint:
        """Sign a checkpoint of the log as it stands, keep it in the database and (unless
        ``witness=False``) hand it to the witness the SDK was opened with. Hashes only the
        entries written since the last stored checkpoint. A witness that fails raises
        :class:`~dualid.audit.WitnessUnavailable` after the checkpoint was stored."""
        key = self._rt.derived.audit_signing
        with self._rt.store.read() as conn:
            store.begin_snapshot(conn)
            reading = self._rt.clock.now()
            checkpoint, ranges, tiles = build_checkpoint(conn, key, self.origin, reading)
        with self._rt.store.write() as conn:
            store.insert_checkpoint(
                conn, checkpoint.size, str(checkpoint), ranges, to_us(reading.time)
            )
            store.insert_tiles(conn, tiles)
        if witness and self.witness is not None:
            self.witness.witness(checkpoint)
        return checkpoint

    def latest_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint kept in the database that is validly signed by this log."""
        with self._rt.store.read() as conn:
            found = stored_ranges(conn, self._rt.derived.audit_signing, self.origin)
        return None if found is None else found[0]

    def _own(self, checkpoint: Checkpoint | str | bytes) -> Checkpoint:
        if not isinstance(checkpoint, Checkpoint):
            checkpoint = Checkpoint.parse(checkpoint)
        if checkpoint.origin != self.origin or not checkpoint.verify_signature(
            self._rt.derived.audit_signing.public_key()
        ):
            raise InvalidCheckpoint("the checkpoint is not signed by this log's key")
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
                    kept = stored_ranges(conn, self._rt.derived.audit_signing, self.origin)
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
