"""The "events lost" points (``health:events_lost``): how a station's masters learn that
events of that station were dropped.

Each logical station is told by one point: its own (a ``health:events_lost`` point at its
common address, ``station_events_lost_ioas``), else the station's main one (``[station]
events_lost_ioa``); a station with neither has none. The point goes ON when an event group
lost events of a station it covers (its queue overflowed, or the journal deleted events not
yet acknowledged), and OFF once every group that lost them was answered a station
interrogation of that station, started after the loss. These points' own events are
protected: a queue that overflows never drops them (:attr:`EventsLost.ioas`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from rtu.iec.asdu.types import Cot
from rtu.iec.outstation.events import EventGroup
from rtu.iec.outstation.session import Interrogation, Session
from rtu.iec.outstation.settings import Clock, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind

log = logging.getLogger(__package__)  # one logger for the outstation


class LostHost(Protocol):
    """What the "events lost" points need from their outstation."""

    @property
    def db(self) -> PointDatabase: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def stations(self) -> tuple[int, ...]: ...

    @property
    def groups(self) -> Mapping[str, EventGroup[Session]]: ...

    def ca_of(self, ioa: int) -> int: ...


class EventsLost:
    """The points, the groups and stations not interrogated since they lost events, and the
    status ``rtu status`` shows. The points start OFF."""

    def __init__(self, host: LostHost, config: OutstationConfig) -> None:
        self._host = host
        self._unanswered: set[tuple[str, int]] = set()  # (group, station) not interrogated since
        self.configure(config)
        for point in {p.name: p for p in self._points.values()}.values():
            host.db.update(point.name, False, timestamp=host.clock.wall())

    def configure(self, config: OutstationConfig) -> None:
        """Which point tells each station's masters (at start and on a reload)."""
        db = self._host.db

        def single(ioa: int) -> Point | None:
            point = db.by_ioa(ioa) if ioa else None
            return point if point is not None and point.kind is PointKind.SINGLE else None

        main = single(config.events_lost_ioa)
        own: dict[int, Point] = {}
        for ioa in config.station_events_lost_ioas:
            point = single(ioa)
            if point is not None:
                own[self._host.ca_of(ioa)] = point
        if main is not None:
            own.setdefault(self._host.ca_of(main.ioa), main)
        self._main = main
        self._points: dict[int, Point] = {
            ca: point for ca in self._host.stations
            if (point := own.get(ca, main)) is not None}
        #: the IOAs of the points: their events are never dropped when a queue overflows
        self.ioas = frozenset(p.ioa for p in self._points.values())

    @property
    def active(self) -> bool:
        """Whether the state is on (a group lost events and has not been interrogated since)."""
        return bool(self._unanswered)

    def status(self) -> dict[str, object]:
        """For ``rtu status``: the state, the groups still to be interrogated, the counts (per
        group, and per group and station: common address -> events)."""
        groups = self._host.groups
        return {
            "active": self.active,
            "point": self._main.name if self._main is not None else None,
            "awaiting_interrogation": sorted({group for group, _ in self._unanswered}),
            "stations": {ca: {"point": point.name, "ioa": point.ioa,
                              "active": self._active(point),
                              "awaiting_interrogation": sorted(
                                  g for g, s in self._unanswered if s == ca)}
                         for ca, point in self._points.items()},
            "lost": {name: group.lost for name, group in groups.items()},
            "lost_by_station": {name: dict(sorted(group.lost_by_station.items()))
                                for name, group in groups.items()},
        }

    def lost(self, lost: list[tuple[str, int]]) -> None:
        """The event streams' report: these (group, station) pairs lost events."""
        new = [pair for pair in lost if pair not in self._unanswered]
        self._unanswered.update(lost)
        if not new:
            return  # told already (each queue logs its drops itself, not on every one)
        for group, ca in new:
            point = self._points.get(ca)
            log.warning("events of station %d lost in event group %s: its masters are told by "
                        "%s until they interrogate it", ca, group,
                        point.name if point is not None else "nothing (no events lost point)")
            if point is not None:
                self._set(point, True)

    def lost_elsewhere(self, what: str) -> None:
        """Events were lost outside the groups' queues (``what``, e.g. the event journal
        deleted unacknowledged events): every group is told, for every station it serves, as
        for a queue overflow."""
        log.warning("events lost: %s", what)
        stations = self._host.stations
        for group in self._host.groups.values():
            group.count_station_loss(dict.fromkeys(
                [ca for ca in stations if not group.stations or ca in group.stations], 0))

    def interrogation_done(self, session: Session, interrogation: Interrogation) -> None:
        """A station interrogation of a station started after the group's last loss of that
        station's events answers that loss."""
        group = session.group
        ca = interrogation.request.common_address
        pair = (group.name, ca)
        if interrogation.cot is not Cot.INTERROGATED_BY_STATION or pair not in self._unanswered \
                or group.station_losses(ca) != interrogation.loss_epoch:
            return
        self._unanswered.discard(pair)
        point = self._points.get(ca)
        if point is not None and not self._active(point):
            log.info("events lost: every group that lost events of %s has been interrogated",
                     point.name)
            self._set(point, False)
        if not self._unanswered:
            log.info("events lost: every group that lost events has been interrogated")

    def _active(self, point: Point) -> bool:
        """Whether some group has not been interrogated since it lost events that ``point``
        reports."""
        return any(self._points.get(ca) is point for _, ca in self._unanswered)

    def _set(self, point: Point, on: bool) -> None:
        db = self._host.db
        if db.value(point.name).value != on:
            db.update(point.name, on, timestamp=self._host.clock.wall())
