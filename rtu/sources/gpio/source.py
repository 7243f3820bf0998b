"""Digital inputs as an RTU does them: debounce, chatter suppression, inversion, double points
from two contacts, and a periodic re-read that catches lost edges.

:class:`DigitalProcessor` is the logic, sans-I/O: it is fed edges and levels with their times
(seconds on the monotonic clock, the kernel's edge time stamps included), tells when it next
needs the time (:meth:`~DigitalProcessor.next_deadline`) and hands out point reports; tests
drive it with plain numbers. :class:`DigitalSource` is the thin asyncio runner: edges from an
:class:`~hal.interfaces.EdgeInputs` bank, re-reads through ``asyncio.to_thread``, reports into
the point database with wall-clock time stamps.

Per input (after inversion, which happens first):

* **debounce**: a change is accepted once the input has been steady for ``debounce`` seconds,
  and is time-stamped with its FIRST edge (the contact started to move then); a pulse shorter
  than the debounce time is a glitch and is dropped.

Per point (single point: one input; double point: an "on" and an "off" contact):

* **double points**: on/off = 10 ON, 01 OFF, 11 INDETERMINATE_OR_FAULTY (reported at once),
  00 INDETERMINATE (intermediate, reported only when it lasts longer than ``settle`` seconds,
  then time-stamped when it began; a travel that ends within ``settle`` reports only the end
  position).
* **step positions** (a tap changer's M_ST): N inputs coded binary or BCD (four per decimal
  digit, least significant first), an optional sign input (active: negative) and an optional
  transient input (M_ST's T bit, reported at once). Once an input of the code changes, the
  position is reported when every input has been steady for ``settle`` seconds (the lines of
  a code never switch at the same instant), time-stamped with the last change; a BCD digit above 9 or a position
  outside the configured range is reported invalid (IV).
* **chatter**: more than ``changes`` reported changes within ``window`` seconds block the point:
  the change that crosses the limit is reported invalid (IV), later ones are not reported, and
  once the input has been quiet for ``recovery`` seconds the current state is reported good
  (time-stamped at the end of the quiet time). ``changes = 0`` switches it off.

The **re-read** compares every input with what the edges said; a difference seen on two
consecutive re-reads (one could just be an edge still on its way) is a lost edge: it is logged
and processed like an edge at the time of the first re-read that saw it. A failed read marks
every point IV|NT; the next good read reports the current states, good.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

from hal.interfaces import EdgeInputs, InputEdge
from rtu.components import Field, Parts
from rtu.frozen import frozen
from rtu.points.database import PointDatabase
from rtu.points.model import DoublePointValue, Point, PointKind, Quality

if TYPE_CHECKING:
    from hal.gpio import GpioBank
    from rtu.config import AppConfig

log = logging.getLogger(__name__)

GPIO_PREFIX = "gpio:"  # [[points]] source = "gpio:NAME"
InputCallback = Callable[[bool, float], None]  # (logical level, wall-clock time stamp)
_RETRY = 1.0  # seconds before a failed read is tried again (also without periodic re-reads)


# -- settings and results ----------------------------------------------------------------------
@frozen
class ChatterSettings:
    changes: int = 0  # more than this many changes within `window` block the point; 0 = off
    window: float = 1.0  # seconds
    recovery: float = 5.0  # seconds without a change before a blocked point is reported again


@frozen
class InputSettings:
    name: str
    invert: bool = False  # True: a low (open) input is the active state
    debounce: float = 0.0  # seconds the input must be steady before a change is accepted


@frozen
class SingleBinding:
    point: str
    input: str
    chatter: ChatterSettings = ChatterSettings()


@frozen
class DoubleBinding:
    point: str
    on: str  # input closed when the device is ON (e.g. breaker closed)
    off: str  # input closed when the device is OFF
    settle: float = 0.0  # seconds the intermediate state (00) may last before it is reported
    chatter: ChatterSettings = ChatterSettings()


@frozen
class StepBinding:
    point: str
    inputs: tuple[str, ...]  # the code, least significant first
    coding: str = "binary"  # binary | bcd
    sign: str | None = None  # active: negative
    transient: str | None = None  # active: the position is changing
    low: int = -64  # positions outside low..high are reported invalid
    high: int = 63
    settle: float = 0.0  # seconds every input must be steady before a position is reported


def decode_step(levels: Sequence[bool], coding: str) -> int | None:
    """The magnitude ``levels`` (least significant first) code; None: not a code (a BCD
    digit above 9)."""
    if coding == "binary":
        return sum(1 << i for i, level in enumerate(levels) if level)
    value, weight = 0, 1
    for start in range(0, len(levels), 4):
        digit = sum(1 << i for i, level in enumerate(levels[start:start + 4]) if level)
        if digit > 9:
            return None
        value += digit * weight
        weight *= 10
    return value


@frozen
class PointReport:
    point: str
    value: bool | int
    quality: Quality
    timestamp: float  # monotonic seconds


@frozen
class InputChange:
    """An input's debounced, logical level changed (also reported once at start-up)."""

    input: str
    level: bool
    timestamp: float  # monotonic seconds


_DPI = {
    (True, False): int(DoublePointValue.ON),
    (False, True): int(DoublePointValue.OFF),
    (False, False): int(DoublePointValue.INDETERMINATE),
    (True, True): int(DoublePointValue.INDETERMINATE_OR_FAULTY),
}
_INTERMEDIATE = int(DoublePointValue.INDETERMINATE)


# -- the logic ---------------------------------------------------------------------------------
class _Debouncer:
    __slots__ = ("debounce", "first_edge", "last_edge", "raw", "stable", "suspect")

    def __init__(self, debounce: float) -> None:
        self.debounce = debounce
        self.stable = False  # the accepted level
        self.raw = False  # the level the last edge left
        self.first_edge: float | None = None  # first edge of a change not yet accepted
        self.last_edge = 0.0
        self.suspect: tuple[bool, float] | None = None  # a re-read disagreed: (level, when)

    def reset(self, level: bool) -> None:
        self.stable = self.raw = level
        self.first_edge = None
        self.suspect = None

    def edge(self, level: bool, at: float) -> float | None:
        """Record an edge; the time of an accepted change (only without debounce), else None."""
        self.suspect = None
        if level == self.raw:
            return None  # no change (e.g. the edge in between was lost)
        self.raw = level
        self.last_edge = at
        if self.first_edge is None:
            self.first_edge = at
        return self._settle() if self.debounce <= 0 else None

    def deadline(self) -> float | None:
        return None if self.first_edge is None else self.last_edge + self.debounce

    def expire(self, now: float) -> float | None:
        deadline = self.deadline()
        if deadline is None or now < deadline:
            return None
        return self._settle()

    def _settle(self) -> float | None:
        first, self.first_edge = self.first_edge, None
        if self.raw == self.stable:
            return None  # a glitch: back where it was
        self.stable = self.raw
        return first


class _Chatter:
    __slots__ = ("blocked", "last_change", "settings", "times")

    def __init__(self, settings: ChatterSettings) -> None:
        self.settings = settings
        self.times: deque[float] = deque()
        self.blocked = False
        self.last_change = 0.0

    def reset(self) -> None:
        self.times.clear()
        self.blocked = False

    def note(self, at: float) -> bool:
        """Count a change; True when it blocks the point."""
        s = self.settings
        if s.changes <= 0:
            return False
        self.times.append(at)
        while self.times and self.times[0] <= at - s.window:
            self.times.popleft()
        if len(self.times) > s.changes:
            self.times.clear()
            self.blocked = True
            self.last_change = at
            return True
        return False

    def deadline(self) -> float | None:
        return self.last_change + self.settings.recovery if self.blocked else None


class _Point:
    def __init__(self, name: str, chatter: ChatterSettings) -> None:
        self.name = name
        self.chatter = _Chatter(chatter)
        self.value: bool | int = False

    def reset(self, value: bool | int, now: float, out: list[PointReport]) -> None:
        self.value = value
        self.chatter.reset()
        out.append(PointReport(self.name, value, Quality.GOOD, now))

    def compute(self, levels: Callable[[str], bool]) -> bool | int:
        raise NotImplementedError

    def start(self, levels: Callable[[str], bool], now: float, out: list[PointReport]) -> None:
        """The first good read: report the state the inputs show."""
        self.reset(self.compute(levels), now, out)

    def update(self, value: bool | int, at: float, out: list[PointReport]) -> None:
        """The point's state changed to ``value`` at ``at``."""
        self.value = value
        if self.chatter.blocked:
            self.chatter.last_change = at
        elif self.chatter.note(at):
            s = self.chatter.settings
            log.warning("%s: more than %d changes within %g s: blocked as chattering (IV) until "
                        "quiet for %g s", self.name, s.changes, s.window, s.recovery)
            out.append(PointReport(self.name, value, Quality.IV, at))
        else:
            out.append(PointReport(self.name, value, Quality.GOOD, at))

    def deadline(self) -> float | None:
        return self.chatter.deadline()

    def fire(self, now: float, out: list[PointReport]) -> None:
        deadline = self.chatter.deadline()
        if deadline is not None and deadline <= now:
            self.chatter.reset()
            log.info("%s: quiet again, chatter block lifted", self.name)
            out.append(PointReport(self.name, self.value, Quality.GOOD, deadline))


class _Single(_Point):
    def __init__(self, binding: SingleBinding) -> None:
        super().__init__(binding.point, binding.chatter)
        self.input = binding.input

    def compute(self, levels: Callable[[str], bool]) -> bool:
        return levels(self.input)

    def inputs_changed(self, levels: Callable[[str], bool], at: float,
                       out: list[PointReport]) -> None:
        value = self.compute(levels)
        if value != self.value:
            self.update(value, at, out)


class _Double(_Point):
    def __init__(self, binding: DoubleBinding) -> None:
        super().__init__(binding.point, binding.chatter)
        self.on, self.off, self.settle = binding.on, binding.off, binding.settle
        self.value = _INTERMEDIATE
        self.pending: float | None = None  # intermediate since, not reported yet

    def compute(self, levels: Callable[[str], bool]) -> int:
        return _DPI[(levels(self.on), levels(self.off))]

    def reset(self, value: bool | int, now: float, out: list[PointReport]) -> None:
        self.pending = None
        super().reset(value, now, out)

    def inputs_changed(self, levels: Callable[[str], bool], at: float,
                       out: list[PointReport]) -> None:
        value = self.compute(levels)
        if value == _INTERMEDIATE and self.settle > 0:
            if self.pending is None and self.value != _INTERMEDIATE:
                self.pending = at
            return
        self.pending = None
        if value != self.value:
            self.update(value, at, out)

    def deadline(self) -> float | None:
        chatter = self.chatter.deadline()
        settle = None if self.pending is None else self.pending + self.settle
        if settle is None or (chatter is not None and chatter < settle):
            return chatter
        return settle

    def fire(self, now: float, out: list[PointReport]) -> None:
        if self.pending is not None and self.pending + self.settle <= now:
            since, self.pending = self.pending, None
            self.update(_INTERMEDIATE, since, out)
        else:
            super().fire(now, out)


class _Step(_Point):
    """A step position coded on several inputs (no chatter suppression: ``settle`` instead)."""

    def __init__(self, binding: StepBinding) -> None:
        super().__init__(binding.point, ChatterSettings())
        self.binding = binding
        self.value = 0
        self.quality = Quality.IV
        self.pending: float | None = None  # the last change of an input, not reported yet
        self._levels: Callable[[str], bool] | None = None

    def code(self, levels: Callable[[str], bool]) -> tuple[int, Quality]:
        b = self.binding
        magnitude = decode_step([levels(name) for name in b.inputs], b.coding)
        quality = Quality.GOOD
        if b.transient is not None and levels(b.transient):
            quality |= Quality.TRANSIENT
        if magnitude is None:
            return int(self.value), quality | Quality.IV  # the last position, invalid
        value = -magnitude if b.sign is not None and levels(b.sign) else magnitude
        if not b.low <= value <= b.high:
            quality |= Quality.IV
        return value, quality

    def compute(self, levels: Callable[[str], bool]) -> int:
        return self.code(levels)[0]

    def start(self, levels: Callable[[str], bool], now: float, out: list[PointReport]) -> None:
        self.pending = None
        self._levels = levels
        self.value, self.quality = self.code(levels)
        out.append(PointReport(self.name, self.value, self.quality, now))

    def inputs_changed(self, levels: Callable[[str], bool], at: float,
                       out: list[PointReport]) -> None:
        self._levels = levels
        value, quality = self.code(levels)
        moved = (value, quality & ~Quality.TRANSIENT) != (self.value,
                                                          self.quality & ~Quality.TRANSIENT)
        if moved and self.binding.settle > 0:
            self.pending = at  # the code changed: report once steady for settle seconds
            return
        self.pending = None  # the transient input alone (or a glitch back): at once
        self._report(levels, at, out)

    def deadline(self) -> float | None:
        return None if self.pending is None else self.pending + self.binding.settle

    def fire(self, now: float, out: list[PointReport]) -> None:
        if self.pending is not None and self.pending + self.binding.settle <= now:
            at, self.pending = self.pending, None
            if self._levels is not None:
                self._report(self._levels, at, out)

    def _report(self, levels: Callable[[str], bool], at: float, out: list[PointReport]) -> None:
        value, quality = self.code(levels)
        if (value, quality) != (self.value, self.quality):
            self.value, self.quality = value, quality
            out.append(PointReport(self.name, value, quality, at))


class DigitalProcessor:
    """Debounce, chatter, double points and lost edges for a set of inputs; no I/O, no clock."""

    def __init__(self, inputs: Iterable[InputSettings], singles: Iterable[SingleBinding] = (),
                 doubles: Iterable[DoubleBinding] = (),
                 steps: Iterable[StepBinding] = ()) -> None:
        self._settings = {i.name: i for i in inputs}
        self._inputs = {name: _Debouncer(s.debounce) for name, s in self._settings.items()}
        self._points: list[_Single | _Double | _Step] = []
        self._by_input: dict[str, list[_Single | _Double | _Step]] = {
            name: [] for name in self._inputs}
        for single in singles:
            self._add(_Single(single), (single.input,))
        for double in doubles:
            self._add(_Double(double), (double.on, double.off))
        for step in steps:
            self._add(_Step(step), (*step.inputs, *(name for name in (step.sign, step.transient)
                                                    if name is not None)))
        self._reports: list[PointReport] = []
        self._changes: list[InputChange] = []
        self._state = "new"  # new | ok | failed

    def _add(self, point: _Single | _Double | _Step, inputs: tuple[str, ...]) -> None:
        for name in inputs:
            if name not in self._by_input:
                raise ValueError(f"point {point.name}: no input {name!r}")
        for name in dict.fromkeys(inputs):
            self._by_input[name].append(point)
        self._points.append(point)

    # -- queries -------------------------------------------------------------------------------
    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(self._inputs)

    @property
    def ok(self) -> bool:
        """True after a good read, until a failed one."""
        return self._state == "ok"

    def level(self, name: str) -> bool | None:
        """The debounced logical level of an input; None before a good read."""
        return self._inputs[name].stable if self._state == "ok" else None

    def next_deadline(self) -> float | None:
        """When :meth:`advance` must next be called (monotonic seconds), None if not needed."""
        if self._state != "ok":
            return None
        deadlines = [d for d in self._deadlines() if d is not None]
        return min(deadlines) if deadlines else None

    def take_reports(self) -> list[PointReport]:
        reports, self._reports = self._reports, []
        return reports

    def take_changes(self) -> list[InputChange]:
        changes, self._changes = self._changes, []
        return changes

    # -- inputs --------------------------------------------------------------------------------
    def start(self, levels: Mapping[str, bool], now: float) -> None:
        """The first good read (or the first after a failure): report every state, good."""
        for name, debouncer in self._inputs.items():
            debouncer.reset(self._logical(name, levels[name]))
        for point in self._points:
            point.start(self._stable, now, self._reports)
        self._changes.extend(InputChange(name, d.stable, now) for name, d in self._inputs.items())
        self._state = "ok"

    def failed(self, now: float) -> None:
        """The inputs could not be read: every point is invalid and not topical."""
        if self._state == "failed":
            return
        self._state = "failed"
        self._reports.extend(PointReport(p.name, p.value, Quality.IV | Quality.NT, now)
                             for p in self._points)

    def edge(self, name: str, level: bool, at: float) -> None:
        """An edge of input ``name`` (physical ``level``) at ``at``."""
        if self._state != "ok" or name not in self._inputs:
            return
        self.advance(at)
        accepted = self._inputs[name].edge(self._logical(name, level), at)
        if accepted is not None:
            self._accept(name, accepted)

    def reread(self, levels: Mapping[str, bool], now: float) -> None:
        """The periodic re-read of every input's physical level."""
        if self._state != "ok":
            self.start(levels, now)
            return
        self.advance(now)
        for name, debouncer in self._inputs.items():
            level = self._logical(name, levels[name])
            if level == debouncer.raw:
                debouncer.suspect = None
            elif debouncer.suspect is not None and debouncer.suspect[0] == level:
                at = debouncer.suspect[1]
                log.warning("input %s: an edge was lost; the re-read found it %s", name,
                            "active" if level else "inactive")
                accepted = debouncer.edge(level, at)
                if accepted is not None:
                    self._accept(name, accepted)
            else:
                debouncer.suspect = (level, now)
        self.advance(now)

    def advance(self, now: float) -> None:
        """Run every timer due at or before ``now``, in time order."""
        while self._state == "ok":
            best: _Debouncer | _Single | _Double | _Step | None = None
            best_name = ""
            best_time = math.inf
            for name, debouncer in self._inputs.items():
                deadline = debouncer.deadline()
                if deadline is not None and deadline < best_time:
                    best, best_name, best_time = debouncer, name, deadline
            for point in self._points:
                deadline = point.deadline()
                if deadline is not None and deadline < best_time:
                    best, best_time = point, deadline
            if best is None or best_time > now:
                return
            if isinstance(best, _Debouncer):
                accepted = best.expire(best_time)
                if accepted is not None:
                    self._accept(best_name, accepted)
            else:
                best.fire(best_time, self._reports)

    # -- internals -----------------------------------------------------------------------------
    def _deadlines(self) -> Iterable[float | None]:
        for debouncer in self._inputs.values():
            yield debouncer.deadline()
        for point in self._points:
            yield point.deadline()

    def _logical(self, name: str, level: bool) -> bool:
        return level != self._settings[name].invert

    def _stable(self, name: str) -> bool:
        return self._inputs[name].stable

    def _accept(self, name: str, at: float) -> None:
        self._changes.append(InputChange(name, self._inputs[name].stable, at))
        for point in self._by_input[name]:
            point.inputs_changed(self._stable, at, self._reports)


# -- the asyncio runner ------------------------------------------------------------------------
class DigitalSource:
    """Feeds the point database from a bank of edge inputs through a :class:`DigitalProcessor`.

    Also tells others (relay feedback, local/remote switches) about input changes:
    :meth:`level` and :meth:`watch_input`.
    """

    def __init__(self, db: PointDatabase, inputs: EdgeInputs, processor: DigitalProcessor, *,
                 reread_interval: float = 1.0, name: str = "gpio",
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.db = db
        self.inputs = inputs
        self.processor = processor
        self.reread_interval = reread_interval
        self.monotonic = monotonic
        self.wall = wall
        self._watchers: dict[str, list[InputCallback]] = {}
        self._wake: asyncio.Event | None = None
        self._read_failed = False

    # -- for others ----------------------------------------------------------------------------
    def level(self, name: str) -> bool | None:
        """The debounced logical level of input ``name`` (None until read)."""
        return self.processor.level(name)

    def watch_input(self, name: str, callback: InputCallback) -> Callable[[], None]:
        """Call ``callback(level, wall_time)`` on every change of input ``name``; returns the
        unsubscribe function. Callbacks run on the event loop and must not block."""
        if name not in self.processor.inputs:
            raise KeyError(name)
        callbacks = self._watchers.setdefault(name, [])
        callbacks.append(callback)

        def unsubscribe() -> None:
            with suppress(ValueError):
                callbacks.remove(callback)

        return unsubscribe

    # -- running -------------------------------------------------------------------------------
    def initialise(self) -> None:
        """Read every input once (at start-up, before the outstation reports anything)."""
        now = self.monotonic()
        try:
            levels = self.inputs.read_inputs()
        except OSError as exc:
            log.error("%s: reading the inputs failed: %s", self.name, exc)
            self._read_failed = True
            self.processor.failed(now)
        else:
            self.processor.start(levels, now)
        self._flush()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        self.inputs.watch(self._on_edge)
        try:
            interval = self.reread_interval if self.reread_interval > 0 else math.inf
            # not read yet, or the last read failed: read at once
            next_reread = self.monotonic() + (interval if self.processor.ok else 0.0)
            while True:
                if self.monotonic() >= next_reread:
                    await self._reread()
                    retry = interval if self.processor.ok else min(interval, _RETRY)
                    next_reread = self.monotonic() + retry
                self.processor.advance(self.monotonic())
                self._flush()
                deadline = min(self.processor.next_deadline() or math.inf, next_reread)
                self._wake.clear()
                timeout = deadline - self.monotonic()
                if timeout == math.inf:
                    await self._wake.wait()
                elif timeout > 0:
                    # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancel
                    # that lands as the wait ends (CPython gh-86296) and the stop would hang
                    with suppress(TimeoutError):
                        async with asyncio.timeout(timeout):
                            await self._wake.wait()
        finally:
            self.inputs.unwatch()
            self._wake = None

    async def _reread(self) -> None:
        try:
            levels = await asyncio.to_thread(self.inputs.read_inputs)
        except OSError as exc:
            if not self._read_failed:
                log.error("%s: reading the inputs failed: %s", self.name, exc)
            self._read_failed = True
            self.processor.failed(self.monotonic())
        else:
            if self._read_failed:
                log.info("%s: inputs readable again", self.name)
            self._read_failed = False
            self.processor.reread(levels, self.monotonic())
        self._flush()

    def _on_edge(self, edge: InputEdge) -> None:
        self.processor.edge(edge.name, edge.level, edge.timestamp)
        self._flush()
        if self._wake is not None:
            self._wake.set()  # the next deadline may have moved

    def _flush(self) -> None:
        reports = self.processor.take_reports()
        changes = self.processor.take_changes()
        if not reports and not changes:
            return
        mono, wall = self.monotonic(), self.wall()
        for report in reports:
            self.db.update(report.point, report.value, report.quality,
                           timestamp=wall - (mono - report.timestamp))
        for change in changes:
            for callback in tuple(self._watchers.get(change.input, ())):
                callback(change.level, wall - (mono - change.timestamp))


# -- building from the configuration -----------------------------------------------------------
def open_field_gpio(config: AppConfig, module: object = None) -> GpioBank | None:
    """Open the configured GPIO backend with every input and every gpio relay; None if unused."""
    from hal.gpio import InputLine, OutputLine, open_gpio

    inputs = [InputLine(i.name, i.line, i.bias, i.driver_debounce) for i in config.gpio.inputs]
    outputs = [OutputLine(r.name, r.line, r.active_low, r.initial)
               for r in config.relays if r.driver == "gpio" and r.line is not None]
    if not inputs and not outputs:
        return None
    return open_gpio(config.gpio.backend, inputs, outputs, chip=config.gpio.chip, module=module)


def build_digital_source(db: PointDatabase, config: AppConfig,
                         inputs: EdgeInputs) -> DigitalSource | None:
    """The source of every [[gpio.inputs]] entry and the points bound to them; None if none."""
    gpio = config.gpio
    if not gpio.inputs:
        return None

    def chatter(changes: int) -> ChatterSettings:
        return ChatterSettings(changes, gpio.chatter_window, gpio.chatter_recovery)

    by_input = {i.name: i for i in gpio.inputs}
    by_double = {d.name: d for d in gpio.doubles}
    by_step = {s.name: s for s in gpio.steps}
    singles: list[SingleBinding] = []
    doubles: list[DoubleBinding] = []
    steps: list[StepBinding] = []
    for point in db:
        name = gpio_source_name(point)
        if name is None:
            continue
        if point.kind is PointKind.SINGLE and name in by_input:
            singles.append(SingleBinding(point.name, name,
                                         chatter(by_input[name].chatter_changes)))
        elif point.kind is PointKind.DOUBLE and name in by_double:
            d = by_double[name]
            doubles.append(DoubleBinding(point.name, d.on, d.off, d.settle,
                                         chatter(d.chatter_changes)))
        elif point.kind is PointKind.STEP and name in by_step:
            s = by_step[name]
            steps.append(StepBinding(point.name, s.inputs, s.coding, s.sign, s.transient,
                                     s.low, s.high, s.settle))
        else:  # the configuration check rules this out
            raise ValueError(f"point {point.name}: {point.source!r} cannot feed a "
                             f"{point.kind.value} point")
    processor = DigitalProcessor(
        [InputSettings(i.name, i.invert, i.debounce) for i in gpio.inputs], singles, doubles,
        steps)
    return DigitalSource(db, inputs, processor, reread_interval=gpio.reread_interval)


def gpio_source_name(point: Point) -> str | None:
    """NAME of a point with source = "gpio:NAME", else None."""
    return point.source[len(GPIO_PREFIX):] if point.source.startswith(GPIO_PREFIX) else None


# -- the registry (rtu/components.py) ----------------------------------------------------------
@frozen
class Board:
    """The opened GPIO bank and the source of its inputs (None without [[gpio.inputs]])."""

    bank: GpioBank
    inputs: DigitalSource | None


def build(field: Field) -> Parts:
    bank = open_field_gpio(field.config)
    if bank is None:
        return Parts()
    digital = build_digital_source(field.db, field.config, bank)
    parts = Parts(close=[bank.close], provides=(Board(bank, digital),))
    if digital is not None:
        parts.sources.append(digital)
        parts.initialise.append(digital.initialise)
    return parts
