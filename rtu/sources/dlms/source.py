"""DLMS/COSEM meter sources: poll electricity meters (IEC 62056) into the point database.

One :class:`MeterSource` per ``[[dlms.meters]]`` entry, each on its own poll interval, so a
slow or silent meter never holds up another. A poll is one session on the meter's
:class:`hal.dlms.DlmsLink` (connect, associate, GET by logical name, release), run in a worker
thread (the client is blocking) with at most one thread per meter at a time, bounded from
outside: a session that overruns its budget has its line closed under it.

What a poll does (the pure parts are :func:`plan`, :func:`register_value` and
:func:`decode_cosem_datetime`):

* every read GETs its attribute, and for registers (classes 3, 4, 5) the scaler_unit too; the
  value is ``raw * 10**scaler * scale``: an energy register feeds a counter point (integrated
  total, M_IT: rounded to an integer in the unit after scaling), an instantaneous value a float
  point (measured value, short float). A read with ``unit`` set checks the unit the meter
  reports: a different one makes the point invalid (a mapping mistake, not a value);
* ``clock_point``: the meter's clock (class 8, 0.0.1.0.0.255, attribute 2) is compared with
  ours when the answer arrives: the single point is on while ``|drift| > clock_max_drift``,
  invalid when the meter says its clock is invalid or sends no usable time;
* a meter that does not answer, refuses the association or fails mid-session has ALL its points
  set invalid + not topical (IV|NT, values kept) at once, at that poll, and is asked again at its
  next poll; the first good session makes them valid again. A GET answered with an error
  invalidates only that read's point.

The client invocation counter (HLS-GMAC, security suite 0) lives in the state directory, one
file per meter, and only ever grows: before a session the file is made to cover every counter
the session may use (it reserves a block, so the flash is written once per block, not per poll),
and a restart goes on from the end of the reserved block. A meter that refuses our counter and
reports its own makes us jump past it. A counter file that cannot be read stops the meter's
polls (with a clear error) rather than risk reusing a counter.

A load profile (``[dlms.meters.profile]``, pure parts :func:`profile_query`,
:func:`decode_capture_objects`, :func:`decode_profile_entries`) is read when a capture period
has passed since the last entry reported (or none was): the capture objects, the buffer entries
after that one (range selection on the clock column; the meter may answer with more, so they
are filtered by capture time here) and the scaler_unit of its register columns. Each new entry,
oldest first, updates the mapped points with its own capture time; the database reports those
that changed. The last capture time reported is kept in ``DIR/dlms/profiles/METER.json``,
written after the entries reached the database (a crash in between repeats them, never loses
them). A column the profile does not capture, or a profile without the clock, makes the mapped
points invalid (a mapping mistake) without failing the meter.

Communication failures never leave :meth:`MeterSource.run`; only a bug does (the supervisor then
restarts the source, after it has marked its points IV|NT).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
import os
import struct
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from hal.dlms import (
    INVOCATION_COUNTER_MAX,
    AttributeRef,
    AttributeResult,
    Authentication,
    DlmsError,
    DlmsErrorKind,
    DlmsHdlcSettings,
    DlmsLink,
    DlmsLinkSettings,
    DlmsTcpSettings,
    DlmsUdpSettings,
    RangeSelection,
)
from rtu.frozen import frozen
from rtu.points.database import PointDatabase
from rtu.points.model import PointKind, Quality
from rtu.points.timestamps import posix_seconds, utc_datetime
from rtu.sources.dlms.config import (
    SCALER_UNIT_ATTRIBUTE,
    DlmsConfig,
    DlmsMeterConfig,
    DlmsProfile,
    DlmsRead,
    obis_text,
)

log = logging.getLogger(__name__)

INVALID: Final = Quality.IV | Quality.NT
CLOCK_CLASS: Final = 8
CLOCK_OBIS: Final = (0, 0, 1, 0, 0, 255)
CLOCK_TIME_ATTRIBUTE: Final = 2
CLOCK_STATUS_INVALID: Final = 0x01  # clock_status bit 0 (Blue Book 4.1.6.1)
CLOCK_STATUS_NOT_SPECIFIED: Final = 0xFF
DEVIATION_NOT_SPECIFIED: Final = -0x8000
COUNTER_RESERVE: Final = 1000  # counters reserved on disk at a time
SESSION_OVERHEAD: Final = 6  # requests besides the GETs: connect, AARQ, HLS reply, RLRQ, DISC
PROFILE_CLASS: Final = 7  # Profile Generic
PROFILE_BUFFER_ATTRIBUTE: Final = 2
PROFILE_CAPTURE_OBJECTS_ATTRIBUTE: Final = 3
PROFILE_BLOCKS: Final = 32  # GET-next blocks a session may take (the link's max_blocks too)
PROFILE_LOOKAHEAD: Final = 3600.0  # s: the range asked reaches this far past our clock


# -- pure: what to ask, and what the answers mean --------------------------------------------
def scaler_ref(read: DlmsRead) -> AttributeRef | None:
    """The scaler_unit attribute of a register read's object; None for data (class 1) or a read
    of another attribute than the value."""
    attribute = SCALER_UNIT_ATTRIBUTE.get(read.class_id)
    if attribute is None or read.attribute == attribute:
        return None
    return AttributeRef(read.class_id, read.obis, attribute)


def value_ref(read: DlmsRead) -> AttributeRef:
    return AttributeRef(read.class_id, read.obis, read.attribute)


CLOCK_REF: Final = AttributeRef(CLOCK_CLASS, CLOCK_OBIS, CLOCK_TIME_ATTRIBUTE)


def plan(meter: DlmsMeterConfig) -> tuple[AttributeRef, ...]:
    """Every attribute one poll of ``meter`` GETs, each once, in read order."""
    refs: dict[AttributeRef, None] = {}
    for read in meter.reads:
        refs[value_ref(read)] = None
        scaler = scaler_ref(read)
        if scaler is not None:
            refs[scaler] = None
    if meter.clock_point is not None:
        refs[CLOCK_REF] = None
    return tuple(refs)


class DlmsValueError(ValueError):
    """An answer that does not give the point a value (the reason is the message)."""


def decode_scaler_unit(value: Any) -> tuple[int, int]:
    """A scaler_unit structure ``[scaler (int8), unit (enum)]`` -> (scaler, unit)."""
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise DlmsValueError(f"expected a scaler_unit structure [scaler, unit], got {value!r}")
    scaler, unit = value
    if not -128 <= scaler <= 127:
        raise DlmsValueError(f"scaler {scaler} is outside -128..127")
    return scaler, unit


def register_value(raw: Any, scaler: int, scale: float, kind: PointKind) -> float | int:
    """The engineering value of a register's raw value: ``raw * 10**scaler * scale``; a counter
    is rounded to an integer. ValueError when raw is not a number or the result not finite."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise DlmsValueError(f"expected a number, got {raw!r}")
    # exact for integers with a negative scaler: 12345 * 10**-2 as 12345 / 100
    try:
        value: float = (raw * 10**scaler if scaler >= 0 else raw / 10**-scaler) * scale
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise DlmsValueError(f"{raw!r} * 10^{scaler} * {scale:g} is not finite")
    if kind is PointKind.COUNTER:
        return round(value)
    return float(value)


@frozen
class CosemTime:
    timestamp: float | None  # POSIX seconds; None: not a usable date-time
    status: int | None  # clock_status; None: not specified


def decode_cosem_datetime(raw: Any) -> CosemTime:
    """A COSEM date-time (octet-string of 12: year(2) month day weekday hour minute second
    hundredths deviation(2, signed) clock_status); UTC = local + deviation (Blue Book
    4.1.6.1). An unspecified deviation is taken as UTC. Wildcards (0xFF...) in the date or time
    make it unusable (timestamp None)."""
    if not isinstance(raw, bytes | bytearray) or len(raw) != 12:
        return CosemTime(None, None)
    year, month, day, _wday, hour, minute, second, hundredths, deviation, status = \
        struct.unpack(">HBBBBBBBhB", bytes(raw))
    status_or_none = None if status == CLOCK_STATUS_NOT_SPECIFIED else status
    hundredths = 0 if hundredths == 0xFF else hundredths
    try:
        local = dt.datetime(year, month, day, hour, minute, second, hundredths * 10_000,
                            tzinfo=dt.UTC)
    except ValueError:
        return CosemTime(None, status_or_none)
    offset = 0 if deviation == DEVIATION_NOT_SPECIFIED else deviation
    if abs(offset) > 720:
        return CosemTime(None, status_or_none)
    return CosemTime(posix_seconds(local) + offset * 60, status_or_none)


# -- pure: load profiles -------------------------------------------------------------------------
@frozen
class ProfileQuery:
    """What one session asks of a load profile: its capture objects, the buffer entries in a
    time range, the scaler_unit of its register columns. ``after``: report only entries
    captured after this instant (POSIX seconds)."""

    capture_objects: AttributeRef
    buffer: AttributeRef
    scalers: tuple[AttributeRef, ...]
    after: float

    @property
    def refs(self) -> tuple[AttributeRef, ...]:
        return (self.capture_objects, self.buffer, *self.scalers)


def profile_query(profile: DlmsProfile, after: float, now: float) -> ProfileQuery:
    """The GETs that bring a profile's entries captured after ``after`` (selective access by
    range on the clock column, from the next second to a little past ``now``)."""
    scalers: dict[AttributeRef, None] = {}
    for column in profile.columns:
        scaler = scaler_ref(column)
        if scaler is not None:
            scalers[scaler] = None
    start = math.floor(after) + 1
    selection = RangeSelection(CLOCK_CLASS, CLOCK_OBIS, CLOCK_TIME_ATTRIBUTE, start,
                               max(now, start) + PROFILE_LOOKAHEAD)
    return ProfileQuery(
        capture_objects=AttributeRef(PROFILE_CLASS, profile.obis,
                                     PROFILE_CAPTURE_OBJECTS_ATTRIBUTE),
        buffer=AttributeRef(PROFILE_CLASS, profile.obis, PROFILE_BUFFER_ATTRIBUTE, selection),
        scalers=tuple(scalers), after=after)


CapturedObject = tuple[int, tuple[int, int, int, int, int, int], int]  # class, obis, attribute


def decode_capture_objects(value: Any) -> list[CapturedObject]:
    """A profile's capture_objects (attribute 3): an array of structures ``{class_id,
    logical_name (6 octets), attribute_index, data_index}`` -> (class, obis, attribute) per
    column, in column order."""
    if not isinstance(value, list):
        raise DlmsValueError(f"capture_objects: expected an array, got {value!r}")
    columns: list[CapturedObject] = []
    for item in value:
        if (not isinstance(item, list) or len(item) != 4
                or not isinstance(item[0], int) or not isinstance(item[2], int)
                or not isinstance(item[1], bytes | bytearray) or len(item[1]) != 6):
            raise DlmsValueError(f"capture_objects: expected {{class_id, logical_name, "
                                 f"attribute_index, data_index}}, got {item!r}")
        a, b, c, d, e, f = bytes(item[1])
        columns.append((item[0], (a, b, c, d, e, f), item[2]))
    return columns


@frozen
class ProfileEntry:
    timestamp: float  # the entry's capture time (POSIX seconds)
    values: tuple[Any, ...]  # the raw columns, in capture-object order


def decode_profile_entries(buffer: Any, width: int, clock_column: int,
                           capture_period: int) -> tuple[list[ProfileEntry], list[str]]:
    """A profile buffer (array of structures of ``width`` columns) -> its entries in time order,
    and what was wrong with those left out. A null clock column is the previous entry's time
    plus the capture period (the compression the Blue Book allows for a profile captured at
    its period); an entry without a usable time is left out."""
    if not isinstance(buffer, list):
        raise DlmsValueError(f"buffer: expected an array of entries, got {buffer!r}")
    entries: list[ProfileEntry] = []
    problems: list[str] = []
    previous: float | None = None
    for index, row in enumerate(buffer):
        if not isinstance(row, list) or len(row) != width:
            problems.append(f"entry {index}: expected {width} columns, got {row!r}")
            previous = None
            continue
        raw_time = row[clock_column]
        if raw_time is None and previous is not None:
            stamp: float | None = previous + capture_period
        else:
            stamp = decode_cosem_datetime(raw_time).timestamp
        if stamp is None:
            problems.append(f"entry {index}: no usable capture time ({raw_time!r})")
            previous = None
            continue
        previous = stamp
        entries.append(ProfileEntry(stamp, tuple(row)))
    entries.sort(key=lambda entry: entry.timestamp)  # a LIFO-sorted profile, too
    return entries, problems



# -- the client invocation counter, kept in the state directory --------------------------------
class CounterFileError(Exception):
    pass


class InvocationCounterStore:
    """``DIR/dlms/METER.json``: ``{"reserved": N}`` - every counter below N may have been used,
    so a (re)start goes on from N. Written atomically (temporary file, fsync, rename)."""

    def __init__(self, directory: Path, meter: str) -> None:
        self.path = directory / "dlms" / f"{meter}.json"
        self.reserved: int | None = None  # what the file says; None: not read yet

    def load(self) -> int:
        """The first counter this run may use."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.reserved = 0
            return 0
        except OSError as exc:
            raise CounterFileError(f"{self.path}: cannot read it: {exc.strerror}") from exc
        try:
            data = json.loads(text)
            reserved = data["reserved"]
        except (ValueError, KeyError, TypeError) as exc:
            raise CounterFileError(f"{self.path}: corrupt ({exc}); the meter's invocation "
                                   "counter is unknown: remove the file only if the meter's "
                                   "keys were changed") from exc
        if isinstance(reserved, bool) or not isinstance(reserved, int) \
                or not 0 <= reserved <= INVOCATION_COUNTER_MAX + 1:
            raise CounterFileError(f"{self.path}: corrupt (reserved = {reserved!r})")
        self.reserved = reserved
        return reserved

    def reserve(self, counter: int, needed: int) -> None:
        """Make sure the file covers ``counter .. counter + needed - 1``."""
        if self.reserved is None:
            self.load()
        assert self.reserved is not None
        if counter + needed <= self.reserved:
            return
        reserved = min(counter + max(needed, COUNTER_RESERVE), INVOCATION_COUNTER_MAX + 1)
        _write_atomically(self.path, {"reserved": reserved})
        self.reserved = reserved


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    """``data`` as JSON in ``path`` (mode 600): temporary file, fsync, rename, fsync the
    directory."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps(data).encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class ProfileStore:
    """``DIR/dlms/profiles/METER.json``: ``{"last": T, "time": "..."}`` - the capture time
    (POSIX seconds; and as UTC text, for people) of the last load profile entry reported, so a
    restart reports only entries captured after it. Written after the entries reached the point
    database: a crash in between reports some entries twice, never loses one."""

    def __init__(self, directory: Path, meter: str) -> None:
        self.path = directory / "dlms" / "profiles" / f"{meter}.json"

    def load(self) -> float | None:
        """The last entry reported; None when none was (or the file is unusable: then a
        warning says so and the profile starts again from its backfill)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("%s: cannot read it (%s); the load profile is read again from its "
                        "backfill", self.path, exc.strerror)
            return None
        try:
            last = json.loads(text)["last"]
            if isinstance(last, bool) or not isinstance(last, int | float) \
                    or not math.isfinite(last):
                raise ValueError(f"last = {last!r}")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s: corrupt (%s); the load profile is read again from its backfill "
                        "(entries may be reported twice)", self.path, exc)
            return None
        return float(last)

    def save(self, last: float) -> None:
        when = utc_datetime(last).isoformat()
        _write_atomically(self.path, {"last": last, "time": when})


# -- the runtime ---------------------------------------------------------------------------------
def _forget_outcome(worker: asyncio.Future[Any]) -> None:
    """Mark a session's error as seen: when its poll was abandoned (cancelled, or over its
    budget) nobody awaits it, and asyncio would log it as never retrieved."""
    if not worker.cancelled():
        worker.exception()


class MeterSource:
    """Polls one meter through a :class:`hal.dlms.DlmsLink`."""

    def __init__(self, meter: DlmsMeterConfig, db: PointDatabase, link: DlmsLink,
                 store: InvocationCounterStore | None, *,
                 profile_store: ProfileStore | None = None,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = f"dlms:{meter.name}"
        self.meter = meter
        self.db = db
        self.link = link
        self.store = store  # None unless the meter ciphers (hls-gmac)
        self.wall = wall
        self.monotonic = monotonic
        self.refs = plan(meter)
        self.profile_store = profile_store  # None: the last entry is not kept across restarts
        self.profile_points = tuple(c.point for c in meter.profile.columns) \
            if meter.profile is not None else ()
        self.points = tuple(r.point for r in meter.reads) + (
            (meter.clock_point,) if meter.clock_point is not None else ()) + self.profile_points
        self.kinds = {name: db.point(name).kind for name in self.points}
        self.up: bool | None = None  # None: not asked yet
        self.last_error = ""
        self.polls = 0
        self.failures = 0
        self.counter: int | None = None  # the next client invocation counter (hls-gmac)
        self.clock_drift: float | None = None  # seconds, meter - ours, at the last poll
        self.profile_last: float | None = None  # capture time of the last entry reported
        self._profile_loaded = False
        self._worker: asyncio.Future[tuple[list[AttributeResult], ProfileQuery | None]] | None \
            = None
        self._problems: dict[str, str] = {}  # point -> why it is invalid (logged once)

    @property
    def health(self) -> str:
        """One line for `rtu status`."""
        if self.up is None:
            return "not polled yet"
        if self.up:
            drift = f", clock drift {self.clock_drift:+.1f} s" if self.clock_drift is not None \
                else ""
            profile = ""
            if self.profile_last is not None:
                profile = (", load profile up to " + utc_datetime(
                    self.profile_last).strftime("%Y-%m-%d %H:%M:%SZ"))
            return f"answering ({self.polls} polls, {self.failures} failed{drift}{profile})"
        return f"NOT ANSWERING: {self.last_error}"

    @property
    def budget(self) -> float:
        """The most a whole session may take before its line is closed under it."""
        return self.meter.timeout * self._requests(self.meter.profile is not None) + 1.0

    def _requests(self, profile: bool) -> int:
        """The most requests (so client invocation counters) one session may make."""
        if not profile or self.meter.profile is None:
            return len(self.refs) + PROFILE_BLOCKS + SESSION_OVERHEAD
        query = profile_query(self.meter.profile, 0.0, 0.0)
        return len(self.refs) + len(query.refs) + PROFILE_BLOCKS + SESSION_OVERHEAD

    async def run(self) -> None:
        try:
            due = self.monotonic()
            while True:
                wait = due - self.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                started = self.monotonic()
                await self.poll()
                due += self.meter.interval
                if due <= started:  # a session longer than the interval: start a new rhythm
                    due = started + self.meter.interval
        except Exception:
            self._invalidate(self.points)  # a bug: the supervisor restarts us
            raise
        finally:
            self.link.abort()

    async def poll(self) -> None:
        """One session now; the points are updated (or invalidated) before it returns."""
        self.polls += 1
        try:
            results, query = await self._session()
        except DlmsError as exc:
            self._failed(str(exc))
            return
        except CounterFileError as exc:
            self._failed(str(exc))
            return
        now = self.wall()
        if self.up is False:
            log.info("dlms meter %s answers again", self.meter.name)
        self.up = True
        self.last_error = ""
        if query is not None:
            last = self._store_profile(results, query)
            if last is not None and (self.profile_last is None or last > self.profile_last):
                self.profile_last = last
                if self.profile_store is not None:
                    try:
                        await asyncio.to_thread(self.profile_store.save, last)
                    except OSError as exc:
                        log.warning("dlms meter %s: %s: cannot write it: %s", self.meter.name,
                                    self.profile_store.path, exc.strerror or exc)
        self._store(results, now)

    async def _session(self) -> tuple[list[AttributeResult], ProfileQuery | None]:
        previous = self._worker
        if previous is not None and not previous.done():
            # the last session overran and its line was closed: its thread should end within
            # a timeout; never run two at once, and never wait for ever either
            await asyncio.wait({previous}, timeout=self.budget)
            if not previous.done():
                raise DlmsError(DlmsErrorKind.TIMEOUT, "the previous session's thread is still "
                                                       "blocked; not starting another")
        worker = asyncio.ensure_future(asyncio.to_thread(self._blocking_session))
        worker.add_done_callback(_forget_outcome)  # an abandoned session's error is no news
        self._worker = worker
        # asyncio.wait, not wait_for: on Python 3.11 wait_for returns the result of a future
        # that completed in the same loop pass as a cancel of the caller and drops the cancel
        # (CPython gh-86296), and the source then polled on while the supervisor waited for
        # it to stop. asyncio.wait neither cancels the worker nor swallows our cancel.
        try:
            done, _ = await asyncio.wait({worker}, timeout=self.budget)
        except asyncio.CancelledError:
            self.link.abort()
            raise
        if not done:
            self.link.abort()
            raise DlmsError(DlmsErrorKind.TIMEOUT,
                            f"the session took more than {self.budget:g} s")
        return worker.result()

    def _blocking_session(self) -> tuple[list[AttributeResult], ProfileQuery | None]:
        """In the worker thread: decide whether the load profile is due, reserve counters,
        read, remember the next counter."""
        query = self._profile_query()
        refs = tuple(dict.fromkeys(self.refs + query.refs)) if query is not None else self.refs
        needed = self._requests(query is not None)
        counter = 0
        if self.store is not None:
            if self.counter is None:
                self.counter = self.store.load()
            counter = self.counter
            if counter + needed > INVOCATION_COUNTER_MAX:
                raise CounterFileError("the client invocation counter is exhausted: the meter's "
                                       "keys must be changed")
            self.store.reserve(counter, needed)
        try:
            results, after = self.link.read(refs, counter)
        except DlmsError as exc:
            if self.store is not None and exc.next_counter is not None:
                self.counter = max(counter, exc.next_counter)
            raise
        if self.store is not None:
            self.counter = max(counter, after)
        return results, query

    def _profile_query(self) -> ProfileQuery | None:
        """The load profile's GETs when a new entry may be there: never read yet, or a capture
        period has passed since the last entry reported."""
        profile = self.meter.profile
        if profile is None:
            return None
        if not self._profile_loaded:
            self.profile_last = self.profile_store.load() if self.profile_store else None
            self._profile_loaded = True
        now = self.wall()
        last = self.profile_last
        if last is not None and now < last + profile.capture_period:
            return None
        return profile_query(profile, now - profile.backfill if last is None else last, now)

    # -- results ----------------------------------------------------------------------------------
    def _store(self, results: Sequence[AttributeResult], now: float) -> None:
        by_ref = {r.ref: r for r in results}
        for read in self.meter.reads:
            kind = self.kinds[read.point]
            try:
                value = self._value(read, kind, by_ref)
            except (ValueError, LookupError) as exc:
                why = str(exc)
                level = logging.DEBUG if self._problems.get(read.point) == why else logging.WARNING
                self._problems[read.point] = why
                log.log(level, "dlms meter %s: %s (%s): %s; the point is invalid",
                        self.meter.name, read.point, value_ref(read), why)
                self._invalidate((read.point,), now)
                continue
            if self._problems.pop(read.point, None) is not None:
                log.info("dlms meter %s: %s has a value again", self.meter.name, read.point)
            self.db.update(read.point, value, Quality.GOOD, timestamp=now)
        if self.meter.clock_point is not None:
            self._clock(by_ref.get(CLOCK_REF), now)

    def _value(self, read: DlmsRead, kind: PointKind,
               by_ref: dict[AttributeRef, AttributeResult]) -> float | int:
        result = by_ref[value_ref(read)]
        if result.error is not None:
            raise DlmsValueError(result.error)
        return register_value(result.value, self._scaler(read, by_ref), read.scale, kind)

    @staticmethod
    def _scaler(read: DlmsRead, by_ref: dict[AttributeRef, AttributeResult]) -> int:
        """The scaler of a register read (0 for data), its unit checked."""
        sref = scaler_ref(read)
        if sref is None:
            return 0
        scaler_result = by_ref[sref]
        if scaler_result.error is not None:
            raise DlmsValueError(f"scaler_unit: {scaler_result.error}")
        scaler, unit = decode_scaler_unit(scaler_result.value)
        if read.unit is not None and unit != read.unit:
            raise DlmsValueError(f"the meter reports unit {unit}, the configuration expects "
                                 f"{read.unit}")
        return scaler

    def _store_profile(self, results: Sequence[AttributeResult],
                       query: ProfileQuery) -> float | None:
        """The profile's new entries, in time order, each column's point updated with the
        entry's capture time; returns the last entry's time (None: no new entry)."""
        profile = self.meter.profile
        assert profile is not None
        by_ref = {r.ref: r for r in results}
        now = self.wall()
        where = f"load profile {obis_text(profile.obis)}"
        try:
            captured_result = by_ref[query.capture_objects]
            if captured_result.error is not None:
                raise DlmsValueError(f"capture_objects: {captured_result.error}")
            captured = decode_capture_objects(captured_result.value)
            clock = (CLOCK_CLASS, CLOCK_OBIS, CLOCK_TIME_ATTRIBUTE)
            if clock not in captured:
                raise DlmsValueError("it does not capture the clock (0.0.1.0.0.255, "
                                     "attribute 2): its entries have no time")
            buffer = by_ref[query.buffer]
            if buffer.error is not None:
                raise DlmsValueError(f"buffer: {buffer.error}")
            entries, problems = decode_profile_entries(
                buffer.value, len(captured), captured.index(clock), profile.capture_period)
        except (DlmsValueError, LookupError) as exc:
            for point in self.profile_points:
                self._point_problem(point, f"{where}: {exc}", now)
            return None
        for problem in problems:
            log.warning("dlms meter %s: %s: %s; left out", self.meter.name, where, problem)
        columns: list[tuple[DlmsRead, int, int]] = []  # column, its index, its scaler
        for column in profile.columns:
            key = (column.class_id, column.obis, column.attribute)
            try:
                if key not in captured:
                    raise DlmsValueError(f"{where} does not capture {value_ref(column)}")
                columns.append((column, captured.index(key), self._scaler(column, by_ref)))
            except (DlmsValueError, LookupError) as exc:
                self._point_problem(column.point, str(exc), now)
        new = [entry for entry in entries if entry.timestamp > query.after]
        for entry in new:
            for column, index, scaler in columns:
                raw = entry.values[index]
                if raw is None:
                    continue  # nothing captured in this column
                kind = self.kinds[column.point]
                try:
                    value = register_value(raw, scaler, column.scale, kind)
                except DlmsValueError as exc:
                    self._point_problem(column.point, f"{where}: {exc}", entry.timestamp)
                    continue
                self._point_good(column.point)
                self.db.update(column.point, value, Quality.GOOD, timestamp=entry.timestamp,
                               device_time=True)  # the meter's capture time
        if new:
            log.debug("dlms meter %s: %s: %d new entries up to %s", self.meter.name, where,
                      len(new), utc_datetime(new[-1].timestamp))
        return new[-1].timestamp if new else None

    def _point_problem(self, point: str, why: str, when: float) -> None:
        """``point`` invalid (IV|NT) for ``why``, logged once per reason."""
        level = logging.DEBUG if self._problems.get(point) == why else logging.WARNING
        self._problems[point] = why
        log.log(level, "dlms meter %s: %s: %s; the point is invalid", self.meter.name, point,
                why)
        self._invalidate((point,), when)

    def _point_good(self, point: str) -> None:
        if self._problems.pop(point, None) is not None:
            log.info("dlms meter %s: %s has a value again", self.meter.name, point)

    def _clock(self, result: AttributeResult | None, now: float) -> None:
        point = self.meter.clock_point
        assert point is not None
        why = ""
        if result is None or result.error is not None:
            why = result.error or "no answer" if result is not None else "no answer"
        else:
            decoded = decode_cosem_datetime(result.value)
            if decoded.timestamp is None:
                why = f"not a usable date-time: {result.value!r}"
            elif decoded.status is not None and decoded.status & CLOCK_STATUS_INVALID:
                why = f"the meter marks its clock invalid (status 0x{decoded.status:02X})"
            else:
                drift = decoded.timestamp - now
                was = self.clock_drift
                self.clock_drift = drift
                beyond = abs(drift) > self.meter.clock_max_drift
                if beyond and (was is None or abs(was) <= self.meter.clock_max_drift):
                    log.warning("dlms meter %s: clock drift %+.1f s exceeds %.1f s",
                                self.meter.name, drift, self.meter.clock_max_drift)
                self.db.update(point, beyond, Quality.GOOD, timestamp=now)
                return
        self.clock_drift = None
        log.debug("dlms meter %s: clock: %s", self.meter.name, why)
        self._invalidate((point,), now)

    def _failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.up is not False:
            log.warning("dlms meter %s does not answer: %s; its %d points are invalid",
                        self.meter.name, error, len(self.points))
        else:
            log.debug("dlms meter %s: %s", self.meter.name, error)
        self.up = False
        self._invalidate(self.points)

    def _invalidate(self, names: Sequence[str], now: float | None = None) -> None:
        when = self.wall() if now is None else now
        for name in names:
            if self.db.value(name).quality != INVALID:
                self.db.set_quality(name, INVALID, timestamp=when)


# -- construction --------------------------------------------------------------------------------
def link_settings(meter: DlmsMeterConfig) -> DlmsLinkSettings:
    transport: DlmsTcpSettings | DlmsUdpSettings | DlmsHdlcSettings
    if meter.transport == "tcp":
        transport = DlmsTcpSettings(host=meter.host, port=meter.port)
    elif meter.transport == "udp":
        transport = DlmsUdpSettings(host=meter.host, port=meter.port, retries=meter.retries)
    else:
        transport = DlmsHdlcSettings(device=meter.device, baudrate=meter.baudrate,
                                     server_physical_address=meter.server_physical_address)
    return DlmsLinkSettings(
        name=meter.name, transport=transport, client_address=meter.client_address,
        server_address=meter.server_address, authentication=Authentication(meter.authentication),
        system_title=meter.system_title, timeout=meter.timeout, password=meter.password,
        encryption_key=meter.encryption_key, authentication_key=meter.authentication_key)


LinkFactory = Callable[[DlmsLinkSettings], DlmsLink]


def core_link(settings: DlmsLinkSettings) -> DlmsLink:
    """The real link: our own DLMS/COSEM core (rtu/dlms), imported only when a meter is
    configured (it needs `cryptography`, the ``gateway`` extra)."""
    try:
        from rtu.sources.dlms.link import CoreLink
    except ImportError as exc:
        raise RuntimeError(f"[dlms] meters need the cryptography package: install "
                           f"rtu-outstation[gateway] ({exc})") from exc
    return CoreLink(settings)


def dlms_sources(config: DlmsConfig, db: PointDatabase, state_dir: Callable[[], Path],
                 link_factory: LinkFactory = core_link) -> list[MeterSource]:
    """One source per meter (the push listener is built beside them, by the component).
    ``state_dir`` is called only when a meter ciphers or reads a load profile (it creates the
    state directory)."""
    sources: list[MeterSource] = []
    for meter in config.meters:
        store = InvocationCounterStore(state_dir(), meter.name) \
            if meter.authentication == "hls-gmac" else None
        profile_store = ProfileStore(state_dir(), meter.name) \
            if meter.profile is not None else None
        sources.append(MeterSource(meter, db, link_factory(link_settings(meter)), store,
                                   profile_store=profile_store))
    return sources
