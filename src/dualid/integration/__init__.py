"""Providers for outside systems, each behind an extra, and the one way to name a key
provider: a URI.

* ``local:<DUALID_MASTER_KEY value>``: keys given inline (:class:`~dualid.crypto.LocalKeyProvider`);
  ``local:env`` the keys in ``DUALID_MASTER_KEY``; ``local:file:<path>`` a key file (never
  created from a URI).
* ``aws-kms:<key id, alias or ARN>[,<older key>...]``:
  :class:`~dualid.integration.aws_kms.AwsKmsKeyProvider` (extra ``dualid[aws]``), the first
  key primary, the others still unwrapping (rotation between KMS keys); region, endpoint
  and credentials come from boto3's usual configuration (``AWS_REGION``,
  ``AWS_ENDPOINT_URL_KMS``, profiles, roles).
* ``<scheme>:<rest>``: a third-party provider registered under the entry point group
  ``dualid.key_providers`` with the name ``<scheme>``; the entry point is a callable that
  takes ``<rest>`` and returns a :class:`~dualid.crypto.KeyProvider`. The built-in schemes
  cannot be taken over by an entry point.

``DualId.open(keys=...)`` and the CLI's ``--keys`` (``DUALID_KEYS``) take these URIs;
:func:`open_key_provider` is what they call.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from importlib.metadata import entry_points

from dualid.crypto import KeyProvider
from dualid.errors import ConfigurationError

__all__ = ["ENTRY_POINT_GROUP", "KEYS_ENV", "open_key_provider", "uri_scheme"]

ENTRY_POINT_GROUP = "dualid.key_providers"
KEYS_ENV = "DUALID_KEYS"

_SCHEME = re.compile(r"([a-z][a-z0-9+.-]{0,62}):")
_BUILT_IN: dict[str, str] = {
    "local": "dualid.integration._local:from_uri",
    "aws-kms": "dualid.integration.aws_kms:from_uri",
}


def uri_scheme(text: str) -> str | None:
    """The scheme of a key-provider URI when ``text`` is one: a built-in scheme, or the
    name of an installed ``dualid.key_providers`` entry point. None otherwise (a
    ``DUALID_MASTER_KEY``-style value such as ``new:<key>,old:<key>``)."""
    match = _SCHEME.match(text)
    if match is None:
        return None
    scheme = match.group(1)
    if scheme in _BUILT_IN or _entry_point(scheme) is not None:
        return scheme
    return None


def _entry_point(scheme: str) -> Callable[[str], object] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=scheme):
        if scheme in _BUILT_IN:
            return None
        try:
            factory = ep.load()
        except Exception as exc:  # whatever a broken plugin raises on import
            raise ConfigurationError(
                f"the key provider plugin {scheme!r} ({ep.value}) cannot be loaded: "
                f"{type(exc).__name__}"
            ) from None
        if not callable(factory):
            raise ConfigurationError(f"the key provider plugin {scheme!r} is not callable")
        return factory  # type: ignore[no-any-return]
    return None


def _built_in(scheme: str) -> Callable[[str], object]:
    module, _, name = _BUILT_IN[scheme].partition(":")
    factory: Callable[[str], object] = getattr(importlib.import_module(module), name)
    return factory


def open_key_provider(uri: str) -> KeyProvider:
    """The provider a key URI names (see the module docstring).

    >>> from dualid import generate_master_key
    >>> open_key_provider("local:" + generate_master_key()).primary_id.startswith("k")
    True

    Anything that is not a URI of a known scheme is a
    :class:`~dualid.errors.ConfigurationError` naming the schemes there are.
    """
    if not isinstance(uri, str) or not uri.strip():
        raise ConfigurationError("a key provider URI is a non-empty string")
    uri = uri.strip()
    scheme = uri_scheme(uri)
    if scheme is None:
        known = sorted({*_BUILT_IN, *(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))})
        raise ConfigurationError(
            f"not a key provider URI: it must start with one of {', '.join(known)} "
            "followed by ':' (docs/keys.md)"
        )
    rest = uri[len(scheme) + 1 :]
    factory = _built_in(scheme) if scheme in _BUILT_IN else _entry_point(scheme)
    assert factory is not None
    provider = factory(rest)
    if not isinstance(provider, KeyProvider):
        raise ConfigurationError(f"the key provider plugin {scheme!r} did not return a KeyProvider")
    return provider
