"""examples/host_api.py: runs as a script, and serves real HTTP under uvicorn."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dualid import generate_master_key

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "host_api.py"

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["DUALID_DATABASE_URL"] = f"sqlite:///{tmp_path / 'host_api.db'}"
    env["DUALID_MASTER_KEY"] = generate_master_key()
    env["PYTHONWARNINGS"] = "error"
    return env


def test_example_exercises_itself(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().endswith("ok")
    assert "audit chain verified" in proc.stdout
    assert not list(tmp_path.iterdir()), "the self-check must clean up after itself"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    log = tmp_path / "uvicorn.log"
    env = _env(tmp_path)
    env.pop("PYTHONWARNINGS")  # uvicorn's own dependencies are not ours to police
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "examples.host_api:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--app-dir",
                str(ROOT),
            ],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"uvicorn exited early:\n{log.read_text()}")
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not start within 30 s:\n{log.read_text()}")
                time.sleep(0.1)
            yield base
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
    assert proc.returncode == 0, log.read_text()
    assert "Application shutdown complete" in log.read_text()


def test_example_over_real_http(served: str) -> None:
    host = {"X-Host-Id": "bistro-7"}
    ana = {"X-User-Id": "user-ana"}
    with httpx.Client(base_url=served, timeout=10) as http:
        assert http.get("/v1/hosts/me", headers=host).json()["hostId"] == "bistro-7"
        resp = http.put(
            "/v1/me/profile", headers=ana, json={"name": "Ana", "phoneNumber": "+14155552671"}
        )
        assert resp.status_code == 200
        resp = http.post(
            "/v1/me/registrations",
            headers=ana,
            json={"hostId": "bistro-7", "eventType": "reservation", "eventId": "r1"},
        )
        assert resp.status_code == 422  # no defaults: the required fields are not shared
        assert resp.json()["code"] == "CONSENT_REQUIRED"
        assert resp.json()["fields"] == ["name", "phoneNumber"]
        resp = http.post(
            "/v1/me/registrations",
            headers=ana,
            json={
                "hostId": "bistro-7",
                "eventType": "reservation",
                "eventId": "r1",
                "share": ["name", "phoneNumber"],
            },
        )
        assert resp.status_code == 201
        page = http.get("/v1/hosts/me/events/r1/attendees", headers=host).json()
        assert page["items"][0]["name"] == "Ana"
        assert "agt_" not in str(page)
        resp = http.get("/nowhere")
        assert resp.status_code == 404
        assert resp.json()["code"] == "ROUTE_NOT_FOUND"
        big = http.put("/v1/me/profile", headers=ana, content=b"{" + b" " * 70_000 + b"}")
        assert big.status_code == 413
        assert http.delete("/v1/me", headers=ana).status_code == 204
        docs = http.get("/openapi.json").json()
        assert "/v1/hosts/me/events/{event_id}/attendees" in docs["paths"]
