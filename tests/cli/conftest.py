"""Fixtures for the ``dualid`` command: an in-process runner and a real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dualid._cli import app

_DUALID_ENV = ("DUALID_DATABASE_URL", "DUALID_MASTER_KEY", "DUALID_KEYS", "DUALID_NTP_SERVERS")


@dataclass
class Outcome:
    """What a command did, the same shape for both ways of running it."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


Run = Callable[..., Outcome]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test states the configuration it needs; nothing leaks in from the shell.
    for name in _DUALID_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def cli() -> Run:
    """Run ``dualid ARGS`` in-process through typer's CliRunner."""
    runner = CliRunner()

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        input: str | None = None,
    ) -> Outcome:
        before = os.getcwd()
        if cwd is not None:
            os.chdir(cwd)
        try:
            result = runner.invoke(app, list(args), env=env, input=input, catch_exceptions=False)
        finally:
            os.chdir(before)
        return Outcome(result.exit_code, result.stdout, result.stderr)

    return run


def subprocess_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DUALID_ENV}
    env.update(extra or {})
    return env


@pytest.fixture
def dualid_proc() -> Run:
    """Run ``python -m dualid.cli ARGS`` as a real subprocess (its own interpreter,
    stdout and stderr, exit code)."""

    def run(
        *args: str,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 300,
    ) -> Outcome:
        proc = subprocess.run(
            [sys.executable, "-m", "dualid.cli", *args],
            capture_output=True,
            text=True,
            env=subprocess_env(env),
            cwd=cwd,
            timeout=timeout,
            check=False,
        )
        return Outcome(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture(params=["runner", "subprocess"])
def dualid(request: pytest.FixtureRequest, cli: Run, dualid_proc: Run) -> Run:
    """Each test that takes this runs twice: in-process and as a subprocess."""
    return cli if request.param == "runner" else dualid_proc


def make_bookings(
    path: Path, rows: int, users: int, *, extra: Sequence[tuple[str | None]] = ()
) -> None:
    """A host application's SQLite table keyed by userId: ``bookings(id, user_id, note)``."""
    con = sqlite3.connect(path)
    try:
        con.execute("CREATE TABLE bookings (id INTEGER PRIMARY KEY, user_id TEXT, note TEXT)")
        con.executemany(
            "INSERT INTO bookings (user_id, note) VALUES (?, 'n')",
            [(f"user-{i % users}",) for i in range(rows)],
        )
        con.executemany("INSERT INTO bookings (user_id, note) VALUES (?, 'n')", list(extra))
        con.commit()
    finally:
        con.close()


def sqlite_dump(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    """Schema and every row of a SQLite file: equal before and after a no-op."""
    con = sqlite3.connect(path)
    try:
        schema = [r[0] for r in con.execute("SELECT sql FROM sqlite_master ORDER BY name")]
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows: list[tuple[object, ...]] = []
        for name in sorted(tables):
            rows.extend(con.execute(f'SELECT * FROM "{name}" ORDER BY rowid'))
        return schema, rows
    finally:
        con.close()
