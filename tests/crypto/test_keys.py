"""Master keys: DUALID_MASTER_KEY parsing, the local key file, key resolution in open()."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from dualid import DualId, KeyProvider, LocalKeyProvider, generate_master_key
from dualid.crypto import ENV_MASTER_KEY
from dualid.errors import ConfigurationError, DecryptionFailed, MissingKeyError
from dualid.testing import FakeClock


def test_generated_key_is_urlsafe_base64_of_32_bytes() -> None:
    key = generate_master_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert generate_master_key() != key


def test_single_key_without_id_gets_a_stable_fingerprint_id() -> None:
    key = generate_master_key()
    first = LocalKeyProvider.from_string(key)
    again = LocalKeyProvider.from_string(key)
    assert first.primary_id == again.primary_id
    assert first.primary_id != LocalKeyProvider.from_string(generate_master_key()).primary_id
    # The id is a fingerprint, never the key itself.
    assert key not in first.primary_id
    assert key not in repr(first)


def test_ids_and_several_keys_first_is_primary() -> None:
    a, b = generate_master_key(), generate_master_key()
    provider = LocalKeyProvider.from_string(f" new:{b} , old:{a} ,")
    assert provider.primary_id == "new"
    assert tuple(provider.key_ids()) == ("new", "old")
    assert isinstance(provider, KeyProvider)


def test_wrap_uses_primary_and_unwrap_uses_any_key() -> None:
    a, b = generate_master_key(), generate_master_key()
    old = LocalKeyProvider.from_string(f"old:{a}")
    key_id, blob = old.wrap(b"dek", b"ctx")
    both = LocalKeyProvider.from_string(f"new:{b},old:{a}")
    assert both.unwrap(key_id, blob, b"ctx") == b"dek"
    assert both.wrap(b"dek", b"ctx")[0] == "new"


def test_unwrap_checks_associated_data_and_key_id() -> None:
    provider = LocalKeyProvider.from_string(f"a:{generate_master_key()}")
    key_id, blob = provider.wrap(b"dek", b"agent-1")
    with pytest.raises(DecryptionFailed):
        provider.unwrap(key_id, blob, b"agent-2")
    with pytest.raises(MissingKeyError):
        provider.unwrap("unknown", blob, b"agent-1")


def test_unwrap_many_matches_unwrap_in_order_with_the_same_errors() -> None:
    a, b = generate_master_key(), generate_master_key()
    old = LocalKeyProvider.from_string(f"old:{a}")
    both = LocalKeyProvider.from_string(f"new:{b},old:{a}")
    items = [(*old.wrap(b"k1", b"agent-1"), b"agent-1"), (*both.wrap(b"k2", b"a-2"), b"a-2")]
    assert both.unwrap_many(items) == [both.unwrap(*item) for item in items] == [b"k1", b"k2"]
    assert both.unwrap_many([]) == []
    key_id, blob, _ = items[0]
    with pytest.raises(DecryptionFailed):
        both.unwrap_many([items[1], (key_id, blob, b"agent-2")])
    with pytest.raises(MissingKeyError):
        both.unwrap_many([("unknown", blob, b"agent-1")])


class _SingleKeyProvider:
    """A provider with only the four required members (no unwrap_many), like a minimal
    KMS adapter."""

    def __init__(self) -> None:
        self._inner = LocalKeyProvider.ephemeral()
        self.calls = 0
        self.wraps = 0

    @property
    def primary_id(self) -> str:
        return self._inner.primary_id

    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._inner.key_ids())

    def wrap(self, plaintext: bytes, aad: bytes) -> tuple[str, bytes]:
        self.wraps += 1
        return self._inner.wrap(plaintext, aad)

    def unwrap(self, key_id: str, blob: bytes, aad: bytes) -> bytes:
        self.calls += 1
        return self._inner.unwrap(key_id, blob, aad)


def test_a_provider_without_unwrap_many_serves_the_bulk_paths() -> None:
    from dualid import DataField, EventType, EventUserData, HostKind

    provider = _SingleKeyProvider()
    assert isinstance(provider, KeyProvider)
    with DualId.open("sqlite://", keys=provider, dek_cache_size=0) as sdk:
        sdk.hosts.register("h-1", kind=HostKind.CLUB, name="Club")
        sdk.hosts.require("h-1", EventType.CLUB_EVENT, required={DataField.NAME}, purpose="seating")
        wraps = provider.wraps
        agents = sdk.identity.agents_for([f"u{i}" for i in range(5)])
        assert provider.wraps - wraps == 5  # wrap per key: the provider has no wrap_many
        for i, agent in enumerate(agents.values()):
            data = EventUserData(name=f"Person {i}")
            share = {DataField.NAME}
            sdk.events.register(agent, "h-1", EventType.CLUB_EVENT, "ev-1", share=share, data=data)
        before = provider.calls
        names = sorted(a.data.name or "" for a in sdk.events.attendees("h-1", "ev-1"))
    assert names == [f"Person {i}" for i in range(5)]
    assert provider.calls - before == 5  # one unwrap per attendee's data key


@pytest.mark.parametrize(
    "spec",
    [
        "not base64 !!!",
        base64.urlsafe_b64encode(b"x" * 31).decode(),
        base64.urlsafe_b64encode(b"x" * 33).decode(),
        "a:" + base64.urlsafe_b64encode(b"x" * 16).decode(),
        "é:" + "ü" * 44,
    ],
)
def test_bad_key_material_is_a_configuration_error(spec: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        LocalKeyProvider.from_string(spec)
    assert spec not in str(info.value)


def test_duplicate_ids_rejected() -> None:
    with pytest.raises(ConfigurationError):
        LocalKeyProvider.from_string(f"a:{generate_master_key()},a:{generate_master_key()}")


def test_an_id_longer_than_the_store_keeps_is_refused() -> None:
    # dualid_agent_key.master_key_id holds 64 characters.
    assert LocalKeyProvider.from_string(f"{'a' * 64}:{generate_master_key()}").primary_id
    with pytest.raises(ConfigurationError, match="1 to 64 characters"):
        LocalKeyProvider.from_string(f"{'a' * 65}:{generate_master_key()}")


@pytest.mark.parametrize("spec", ["", " , ,"])
def test_no_key_is_missing_key(spec: str) -> None:
    with pytest.raises(MissingKeyError):
        LocalKeyProvider.from_string(spec)


def test_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    key = generate_master_key()
    assert LocalKeyProvider.from_env({}) is None
    assert LocalKeyProvider.from_env({ENV_MASTER_KEY: "  "}) is None
    assert LocalKeyProvider.from_env({ENV_MASTER_KEY: f"k1:{key}"}).primary_id == "k1"  # type: ignore[union-attr]
    monkeypatch.setenv(ENV_MASTER_KEY, f"envkey:{key}")
    provider = LocalKeyProvider.from_env()
    assert provider is not None
    assert provider.primary_id == "envkey"


def test_key_file_is_created_0600_beside_the_sqlite_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    db = tmp_path / "app.db"
    with DualId.open(f"sqlite:///{db}", clock=clock) as sdk:
        agent = sdk.identity.agent_for("user-1")
    key_file = tmp_path / "app.db.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    LocalKeyProvider.from_string(key_file.read_text())  # the documented format
    # Reopening uses the same file, so the data is readable again.
    with DualId.open(f"sqlite:///{db}", clock=clock) as sdk:
        assert sdk.identity.agent_for("user-1") == agent


def test_key_file_readable_by_others_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    key_file = tmp_path / "dualid.db.key"
    key_file.write_text(generate_master_key() + "\n")
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        DualId.open(f"sqlite:///{tmp_path}/dualid.db")
    with pytest.raises(ConfigurationError):
        LocalKeyProvider.from_file(key_file)


def test_missing_key_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyError):
        LocalKeyProvider.from_file(tmp_path / "absent.key", create=False)


def test_env_key_wins_over_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setenv(ENV_MASTER_KEY, f"fromenv:{generate_master_key()}")
    with DualId.open(f"sqlite:///{tmp_path}/dualid.db", clock=clock) as sdk:
        assert sdk.keys.status().primary_id == "fromenv"
    assert not (tmp_path / "dualid.db.key").exists()


@pytest.mark.postgres
def test_postgres_never_invents_a_key(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    with pytest.raises(MissingKeyError, match="DUALID_MASTER_KEY"):
        DualId.open(postgres_url, clock=clock)


@pytest.mark.postgres
def test_postgres_takes_the_key_from_the_environment(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.setenv(ENV_MASTER_KEY, f"prod1:{generate_master_key()}")
    with DualId.open(postgres_url, clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
        assert sdk.keys.status().in_use == {"prod1": 2}  # the DEK and the root secret


def test_wrong_master_key_for_an_existing_database(tmp_path: Path, clock: FakeClock) -> None:
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=f"a:{generate_master_key()}", clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
    with pytest.raises(ConfigurationError, match="does not match"):
        DualId.open(url, keys=f"a:{generate_master_key()}", clock=clock)


def test_in_memory_store_gets_an_ephemeral_key(
    monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    with DualId.open("sqlite://", clock=clock) as sdk:
        assert sdk.keys.status().primary_id == "ephemeral"


# ------------------------------------------------------------- key ids and fingerprints


def test_an_unnamed_key_s_id_is_its_documented_fingerprint() -> None:
    import hashlib

    from dualid.crypto import key_fingerprint

    key = generate_master_key()
    raw = base64.urlsafe_b64decode(key)
    # docs/keys.md: "k" + the first 10 hex digits of SHA-256("dualid key id|" + key bytes)
    expected = "k" + hashlib.sha256(b"dualid key id|" + raw).hexdigest()[:10]
    assert key_fingerprint(raw) == expected
    assert LocalKeyProvider.from_string(key).primary_id == expected


def test_a_key_named_later_still_reads_what_it_wrapped_unnamed(
    tmp_path: Path, clock: FakeClock
) -> None:
    from dualid import EventUserData

    k1, k2 = generate_master_key(), generate_master_key()
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, keys=k1, clock=clock) as sdk:  # unnamed, as the README does
        agent = sdk.identity.agent_for("user-1")
        sdk.profiles.put(agent, EventUserData(name="Ana"))
        unnamed_id = sdk.keys.status().primary_id
    with DualId.open(url, keys=f"new:{k2},old:{k1}", clock=clock) as sdk:
        profile = sdk.profiles.get(agent)
        assert profile is not None
        assert profile.name == "Ana"
        before = sdk.keys.status()
        assert before.in_use == {"old": 2}  # counted for the name, not as an unknown id
        assert before.removable == ()
        report = sdk.keys.rotate()
        assert (report.rewrapped, report.remaining) == (2, 0)
        assert sdk.keys.status().in_use == {"new": 2}
        assert sdk.keys.status().removable == ("old",)
    with DualId.open(url, keys=f"new:{k2}", clock=clock) as sdk:
        assert sdk.profiles.get(agent) is not None
    assert unnamed_id.startswith("k")


def test_a_key_missing_from_the_configuration_names_what_is_configured() -> None:
    provider = LocalKeyProvider.from_string(f"new:{generate_master_key()}")
    with pytest.raises(MissingKeyError, match=r"'old' is not configured \(configured: new\)"):
        provider.unwrap("old", b"\0" * 40, b"")
    with pytest.raises(MissingKeyError, match=r"docs/keys\.md"):
        provider.unwrap_many([("old", b"\0" * 40, b"")])


def test_one_key_twice_or_an_id_that_is_another_key_s_fingerprint_is_refused() -> None:
    k1, k2 = generate_master_key(), generate_master_key()
    with pytest.raises(ConfigurationError, match="configured twice"):
        LocalKeyProvider.from_string(f"a:{k1},b:{k1}")
    with pytest.raises(ConfigurationError, match="configured twice"):
        LocalKeyProvider.from_string(f"a:{k1},{k1}")
    fingerprint = LocalKeyProvider.from_string(k1).primary_id
    with pytest.raises(ConfigurationError, match="fingerprint"):
        LocalKeyProvider.from_string(f"{fingerprint}:{k2},old:{k1}")
    # Naming a key by its own fingerprint is naming it as it already was.
    assert LocalKeyProvider.from_string(f"{fingerprint}:{k1}").primary_id == fingerprint


# ------------------------------------------------------------------------ the key file


def _owned_by_someone_else(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        os.chown(path, 4242, -1)  # really another user's file
    else:
        uid = path.stat().st_uid
        monkeypatch.setattr(os, "geteuid", lambda: uid + 1)


def test_key_file_owned_by_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    url = f"sqlite:///{tmp_path}/dualid.db"
    with DualId.open(url, clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
    key_file = tmp_path / "dualid.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    _owned_by_someone_else(key_file, monkeypatch)
    with pytest.raises(ConfigurationError, match="belongs to another user") as info:
        DualId.open(url, clock=clock)
    assert info.value.code == "CONFIGURATION_ERROR"
    assert "chown" in str(info.value)
    assert key not in str(info.value)
    with pytest.raises(ConfigurationError, match="belongs to another user"):
        LocalKeyProvider.from_file(key_file, create=False)


def test_missing_key_file_beside_a_database_with_data_creates_no_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    db = tmp_path / "app.db"
    with DualId.open(f"sqlite:///{db}", clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
    key_file = tmp_path / "app.db.key"
    key_file.unlink()  # lost (or never copied along with the database)
    before = db.read_bytes()
    with pytest.raises(MissingKeyError, match=r"key file app\.db\.key is missing") as info:
        DualId.open(f"sqlite:///{db}", clock=clock)
    assert info.value.code == "MISSING_KEY"
    assert not key_file.exists()
    assert db.read_bytes() == before


def test_a_migrated_but_empty_database_gets_its_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    # `dualid db upgrade` before the first open: the schema exists, nothing is wrapped yet.
    monkeypatch.delenv(ENV_MASTER_KEY, raising=False)
    from dualid.store import Store, upgrade

    url = f"sqlite:///{tmp_path}/dualid.db"
    store = Store(url)
    try:
        upgrade(store)
    finally:
        store.dispose()
    with DualId.open(url, clock=clock) as sdk:
        sdk.identity.agent_for("user-1")
    assert (tmp_path / "dualid.db.key").exists()
