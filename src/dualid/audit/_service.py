"""The audit trail as the SDK exposes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from dualid._runtime import Runtime

from ._chain import AuditRecord, AuditReport, iter_records, verify_chain

__all__ = ["AuditLog"]


class AuditLog:
    """Read and verify the hash-chained audit trail.

    >>> sdk.audit.verify().ok        # doctest: +SKIP
    True
    """

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def verify(
        self, *, batch: int = 5000, progress: Callable[[int, int], None] | None = None
    ) -> AuditReport:
        """Walk the whole chain; ``first_bad`` names the first entry that breaks it.
        ``progress(done, total)`` is called after every batch of ``batch`` entries."""
        with self._rt.store.read() as conn:
            return verify_chain(conn, batch=batch, progress=progress)

    def entries(
        self, *, subject: str | None = None, after: int = 0, limit: int | None = None
    ) -> list[AuditRecord]:
        with self._rt.store.read() as conn:
            return list(iter_records(conn, subject=subject, after=after, limit=limit))

    def iter(self, *, batch: int = 5000) -> Iterator[AuditRecord]:
        """Every entry in order, read in batches."""
        after = 0
        while True:
            page = self.entries(after=after, limit=batch)
            if not page:
                return
            yield from page
            after = page[-1].seq
