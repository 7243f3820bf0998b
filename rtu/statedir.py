"""Where the outstation keeps state that must survive a restart (event journal, counters)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

__all__ = ["FORMAT_FILE", "STATE_FORMAT", "StateDirectoryError", "check_state_format",
           "directory_problem", "state_directory", "state_directory_path"]

# The layout and file formats of the state directory (the event journal's schema, the DLMS
# meters' state), as one number in FORMAT_FILE. Bump it when a release writes something that an
# older release would misread: an older release then refuses the directory with a clear error
# instead of misreading it (deploy/install.sh --rollback checks the same number before
# switching). A release reads every format up to its own.
STATE_FORMAT: Final = 1
FORMAT_FILE: Final = "FORMAT"
_MAGIC: Final = "rtu-state-format"


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
    check_state_format(path)
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


def check_state_format(path: Path, supported: int = STATE_FORMAT) -> int:
    """The format of the state directory ``path``; writes ``supported`` into a directory that
    does not say yet. StateDirectoryError when the directory was written by a release with a
    newer format than ``supported`` (a roll-back past a format change) or the file is garbled.
    """
    marker = path / FORMAT_FILE
    try:
        text = marker.read_text(encoding="ascii")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise StateDirectoryError(f"state directory {path}: cannot read {FORMAT_FILE}: {exc}") \
            from exc
    if not text:
        try:
            tmp = path / f".{FORMAT_FILE}.tmp"
            tmp.write_text(f"{_MAGIC} {supported}\n", encoding="ascii")
            tmp.replace(marker)
        except OSError as exc:
            raise StateDirectoryError(
                f"state directory {path}: cannot write {FORMAT_FILE}: {exc.strerror}") from exc
        return supported
    words = text.split()
    if len(words) != 2 or words[0] != _MAGIC or not words[1].isdigit():
        raise StateDirectoryError(
            f"state directory {path}: {FORMAT_FILE} is not '{_MAGIC} N' (found {text[:40]!r})")
    found = int(words[1])
    if found > supported:
        raise StateDirectoryError(
            f"state directory {path}: format {found} was written by a newer release; this "
            f"release reads formats up to {supported}. Install that release again (deploy/"
            f"install.sh --rollback undoes a roll-back), or move the directory aside to start "
            f"with an empty journal")
    return found
