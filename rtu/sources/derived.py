"""What the sources that derive points from other points share (calculated, protection).

Such a source works inside the point database's change notifications: it indexes which of
its points read each input, and follows the database's changes as its last subscriber, so
that every other subscriber (the outstation queues the cause's event) sees an input's change
before the derived point's change it causes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from rtu.points.database import PointDatabase
from rtu.points.model import PointChanged


def readers_of(inputs: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """For each input point, the derived points that read it (derived point -> its inputs
    in, input -> readers out), in the order of ``inputs``."""
    readers: dict[str, list[str]] = {}
    for name, used in inputs.items():
        for input_name in used:
            readers.setdefault(input_name, []).append(name)
    return readers


class ChangeFollower:
    """Hands every reportable change to ``on_change``, after every other subscriber, from
    :meth:`follow` until :meth:`close` (both may be called again: no double subscription)."""

    def __init__(self, db: PointDatabase, on_change: Callable[[PointChanged], None]) -> None:
        self._db = db
        self._on_change = on_change
        self._unsubscribe: Callable[[], None] | None = None

    def follow(self) -> None:
        if self._unsubscribe is None:
            self._unsubscribe = self._db.subscribe(self._on_change, last=True)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
