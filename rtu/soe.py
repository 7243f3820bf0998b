"""The sequence-of-events log: every event the outstation generates, kept on the box.

Each point-change event (point, IOA, type, value, quality, time tag, cause of transmission) is
recorded with the masters whose acknowledgement covered it, in a SQLite file in the state
directory (``soe.sqlite3`` unless ``[soe] path`` says otherwise). ``rtu soe`` queries it.

Cost on the event path: :meth:`SoeLog.event` appends the outstation's (immutable) event record
to a list and returns; decoding it into columns and writing happen in a worker thread once per
:data:`FLUSH_INTERVAL` (bench/soe.py measures it). Bounds, each with its counter:

* in memory, at most ``max_pending`` events (and as many acknowledgements) wait for the next
  write; beyond that new ones are not logged and are counted (``dropped``, in `rtu status`);
* on disk, at most ``max_events`` rows and none older than ``max_age_days``: the oldest are
  deleted first after every write (``pruned``).

Crash safety: SQLite in WAL mode, one transaction per write; a power cut loses at most the
events of the last :data:`FLUSH_INTERVAL` (the event journal, not this log, is what protects
events a master has not received). The file is readable while the outstation writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from rtu.config.schema import Table, any_of, integer, number, string, table
from rtu.frozen import frozen
from rtu.iec.asdu.objects import (
    CounterInterrogationCommand,
    DoublePoint,
    InformationObject,
    IntegratedTotal,
    MeasuredNormalized,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
)
from rtu.iec.asdu.types import OCI_NAMES, SPE_NAMES, DoublePointValue, Qdp, Qds, bits_text
from rtu.points.timestamps import posix_seconds, utc_datetime

if TYPE_CHECKING:
    import sqlite3

    from rtu.config.reader import Reader
    from rtu.iec.outstation import EventRecord, Outstation

log = logging.getLogger(__name__)

FLUSH_INTERVAL: Final = 1.0  # seconds between writes
DEFAULT_PATH: Final = "soe.sqlite3"
DEFAULT_MAX_EVENTS: Final = 1_000_000
DEFAULT_MAX_AGE_DAYS: Final = 90.0
DEFAULT_MAX_PENDING: Final = 100_000
MAX_QUERY_ROWS: Final = 100_000
_NORMALIZED_SCALE: Final = 32768
_DROP_LOG_EVERY: Final = 10_000
_COLUMNS: Final = ("id", "time", "kind", "point", "ioa", "type", "value", "quality", "cause",
                   "masters", "detail")
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS soe (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    seq INTEGER NOT NULL,      -- the outstation's event number; 0 for a command or an action
    time REAL NOT NULL,        -- the time tag (POSIX seconds, station time)
    kind TEXT NOT NULL,        -- event | command | operator
    point TEXT NOT NULL,
    ioa INTEGER NOT NULL,
    type TEXT NOT NULL,        -- the type identification, e.g. M_SP_TB_1
    value TEXT NOT NULL,
    quality TEXT NOT NULL,     -- ok, or flags: IV|NT|SB|BL|OV (counters: CY|CA|IV)
    cause TEXT NOT NULL,       -- the cause of transmission, e.g. SPONTANEOUS
    masters TEXT NOT NULL DEFAULT '',  -- masters that acknowledged it, comma separated
    detail TEXT NOT NULL DEFAULT ''    -- commands: link, originator, select/execute, outcome
);
CREATE INDEX IF NOT EXISTS soe_time ON soe (time);
CREATE INDEX IF NOT EXISTS soe_seq ON soe (seq);
"""


class SoeError(Exception):
    """The log cannot be opened or queried (the message says which file and why)."""


# -- configuration: [soe] ----------------------------------------------------------------------------
@frozen
class SoeConfig:
    """[soe]: the sequence-of-events log."""

    enabled: bool | None = None  # None ("auto"): on when the service has a state directory
    path: str = DEFAULT_PATH  # relative: inside the state directory
    max_events: int = DEFAULT_MAX_EVENTS
    max_age_days: float = DEFAULT_MAX_AGE_DAYS
    syslog: str = ""  # the audit's collector: udp://HOST[:PORT] or tcp://HOST[:PORT] (rtu/audit.py)


SOE_KEYS: Final = ("enabled", "path", "max_events", "max_age_days", "syslog")
SOE_TABLE: Final = Table("[soe]", (
    any_of("enabled", ("boolean", "string"), "auto",
           doc='true, false or "auto" (on when the service has a state directory of its own)'),
    string("path", DEFAULT_PATH, doc="a file name (inside the state directory) or an absolute "
                                     "path"),
    integer("max_events", DEFAULT_MAX_EVENTS, 1_000, 100_000_000),
    number("max_age_days", DEFAULT_MAX_AGE_DAYS, doc="days, > 0"),
    string("syslog", "", doc="the audit's collector: udp://HOST[:PORT] or tcp://HOST[:PORT]"),
))
SOE: Final = table("soe", SOE_TABLE)  # its declaration in the document (rtu/config)


def parse_soe(p: Reader, value: object) -> SoeConfig:
    """[soe] from the configuration file (errors go to ``p``; defaults stand in for them)."""
    tbl = SOE_TABLE.open(p, value, "soe")
    default = SoeConfig()
    raw_enabled = tbl.get("enabled", "auto")
    enabled: bool | None = None
    if isinstance(raw_enabled, bool):
        enabled = raw_enabled
    elif raw_enabled != "auto":
        p.expected("soe.enabled", 'true, false or "auto"', raw_enabled)
    path = p.string(tbl.get("path", default.path), "soe.path", "a file name or path")
    if path is not None and not path.strip():
        p.expected("soe.path", "a file name or path", path)
        path = None
    max_events = p.integer(tbl.get("max_events", default.max_events), "soe.max_events",
                           1_000, 100_000_000)
    max_age = p.number(tbl.get("max_age_days", default.max_age_days), "soe.max_age_days",
                       "days, > 0", above=0.0)
    syslog = p.string(tbl.get("syslog", ""), "soe.syslog", "udp://HOST[:PORT] or tcp://HOST[:PORT]")
    if syslog:
        try:
            parse_syslog(syslog)
        except ValueError as exc:
            p.expected("soe.syslog", "udp://HOST[:PORT] or tcp://HOST[:PORT]", syslog, str(exc))
            syslog = ""
    return SoeConfig(enabled=enabled, path=path or default.path,
                     max_events=max_events or default.max_events,
                     max_age_days=max_age or default.max_age_days, syslog=syslog or "")


def soe_path(configured: str, state_dir: Path) -> Path:
    path = Path(configured).expanduser()
    return path if path.is_absolute() else state_dir / path


def open_configured(settings: SoeConfig, state_directory: str,
                    environ: Mapping[str, str] | None = None) -> SoeLog | None:
    """The log [soe] asks for, or None when it is off. ``enabled = "auto"`` means on when the
    service has a state directory of its own ($STATE_DIRECTORY from systemd's StateDirectory=,
    or [service] state_directory), so that a bench run leaves no file in a home directory.
    SoeError (or StateDirectoryError) when it cannot be opened."""
    from rtu.statedir import state_directory as resolve

    env = os.environ if environ is None else environ
    enabled = settings.enabled
    if enabled is None:
        enabled = bool(env.get("STATE_DIRECTORY") or state_directory)
    if not enabled:
        return None
    path = soe_path(settings.path, resolve(state_directory, env))
    return SoeLog(path, max_events=settings.max_events, max_age_days=settings.max_age_days)


@frozen
class SyslogTarget:
    transport: str  # udp | tcp
    host: str
    port: int


def parse_syslog(text: str) -> SyslogTarget:
    """``udp://HOST[:PORT]`` (514) or ``tcp://HOST[:PORT]`` (601); ValueError says why not."""
    parts = urlsplit(text)
    if parts.scheme not in ("udp", "tcp") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("expected udp://HOST[:PORT] or tcp://HOST[:PORT]")
    try:
        port = parts.port or (514 if parts.scheme == "udp" else 601)
    except ValueError:
        raise ValueError("the port must be a number 1..65535") from None
    return SyslogTarget(parts.scheme, parts.hostname, port)


# -- the writer --------------------------------------------------------------------------------------
@frozen
class ActionRecord:
    """A command or an operator action, as the audit records it."""

    time: float
    kind: str  # command | operator
    point: str
    ioa: int
    type: str
    value: str
    outcome: str  # kept in quality's column: accepted, refused, executed, failed...
    cause: str
    detail: str


class SoeLog:
    """Records the outstation's events and the audit's actions into the SQLite log."""

    def __init__(self, path: Path, *, max_events: int = DEFAULT_MAX_EVENTS,
                 max_age_days: float = DEFAULT_MAX_AGE_DAYS,
                 max_pending: int = DEFAULT_MAX_PENDING,
                 wall: Any = time.time) -> None:
        self.path = path
        self.max_events = max_events
        self.max_age = max_age_days * 86400.0
        self.max_pending = max_pending
        self.wall = wall
        self._events: list[EventRecord] = []
        self._deliveries: list[tuple[str, tuple[EventRecord, ...]]] = []
        self._actions: list[ActionRecord] = []
        self._names: dict[int, str] = {}
        self.logged = 0
        self.dropped = 0  # not logged: the pending list was full
        self.pruned = 0  # deleted for max_events / max_age_days
        self.failures = 0
        self.last_error: str | None = None
        self._lock = threading.Lock()  # one write at a time (a cancelled run() may be writing)
        # told (on the loop) after each write that stored something: the web page's live view
        # of the log subscribes here while it is open (rtu/web/soefeed.py); never on the event path
        self.written: list[Callable[[], None]] = []
        self._conn = open_log(path)

    def attach(self, outstation: Outstation) -> None:
        """Record ``outstation``'s events from now on (again after a rebuild)."""
        self._names = {p.ioa: p.name for p in outstation.db}
        outstation.soe = self

    # -- the event path: append and return ---------------------------------------------------
    def event(self, record: EventRecord) -> None:
        events = self._events
        if len(events) < self.max_pending:
            events.append(record)
        else:
            self._drop()

    def delivered(self, master: str, records: tuple[EventRecord, ...]) -> None:
        """``master`` acknowledged ``records``."""
        if len(self._deliveries) < self.max_pending:
            self._deliveries.append((master, records))
        else:
            self._drop()

    def action(self, record: ActionRecord) -> None:
        if len(self._actions) < self.max_pending:
            self._actions.append(record)
        else:
            self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % _DROP_LOG_EVERY == 0:
            log.warning("sequence-of-events log: %d entries not logged (writing falls behind)",
                        self.dropped)

    # -- writing -----------------------------------------------------------------------------
    def _take(self) -> tuple[list[EventRecord], list[tuple[str, tuple[EventRecord, ...]]],
                             list[ActionRecord]]:
        batch = (self._events, self._deliveries, self._actions)
        self._events, self._deliveries, self._actions = [], [], []
        return batch

    def flush(self) -> None:
        """Write what is pending now (blocking; the run() task does it in a thread)."""
        self._write(*self._take())

    def _write(self, events: list[EventRecord],
               deliveries: list[tuple[str, tuple[EventRecord, ...]]],
               actions: list[ActionRecord]) -> None:
        if not (events or deliveries or actions):
            return
        with self._lock:
            self._write_locked(events, deliveries, actions)

    def _write_locked(self, events: list[EventRecord],
                      deliveries: list[tuple[str, tuple[EventRecord, ...]]],
                      actions: list[ActionRecord]) -> None:
        names = self._names
        rows = [event_row(r, names) for r in events]
        rows += [(0, a.time, a.kind, a.point, a.ioa, a.type, a.value, a.outcome, a.cause,
                  a.detail) for a in actions]
        marks = [(master, r.seq) for master, records in deliveries for r in records if r.seq]
        conn = self._conn
        import sqlite3  # loaded by open_log: a look-up

        try:
            with conn:
                conn.executemany(
                    "INSERT INTO soe (seq, time, kind, point, ioa, type, value, quality, cause,"
                    " detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany(
                    "UPDATE soe SET masters = CASE WHEN masters = '' THEN ?1"
                    " WHEN instr(',' || masters || ',', ',' || ?1 || ',') THEN masters"
                    " ELSE masters || ',' || ?1 END"
                    " WHERE id = (SELECT id FROM soe WHERE seq = ?2 AND kind = 'event'"
                    " ORDER BY id DESC LIMIT 1)", marks)
                self.pruned += self._prune(conn)
        except sqlite3.Error as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.error("sequence-of-events log %s: %d entries not written: %s", self.path,
                      len(rows), exc)
            return
        self.logged += len(rows)
        self.last_error = None

    def _prune(self, conn: sqlite3.Connection) -> int:
        removed = conn.execute("DELETE FROM soe WHERE time < ?",
                               (self.wall() - self.max_age,)).rowcount
        top = conn.execute("SELECT max(id) FROM soe").fetchone()[0]
        if top is not None:
            removed += conn.execute("DELETE FROM soe WHERE id <= ?",
                                    (top - self.max_events,)).rowcount
        return max(removed, 0)

    async def run(self) -> None:
        """Write every FLUSH_INTERVAL, in a thread (the loop never waits for the disk)."""
        while True:
            await asyncio.sleep(FLUSH_INTERVAL)
            batch = self._take()
            await asyncio.to_thread(self._write, *batch)
            if self.written and any(batch):
                for listener in self.written[:]:
                    listener()

    async def close(self) -> None:
        """The last write (after one still under way), then close the file."""
        await asyncio.to_thread(self._close, *self._take())

    def _close(self, events: list[EventRecord],
               deliveries: list[tuple[str, tuple[EventRecord, ...]]],
               actions: list[ActionRecord]) -> None:
        self._write(events, deliveries, actions)
        with self._lock:
            self._conn.close()

    def status(self) -> dict[str, object]:
        return {"path": str(self.path), "logged": self.logged, "dropped": self.dropped,
                "pruned": self.pruned, "failures": self.failures,
                "pending": len(self._events) + len(self._actions),
                "last_error": self.last_error}


def open_log(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """The log's connection (created with its schema unless ``readonly``); SoeError if not."""
    import sqlite3  # only where a log is kept: the section's reader does without

    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
            conn.execute("SELECT 1 FROM soe LIMIT 1")
            return conn
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(_SCHEMA)
    except (sqlite3.Error, OSError) as exc:
        raise SoeError(f"sequence-of-events log {path}: {exc}") from None
    return conn


# -- turning an event record into columns ------------------------------------------------------------
_FLAG_NAMES: Final = (("IV", Qds.IV), ("NT", Qds.NT), ("SB", Qds.SB), ("BL", Qds.BL),
                      ("OV", Qds.OV))
_DPI_NAMES: Final = {int(v): v.name.lower() for v in DoublePointValue}
_ES_NAMES: Final = {1: "off", 2: "on"}  # 0 and 3: indeterminate
_PROTECTION: Final = (ProtectionEvent, ProtectionStartEvents, ProtectionOutputCircuit)


def event_row(record: EventRecord, names: Mapping[int, str]) -> tuple[Any, ...]:
    obj = record.obj
    stamp = getattr(obj, "time", None)
    when = stamp.to_timestamp() if stamp is not None else 0.0
    return (record.seq, when, "event", names.get(obj.ioa, ""), obj.ioa, record.type_id.name,
            value_text(obj), quality_of(obj), record.cot.name, "")


def value_text(obj: InformationObject) -> str:
    if isinstance(obj, CounterInterrogationCommand):
        return f"RQT {obj.rqt} FRZ {obj.frz}"
    if isinstance(obj, ParameterActivation):
        return f"QPA {obj.qpa}"
    if isinstance(obj, ParameterNormalized):
        return f"{obj.value / _NORMALIZED_SCALE:.6g} (KPA {obj.kpa})"
    if isinstance(obj, ParameterScaled | ParameterFloat):
        return f"{obj.value:.7g} (KPA {obj.kpa})"
    if isinstance(obj, ProtectionEvent):
        return f"{_ES_NAMES.get(obj.state, 'indeterminate')} {obj.elapsed_ms} ms"
    if isinstance(obj, ProtectionStartEvents):
        return f"{bits_text(obj.spe, SPE_NAMES)} {obj.duration_ms} ms"
    if isinstance(obj, ProtectionOutputCircuit):
        return f"{bits_text(obj.oci, OCI_NAMES)} {obj.operating_ms} ms"
    value = getattr(obj, "value", None)
    if value is None:  # a single, double or regulating step command
        value = getattr(obj, "state", None)
        if isinstance(value, int) and not isinstance(value, bool):
            return {1: "off/lower", 2: "on/higher"}.get(value, str(value))
    if isinstance(obj, DoublePoint):
        return _DPI_NAMES.get(int(obj.value), str(obj.value))
    if isinstance(obj, MeasuredNormalized):
        return f"{obj.value / _NORMALIZED_SCALE:.6g}"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.7g}"
    return str(value)


def _flags_text(octet: int) -> str:
    return "|".join(name for name, flag in _FLAG_NAMES if octet & int(flag)) or "ok"


_QUALITY_TEXT: Final = tuple(_flags_text(i) for i in range(256))  # IntFlag '&' is slow


def quality_of(obj: InformationObject) -> str:
    if isinstance(obj, IntegratedTotal):
        flags = [n for n, on in (("CY", obj.carry), ("CA", obj.adjusted), ("IV", obj.invalid))
                 if on]
        return "|".join(flags) or "ok"
    octet = int(getattr(obj, "quality", 0)) & 0xFF
    text = _QUALITY_TEXT[octet]
    if isinstance(obj, _PROTECTION) and octet & Qdp.EI:  # elapsed time invalid (QDP only)
        return "EI" if text == "ok" else f"{text}|EI"
    if getattr(obj, "transient", False):
        return "transient" if text == "ok" else f"{text}|transient"
    return text


# -- queries -----------------------------------------------------------------------------------------
_RELATIVE: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNIT: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(text: str, now: float | None = None) -> float:
    """POSIX seconds from ISO 8601 (UTC unless it says otherwise: ``2026-12-05T10:00``, a date
    alone is its midnight) or a time ago (``90s``, ``10m``, ``2h``, ``7d``); ValueError names
    the forms."""
    raw = text.strip()
    relative = _RELATIVE.fullmatch(raw)
    if relative:
        current = time.time() if now is None else now
        return current - float(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        moment = datetime.fromisoformat(raw)  # 3.11 reads a trailing Z
    except ValueError:
        raise ValueError(f"{text!r} is not a time: expected ISO 8601 (2026-12-05T10:00:00, "
                         "UTC unless an offset is given) or an age such as 10m, 2h, 7d") \
            from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return posix_seconds(moment)


def query(conn: sqlite3.Connection, *, since: float | None = None, until: float | None = None,
          point: str = "*", limit: int = 1000) -> list[dict[str, Any]]:
    """Rows oldest first, within [since, until] and whose point name matches the glob; at most
    ``limit`` (the newest ``limit`` when more match)."""
    if not 1 <= limit <= MAX_QUERY_ROWS:
        raise SoeError(f"limit must be 1..{MAX_QUERY_ROWS}, got {limit}")
    clauses: list[str] = []
    args: list[object] = []
    if since is not None:
        clauses.append("time >= ?")
        args.append(since)
    if until is not None:
        clauses.append("time <= ?")
        args.append(until)
    if point != "*":
        clauses.append("point GLOB ?")
        args.append(point)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM soe{where} ORDER BY time DESC, id DESC LIMIT ?")
    import sqlite3  # loaded by open_log: a look-up

    try:
        rows = conn.execute(sql, (*args, limit)).fetchall()
    except sqlite3.Error as exc:
        raise SoeError(f"query failed: {exc}") from None
    return [dict(zip(_COLUMNS, row)) for row in reversed(rows)]


# -- output ------------------------------------------------------------------------------------------
FORMATS: Final = ("table", "csv", "json")
_SHOWN: Final = ("time", "kind", "point", "ioa", "type", "value", "quality", "cause", "masters",
                 "detail")


def time_text(timestamp: float) -> str:
    if not timestamp:
        return "-"
    moment = utc_datetime(timestamp)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(rows: Iterable[Mapping[str, Any]], fmt: str) -> str:
    rows = [{**r, "time": time_text(float(r["time"]))} for r in rows]
    if fmt == "json":
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        import csv  # `rtu soe --format csv` only

        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(_SHOWN), extrasaction="ignore",
                                lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    return _table(rows, [c for c in _SHOWN if c != "detail" or any(r["detail"] for r in rows)])


def _table(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> str:
    """Left-aligned columns under an upper-case header (as `rtu points` prints them)."""
    cells = [[c.upper() for c in columns]]
    cells += [["-" if row.get(c) is None else str(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)


def read_file(path: Path, **filters: Any) -> list[dict[str, Any]]:
    """Query a log file directly (the outstation need not run)."""
    if not path.exists():
        raise SoeError(f"sequence-of-events log {path}: no such file")
    conn = open_log(path, readonly=True)
    with contextlib.closing(conn):
        return query(conn, **filters)
