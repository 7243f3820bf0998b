"""The systemd watchdog and status line, driven by health checks.

systemd (``WatchdogSec=`` in the unit) kills and restarts a service that stops sending
``WATCHDOG=1`` for that long. :class:`Watchdog` sends it from a task on the main event loop at
half of ``WATCHDOG_USEC``, and only while every health check passes:

* the event loop runs: a stalled loop (a blocking call, a busy loop) never reaches the task,
  so the pings stop by themselves; a late tick is also logged with how long the loop stalled;
* every check passes: a check is a callable returning ``None`` when healthy and a reason
  otherwise (the 104 server's listening socket is gone, a task the supervisor marks critical
  has ended, ...). A failed check latches: the watchdog never pings again, logs the reason
  once and shows it in ``STATUS=``, and systemd restarts the service when ``WatchdogSec``
  runs out. A check that raises counts as failed.

Without a watchdog (no ``WATCHDOG_USEC``, i.e. not under systemd or no ``WatchdogSec=``) the
same task still runs the checks and keeps ``STATUS=`` current; nothing else happens, and the
notifier sends nothing when there is no ``NOTIFY_SOCKET``.

Sans-I/O where it matters: the notifier and the clock are injected, so the logic is tested
with a fake of each (tests/unit/test_watchdog.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import Final

log = logging.getLogger(__name__)

Notifier = Callable[[str], object]
HealthCheck = Callable[[], "str | None"]

STATUS_PERIOD: Final = 5.0  # seconds between STATUS= updates (and checks) without a watchdog
STALL_FACTOR: Final = 2.0  # a tick this many periods late is logged as a stalled loop


def watchdog_interval(environ: Mapping[str, str] | None = None,
                      pid: int | None = None) -> float | None:
    """Seconds of ``WatchdogSec`` as systemd passes it (``sd_watchdog_enabled()``), or None.

    ``WATCHDOG_USEC`` gives the timeout; ``WATCHDOG_PID``, when set, must be our pid (the
    variables were meant for another process otherwise, e.g. a parent shell's).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec:
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring WATCHDOG_USEC=%r: not a number", usec)
        return None
    if value <= 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner:
        try:
            if int(owner) != (os.getpid() if pid is None else pid):
                return None
        except ValueError:
            return None
    return value / 1_000_000


class Watchdog:
    """Pings ``WATCHDOG=1`` while healthy and keeps ``STATUS=`` current.

    ``timeout`` is systemd's watchdog timeout in seconds (None: no watchdog); the task ticks
    every ``timeout / 2`` (``STATUS_PERIOD`` without a watchdog). ``status`` builds the one-line
    summary; it is sent when it changes, at most once per ``STATUS_PERIOD``, and at once when
    the health changes.
    """

    def __init__(
        self,
        notify: Notifier,
        *,
        timeout: float | None,
        checks: Mapping[str, HealthCheck] | None = None,
        status: Callable[[], str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notify = notify
        self.timeout = timeout
        self.period = timeout / 2 if timeout else STATUS_PERIOD
        self.checks: dict[str, HealthCheck] = dict(checks or {})
        self.status = status
        self.clock = clock
        self.failure: str | None = None  # the first failed check: latched
        self.pings = 0
        self._last_tick: float | None = None
        self._last_status: str | None = None
        self._last_status_at = float("-inf")

    @property
    def enabled(self) -> bool:
        return self.timeout is not None

    @property
    def healthy(self) -> bool:
        return self.failure is None

    def add_check(self, name: str, check: HealthCheck) -> None:
        self.checks[name] = check

    def remove_check(self, name: str) -> None:
        self.checks.pop(name, None)

    def tick(self) -> bool:
        """One round: measure the loop, run the checks, ping if healthy; True if it pinged."""
        now = self.clock()
        if self._last_tick is not None:
            late = now - self._last_tick - self.period
            if late > self.period * (STALL_FACTOR - 1):
                log.warning("event loop stalled: tick %.1f s late (period %.1f s)", late,
                            self.period)
        self._last_tick = now
        if self.failure is None:
            reason = self._first_failure()
            if reason is not None:
                self.failure = reason
                if self.enabled:
                    log.error("unhealthy: %s; no more watchdog pings, systemd will restart us",
                              reason)
                else:
                    log.error("unhealthy: %s", reason)
                self.send_status(force=True)
        if self.failure is not None:
            return False
        self.send_status()
        if not self.enabled:
            return False
        self.notify("WATCHDOG=1")
        self.pings += 1
        return True

    def send_status(self, *, force: bool = False) -> None:
        """Send ``STATUS=`` if the line changed (rate-limited unless ``force``)."""
        if self.status is None:
            return
        line = self.status_line()
        now = self.clock()
        if line == self._last_status:
            return
        if not force and now - self._last_status_at < STATUS_PERIOD:
            return
        self._last_status = line
        self._last_status_at = now
        self.notify(f"STATUS={line}")

    def status_line(self) -> str:
        try:
            line = self.status() if self.status is not None else ""
        except Exception as exc:  # noqa: BLE001 (the summary must never stop the watchdog)
            line = f"status unavailable: {exc}"
        if self.failure is not None:
            line = f"UNHEALTHY: {self.failure}; {line}" if line else f"UNHEALTHY: {self.failure}"
        return " ".join(line.split())  # one line, whatever the parts contain

    async def run(self) -> None:
        """Tick for ever (until cancelled); the first tick is immediate."""
        while True:
            self.tick()
            await asyncio.sleep(self.period)

    def _first_failure(self) -> str | None:
        for name, check in list(self.checks.items()):
            try:
                reason = check()
            except Exception as exc:  # noqa: BLE001 (a broken check is a failed check)
                reason = f"health check raised {type(exc).__name__}: {exc}"
            if reason is not None:
                return f"{name}: {reason}"
        return None


def task_alive(task: asyncio.Task[object] | None) -> HealthCheck:
    """A check failing once ``task`` has ended (cancelled, failed or returned)."""

    def check() -> str | None:
        if task is None or not task.done():
            return None
        if task.cancelled():
            return "task was cancelled"
        exc = task.exception()
        return f"task ended: {exc!r}" if exc is not None else "task returned"

    return check
