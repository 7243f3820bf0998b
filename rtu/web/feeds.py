"""What the web page's live views read: the interfaces and the bounded queues between them.

* :class:`EventLog`: the events view. Two implement it: :class:`RecentEvents`, a ring of the
  last reportable point changes kept while the page is enabled (the page's own, used when the
  sequence-of-events log is off), and :class:`rtu.web.soefeed.SoeEvents`, the
  sequence-of-events log (rtu/soe.py) with its causes, masters and history.
* :class:`FrameFeed`: the frame monitor view; :class:`rtu.web.frames.TapFrames` implements it
  on the links' frame tap (rtu/monitor.py).
* :class:`Outbox`: what one live view has not been sent yet, bounded, with drops counted.

Rows are JSON-ready mappings. An event row of the ring has ``time`` (ISO 8601, UTC), ``name``,
``ioa``, ``kind``, ``value``, ``quality`` and ``cause``; one of the log has ``id`` too (a live
row with an ``id`` already shown replaces it: its masters changed) and the log's columns. A
frame row has ``time``, ``link``, ``direction`` ("rx" or "tx"), the decode in columns and
``text`` (a one-line decode).
"""

from __future__ import annotations

import fnmatch
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Final, Protocol

from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointChanged, Quality
from rtu.points.protection import describe
from rtu.points.timestamps import utc_datetime

Row = Mapping[str, Any]
Unsubscribe = Callable[[], None]
RECENT_EVENTS: Final = 1000  # point changes kept by RecentEvents


class EventLog(Protocol):
    columns: tuple[str, ...]  # what the page's table shows of a row
    filters: tuple[str, ...]  # the filters it understands (see event_filter)

    def describe(self) -> str:
        """Where the events come from, in a sentence for the page."""

    async def query(self, filters: Mapping[str, str], limit: int) -> list[Row]:
        """The newest ``limit`` events that match ``filters``, oldest first (ValueError for a
        bad filter, OSError when the events cannot be read)."""

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
    if not timestamp:
        return "-"
    moment = utc_datetime(timestamp)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def json_value(value: bool | float) -> bool | int | float | str:
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return str(value)
    return value


def point_json_value(point: Point, value: bool | float) -> bool | int | float | str:
    """A point's value for the page: a protection event as text ("on 110 ms")."""
    if point.kind.is_protection:
        return describe(point.kind, int(value))
    return json_value(value)


_CAUSES: Final = {ChangeOrigin.FIELD: "spontaneous"}


def change_row(change: PointChanged) -> dict[str, Any]:
    point, new = change.point, change.new
    return {"time": time_text(new.timestamp), "name": point.name, "ioa": point.ioa,
            "kind": point.kind.value, "value": point_json_value(point, new.value),
            "quality": quality_text(new.quality),
            "cause": _CAUSES.get(change.origin, change.origin.name.lower().replace("_", " ")),
            "t": new.timestamp}


class RecentEvents:
    """The last :data:`RECENT_EVENTS` reportable changes of a database (an EventLog).

    On the event path it costs one C call: the database hands each change straight to the
    ring's ``deque.append`` (no Python frame). Only while a live view watches does a second
    subscriber turn changes into rows for it. Rows are built when read; they carry no
    ``seq`` (numbering each change would cost a Python call per event). ``size`` 0 keeps no
    history and touches the event path only while a live view watches.
    """

    columns: tuple[str, ...] = ("time", "name", "ioa", "kind", "value", "quality", "cause")
    filters: tuple[str, ...] = ("point", "kind", "cause", "quality", "since", "until")

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

    def describe(self) -> str:
        if self._ring.maxlen:
            return (f"the last {self._ring.maxlen} point changes since the outstation started "
                    "(newest first; the sequence-of-events log, [soe], is off)")
        return ("point changes while this page is open (newest first; web.recent_events = 0 "
                "keeps no history, and the sequence-of-events log, [soe], is off)")

    async def query(self, filters: Mapping[str, str], limit: int) -> list[Row]:
        keep = event_filter(filters)
        return [row for row in self.recent(len(self._ring)) if keep(row)][-limit:] \
            if limit > 0 else []

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


def _cause(text: object) -> str:
    return str(text).lower().replace("_", " ")


def event_filter(filters: Mapping[str, str]) -> Callable[[Row], bool]:
    """A predicate on event rows: ``point`` a glob on the name (or an IOA), ``kind`` exact
    (case-insensitive) on the row's kind or type, ``cause`` exact (case-insensitive, "_" read
    as a space: SPONTANEOUS, RETURN_INFO_REMOTE or "remote command"), ``quality`` a flag the
    row must carry (``ok``: none), ``since`` / ``until`` (rtu.soe.parse_time forms) on a row's
    POSIX time ``t`` (rows without one pass). Empty filters keep every row; ValueError for a
    time that is not one."""
    from rtu.soe import parse_time

    point = filters.get("point", "").strip()
    kind = filters.get("kind", "").strip().lower()
    cause = _cause(filters.get("cause", "").strip())
    quality = filters.get("quality", "").strip().upper()
    since_text, until_text = filters.get("since", "").strip(), filters.get("until", "").strip()
    since = parse_time(since_text) if since_text else None
    until = parse_time(until_text) if until_text else None

    def keep(row: Row) -> bool:
        if point and not (fnmatch.fnmatchcase(str(row.get("name", "")), point)
                          or str(row.get("ioa", "")) == point):
            return False
        if kind and str(row.get("kind", "")).lower() != kind \
                and str(row.get("type", "")).lower() != kind:
            return False
        if cause and _cause(row.get("cause", "")) != cause:
            return False
        when = row.get("t")
        if isinstance(when, (int, float)) and ((since is not None and when < since)
                                        or (until is not None and when > until)):
            return False
        flags = str(row.get("quality", "")).upper().split("|")
        return not quality or quality in flags

    return keep
