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

from dualid.audit import AuditRecord, AuditReport
from dualid.clock import ClockReading, ClockStatus
from dualid.consent import (
    AttendeePage,
    Explanation,
    Grant,
    GrantState,
    Host,
    HostAttendee,
    Registration,
    Requirement,
    SharedItem,
)
from dualid.crypto import KeyProvider, LocalKeyProvider, generate_master_key
from dualid.errors import (
    ConsentRequired,
    DecryptionFailed,
    DualIdError,
    FieldNotRequested,
    InvalidInput,
    NotFound,
)
from dualid.models import DataField, EventType, EventUserData, HostKind
from dualid.sdk import DualId, ErasureReport

__version__ = "0.1.0"

__all__ = [
    "AttendeePage",
    "AuditRecord",
    "AuditReport",
    "ClockReading",
    "ClockStatus",
    "ConsentRequired",
    "DataField",
    "DecryptionFailed",
    "DualId",
    "DualIdError",
    "ErasureReport",
    "EventType",
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
    "LocalKeyProvider",
    "NotFound",
    "Registration",
    "Requirement",
    "SharedItem",
    "__version__",
    "generate_master_key",
]
