"""Logging set-up for `rtu run`: the journal under systemd, stderr otherwise.

Under systemd, stderr is connected to the journal and ``JOURNAL_STREAM`` names that stream
(``DEVICE:INODE``). Then:

* with systemd-python installed, records go through ``systemd.journal.JournalHandler``: the
  journal gets the priority and structured fields (``LOGGER``, ``CODE_FILE``, ...);
* without it, records go to stderr as ``<PRIORITY>LEVEL logger: message``: journald reads the
  ``<N>`` prefix as the syslog priority (``SyslogLevelPrefix=yes``, the default) and adds the
  time stamp itself, so none is written.

Anywhere else (a terminal, a pipe, a test) the format carries a time stamp. Raw frames are
logged at DEBUG only (by the drivers), so the default INFO level keeps the journal small.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Final, TextIO

PLAIN_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JOURNAL_FORMAT: Final = "<%(priority)d>%(levelname)s %(name)s: %(message)s"
_PRIORITY: Final = {  # logging level -> syslog priority
    logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6,
    logging.DEBUG: 7,
}


def journal_stream(stream: TextIO | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` (stderr) is the journal stream systemd connected (sd_journal_stream)."""
    env = os.environ if environ is None else environ
    value = env.get("JOURNAL_STREAM", "")
    if not value:
        return False
    target = sys.stderr if stream is None else stream
    try:
        device, inode = (int(part) for part in value.split(":", 1))
        info = os.fstat(target.fileno())
    except (ValueError, OSError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (device, inode)


class PriorityFormatter(logging.Formatter):
    """``<N>`` syslog priority prefix for journald; continuation lines get it too."""

    def format(self, record: logging.LogRecord) -> str:
        priority = _priority(record.levelno)
        setattr(record, "priority", priority)  # noqa: B010 (LogRecord takes extra attributes)
        text = super().format(record)
        prefix = f"<{priority}>"
        return text.replace("\n", "\n" + prefix)


def _priority(levelno: int) -> int:
    for level in sorted(_PRIORITY, reverse=True):
        if levelno >= level:
            return _PRIORITY[level]
    return _PRIORITY[logging.DEBUG]


def setup_logging(level: str, *, stream: TextIO | None = None,
                  environ: Mapping[str, str] | None = None) -> str:
    """Configure the root logger; returns which destination was chosen (for a log line)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.setLevel(level.upper())
    handler: logging.Handler
    if journal_stream(stream, environ):
        try:
            from systemd.journal import JournalHandler  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(PriorityFormatter(JOURNAL_FORMAT))
            where = "journal (stderr with priority prefixes)"
        else:
            handler = JournalHandler(SYSLOG_IDENTIFIER="rtu")
            where = "journal (systemd.journal.JournalHandler)"
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
        where = "stderr"
    root.addHandler(handler)
    return where
