"""The simulated field of the bench profile: inputs that change now and then, drifting
measurements and counting meters, all through the point database like any real source."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable

from rtu.components import Field, Parts
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, DoublePointValue, Point, PointKind

log = logging.getLogger(__name__)

SIM_SOURCE = "sim"
_DIGITAL = (PointKind.SINGLE, PointKind.DOUBLE, PointKind.STEP, PointKind.BITSTRING)
_ANALOG = (PointKind.NORMALIZED, PointKind.SCALED, PointKind.FLOAT)


class SimulatedField:
    """Also the :class:`~rtu.points.counters.CounterReset` of its counters: it keeps their
    counts itself (on top of the database's value), so a master may reset them."""

    name = "simulation"

    def __init__(
        self,
        db: PointDatabase,
        *,
        seed: int | None = None,
        digital_interval: float = 10.0,
        analog_interval: float = 2.0,
        counter_interval: float = 5.0,
        manual: Iterable[str] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.rng = random.Random(seed)
        self.wall = wall
        self.intervals = (digital_interval, analog_interval, counter_interval)
        sim = [p for p in db if p.source == SIM_SOURCE]
        self.digital = [p for p in sim if p.kind in _DIGITAL]
        self.analog = [p for p in sim if p.kind in _ANALOG]
        self.counters = [p for p in sim if p.kind is PointKind.COUNTER]
        self._counter_set = frozenset(self.counters)
        held = frozenset(manual)  # set by hand only: initialised, never stepped
        self._stepped = [[p for p in points if p.name not in held]
                         for points in (self.digital, self.analog, self.counters)]

    def initialise(self) -> None:
        """Give every simulated point a valid first value."""
        now = self.wall()
        for p in self.digital:
            initial: bool | int = False if p.kind is PointKind.SINGLE else 0
            if p.kind is PointKind.DOUBLE:
                initial = int(DoublePointValue.OFF)
            self.db.update(p.name, initial, timestamp=now)
        for p in self.analog:
            self.db.update(p.name, self._midpoint(p), timestamp=now)
        for p in self.counters:
            self.db.update(p.name, 0, timestamp=now)

    def set(self, name: str, value: bool | float) -> None:
        """Drive one point by hand (tests, `rtu sim set`)."""
        self.db.update(name, value, timestamp=self.wall())

    def resets(self, point: Point) -> bool:
        return point in self._counter_set

    def reset(self, point: Point, timestamp: float) -> None:
        if point not in self._counter_set:
            raise ValueError(f"{point.name!r} is not a simulated counter")  # caller's mistake
        self.db.update(point.name, 0, timestamp=timestamp, origin=ChangeOrigin.REMOTE_COMMAND)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for points, interval, step in zip(
                self._stepped, self.intervals,
                (self._step_digital, self._step_analog, self._step_counter),
            ):
                if points and interval > 0:
                    tg.create_task(self._loop(points, interval, step))
        # nothing to simulate: stay idle instead of returning (a return means "stopped")
        await asyncio.Event().wait()

    async def _loop(self, points: list[Point], interval: float,
                    step: Callable[[Point], None]) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(1.0 / interval))
            step(self.rng.choice(points))

    def _step_digital(self, p: Point) -> None:
        current = self.db.value(p.name).value
        if p.kind is PointKind.DOUBLE:
            new: bool | int = (int(DoublePointValue.ON) if current == DoublePointValue.OFF
                               else int(DoublePointValue.OFF))
        elif p.kind is PointKind.SINGLE:
            new = not current
        elif p.kind is PointKind.STEP:
            new = max(-64, min(63, int(current) + self.rng.choice((-1, 1))))
        else:
            new = self.rng.getrandbits(32)
        self.set(p.name, new)

    def _step_analog(self, p: Point) -> None:
        low, high = (p.low, p.high) if p.low is not None and p.high is not None else (0.0, 100.0)
        current = float(self.db.value(p.name).value)
        drift = (high - low) * self.rng.uniform(-0.02, 0.02)
        value = min(high, max(low, current + drift))
        self.set(p.name, round(value) if p.kind is PointKind.SCALED else value)

    def _step_counter(self, p: Point) -> None:
        self.set(p.name, int(self.db.value(p.name).value) + self.rng.randint(1, 10))

    @staticmethod
    def _midpoint(p: Point) -> float | int:
        if p.low is not None and p.high is not None:
            mid = (p.low + p.high) / 2
        else:
            mid = 0.5 if p.kind is PointKind.NORMALIZED else 50.0
        return int(mid) if p.kind is PointKind.SCALED else mid


# -- the registry (rtu/components.py) ----------------------------------------------------------
def build(field: Field) -> Parts:
    s = field.config.simulation
    sim = SimulatedField(field.db, seed=s.seed, digital_interval=s.digital_interval,
                         analog_interval=s.analog_interval, counter_interval=s.counter_interval,
                         manual=s.manual)
    return Parts(sources=[sim], initialise=[sim.initialise], provides=(sim,))
