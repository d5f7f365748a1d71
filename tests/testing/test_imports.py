"""Importing dualid never requires pytest (or hypothesis, or boto3)."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_import_without_pytest_hypothesis_or_boto3() -> None:
    # boto3 is the optional dualid[aws]: the KMS helpers must not need it either.
    result = _run(
        "import sys\n"
        "for name in ('pytest', '_pytest', 'hypothesis', 'boto3', 'botocore'):\n"
        "    sys.modules[name] = None\n"
        "import dualid, dualid.testing\n"
        "from dualid.testing import FakeClock, FakeNtpServer, memory_sdk, build_user_data\n"
        "from dualid.testing import FakeKms, check_key_provider, counting\n"
        "with memory_sdk() as sdk:\n"
        "    sdk.profiles.put(sdk.identity.agent_for('u'), build_user_data(seed=1))\n"
        "check_key_provider(FakeKms())\n"
        "print('ok')\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_importing_dualid_testing_does_not_import_pytest() -> None:
    result = _run(
        "import sys, dualid, dualid.testing\n"
        "print(sorted(m for m in ('pytest', '_pytest', 'hypothesis') if m in sys.modules))\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_strategies_without_hypothesis_say_how_to_install_it() -> None:
    result = _run(
        "import sys\nsys.modules['hypothesis'] = None\nimport dualid.testing.strategies\n"
    )
    assert result.returncode != 0
    assert "pip install hypothesis" in result.stderr
