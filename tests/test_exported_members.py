"""The public API is exactly ``dualid.__all__``: adding or removing a name is a decision."""

from __future__ import annotations

import dualid

EXPECTED = [
    "AttendeePage",
    "AuditRecord",
    "AuditReport",
    "BaseKeyProvider",
    "ClockReading",
    "ClockStatus",
    "ConsentRequired",
    "DataField",
    "DecryptionFailed",
    "DualId",
    "DualIdError",
    "ErasureReport",
    "Event",
    "EventType",
    "EventTypeMismatch",
    "EventUserData",
    "Explanation",
    "FieldNotRequested",
    "Grant",
    "GrantState",
    "Host",
    "HostAttendee",
    "HostKind",
    "InvalidInput",
    "KeyProvider",
    "KeyStatus",
    "Keys",
    "LocalKeyProvider",
    "NotFound",
    "Registration",
    "Requirement",
    "RotationReport",
    "SharedItem",
    "__version__",
    "generate_master_key",
]


def test_all_is_locked() -> None:
    assert dualid.__all__ == EXPECTED


def test_all_is_sorted() -> None:
    assert dualid.__all__ == sorted(dualid.__all__)


def test_every_exported_name_exists() -> None:
    for name in dualid.__all__:
        assert hasattr(dualid, name), name


def test_public_classes_claim_the_public_module() -> None:
    # Objects are defined in private or sub-modules but all live under the dualid package.
    for name in dualid.__all__:
        member = getattr(dualid, name)
        module = getattr(member, "__module__", "dualid")
        assert module.startswith("dualid"), (name, module)
