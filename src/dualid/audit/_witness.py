"""Witnesses: places outside the database that keep the checkpoints the log signs.

A database writer can rewrite the log and the checkpoints stored beside it, but not what a
witness already holds: :meth:`AuditLog.verify(checkpoint=...)
<dualid.audit.AuditLog.verify>` with the witness's latest checkpoint finds a log that was
truncated, rewound or rewritten since.

Built in: :class:`FileWitness` (an append-only file, one checkpoint per record) and
:class:`HttpWitness` (POSTs each checkpoint's text to an endpoint). Anything with
``witness(checkpoint)`` and ``latest()`` is a witness.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Protocol, runtime_checkable

from dualid.errors import AuditError

from ._checkpoint import Checkpoint

__all__ = ["CheckpointWitness", "FileWitness", "HttpWitness", "WitnessUnavailable"]


class WitnessUnavailable(AuditError):
    """A witness could not take or give a checkpoint (file not writable, endpoint down)."""

    code = "WITNESS_UNAVAILABLE"


@runtime_checkable
class CheckpointWitness(Protocol):
    """Keeps checkpoints outside the database."""

    def witness(self, checkpoint: Checkpoint) -> None:
        """Record ``checkpoint``; raise :class:`WitnessUnavailable` when it cannot."""

    def latest(self) -> Checkpoint | None:
        """The last checkpoint recorded, or None."""


class FileWitness:
    """An append-only file of checkpoints: one JSON line per checkpoint (its signed-note
    text), appended with ``O_APPEND`` and flushed to disk before :meth:`witness` returns.
    Put it where the database's writers cannot write (another host, a WORM bucket mount)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def witness(self, checkpoint: Checkpoint) -> None:
        line = json.dumps({"checkpoint": str(checkpoint)}, ensure_ascii=True) + "\n"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise WitnessUnavailable(f"cannot append to the witness file: {exc.strerror}") from None

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint in the file, oldest first."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WitnessUnavailable(f"cannot read the witness file: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise WitnessUnavailable("the witness file is not UTF-8 text") from None
        out = []
        for line in text.splitlines():
            if line.strip():
                try:
                    note = json.loads(line)["checkpoint"]
                except (ValueError, KeyError, TypeError):
                    raise WitnessUnavailable("the witness file has a malformed line") from None
                out.append(Checkpoint.parse(note))
        return out

    def latest(self) -> Checkpoint | None:
        found = self.checkpoints()
        return found[-1] if found else None

    def __repr__(self) -> str:
        return f"FileWitness({str(self.path)!r})"


class HttpWitness:
    """POSTs each checkpoint's text (``text/plain; charset=utf-8``) to ``url``; any 2xx
    answer is success. :meth:`latest` GETs ``url`` and reads the checkpoint in the
    answer's body (a witness that does not serve one answers 404: None)."""

    def __init__(self, url: str, *, timeout: float = 5.0, headers: dict[str, str] | None = None):
        if not url.startswith(("http://", "https://")):
            raise AuditError("a witness URL starts with http:// or https://")
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})

    def _open(self, request: urllib.request.Request) -> bytes | None:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return bytes(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404 and request.get_method() == "GET":
                return None
            raise WitnessUnavailable(f"the witness answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise WitnessUnavailable(f"the witness is unreachable: {exc}") from None

    def witness(self, checkpoint: Checkpoint) -> None:
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.url,
            data=str(checkpoint).encode(),
            method="POST",
            headers={"Content-Type": "text/plain; charset=utf-8", **self.headers},
        )
        self._open(request)

    def latest(self) -> Checkpoint | None:
        request = urllib.request.Request(self.url, method="GET", headers=self.headers)  # noqa: S310
        body = self._open(request)
        return Checkpoint.parse(body) if body else None

    def __repr__(self) -> str:
        return f"HttpWitness({self.url!r})"
