"""The sequence-of-events log (rtu/soe.py) as the web page's events view (an ``EventLog``).

History: the page's filters become one SQL query on the log's file (newest first by its time
index, at most the page's row limit), run in a worker thread on a read-only connection of its
own, so that neither the loop nor the log's writer waits for a page.

Live: while a live events view is open, :class:`SoeEvents` asks the log to tell it after each
write (``SoeLog.written``; once per second at most, never on the event path) and then reads
the rows written since, and the recent rows whose masters changed (an acknowledgement arrived
after the event was written). With nobody watching it is not registered anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from rtu.soe import parse_time
from rtu.web.feeds import Row, Unsubscribe, time_text

if TYPE_CHECKING:
    from rtu.soe import SoeLog

log = logging.getLogger(__name__)

SOE_COLUMNS: Final = ("time", "kind", "name", "ioa", "type", "value", "quality", "cause",
                      "masters", "detail")
LIVE_BATCH: Final = 1000  # newest rows read per write of the log (a view queues fewer anyway)
TRACKED: Final = 256  # recent rows whose masters are followed for the live view
_SELECT: Final = ("SELECT id, time, kind, point, ioa, type, value, quality, cause, masters, "
                  "detail FROM soe")
_FLAGS: Final = frozenset({"IV", "NT", "SB", "BL", "OV", "CY", "CA", "TRANSIENT"})


def soe_row(raw: tuple[Any, ...]) -> dict[str, Any]:
    ident, when, kind, point, ioa, type_name, value, quality, cause, masters, detail = raw
    return {"id": ident, "time": time_text(float(when)), "t": float(when), "kind": kind,
            "name": point or "-", "ioa": ioa, "type": type_name, "value": value,
            "quality": quality, "cause": cause, "masters": masters or "-", "detail": detail}


def sql_filters(filters: Mapping[str, str]) -> tuple[str, list[object]]:
    """The WHERE clause (``""`` for none) of the page's filters, with the same meaning as
    :func:`rtu.web.feeds.event_filter` has on a row; ValueError names a bad one."""
    clauses: list[str] = []
    args: list[object] = []
    point = filters.get("point", "").strip()
    if point:
        if point.isdigit():
            clauses.append("(ioa = ? OR point GLOB ?)")
            args += [int(point), point]
        else:
            clauses.append("point GLOB ?")
            args.append(point)
    kind = filters.get("kind", "").strip()
    if kind:
        clauses.append("(lower(kind) = ? OR upper(type) = ?)")
        args += [kind.lower(), kind.upper()]
    cause = filters.get("cause", "").strip()
    if cause:
        clauses.append("replace(lower(cause), '_', ' ') = ?")
        args.append(cause.lower().replace("_", " "))
    quality = filters.get("quality", "").strip().upper()
    if quality == "OK":
        clauses.append("quality = 'ok'")
    elif quality:
        if quality not in _FLAGS:
            raise ValueError(f"quality: {quality!r} is not a flag (ok, "
                             + ", ".join(sorted(_FLAGS)) + ")")
        clauses.append("('|' || upper(quality) || '|') LIKE ?")
        args.append(f"%|{quality}|%")
    for name, op in (("since", ">="), ("until", "<=")):
        text = filters.get(name, "").strip()
        if text:
            try:
                moment = parse_time(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            clauses.append(f"time {op} ?")
            args.append(moment)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class SoeEvents:
    """The web page's view of a :class:`~rtu.soe.SoeLog`."""

    columns: tuple[str, ...] = SOE_COLUMNS
    filters: tuple[str, ...] = ("point", "kind", "cause", "quality", "since", "until")

    def __init__(self, soe: SoeLog) -> None:
        self.soe = soe
        # two read-only connections, each used by one read at a time: one for the page's
        # queries (a filter may scan), one for the live path (short reads by id only, one of
        # them on the loop when a view subscribes: it never waits behind a scan)
        self._conns: dict[bool, sqlite3.Connection] = {}
        self._locks = {False: threading.Lock(), True: threading.Lock()}
        # pages wait for their query here, on the loop, not in a worker thread each: a burst
        # of requests holds one worker, never the executor the log's writer needs too
        self._query_slot = asyncio.Semaphore(1)
        self._watchers: list[Callable[[Row], None]] = []
        self._last_id = 0
        self._tracked: OrderedDict[int, str] = OrderedDict()  # id -> masters, sent live
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self.failures = 0
        self.last_error: str | None = None

    def describe(self) -> str:
        return (f"the sequence-of-events log {self.soe.path} (newest first; a new event "
                "appears within a second of the log's write; masters: those whose "
                "acknowledgement covered it)")

    # -- reading (in a worker thread) --------------------------------------------------------------
    def _connection(self, live: bool) -> sqlite3.Connection:
        conn = self._conns.get(live)
        if conn is None:
            conn = sqlite3.connect(f"file:{self.soe.path}?mode=ro", uri=True, timeout=5.0,
                                   check_same_thread=False)
            self._conns[live] = conn
        return conn

    def _select(self, sql: str, args: list[object], live: bool = False
                ) -> list[tuple[Any, ...]]:
        with self._locks[live]:
            try:
                return self._connection(live).execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                self.failures += 1
                self.last_error = str(exc)
                raise OSError(f"sequence-of-events log {self.soe.path}: {exc}") from None

    async def query(self, filters: Mapping[str, str], limit: int) -> list[Row]:
        """The newest ``limit`` entries matching ``filters``, oldest first. ValueError for a
        bad filter, OSError when the log cannot be read."""
        where, args = sql_filters(filters)
        sql = f"{_SELECT}{where} ORDER BY time DESC, id DESC LIMIT ?"
        if limit <= 0:
            return []
        async with self._query_slot:
            rows = await asyncio.to_thread(self._select, sql, [*args, limit])
        return [soe_row(r) for r in reversed(rows)]

    # -- live ------------------------------------------------------------------------------------
    def subscribe(self, callback: Callable[[Row], None]) -> Unsubscribe:
        if not self._watchers:
            self._last_id = self._max_id()
            self._tracked.clear()
            self.soe.written.append(self._written)
        self._watchers.append(callback)

        def unsubscribe() -> None:
            if callback in self._watchers:
                self._watchers.remove(callback)
            if not self._watchers:
                with contextlib.suppress(ValueError):
                    self.soe.written.remove(self._written)
                if self._task is not None:
                    self._task.cancel()
                    self._task = None

        return unsubscribe

    def _max_id(self) -> int:
        try:
            row = self._select("SELECT max(id) FROM soe", [], live=True)
        except OSError as exc:
            log.warning("web page: %s", exc)
            return 0
        return int(row[0][0] or 0)

    def _written(self) -> None:
        """The log wrote (on the loop): read what is new, unless a read is under way."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._fetch())

    async def _fetch(self) -> None:
        while True:
            self._again = False
            try:
                rows = await asyncio.to_thread(self._news, self._last_id,
                                               tuple(self._tracked.items()))
            except OSError as exc:
                log.warning("web page: %s", exc)
                return
            for raw in rows:
                row = soe_row(raw)
                ident = int(row["id"])
                self._last_id = max(self._last_id, ident)
                self._tracked[ident] = str(raw[9])
                self._tracked.move_to_end(ident)
                while len(self._tracked) > TRACKED:
                    self._tracked.popitem(last=False)
                for watcher in self._watchers[:]:
                    watcher(row)
            if not self._again:
                return

    def _news(self, last_id: int, tracked: tuple[tuple[int, str], ...]) -> list[tuple[Any, ...]]:
        """Rows written after ``last_id`` (the newest LIVE_BATCH), and tracked rows whose
        masters changed; oldest first."""
        changed: list[tuple[Any, ...]] = []
        if tracked:
            known = dict(tracked)
            marks = ",".join("?" * len(known))
            changed = [r for r in self._select(f"{_SELECT} WHERE id IN ({marks})", list(known),
                                               live=True)
                       if r[9] != known.get(r[0])]
        new = self._select(f"{_SELECT} WHERE id > ? ORDER BY id DESC LIMIT ?",
                           [last_id, LIVE_BATCH], live=True)
        return sorted(changed, key=lambda r: r[0]) + list(reversed(new))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        with contextlib.suppress(ValueError):
            self.soe.written.remove(self._written)
        self._watchers.clear()
        for live, lock in self._locks.items():
            with lock:
                conn = self._conns.pop(live, None)
                if conn is not None:
                    conn.close()
