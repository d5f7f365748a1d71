"""The ``local:`` key URI: :class:`~dualid.crypto.LocalKeyProvider` from inline keys, the
environment or a key file."""

from __future__ import annotations

from dualid.crypto import ENV_MASTER_KEY, LocalKeyProvider
from dualid.errors import MissingKeyError

__all__ = ["from_uri"]


def from_uri(rest: str) -> LocalKeyProvider:
    """``env``: ``DUALID_MASTER_KEY``; ``file:<path>``: an existing key file; anything else
    a ``DUALID_MASTER_KEY`` value (``[id:]key,...``)."""
    if rest == "env":
        provider = LocalKeyProvider.from_env()
        if provider is None:
            raise MissingKeyError(f"the key URI local:env names {ENV_MASTER_KEY}, which is unset")
        return provider
    if rest.startswith("file:"):
        return LocalKeyProvider.from_file(rest[len("file:") :], create=False)
    return LocalKeyProvider.from_string(rest)
