"""The protection source: turns its input points' changes into protection events.

It subscribes to the point database, after every other subscriber (the outstation queues the
input's own event first), and reports each event with the time stamp of the input change
that caused it (and its device_time flag), so a protection point's events carry the field's
time, and the elapsed times are differences of field time stamps (rtu/points/protection.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from rtu.components import Field, Parts
from rtu.points.database import PointDatabase
from rtu.points.model import PointChanged
from rtu.points.protection import ProtectionLogic
from rtu.sources.derived import ChangeFollower, readers_of
from rtu.sources.protection.config import ProtectionConfig, ProtectionPoint

log = logging.getLogger(__name__)


class ProtectionEvents:
    name = "protection"

    def __init__(self, db: PointDatabase, points: Sequence[ProtectionPoint]) -> None:
        self.db = db
        self.logic: dict[str, ProtectionLogic] = {
            p.point: ProtectionLogic(db.point(p.point).kind, p.inputs, p.start) for p in points}
        self.readers = readers_of({name: logic.names() for name, logic in self.logic.items()})
        self._follower = ChangeFollower(db, self._on_change)

    def initialise(self) -> None:
        """Take the inputs' start values (no event: a protection point reports changes only)
        and follow their changes from then on."""
        for logic in self.logic.values():
            for used in logic.names():
                logic.initial(used, self.db.value(used))
        self._follower.follow()

    def close(self) -> None:
        self._follower.close()

    def _on_change(self, change: PointChanged) -> None:
        new = change.new
        for name in self.readers.get(change.point.name, ()):
            report = self.logic[name].change(change.point.name, new)
            if report is None:
                continue
            self.db.update(name, report.value, report.quality, timestamp=new.timestamp,
                           origin=change.origin, device_time=new.device_time)


def build(field: Field) -> Parts:
    config = field.config.section("protection")
    assert isinstance(config, ProtectionConfig)
    events = ProtectionEvents(field.db, config.points)
    # no task to run: it works inside the database's change notifications only, so it is no
    # field device (nothing to supervise or restart)
    return Parts(initialise=[events.initialise], close=[events.close], provides=(events,))
