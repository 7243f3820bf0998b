"""Counters that a master may reset (counter interrogation with FRZ 2 "freeze with reset" and
FRZ 3 "reset"), in the point database's terms.

A counter's value is owned by the source that feeds it: a meter's register cannot be reset from
here, a count the station keeps itself (the bench simulation, a derived count) can. A source
that keeps such counters provides a :class:`CounterReset` (through its component's
``provides``); the outstation asks it, per counter, whether it can reset it, and has it reset.
The reset itself goes through the point database like any change, so the database stays the
only writer of point state.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from rtu.points.model import Point


@runtime_checkable
class CounterReset(Protocol):
    def resets(self, point: Point) -> bool:
        """Can this source set ``point`` (a counter it feeds) back to zero?"""

    def reset(self, point: Point, timestamp: float) -> None:
        """Set ``point`` back to zero now (``timestamp``: POSIX seconds)."""


class CounterResets:
    """Several sources' resettable counters behind one :class:`CounterReset`."""

    def __init__(self, parts: Iterable[CounterReset]) -> None:
        self._parts = tuple(parts)

    def _owner(self, point: Point) -> CounterReset | None:
        for part in self._parts:
            if part.resets(point):
                return part
        return None

    def resets(self, point: Point) -> bool:
        return self._owner(point) is not None

    def reset(self, point: Point, timestamp: float) -> None:
        owner = self._owner(point)
        if owner is None:
            raise ValueError(f"counter {point.name!r} cannot be reset")  # caller's mistake
        owner.reset(point, timestamp)
