"""What the web page's live views read: the interfaces and the bounded queues between them.

* :class:`EventLog`: the sequence-of-events view. :class:`RecentEvents` is the one this build
  has: a ring of the last reportable point changes, kept while the page is enabled. A fuller
  log (a sequence-of-events log with causes and persistence) plugs in by implementing the same
  two methods and being assigned to ``WebServer.events``.
* :class:`FrameFeed`: the frame monitor view. Nothing in this build taps the links' frames;
  a monitor that does implements the two methods and is assigned to ``WebServer.frames``.
* :class:`Outbox`: what one live view has not been sent yet, bounded, with drops counted.

Rows are JSON-ready mappings. An event row has ``time`` (ISO 8601, UTC), ``name``, ``ioa``,
``kind``, ``value``, ``quality`` and ``cause`` (and ``seq`` when the log numbers its events); a frame row has ``time``, ``link``,
``direction`` ("rx" or "tx"), ``hex`` and ``text`` (a one-line decode).
"""

from __future__ import annotations

import fnmatch
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Protocol

from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, PointChanged, Quality

Row = Mapping[str, Any]
Unsubscribe = Callable[[], None]
RECENT_EVENTS: Final = 1000  # point changes kept by RecentEvents


class EventLog(Protocol):
    def recent(self, limit: int) -> list[Row]:
        """The newest ``limit`` events, oldest first."""

    def subscribe(self, callback: Callable[[Row], None]) -> Unsubscribe:
        """Call ``callback`` with each new event (it must only queue); returns unsubscribe."""


class FrameFeed(Protocol):
    def recent(self, limit: int) -> list[Row]:
        """The newest ``limit`` frames, oldest first."""

    def subscribe(self, callback: Callable[[Row], None]) -> Unsubscribe:
        """Call ``callback`` with each frame sent or received (it must only queue)."""


def quality_text(quality: Quality) -> str:
    names = [flag.name for flag in Quality if flag and flag in quality and flag.name]
    return "|".join(names) if names else "ok"


def time_text(timestamp: float) -> str:
    from datetime import UTC, datetime

    if not timestamp:
        return "-"
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_value(value: bool | float) -> bool | int | float | str:
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return str(value)
    return value


_CAUSES: Final = {ChangeOrigin.FIELD: "spontaneous"}


def change_row(change: PointChanged) -> dict[str, Any]:
    point, new = change.point, change.new
    return {"time": time_text(new.timestamp), "name": point.name, "ioa": point.ioa,
            "kind": point.kind.value, "value": json_value(new.value),
            "quality": quality_text(new.quality),
            "cause": _CAUSES.get(change.origin, change.origin.name.lower().replace("_", " "))}


class RecentEvents:
    """The last :data:`RECENT_EVENTS` reportable changes of a database (an EventLog).

    On the event path it costs one C call: the database hands each change straight to the
    ring's ``deque.append`` (no Python frame). Only while a live view watches does a second
    subscriber turn changes into rows for it. Rows are built when read; they carry no
    ``seq`` (numbering each change would cost a Python call per event). ``size`` 0 keeps no
    history and touches the event path only while a live view watches.
    """

    def __init__(self, db: PointDatabase, size: int = RECENT_EVENTS) -> None:
        self._ring: deque[PointChanged] = deque(maxlen=size)
        self._db = db
        self._watchers: list[Callable[[Row], None]] = []
        self._unsubscribe: Unsubscribe = self._keep(db)
        self._unwatch: Unsubscribe | None = None

    def _keep(self, db: PointDatabase) -> Unsubscribe:
        """Feed the ring from ``db`` (size 0: keep nothing, not even a subscription)."""
        return db.subscribe(self._ring.append) if self._ring.maxlen else _nothing

    def rebind(self, db: PointDatabase) -> None:
        """Follow a new database (a reload rebuilt the field side); the ring is kept."""
        self._unsubscribe()
        watching = self._unwatch is not None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        self._db = db
        self._unsubscribe = self._keep(db)
        if watching:
            self._unwatch = db.subscribe(self._notify)

    def close(self) -> None:
        self._unsubscribe()
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def _notify(self, change: PointChanged) -> None:
        row = change_row(change)
        for watcher in self._watchers[:]:
            watcher(row)

    def recent(self, limit: int) -> list[Row]:
        items = list(self._ring)[-limit:] if limit > 0 else []
        return [change_row(change) for change in items]

    def subscribe(self, callback: Callable[[Row], None]) -> Unsubscribe:
        self._watchers.append(callback)
        if self._unwatch is None:
            self._unwatch = self._db.subscribe(self._notify)

        def unsubscribe() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)
            if not self._watchers and self._unwatch is not None:
                self._unwatch()
                self._unwatch = None

        return unsubscribe


class Outbox:
    """Updates not yet sent to one live view: at most ``maxlen``. An update with a key replaces
    the one with the same key still waiting (a point's newer value); when full, the oldest is
    dropped and counted in ``dropped`` (the view is told how many)."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self._items: OrderedDict[Hashable, tuple[str, object]] = OrderedDict()
        self._serial = 0
        self.dropped = 0
        self.wake: Callable[[], None] = _nothing

    def __len__(self) -> int:
        return len(self._items)

    def put(self, kind: str, item: object, key: Hashable | None = None) -> None:
        if key is None:
            self._serial += 1
            key = ("#", self._serial)
        elif key in self._items:
            self._items.move_to_end(key)
        self._items[key] = (kind, item)
        while len(self._items) > self.maxlen:
            self._items.popitem(last=False)
            self.dropped += 1
        self.wake()

    def take(self) -> list[tuple[str, object]]:
        items = list(self._items.values())
        self._items.clear()
        return items


def _nothing() -> None:
    return None


def event_filter(filters: Mapping[str, str]) -> Callable[[Row], bool]:
    """A predicate on event rows: ``point`` a glob on the name (or an IOA), ``kind`` and
    ``cause`` exact (case-insensitive), ``quality`` a flag the row must carry (``ok``: none).
    Empty filters keep every row."""
    point = filters.get("point", "").strip()
    kind = filters.get("kind", "").strip().lower()
    cause = filters.get("cause", "").strip().lower()
    quality = filters.get("quality", "").strip().upper()

    def keep(row: Row) -> bool:
        if point and not (fnmatch.fnmatchcase(str(row.get("name", "")), point)
                          or str(row.get("ioa", "")) == point):
            return False
        if kind and str(row.get("kind", "")).lower() != kind:
            return False
        if cause and str(row.get("cause", "")).lower() != cause:
            return False
        flags = str(row.get("quality", "")).upper().split("|")
        return not quality or quality in flags

    return keep
