"""Periodic (cyclic, COT 1) and background-scan (COT 2) data: which points are due when.

Sans-I/O: the driver asks :meth:`CyclicScheduler.next_deadline` and calls
:meth:`CyclicScheduler.due` with its monotonic time. Both report the types without time tag
(as in an interrogation), read when they are due.

* **Cyclic**: a point is sent every ``period`` seconds, its own (``[[points]] cyclic``) or, if
  it has none, the shortest of its interrogation groups' (``[station] cyclic_groups``). Points
  with the same period go out together, in IOA order. A driver that falls behind sends each
  period once when it catches up, never a burst.
* **Background scan**: every monitored point except counters, a few at a time, in IOA order,
  round and round; one round takes ``background_scan`` seconds (0: off).

On 104 and balanced 101 these ASDUs go after responses, interrogation data and events; on
unbalanced 101 they are class 2 data, answered to class 2 polls (rtu/servers/iec101.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation.mapping import chunk_by_type
from rtu.points.model import Point, PointKind

BACKGROUND_BATCH = 16  # points in one background-scan step (one ASDU at most)


@dataclass(slots=True)
class _Cycle:
    period: float
    points: list[Point]
    due_at: float


def cyclic_period(point: Point, group_periods: Mapping[int, float]) -> float:
    """The period (seconds) at which ``point`` is sent cyclically; 0 = not cyclic."""
    if point.cyclic <= 0 and not point.groups:
        return 0.0  # most points: decided without the enum (start-up with 100,000 points)
    if point.kind.is_command or point.kind is PointKind.COUNTER or point.kind.is_protection:
        return 0.0
    if point.cyclic > 0:
        return point.cyclic
    periods = [group_periods[g] for g in point.groups if group_periods.get(g, 0) > 0]
    return min(periods) if periods else 0.0


class CyclicScheduler:
    def __init__(self, points: Sequence[Point], group_periods: Mapping[int, float],
                 background_scan: float, now: float) -> None:
        by_period: dict[float, list[Point]] = {}
        for point in sorted(points, key=lambda p: p.ioa):
            period = cyclic_period(point, group_periods)
            if period > 0:
                by_period.setdefault(period, []).append(point)
        self._cycles = [_Cycle(period, pts, now + period) for period, pts in sorted(by_period.items())]
        # background: (type, points) steps of at most BACKGROUND_BATCH points
        steps: list[tuple[TypeId, list[Point]]] = []
        scanned = [p for p in points if not p.kind.is_command and p.kind is not PointKind.COUNTER
                   and not p.kind.is_protection]
        for type_id, pts in chunk_by_type(sorted(scanned, key=lambda p: p.ioa)):
            steps.extend((type_id, pts[i:i + BACKGROUND_BATCH])
                         for i in range(0, len(pts), BACKGROUND_BATCH))
        self._steps = steps
        self._step_interval = background_scan / len(steps) if background_scan > 0 and steps else 0.0
        self._next_step = 0
        self._step_due = now + self._step_interval

    @property
    def cyclic_points(self) -> int:
        return sum(len(c.points) for c in self._cycles)

    def next_deadline(self) -> float | None:
        deadlines = [c.due_at for c in self._cycles]
        if self._step_interval > 0:
            deadlines.append(self._step_due)
        return min(deadlines) if deadlines else None

    def due(self, now: float) -> list[tuple[Cot, list[Point]]]:
        """What is due at ``now``: (cause, points), cyclic first."""
        out: list[tuple[Cot, list[Point]]] = []
        for cycle in self._cycles:
            if cycle.due_at <= now:
                out.append((Cot.PERIODIC, cycle.points))
                cycle.due_at += cycle.period
                if cycle.due_at <= now:  # fell behind: one report, then on from now
                    cycle.due_at = now + cycle.period
        if self._step_interval > 0 and self._step_due <= now:
            out.append((Cot.BACKGROUND, self._steps[self._next_step][1]))
            self._next_step = (self._next_step + 1) % len(self._steps)
            self._step_due += self._step_interval
            if self._step_due <= now:
                self._step_due = now + self._step_interval
        return out
