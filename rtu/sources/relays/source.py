"""Executes accepted commands on relay outputs and reports their positions back.

ACT_TERM is only sent once ``done`` is called here, i.e. after the relay has really been set
(and, for a pulse, released again). A driver error gives a negative ACT_TERM, never a crash.

Per relay (:class:`RelaySettings`):

* ``mode``: ``"qu"`` lets the command's pulse (IEC: its QU) choose a short/long pulse or a
  persistent output (no choice, QU 0: the station's default); ``"pulse"`` always pulses (long
  for a long pulse, or none chosen when the default is long; else short); ``"persistent"``
  always latches.
* ``feedback_input``: an input (e.g. an auxiliary contact) that must show the commanded state
  within ``feedback_timeout`` seconds of the output being set, or the ACT_TERM is negative. The
  command's feedback point then reports what that input says (return information, cause 11,
  while a command runs; spontaneous otherwise), not what was commanded.
* ``local_input``: a local/remote switch; while it is active (local) the relay's command points
  carry the blocked flag (BL), so the outstation refuses remote commands on them with a
  negative ACT_CON.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from hal.interfaces import RelayOutput
from rtu.frozen import frozen
from rtu.points.commands import CommandRequest, Done, Pulse
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, DoublePointValue, Point, PointKind, Quality

if TYPE_CHECKING:
    from rtu.config import RelayConfig

log = logging.getLogger(__name__)

PULSE_NAMES = {"persistent": Pulse.PERSISTENT, "short": Pulse.SHORT, "long": Pulse.LONG}
RELAY_MODES = ("qu", "pulse", "persistent")


@frozen
class RelaySettings:
    mode: str = "qu"  # "qu" | "pulse" | "persistent"
    feedback_input: str | None = None  # input confirming the output (active = on)
    feedback_timeout: float = 2.0  # seconds from setting the output
    local_input: str | None = None  # input active while the relay is in local control


class InputState(Protocol):
    """Debounced input levels and their changes (rtu.sources.gpio.source.DigitalSource)."""

    def level(self, name: str) -> bool | None: ...

    def watch_input(self, name: str,
                    callback: Callable[[bool, float], None]) -> Callable[[], None]: ...


def relay_settings(relays: Iterable[RelayConfig]) -> dict[str, RelaySettings]:
    return {r.name: RelaySettings(mode=r.mode, feedback_input=r.feedback_input,
                                  feedback_timeout=r.feedback_timeout, local_input=r.local_input)
            for r in relays}


class RelayExecutor:
    def __init__(
        self,
        db: PointDatabase,
        relays: Mapping[str, RelayOutput],
        *,
        short_pulse: float,
        long_pulse: float,
        default_qu: str = "persistent",
        wall: Callable[[], float] = time.time,
        settings: Mapping[str, RelaySettings] | None = None,
        inputs: InputState | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.relays = dict(relays)
        self.durations: dict[Pulse, float] = {}
        self.default_pulse = Pulse.PERSISTENT  # for requests that leave it to the output
        self.configure(short_pulse=short_pulse, long_pulse=long_pulse, default_qu=default_qu)
        self.wall = wall
        self.settings = dict(settings or {})
        self.inputs = inputs
        self._sleep = sleep
        self._monotonic = monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._commands: dict[str, list[Point]] = {}  # relay -> the command points driving it
        for point in db:
            if point.kind.is_command and point.target:
                self._commands.setdefault(point.target, []).append(point)
        self._local: dict[str, bool] = {}
        self._busy: dict[str, int] = {}  # relay -> commands running on it
        self._unsubscribe: list[Callable[[], None]] = []
        for name, s in self.settings.items():
            if (s.feedback_input or s.local_input) and inputs is None:
                raise ValueError(f"relay {name}: feedback/local inputs need an input source")

    def configure(self, *, short_pulse: float, long_pulse: float, default_qu: str) -> None:
        """Pulse lengths (seconds) and the pulse of commands that choose none ([commands])."""
        self.durations = {Pulse.SHORT: short_pulse, Pulse.LONG: long_pulse}
        self.default_pulse = PULSE_NAMES[default_qu]

    def execute(self, request: CommandRequest, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self._run(request, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_all(self) -> None:
        """Report every relay's position on its feedback points and block the command points
        of relays in local control (at start-up); from then on follow the feedback and
        local/remote inputs."""
        for point in self.db:
            if point.kind.is_command and point.target in self.relays and point.feedback:
                on = self._position(point.target)
                if on is not None:
                    self._report(point.feedback, on, ChangeOrigin.FIELD)
        if self.inputs is None or self._unsubscribe:
            return
        for relay, s in self.settings.items():
            if relay not in self.relays:
                continue
            if s.feedback_input:
                self._unsubscribe.append(self.inputs.watch_input(
                    s.feedback_input, partial(self._on_feedback, relay)))
            if s.local_input:
                self._unsubscribe.append(self.inputs.watch_input(
                    s.local_input, partial(self._on_local, relay)))
                if self.inputs.level(s.local_input):
                    self._on_local(relay, True, self.wall())

    def close(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _position(self, relay: str) -> bool | None:
        """What the feedback point shows: the feedback input if there is one, else the output."""
        feedback = self.settings.get(relay, RelaySettings()).feedback_input
        if feedback and self.inputs is not None:
            return self.inputs.level(feedback)
        return self.relays[relay].get()

    def _on_feedback(self, relay: str, on: bool, timestamp: float) -> None:
        origin = ChangeOrigin.REMOTE_COMMAND if self._busy.get(relay) else ChangeOrigin.FIELD
        for point in self._commands.get(relay, ()):
            if point.feedback:
                self._report(point.feedback, on, origin, timestamp)

    def _on_local(self, relay: str, local: bool, timestamp: float) -> None:
        if self._local.get(relay, False) != local:
            log.info("relay %s: %s", relay,
                     "LOCAL control, remote commands refused" if local else "remote control")
        self._local[relay] = local
        for point in self._commands.get(relay, ()):
            current = self.db.value(point.name)
            quality = current.quality | Quality.BL if local else current.quality & ~Quality.BL
            self.db.update(point.name, current.value, quality, timestamp=timestamp)

    async def _run(self, request: CommandRequest, done: Done) -> None:
        point = request.point
        relay = self.relays.get(point.target or "")
        if relay is None:
            log.error("command %s: no relay %r", point.name, point.target)
            done(False)
            return
        if point.kind is PointKind.SINGLE_COMMAND:
            on = bool(request.value)
        elif point.kind is PointKind.DOUBLE_COMMAND:
            on = request.value == DoublePointValue.ON
        else:  # refused by the configuration check (RELAY_COMMAND_KINDS): a bug if it gets here
            log.error("command %s: a relay cannot execute %s", point.name, point.kind.value)
            done(False)
            return
        target = point.target or ""
        if self._local.get(target):
            log.warning("command %s refused: relay %s is in local control", point.name, target)
            done(False)
            return
        settings = self.settings.get(target, RelaySettings())
        pulse = self._effective_pulse(request.pulse, settings.mode)
        feedback = settings.feedback_input if self.inputs is not None else None
        confirmed: asyncio.Future[bool] | None = None
        unsubscribe: Callable[[], None] | None = None
        self._busy[target] = self._busy.get(target, 0) + 1
        try:
            if feedback:  # listen before switching: the feedback may come at once
                confirmed, unsubscribe = self._expect(feedback, on)
            started = self._monotonic()
            await asyncio.to_thread(relay.set, on)
            if not feedback:
                self._report_point(point.feedback, relay)
            if pulse in self.durations:
                await self._sleep(self.durations[pulse])
                await asyncio.to_thread(relay.set, not on)
                if not feedback:
                    self._report_point(point.feedback, relay)
            if feedback and confirmed is not None:
                ok = await self._wait_confirmed(confirmed, started + settings.feedback_timeout)
                assert self.inputs is not None
                level = self.inputs.level(feedback)
                if point.feedback and level is not None:  # what the input says
                    self._report(point.feedback, level, ChangeOrigin.REMOTE_COMMAND)
                if not ok:
                    log.warning("command %s: feedback input %s did not show %s within %g s",
                                point.name, feedback, "on" if on else "off",
                                settings.feedback_timeout)
                    done(False)
                    return
        except Exception as exc:  # noqa: BLE001  # a driver fault is a failed command, not a crash
            log.error("command %s on relay %s failed: %s", point.name, relay.name, exc)
            done(False)
            return
        finally:
            if unsubscribe is not None:
                unsubscribe()
            self._busy[target] -= 1
        done(True)

    def _effective_pulse(self, pulse: Pulse, mode: str) -> Pulse:
        if mode == "persistent":
            return Pulse.PERSISTENT
        chosen = self.default_pulse if pulse is Pulse.DEFAULT else pulse
        if mode == "pulse":
            return Pulse.LONG if chosen is Pulse.LONG else Pulse.SHORT
        return chosen

    def _expect(self, name: str, want: bool) -> tuple[asyncio.Future[bool], Callable[[], None]]:
        """A future done once input ``name`` shows ``want``, and its unsubscribe function."""
        assert self.inputs is not None
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def changed(level: bool, timestamp: float) -> None:
            if level == want and not future.done():
                future.set_result(True)

        unsubscribe = self.inputs.watch_input(name, changed)
        if self.inputs.level(name) == want:
            future.set_result(True)
        return future, unsubscribe

    async def _wait_confirmed(self, confirmed: asyncio.Future[bool], deadline: float) -> bool:
        remaining = deadline - self._monotonic()
        if confirmed.done() or remaining <= 0:
            return confirmed.done()
        timer = asyncio.ensure_future(self._sleep(remaining))
        waiting: set[asyncio.Future[Any]] = {confirmed, timer}
        try:
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return confirmed.done()

    def _report_point(self, feedback: str | None, relay: RelayOutput) -> None:
        if feedback:
            self._report(feedback, relay.get(), ChangeOrigin.REMOTE_COMMAND)

    def _report(self, feedback: str, on: bool, origin: ChangeOrigin,
                timestamp: float | None = None) -> None:
        kind = self.db.point(feedback).kind
        value: bool | int = on
        if kind is PointKind.DOUBLE:
            value = int(DoublePointValue.ON if on else DoublePointValue.OFF)
        self.db.update(feedback, value, timestamp=self.wall() if timestamp is None else timestamp,
                       origin=origin)
