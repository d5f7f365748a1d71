"""Keys and encryption.

The safe layer: a :class:`KeyProvider` (subclass :class:`BaseKeyProvider` for the batch
members) holds master keys; each agent has its own data key
(wrapped by the primary master key); every personal field is sealed with AES-256-GCM under
that data key, with associated data binding agent, record, field and key version.
"""

from ._aead import field_aad, open_field, seal_field
from ._dek import DataKey
from ._derive import DerivedKeys
from ._generations import SigningKey
from ._keys import (
    ENV_MASTER_KEY,
    MAX_KEY_ID_LENGTH,
    BaseKeyProvider,
    KeyProvider,
    LocalKeyProvider,
    generate_master_key,
    key_fingerprint,
)

__all__ = [
    "ENV_MASTER_KEY",
    "MAX_KEY_ID_LENGTH",
    "BaseKeyProvider",
    "DataKey",
    "DerivedKeys",
    "KeyProvider",
    "LocalKeyProvider",
    "SigningKey",
    "field_aad",
    "generate_master_key",
    "key_fingerprint",
    "open_field",
    "seal_field",
]
