"""AWS KMS for the tests: moto's server on 127.0.0.1 (a real KMS API over HTTP, started by
the tests themselves, never the internet), and clients pointed at it
(calls are counted with :func:`dualid.testing.counting`).

``DUALID_TEST_REQUIRE_KMS=1`` (set by .ci/run) makes these tests required: without moto
they fail instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

REQUIRE_ENV = "DUALID_TEST_REQUIRE_KMS"
REGION = "eu-west-1"
# Dummy credentials and the local endpoint: whatever boto3 client a test (or a spawned
# worker, or the CLI) makes talks to the server below, and could reach no real account.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def require_moto() -> None:
    """Skip (or, with DUALID_TEST_REQUIRE_KMS=1, fail) when moto's server is missing."""
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{REQUIRE_ENV}=1 but moto[server]/boto3 cannot be imported: {exc}")
        pytest.skip("moto[server] is not installed (pip install -e '.[dev]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MotoProcess:
    """``moto_server`` in a process of its own, to be killed mid-run (a KMS outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)


def client(url: str, *, attempts: int = 1, read_timeout: float = 5) -> Any:
    """A boto3 KMS client on ``url``: one attempt, short timeouts (a test waits for no
    retries)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "kms",
        region_name=REGION,
        endpoint_url=url,
        config=Config(
            retries={"mode": "standard", "max_attempts": attempts},
            connect_timeout=1,
            read_timeout=read_timeout,
        ),
    )


def new_key(kms: Any, alias: str | None = None) -> str:
    """A new symmetric key's ARN (and an alias for it)."""
    arn = str(
        kms.create_key(KeySpec="SYMMETRIC_DEFAULT", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"][
            "Arn"
        ]
    )
    if alias is not None:
        kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn
