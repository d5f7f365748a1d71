"""Persisted clock state: one small JSON file, written atomically.

The file keeps what must survive a restart: the learned frequency and its uncertainty, the
recent drift points, the last sync anchor (valid only in the same boot, because it is
expressed in the boot's monotonic clock), the timeline's slew state and the last issued
HLC (so time never goes backwards across restarts).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["STATE_VERSION", "current_boot_id", "load_state", "save_state"]

STATE_VERSION = 1
_log = logging.getLogger("dualid.clock")
_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def current_boot_id() -> str | None:
    """The kernel's boot id on Linux (changes at every boot); ``None`` elsewhere."""
    try:
        with open(_BOOT_ID_PATH, encoding="ascii") as handle:
            return handle.read().strip() or None
    except OSError:
        return None


def save_state(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write ``state`` as JSON to ``path`` atomically: a temporary file in the same
    directory, flushed and fsynced, then renamed over the old file (readers see the old
    or the new content, never a torn one)."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    directory.mkdir(parents=True, exist_ok=True)
    payload = json.dumps({"version": STATE_VERSION, **state}, sort_keys=True, indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable where the OS allows it
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def load_state(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The saved state, or ``None`` if there is none or it is unreadable (logged)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        _log.warning("ignoring unreadable clock state %s: %s", path, exc)
        return None
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        _log.warning("ignoring clock state %s with unknown version", path)
        return None
    return data
