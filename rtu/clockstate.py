"""The system clock as the service sees it: whether it is synchronised, its time zone, the
offset a master's clock synchronisation left (kept in the state directory) and, for
``clock_sync = "system"``, setting it. Driver layer: the outstation (rtu/iec) reads none of
this itself; the supervisor hands it the results.

Synchronised means what ``timedatectl`` shows as "System clock synchronized". Read, in order:

1. systemd-timesyncd's flag file ``/run/systemd/timesync/synchronized`` (present once it has
   synchronised the clock since boot): readable from the hardened unit;
2. the kernel's own state through a read-only ``adjtimex`` (STA_UNSYNC / TIME_ERROR), for
   chrony or ntpd. The shipped unit does not allow that call (ProtectClock=yes, and
   SystemCallFilter= kills a process making a call outside its list), so it is made only when
   no seccomp filter is in force or the environment says the call is allowed
   (``RTU_CLOCK_CALLS=read``, set by the drop-in systemd/clock-state.conf, or ``=set``, by
   systemd/clock-sync.conf). Under the shipped unit only the flag file counts.

Neither answering counts as not synchronised.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import time
from collections.abc import Mapping
from datetime import tzinfo
from pathlib import Path

from rtu.points.timestamps import utc_datetime

__all__ = [
    "CLOCK_CALLS_ENV",
    "TIMESYNCD_FLAG",
    "ClockOffsetStore",
    "clock_calls_allowed",
    "kernel_clock_synchronised",
    "set_system_clock",
    "system_clock_synchronised",
    "system_time_zone",
]

log = logging.getLogger(__name__)

TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
_TIME_ERROR = 5  # adjtimex's return value while the clock is not synchronised
_STA_UNSYNC = 0x0040
_TIMEX_SIZE = 512  # struct timex is 208 octets on 64-bit Linux: room to spare
# "read": a read-only adjtimex is allowed (systemd/clock-state.conf); "set": setting the
# clock too (systemd/clock-sync.conf)
CLOCK_CALLS_ENV = "RTU_CLOCK_CALLS"


def clock_calls_allowed(environ: Mapping[str, str] | None = None,
                        status: Path = Path("/proc/self/status"), *, setting: bool = False) -> bool:
    """Whether adjtimex (or, ``setting``, clock_settime) may be called: a seccomp filter
    (systemd's SystemCallFilter=) kills the process on a call it does not list, so only
    without one, or when the drop-in that allows the call says so."""
    env = os.environ if environ is None else environ
    allowed = env.get(CLOCK_CALLS_ENV, "")
    if allowed == "set" or (allowed == "read" and not setting):
        return True
    try:
        text = status.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("Seccomp:"):
            return line.split()[1:2] == ["0"]
    return False


def kernel_clock_synchronised() -> bool | None:
    """The kernel's synchronisation state by a read-only adjtimex (modes 0); None when the
    call is refused or not allowed (the hardened unit) or unavailable."""
    if not clock_calls_allowed():
        return None
    try:
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex  # libc, linked into Python
    except (OSError, AttributeError):
        return None
    buf = ctypes.create_string_buffer(_TIMEX_SIZE)  # all zero: modes 0, nothing is changed
    state = adjtimex(buf)
    if state < 0:
        return None
    # struct timex: unsigned int modes, then (padded) long offset, freq, maxerror, esterror,
    # then int status
    word = ctypes.sizeof(ctypes.c_long)
    status = int.from_bytes(buf.raw[4 * word + word:4 * word + word + 4], "little")
    return state != _TIME_ERROR and not status & _STA_UNSYNC


def system_clock_synchronised(flag: Path = TIMESYNCD_FLAG) -> bool:
    """Whether the system clock is synchronised (see the module docstring)."""
    try:
        if flag.exists():
            return True
    except OSError:
        pass
    return bool(kernel_clock_synchronised())


def system_time_zone(environ: Mapping[str, str] | None = None) -> tzinfo | None:
    """The system time zone ($TZ, else /etc/localtime); None when it cannot be read (then
    time tags stay in UTC, with a warning)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only with time_tags = "local"

    env = os.environ if environ is None else environ
    name = env.get("TZ", "").lstrip(":")
    try:
        if name:
            return ZoneInfo(name)
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError, ZoneInfoNotFoundError) as exc:
        log.warning("time_tags = \"local\": cannot read the system time zone (%s); UTC is sent",
                    exc)
        return None


def set_system_clock(seconds: float) -> str | None:
    """Step the system clock to POSIX ``seconds`` (clock_sync = "system"); None when done,
    else why not (no CAP_SYS_TIME: install systemd/clock-sync.conf; a 32-bit time_t cannot
    hold a time after 2038)."""
    if not clock_calls_allowed(setting=True):
        return ("not allowed by the service's system call filter (install "
                "systemd/clock-sync.conf)")
    try:
        time.clock_settime(time.CLOCK_REALTIME, seconds)
    except PermissionError:
        return "not permitted (CAP_SYS_TIME: see systemd/clock-sync.conf)"
    except (OSError, OverflowError, ValueError) as exc:
        return f"cannot set the system clock to {utc_datetime(seconds).isoformat()}: {exc}"
    return None


class ClockOffsetStore:
    """The offset of the last clock synchronisation, kept across restarts in a small JSON
    file in the state directory (written atomically; a damaged file is ignored)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> tuple[float, float] | None:
        """(offset, system time of the sync), or None if nothing usable is stored."""
        try:
            data = json.loads(self.path.read_text())
            offset, synced = float(data["offset"]), float(data["synced_at"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("clock offset file %s ignored: %s", self.path, exc)
            return None
        if not (math.isfinite(offset) and math.isfinite(synced)):
            log.warning("clock offset file %s ignored: not finite numbers", self.path)
            return None
        return offset, synced

    def save(self, offset: float, synced_at: float) -> None:
        """Store the offset; a failure is logged, never raised (the sync itself stands)."""
        tmp = self.path.with_suffix(".tmp")
        try:
            tmp.write_text(json.dumps({"offset": offset, "synced_at": synced_at,
                                       "time": utc_datetime(synced_at).isoformat()}))
            os.replace(tmp, self.path)
        except (OSError, OverflowError) as exc:
            log.warning("clock offset not kept for the next start: %s: %s", self.path, exc)
