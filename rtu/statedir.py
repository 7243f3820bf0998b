"""Where the outstation keeps state that must survive a restart (event journal, counters)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["StateDirectoryError", "directory_problem", "state_directory",
           "state_directory_path"]


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
    path = state_directory_path(configured, environ)
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


def state_directory_path(configured: str = "",
                         environ: Mapping[str, str] | None = None) -> Path:
    """Where :func:`state_directory` puts the state, without creating anything."""
    env = os.environ if environ is None else environ
    systemd = env.get("STATE_DIRECTORY", "").split(":")[0]
    if systemd:
        return Path(systemd)
    if configured:
        return Path(configured)
    base = env.get("XDG_STATE_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".local", "state")
    return Path(base) / "rtu"


def directory_problem(path: Path) -> str | None:
    """Why :func:`state_directory` would fail on ``path`` (None: it would not), without
    creating anything: an existing directory must be writable; a missing one needs its
    nearest existing ancestor to be a writable directory."""
    if path.exists():
        if not path.is_dir():
            return f"{path}: not a directory"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"{path}: not writable by this user"
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"{path}: cannot be created ({parent} is not a directory)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path}: cannot be created ({parent} is not writable by this user)"
    return None
