"""The calculator: recomputes a calculated point when one of its inputs changes.

It subscribes to the point database: a reportable change of an input recomputes the points
that read it, with the time tag of that change (and its origin), and the quality of the
inputs (IV/NT of any input makes the result IV/NT). A calculated point that changes in turn
recomputes those that read it (the configuration refuses cycles). Changes an input's deadband
suppresses are not seen: a formula works on reported values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from rtu.components import Field, Parts
from rtu.points.database import PointDatabase
from rtu.points.formula import Formula, compile_formula
from rtu.points.model import ChangeOrigin, PointChanged, Quality
from rtu.sources.calculated.config import CalculatedConfig, CalculatedPoint
from rtu.sources.derived import ChangeFollower, readers_of

log = logging.getLogger(__name__)


class Calculator:
    name = "calculated"

    def __init__(self, db: PointDatabase, points: Sequence[CalculatedPoint], *,
                 wall: Callable[[], float] = time.time) -> None:
        self.db = db
        self.wall = wall
        kinds = {p.name: p.kind for p in db if not p.kind.is_command}
        # in dependency order (the configuration's): inputs before those reading them
        self.formulas: dict[str, Formula] = {
            c.point: compile_formula(c.text, kinds, db.point(c.point).kind) for c in points}
        self.readers = readers_of({name: f.inputs() for name, f in self.formulas.items()})
        self._follower = ChangeFollower(db, self._on_change)

    def initialise(self) -> None:
        """Compute every point from the start values; from then on follow the changes, told
        after every other subscriber (the outstation queues the cause's event first)."""
        now = self.wall()
        for name in self.formulas:
            self._compute(name, now, ChangeOrigin.FIELD)
        self._follower.follow()

    def close(self) -> None:
        self._follower.close()

    async def run(self) -> None:
        await asyncio.Event().wait()  # all its work is done on changes; a return means stopped

    def _on_change(self, change: PointChanged) -> None:
        for name in self.readers.get(change.point.name, ()):
            self._compute(name, change.new.timestamp, change.origin)

    def _compute(self, name: str, timestamp: float, origin: ChangeOrigin) -> None:
        try:
            value, quality = self.formulas[name].evaluate(self.db.value)
        except (ArithmeticError, ValueError) as exc:  # e.g. an overflow: invalid, not a crash
            log.warning("calculated point %s: %s", name, exc)
            current = self.db.value(name)
            self.db.update(name, current.value, current.quality | Quality.IV,
                           timestamp=timestamp, origin=origin)
            return
        self.db.update(name, value, quality, timestamp=timestamp, origin=origin)


def build(field: Field) -> Parts:
    config = field.config.section("calculated")
    assert isinstance(config, CalculatedConfig)
    calculator = Calculator(field.db, config.points)
    return Parts(sources=[calculator], initialise=[calculator.initialise],
                 close=[calculator.close], provides=(calculator,))
