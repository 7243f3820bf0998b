"""Where the outstation keeps state that must survive a restart (event journal, counters)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["StateDirectoryError", "state_directory"]


class StateDirectoryError(OSError):
    """The state directory cannot be created or is not a writable directory."""


def state_directory(configured: str = "",
                    environ: Mapping[str, str] | None = None) -> Path:
    """The state directory, created (mode 0700) when missing.

    ``$STATE_DIRECTORY`` (set by systemd's StateDirectory=; the first entry when it lists
    several) wins, since the unit's sandbox lets the service write only there; then the
    configured ``[service] state_directory``; then ``$XDG_STATE_HOME/rtu`` or
    ``~/.local/state/rtu``.
    """
    env = os.environ if environ is None else environ
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        path = Path(systemd)
    elif configured:
        path = Path(configured)
    else:
        base = env.get("XDG_STATE_HOME") or os.path.join(
            env.get("HOME") or os.path.expanduser("~"), ".local", "state")
        path = Path(base) / "rtu"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirectoryError(f"state directory {path}: cannot create it: {exc.strerror}") \
            from exc
    if not path.is_dir():
        raise StateDirectoryError(f"state directory {path}: not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateDirectoryError(f"state directory {path}: not writable by this user")
    return path
