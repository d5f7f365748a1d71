"""One way to name a key provider: DualId.open(keys=<URI>), DUALID_KEYS, and third-party
providers through the ``dualid.key_providers`` entry point group (a real distribution's
metadata on sys.path, found by importlib.metadata)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dualid import DualId, EventUserData, LocalKeyProvider, generate_master_key
from dualid.errors import ConfigurationError, MissingKeyError
from dualid.integration import open_key_provider, uri_scheme
from dualid.testing import FakeKms


def _round_trip(url: str, keys: object) -> None:
    with DualId.open(url, keys=keys) as sdk:  # type: ignore[arg-type]
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
    with DualId.open(url, keys=keys) as sdk:  # type: ignore[arg-type]
        assert sdk.profiles.get(agent).name == "Ana"  # type: ignore[union-attr]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/uri.db"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUALID_KEYS", raising=False)
    monkeypatch.delenv("DUALID_MASTER_KEY", raising=False)


def test_local_uris(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_master_key()
    _round_trip(url, f"local:{key}")
    _round_trip(url, f"local:old:{key}")  # named: answers to its fingerprint too
    monkeypatch.setenv("DUALID_MASTER_KEY", key)
    _round_trip(url, "local:env")
    key_file = tmp_path / "keys"
    key_file.write_text(key)
    key_file.chmod(0o600)
    _round_trip(url, f"local:file:{key_file}")
    assert (
        open_key_provider(f"local:{key}").primary_id == LocalKeyProvider.from_string(key).primary_id
    )


def test_a_master_key_string_still_works(url: str) -> None:
    key, older = generate_master_key(), generate_master_key()
    _round_trip(url, key)
    _round_trip(url, f"new:{key},old:{older}")


def test_local_uris_refuse_what_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError):
        open_key_provider("local:env")
    with pytest.raises(MissingKeyError):
        open_key_provider(f"local:file:{tmp_path}/absent.key")  # never created from a URI
    assert not (tmp_path / "absent.key").exists()
    with pytest.raises(ConfigurationError):
        open_key_provider("local:not-a-key")


def test_dualid_keys_names_the_provider(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_master_key()
    monkeypatch.setenv("DUALID_KEYS", f"local:{key}")
    _round_trip(url, None)
    monkeypatch.setenv("DUALID_MASTER_KEY", generate_master_key())
    with pytest.raises(ConfigurationError, match="both DUALID_KEYS and DUALID_MASTER_KEY"):
        DualId.open(url)
    monkeypatch.setenv("DUALID_MASTER_KEY", key)
    monkeypatch.setenv("DUALID_KEYS", "local:env")
    _round_trip(url, None)


@pytest.mark.parametrize("uri", ["", "  ", "nope:xyz", "aws-kms:", "aws-kms: , "])
def test_what_is_not_a_key_uri(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        open_key_provider(uri)


def test_unknown_text_is_a_clear_error_at_open() -> None:
    with pytest.raises(ConfigurationError):
        DualId.open("sqlite://", keys="nope:xyz")


# -- entry points ----------------------------------------------------------------------------------
PLUGIN = """
from dualid.testing import FakeKms

CREATED = []


def make(rest):
    kms = FakeKms("plugin/" + rest)
    CREATED.append(kms)
    return kms


def not_a_provider(rest):
    return object()


def hijack(rest):
    raise AssertionError("a plugin took over a built-in scheme")
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """An installed distribution in a directory on sys.path: a module and its dist-info
    with entry points in the ``dualid.key_providers`` group."""
    site = tmp_path / "site"
    dist = site / "dualid_test_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "dualid_test_plugin.py").write_text(PLUGIN)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: dualid-test-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text(
        textwrap.dedent(
            """\
            [dualid.key_providers]
            testkms = dualid_test_plugin:make
            notprovider = dualid_test_plugin:not_a_provider
            broken = dualid_test_plugin_missing:make
            local = dualid_test_plugin:hijack
            aws-kms = dualid_test_plugin:hijack
            """
        )
    )
    monkeypatch.syspath_prepend(str(site))
    import importlib

    importlib.invalidate_caches()
    module = importlib.import_module("dualid_test_plugin")
    yield module
    sys.modules.pop("dualid_test_plugin", None)


def test_a_plugin_provides_a_scheme(url: str, plugin: object) -> None:
    assert uri_scheme("testkms:tenant-1") == "testkms"
    provider = open_key_provider("testkms:tenant-1")
    assert isinstance(provider, FakeKms)
    assert provider.primary_id == "plugin/tenant-1"
    with DualId.open(url, keys="testkms:tenant-1") as sdk:
        sdk.profiles.put(sdk.identity.agent_for("u"), EventUserData(name="Ana"))
        assert sdk.keys.status().primary_id == "plugin/tenant-1"


def test_dualid_keys_reaches_a_plugin(
    url: str, plugin: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUALID_KEYS", "testkms:tenant-2")
    with DualId.open(url) as sdk:
        assert sdk.keys.status().primary_id == "plugin/tenant-2"


def test_master_keys_are_never_handed_to_a_plugin(url: str, plugin: object) -> None:
    # A DUALID_MASTER_KEY value whose first key is named like a plugin's scheme.
    key = generate_master_key()
    created = plugin.CREATED  # type: ignore[attr-defined]
    with DualId.open(url, keys=f"testkms:{key}") as sdk:
        assert sdk.keys.status().primary_id == "testkms"
    assert created == []


def test_built_in_schemes_cannot_be_taken_over(plugin: object) -> None:
    key = generate_master_key()
    assert isinstance(open_key_provider(f"local:{key}"), LocalKeyProvider)
    with pytest.raises(ConfigurationError):
        open_key_provider("aws-kms:")  # the built-in's own error, not the plugin's


def test_a_broken_plugin_is_a_configuration_error(plugin: object) -> None:
    with pytest.raises(ConfigurationError, match="did not return a KeyProvider"):
        open_key_provider("notprovider:x")
    with pytest.raises(ConfigurationError, match="cannot be loaded"):
        open_key_provider("broken:x")
