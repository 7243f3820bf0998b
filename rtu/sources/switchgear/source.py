"""Two-coil switching devices: a double command pulses the close or the open coil and waits
for the position (a double point) to reach the commanded end state.

Per command on a breaker (:class:`Switchgear`, wrapping the command path built so far):

* refused before it is confirmed (negative ACT_CON) while the breaker is in local control or
  still operating (:meth:`Switchgear.refusal`, asked at select and at execute);
* a command to the state the device already shows (valid) is confirmed without operating, or
  refused, as ``same_state`` says;
* otherwise the other coil is released, the coil is energised for ``pulse`` seconds, and the
  command is done once the position shows the end state (positive ACT_TERM) or when
  ``supervision`` seconds from the pulse's start have passed without it (negative ACT_TERM, or
  positive if ``negative_termination`` is off). The coils are never both energised.

While a command runs, the position's changes are its return information (cause 11); while the
``local`` point is on they are reported as caused by a local command (cause 12); otherwise
they are spontaneous. The database attributes them (:meth:`PointDatabase.attribute`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from hal.interfaces import RelayOutput
from rtu.components import Field, Parts
from rtu.points.commands import CommandExecutor, CommandRequest, Done, ForwardingExecutor
from rtu.points.database import PointDatabase
from rtu.points.model import (
    ChangeOrigin,
    DoublePointValue,
    Point,
    PointChanged,
    PointKind,
    Quality,
    StepDirection,
)
from rtu.sources.switchgear.config import BreakerConfig, SwitchgearConfig, TapChangerConfig

log = logging.getLogger(__name__)

_DOUBTFUL = Quality.IV | Quality.NT


@dataclass(slots=True)
class Breaker:
    """One device: its settings, its coils and what it is doing."""

    config: BreakerConfig
    close_coil: RelayOutput
    open_coil: RelayOutput
    busy: bool = False
    local: bool = False
    _release_local: Callable[[], None] | None = field(default=None, repr=False)


@dataclass(slots=True)
class TapChanger:
    """A tap changer: a pulse on ``raise_coil`` moves it one step higher, on ``lower_coil``
    one step lower; its position is a step point."""

    config: TapChangerConfig
    raise_coil: RelayOutput
    lower_coil: RelayOutput
    busy: bool = False
    local: bool = False
    _release_local: Callable[[], None] | None = field(default=None, repr=False)


Device = Breaker | TapChanger


class Switchgear(ForwardingExecutor):
    """Executes the double commands of breakers; every other command goes on to ``inner``."""

    def __init__(self, inner: CommandExecutor, db: PointDatabase,
                 breakers: Mapping[str, Breaker], *,
                 tap_changers: Mapping[str, TapChanger] | None = None,
                 wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(inner)
        self.db = db
        self.breakers = {b.config.command: b for b in breakers.values()}
        self.taps = {t.config.command: t for t in (tap_changers or {}).values()}
        devices: list[Device] = [*self.breakers.values(), *self.taps.values()]
        self.wall = wall
        self._sleep = sleep
        self._monotonic = monotonic
        self._tasks: set[asyncio.Task[None]] = set()
        self._locals: dict[str, list[Device]] = {}
        for device in devices:
            if device.config.local:
                self._locals.setdefault(device.config.local, []).append(device)
        self._unsubscribe: Callable[[], None] | None = None

    # -- start and stop ----------------------------------------------------------------------
    def initialise(self) -> None:
        """Simulated positions start open; follow the local/remote switches."""
        now = self.wall()
        for device in self._devices():
            c = device.config
            if c.travel is not None and self.db.value(c.position).quality & _DOUBTFUL:
                start = int(DoublePointValue.OFF) if isinstance(device, Breaker) else 0
                self.db.update(c.position, start, timestamp=now)
            if c.local:
                self._set_local(device, bool(self.db.value(c.local).value))
        if self._unsubscribe is None and self._locals:
            self._unsubscribe = self.db.subscribe(self._on_change)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for device in self._devices():
            self._set_local(device, False)
        for task in self._tasks:
            task.cancel()

    def _devices(self) -> list[Device]:
        return [*self.breakers.values(), *self.taps.values()]

    def _on_change(self, change: PointChanged) -> None:
        for device in self._locals.get(change.point.name, ()):
            self._set_local(device, bool(change.new.value))

    def _set_local(self, device: Device, local: bool) -> None:
        if local == device.local:
            return
        device.local = local
        log.info("%s %s: %s", _what(device), device.config.name,
                 "LOCAL control, remote commands refused" if local else "remote control")
        if local:
            device._release_local = self.db.attribute(device.config.position,
                                                      ChangeOrigin.LOCAL_COMMAND)
        elif device._release_local is not None:
            device._release_local()
            device._release_local = None

    # -- the command path --------------------------------------------------------------------
    def refusal(self, request: CommandRequest) -> str | None:
        name = request.point.name
        device: Device | None = self.breakers.get(name) or self.taps.get(name)
        if device is None:
            return super().refusal(request)
        if device.local:
            return f"{_what(device)} {device.config.name} is in local control"
        if device.busy:
            return f"{_what(device)} {device.config.name} is still operating"
        return super().refusal(request)

    def confirms(self, point: Point) -> bool:
        return (point.name not in self.breakers and point.name not in self.taps
                and super().confirms(point))

    def execute(self, request: CommandRequest, done: Done) -> None:
        name = request.point.name
        breaker, tap = self.breakers.get(name), self.taps.get(name)
        if breaker is not None:
            self._spawn(self._operate(breaker, request, done))
        elif tap is not None:
            self._spawn(self._step(tap, request, done))
        else:
            super().execute(request, done)

    async def _step(self, tap: TapChanger, request: CommandRequest, done: Done) -> None:
        """A pulse on the raise or lower coil; done once the position moved one step that
        way (or negative when the supervision time passes first)."""
        c = tap.config
        if request.point.kind is not PointKind.REGULATING_STEP or request.value not in (
                StepDirection.HIGHER, StepDirection.LOWER):
            log.error("tap changer %s: cannot execute %s %r", c.name, request.point.kind.value,
                      request.value)
            done(False)
            return
        if tap.local or tap.busy:
            log.warning("tap changer %s: command refused (%s)", c.name,
                        "local control" if tap.local else "still operating")
            done(False)
            return
        higher = request.value == StepDirection.HIGHER
        coil, other = (tap.raise_coil, tap.lower_coil) if higher else (tap.lower_coil,
                                                                       tap.raise_coil)
        start = self.db.value(c.position)
        if start.quality & _DOUBTFUL:
            log.warning("tap changer %s: position %s is not valid: command refused", c.name,
                        c.position)
            done(False)
            return
        want = int(start.value) + (1 if higher else -1)
        travel = (lambda: self._travel_step(c, want)) if c.travel is not None else None
        ok = await self._drive(tap, c.position, want, coil, other, travel)
        if ok is False:
            log.warning("tap changer %s: %s command: position %s did not reach %d within "
                        "%g s (it shows %s)", c.name, "raise" if higher else "lower",
                        c.position, want, c.supervision, self.db.value(c.position).value)
        done(ok is True or (ok is False and not c.negative_termination))

    async def _travel_step(self, c: TapChangerConfig, want: int) -> None:
        """The simulated drive: the position is in transit, then at the next step."""
        assert c.travel is not None
        current = self.db.value(c.position)
        self.db.update(c.position, current.value, current.quality | Quality.TRANSIENT,
                       timestamp=self.wall())
        await self._sleep(c.travel)
        self.db.update(c.position, want, timestamp=self.wall())

    async def _operate(self, breaker: Breaker, request: CommandRequest, done: Done) -> None:
        c = breaker.config
        if request.point.kind is not PointKind.DOUBLE_COMMAND or request.value not in (
                DoublePointValue.ON, DoublePointValue.OFF):
            log.error("breaker %s: cannot execute %s %r", c.name, request.point.kind.value,
                      request.value)
            done(False)
            return
        if breaker.local or breaker.busy:  # refused at ACT_CON already; a race at most
            log.warning("breaker %s: command refused (%s)", c.name,
                        "local control" if breaker.local else "still operating")
            done(False)
            return
        want = DoublePointValue(int(request.value))
        word = "close" if want is DoublePointValue.ON else "open"
        current = self.db.value(c.position)
        if int(current.value) == want and not current.quality & _DOUBTFUL:
            positive = c.same_state == "positive"
            log.log(logging.INFO if positive else logging.WARNING,
                    "breaker %s: %s, but it is %s already: %s", c.name, word,
                    "closed" if want is DoublePointValue.ON else "open",
                    "confirmed without operating" if positive else "refused")
            done(positive)
            return
        coil, other = ((breaker.close_coil, breaker.open_coil) if want is DoublePointValue.ON
                       else (breaker.open_coil, breaker.close_coil))
        travel = (lambda: self._travel(c, want)) if c.travel is not None else None
        ok = await self._drive(breaker, c.position, want, coil, other, travel, word)
        if ok is False:
            shown = DoublePointValue(int(self.db.value(c.position).value))
            log.warning("breaker %s: %s command: position %s did not show %s within %g s "
                        "(it shows %s)", c.name, word, c.position, want.name,
                        c.supervision, shown.name)
        done(ok is True or (ok is False and not c.negative_termination))

    async def _drive(self, device: Device, position: str, want: int, coil: RelayOutput,
                     other: RelayOutput,
                     travel: Callable[[], Coroutine[Any, Any, None]] | None,
                     word: str = "") -> bool | None:
        """The pulse both kinds of switchgear give: the other coil off, ``coil`` on for the
        pulse, then wait until ``position`` shows ``want`` within the supervision time, with
        the position's changes meanwhile reported as caused by the command. True: reached;
        False: not in time; None: a driver fault (logged, both coils released)."""
        c = device.config
        reached: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def watch(change: PointChanged) -> None:
            # a tap position still flagged transient (M_ST's T bit) has not arrived yet
            if (change.point.name == position and int(change.new.value) == want
                    and not change.new.quality & (_DOUBTFUL | Quality.TRANSIENT)
                    and not reached.done()):
                reached.set_result(None)

        device.busy = True
        unsubscribe = self.db.subscribe(watch)
        release = self.db.attribute(position, ChangeOrigin.REMOTE_COMMAND)
        try:
            if other.get():
                await asyncio.to_thread(other.set, False)
            started = self._monotonic()
            await asyncio.to_thread(coil.set, True)
            if travel is not None:
                self._spawn(travel())  # the simulated drive
            await self._sleep(c.pulse)
            await asyncio.to_thread(coil.set, False)
            return await self._wait(reached, started + c.supervision)
        except asyncio.CancelledError:
            await self._release(device)
            raise
        except Exception as exc:  # noqa: BLE001  # a driver fault fails the command, no crash
            log.error("%s %s: %scommand failed: %s", _what(device), c.name,
                      f"{word} " if word else "", exc)
            await self._release(device)
            return None
        finally:
            unsubscribe()
            release()
            device.busy = False

    async def _release(self, device: Device) -> None:
        """Both coils off, whatever happened (each tried even if the other fails)."""
        coils = ((device.close_coil, device.open_coil) if isinstance(device, Breaker)
                 else (device.raise_coil, device.lower_coil))
        for coil in coils:
            try:
                if coil.get():
                    await asyncio.to_thread(coil.set, False)
            except Exception as exc:  # noqa: BLE001
                log.error("%s %s: cannot release coil %s: %s", _what(device),
                          device.config.name, coil.name, exc)

    async def _wait(self, reached: asyncio.Future[None], deadline: float) -> bool:
        remaining = deadline - self._monotonic()
        if reached.done() or remaining <= 0:
            return reached.done()
        timer = asyncio.ensure_future(self._sleep(remaining))
        try:
            await asyncio.wait({reached, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        return reached.done()

    async def _travel(self, c: BreakerConfig, want: DoublePointValue) -> None:
        """The simulated mechanism: the contacts part at once, the end state after travel."""
        assert c.travel is not None
        self.db.update(c.position, int(DoublePointValue.INDETERMINATE), timestamp=self.wall())
        await self._sleep(c.travel)
        self.db.update(c.position, int(want), timestamp=self.wall())

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _what(device: Device) -> str:
    return "breaker" if isinstance(device, Breaker) else "tap changer"


class _NoPath:
    """The command path before ``Parts.commands`` hands the switchgear the rest of it."""

    def execute(self, request: CommandRequest, done: Done) -> None:
        log.error("command %s before the command path was built", request.point.name)
        done(False)


def build(field: Field) -> Parts:
    from rtu.sources.relays.component import Relays

    config = field.config.section("switchgear")
    assert isinstance(config, SwitchgearConfig)
    relays = field.get(Relays)
    if relays is None:  # the registry builds relays first: our mistake if not
        raise RuntimeError("switchgear needs the relays component built before it")
    breakers = {b.name: Breaker(b, relays.outputs[b.close_coil], relays.outputs[b.open_coil])
                for b in config.breakers}
    taps = {t.name: TapChanger(t, relays.outputs[t.raise_coil], relays.outputs[t.lower_coil])
            for t in config.tap_changers}
    switchgear = Switchgear(_NoPath(), field.db, breakers, tap_changers=taps)

    def commands(executor: CommandExecutor) -> CommandExecutor:
        switchgear.inner = executor
        return switchgear

    return Parts(commands=commands, initialise=[switchgear.initialise],
                 close=[switchgear.close], provides=(switchgear,))
