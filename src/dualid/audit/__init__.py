"""The tamper-evident audit trail."""

from ._chain import (
    GENESIS,
    AuditRecord,
    AuditReport,
    append,
    append_many,
    iter_records,
    verify_chain,
)
from ._service import AuditLog

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditRecord",
    "AuditReport",
    "append",
    "append_many",
    "iter_records",
    "verify_chain",
]
