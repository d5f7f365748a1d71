"""dualid: privacy-preserving identity and consent for reservation and event platforms.

Every person is an opaque agentId inside the platform; hosts see only the personal data the
person chose to share with them, for as long as they allow it. See the README and ``docs/``.

>>> from dualid import DualId, EventUserData
>>> with DualId.open("sqlite://") as sdk:
...     agent_id = sdk.identity.agent_for("user-123")
...     sdk.profiles.put(agent_id, EventUserData(name="Ana"))
...     sdk.profiles.get(agent_id).name
'Ana'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dualid.audit import AuditRecord, AuditReport
    from dualid.clock import ClockReading, ClockStatus
    from dualid.consent import (
        AttendeePage,
        Event,
        Explanation,
        Grant,
        GrantState,
        Host,
        HostAttendee,
        Registration,
        Requirement,
        SharedItem,
    )
    from dualid.crypto import BaseKeyProvider, KeyProvider, LocalKeyProvider, generate_master_key
    from dualid.errors import (
        ConsentRequired,
        DecryptionFailed,
        DualIdError,
        EventTypeMismatch,
        FieldNotRequested,
        InvalidInput,
        NotFound,
    )
    from dualid.keys import Keys, KeyStatus, RotationReport
    from dualid.models import DataField, EventType, EventUserData, HostKind
    from dualid.sdk import DualId, ErasureReport

# Names load on first use (PEP 562): `import dualid` (and the pytest plugin, which every
# pytest run in an environment with dualid loads) stays cheap until the SDK is used.
_LAZY: dict[str, str] = {
    "AttendeePage": "dualid.consent",
    "AuditRecord": "dualid.audit",
    "AuditReport": "dualid.audit",
    "BaseKeyProvider": "dualid.crypto",
    "ClockReading": "dualid.clock",
    "ClockStatus": "dualid.clock",
    "ConsentRequired": "dualid.errors",
    "DataField": "dualid.models",
    "DecryptionFailed": "dualid.errors",
    "DualId": "dualid.sdk",
    "DualIdError": "dualid.errors",
    "ErasureReport": "dualid.sdk",
    "Event": "dualid.consent",
    "EventTypeMismatch": "dualid.errors",
    "EventType": "dualid.models",
    "EventUserData": "dualid.models",
    "Explanation": "dualid.consent",
    "FieldNotRequested": "dualid.errors",
    "Grant": "dualid.consent",
    "GrantState": "dualid.consent",
    "Host": "dualid.consent",
    "HostAttendee": "dualid.consent",
    "HostKind": "dualid.models",
    "InvalidInput": "dualid.errors",
    "KeyStatus": "dualid.keys",
    "Keys": "dualid.keys",
    "KeyProvider": "dualid.crypto",
    "LocalKeyProvider": "dualid.crypto",
    "NotFound": "dualid.errors",
    "Registration": "dualid.consent",
    "Requirement": "dualid.consent",
    "RotationReport": "dualid.keys",
    "SharedItem": "dualid.consent",
    "generate_master_key": "dualid.crypto",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dualid' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *(name for name in globals() if name.startswith("__"))})


__version__ = "0.1.0"

__all__ = [
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
