"""The CLI names its key provider with ``--keys URI`` or ``DUALID_KEYS``: local keys, and
AWS KMS (moto's server on 127.0.0.1), whose outage is one line and exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dualid import DualId, EventUserData, generate_master_key
from dualid.integration.aws_kms import AwsKmsKeyProvider

from .. import kms
from .conftest import Run

KEY = "old:" + generate_master_key()


def _store(path: Path, keys: object) -> str:
    url = f"sqlite:///{path}/cli.db"
    with DualId.open(url, keys=keys) as sdk:  # type: ignore[arg-type]
        for i in range(5):
            sdk.profiles.put(sdk.identity.agent_for(f"u{i}"), EventUserData(name=f"P{i}"))
    return url


def test_keys_option_and_env(dualid: Run, tmp_path: Path) -> None:
    url = _store(tmp_path, KEY)  # no key file beside it
    missing = dualid("keys", "status", "--db", url)
    assert missing.exit_code == 2
    assert "pass --keys, set DUALID_KEYS or DUALID_MASTER_KEY" in missing.stderr
    by_option = dualid("keys", "status", "--db", url, "--keys", f"local:{KEY}")
    assert by_option.exit_code == 0, by_option.output
    assert "old" in by_option.stdout
    by_env = dualid("consent", "purge-expired", "--db", url, env={"DUALID_KEYS": f"local:{KEY}"})
    assert by_env.exit_code == 0, by_env.output
    bad = dualid("keys", "status", "--db", url, "--keys", "nope:x")
    assert bad.exit_code == 2
    assert "[CONFIGURATION_ERROR]" in bad.stderr


def test_rotation_between_kms_keys_from_the_cli(
    dualid: Run, tmp_path: Path, kms_client: Any
) -> None:
    old, new = kms.new_key(kms_client), kms.new_key(kms_client)
    url = _store(tmp_path, AwsKmsKeyProvider(old, client=kms_client))
    rotated = dualid("keys", "rotate", "--db", url, "--keys", f"aws-kms:{new},{old}")
    assert rotated.exit_code == 0, rotated.output
    assert f"re-wrapped 6 keys under {new}" in rotated.stdout
    status = dualid("keys", "status", "--db", url, env={"DUALID_KEYS": f"aws-kms:{new},{old}"})
    assert status.exit_code == 0, status.output
    assert "Every wrapped key is under the primary key." in status.stdout
    with DualId.open(url, keys=f"aws-kms:{new}") as sdk:
        assert sdk.keys.status().in_use == {new: 6}


def test_a_kms_outage_is_one_line_and_exit_2(
    dualid: Run, tmp_path: Path, kms_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = kms.new_key(kms_client)
    url = _store(tmp_path, AwsKmsKeyProvider(key, client=kms_client))
    down = f"http://127.0.0.1:{kms.free_port()}"  # nothing listens there
    result = dualid(
        "keys",
        "status",
        "--db",
        url,
        "--keys",
        f"aws-kms:{key}",
        env={"AWS_ENDPOINT_URL_KMS": down, "AWS_MAX_ATTEMPTS": "1"},
    )
    assert result.exit_code == 2
    assert "[KEY_SERVICE_UNAVAILABLE]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
