"""The tamper-evident audit trail: partitioned hash chains, signed checkpoints kept by
witnesses, and Merkle proofs anyone can check without the database."""

from ._chain import (
    GENESIS,
    AuditProblem,
    AuditRecord,
    AuditReport,
    append,
    append_many,
    iter_records,
    verify_chain,
)
from ._checkpoint import (
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    PartitionHead,
    verify_consistency,
    verify_inclusion,
)
from ._service import AuditLog, CheckpointSchedule
from ._witness import CheckpointWitness, FileWitness, HttpWitness, WitnessUnavailable

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditProblem",
    "AuditRecord",
    "AuditReport",
    "Checkpoint",
    "CheckpointSchedule",
    "CheckpointWitness",
    "ConsistencyProof",
    "FileWitness",
    "HttpWitness",
    "InclusionProof",
    "PartitionHead",
    "WitnessUnavailable",
    "append",
    "append_many",
    "iter_records",
    "verify_chain",
    "verify_consistency",
    "verify_inclusion",
]
