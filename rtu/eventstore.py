"""The persistent event journal: events not yet acknowledged survive a crash, a ``kill -9`` or
a power cut, and are delivered after the restart, in order, with their original time tags and
causes. (rtu/journal.py is something else: logging to systemd's journald.)

Two parts:

* :class:`EventStore`, a SQLite file (stdlib ``sqlite3``, WAL, exclusive lock) holding events
  as single-object ASDUs in the 104 profile, each under its sequence number, and for each event
  group the oldest sequence number it still needs (its *mark*). It does no I/O scheduling;
  every method is synchronous.
* :class:`JournalWriter`, the asyncio driver the supervisor wires in as the outstation's
  :class:`~rtu.iec.outstation.EventJournal`: ``append`` only queues (the event path stays
  fast); once per ``commit_interval`` the queued events still held by some group and the
  groups' marks (``Outstation.held_from``) go to the store in one transaction, in a worker
  thread. With ``commit_interval = 0`` each event-loop turn's events are committed on the
  loop, at the end of the turn or when a session is about to send one of them, whichever
  comes first.

What is written and when (docs/reliability.md has the guarantee and the figures):

* An event acknowledged by every group within the window it was generated in is never written:
  with a healthy master the journal writes nothing at all. An event's row is deleted at the
  first commit after every group has it acknowledged (or dropped and counted).
* ``fsync = "commit"`` (default): every commit is fsynced (SQLite ``synchronous=FULL``); a
  power cut loses at most the events of the last ``commit_interval``. ``"checkpoint"``
  (``synchronous=NORMAL``): commits reach the OS (they survive the process being killed) and
  are fsynced at WAL checkpoints only; a power cut may lose every commit since the last
  checkpoint, never the file's consistency.
* Nothing is written while nothing changes.
* Overflow: beyond ``max_events`` rows the oldest are deleted, counted (``overflowed``, shown
  by ``rtu status`` and in STATUS=) and logged. Those events stay queued in memory; they lose
  only their protection against a crash.
* Delivery after a restart is at-least-once: events a master acknowledged in the last window
  before the crash are sent again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from rtu.frozen import frozen
from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduError,
    MalformedAsduError,
    decode_asdu,
    encode_asdu,
)
from rtu.iec.asdu.codec_prebuilt import encode_prebuilt
from rtu.iec.asdu.objects import Asdu
from rtu.iec.outstation import EventRecord

if TYPE_CHECKING:
    from rtu.config import JournalConfig
    from rtu.iec.outstation import Outstation

log = logging.getLogger(__name__)

__all__ = ["EventStore", "EventStoreError", "JournalInUseError", "JournalWriter", "Restored",
           "journal_path", "open_journal", "unusable_journal_file"]

SCHEMA_VERSION = 1
EAGER_MARK_INTERVAL = 1.0  # seconds between mark updates when commit_interval is 0
_OVERFLOW_LOG_INTERVAL = 60.0  # seconds between overflow warnings while it goes on
_STORED_CA = 1  # the common address inside stored ASDUs (the outstation's own is used to send)
_SYNCHRONOUS = {"commit": "FULL", "checkpoint": "NORMAL"}


class EventStoreError(Exception):
    """The journal file cannot be used (locked by another process, unwritable...)."""


class JournalInUseError(EventStoreError):
    """Another process holds the journal file (never moved aside)."""


@frozen
class Restored:
    """What a previous run left: events in sequence order and each group's mark."""

    events: tuple[EventRecord, ...]
    marks: Mapping[str, int]
    next_seq: int  # the first sequence number the new run may use
    unreadable: int  # rows that did not decode (skipped, logged)

    def for_group(self, name: str) -> list[EventRecord]:
        """The events group ``name`` still needs (all of them for a group never recorded)."""
        low = self.marks.get(name, 0)
        return [record for record in self.events if record.seq >= low]


def encode_event(record: EventRecord) -> bytes:
    if record.wire:  # the object's octets in PROFILE_104 already: the same ASDU, no object
        return encode_prebuilt(record.type_id, record.cot, _STORED_CA, 1, (record.wire,),
                               PROFILE_104)
    return encode_asdu(Asdu(record.type_id, record.cot, _STORED_CA, (record.obj,)), PROFILE_104)


def decode_event(seq: int, data: bytes) -> EventRecord:
    """AsduError if ``data`` is not one stored event."""
    asdu = decode_asdu(data, PROFILE_104)
    if len(asdu.objects) != 1:
        raise MalformedAsduError(f"{len(asdu.objects)} objects, expected 1", data)
    return EventRecord(asdu.type_id, asdu.cot, asdu.objects[0], seq)


class EventStore:
    """The journal file. Not thread-safe: one caller at a time (JournalWriter sees to it)."""

    def __init__(self, path: Path, *, max_events: int = 100_000, fsync: str = "commit") -> None:
        self.path = path
        self.max_events = max_events
        self.rows = 0  # events in the file
        self.written = 0  # events inserted since opened
        self.commits = 0  # transactions committed since opened
        self.overflowed = 0  # events deleted unacknowledged because of max_events
        self.last_commit_s = 0.0  # how long the last commit took
        self.fsync = fsync  # applied at the next commit (on the committing thread)
        self._fsync_applied = fsync
        self._marks: dict[str, int] = {}
        self._overflow_logged = 0.0
        self._restored: Restored | None = None
        try:
            self._db = self._open(path, fsync)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise JournalInUseError(f"event journal {path}: in use by another process (is "
                                        "another outstation running with this state "
                                        "directory?)") from exc
            raise EventStoreError(f"event journal {path}: {exc}") from exc

    @staticmethod
    def _open(path: Path, fsync: str) -> sqlite3.Connection:
        # isolation_level=None: transactions are ours (BEGIN ... COMMIT below)
        db = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            # exclusive: a second process opening the same journal fails at once, clearly
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise EventStoreError(f"event journal {path}: the file system refuses WAL mode "
                                      f"(journal_mode is {mode})")
            db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[fsync]}")
            db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now
            db.execute("CREATE TABLE IF NOT EXISTS events "
                       "(seq INTEGER PRIMARY KEY, asdu BLOB NOT NULL)")
            db.execute("CREATE TABLE IF NOT EXISTS marks (grp TEXT PRIMARY KEY, "
                       "low INTEGER NOT NULL)")
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.close()
            raise
        return db

    def load(self) -> Restored:
        """Everything a previous run left (call once, before the first commit). A row that
        does not decode (a damaged ASDU, a value of the wrong type) is skipped, counted and
        logged; sqlite3.DatabaseError if the file itself is damaged (open_journal then moves
        it aside)."""
        if self._restored is not None:
            return self._restored
        events: list[EventRecord] = []
        unreadable = 0
        top = 0
        for seq, data in self._db.execute("SELECT seq, asdu FROM events ORDER BY seq"):
            top = max(top, seq)
            try:
                if not isinstance(data, bytes):
                    raise TypeError(f"a {type(data).__name__} where an ASDU was stored")
                events.append(decode_event(seq, data))
            except (AsduError, TypeError, ValueError) as exc:
                unreadable += 1
                log.error("event journal %s: event %d unreadable (%s); skipped", self.path, seq,
                          exc)
        self.rows = len(events) + unreadable
        marks: dict[str, int] = {}
        for group, low in self._db.execute("SELECT grp, low FROM marks"):
            if isinstance(group, str) and isinstance(low, int):
                marks[group] = low
            else:  # the group then gets every event (at least once)
                unreadable += 1
                log.error("event journal %s: mark %r = %r unreadable; skipped", self.path,
                          group, low)
        self._marks = marks
        next_seq = max(top + 1, max(marks.values(), default=1), 1)
        self._restored = Restored(tuple(events), dict(marks), next_seq, unreadable)
        return self._restored

    def commit(self, records: Sequence[EventRecord], marks: Mapping[str, int],
               next_seq: int) -> int:
        """Insert the ``records`` some group still holds, record ``marks`` and delete what no
        group needs any more, in one transaction. Returns the events written. Nothing is written
        when nothing needs to be: no new event below the marks and no row in the file.
        sqlite3.Error if the transaction failed (it is rolled back)."""
        floor = min(marks.values(), default=next_seq)
        rows = [(r.seq, encode_event(r)) for r in records if r.seq >= floor]
        if not rows and not self.rows:
            # nothing kept and nothing in the file: the marks matter to nobody yet
            return 0
        if not rows and dict(marks) == self._marks:
            return 0
        started = time.monotonic()
        db = self._db
        if self.fsync != self._fsync_applied:
            db.execute(f"PRAGMA synchronous={_SYNCHRONOUS[self.fsync]}")
            self._fsync_applied = self.fsync
        db.execute("BEGIN")
        try:
            if rows:
                db.executemany("INSERT OR REPLACE INTO events (seq, asdu) VALUES (?, ?)", rows)
            if dict(marks) != self._marks:
                db.execute("DELETE FROM marks")
                db.executemany("INSERT INTO marks (grp, low) VALUES (?, ?)", marks.items())
            deleted = db.execute("DELETE FROM events WHERE seq < ?", (floor,)).rowcount
            count = self.rows + len(rows) - deleted
            excess = count - self.max_events
            if excess > 0:
                db.execute("DELETE FROM events WHERE seq IN "
                           "(SELECT seq FROM events ORDER BY seq LIMIT ?)", (excess,))
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.rows = count - max(excess, 0)
        self._marks = dict(marks)
        self.written += len(rows)
        self.commits += 1
        self.last_commit_s = time.monotonic() - started
        if excess > 0:
            self._count_overflow(excess)
        return len(rows)

    def _count_overflow(self, n: int) -> None:
        self.overflowed += n
        now = time.monotonic()
        if self.overflowed == n or now - self._overflow_logged >= _OVERFLOW_LOG_INTERVAL:
            self._overflow_logged = now
            log.warning("event journal full (max_events %d): the oldest unacknowledged events "
                        "were deleted from it (they stay queued, but are lost if the outstation "
                        "stops before a master acknowledges them); %d deleted so far",
                        self.max_events, self.overflowed)

    def close(self) -> None:
        self._db.close()


def journal_path(configured: str, state_dir: Path) -> Path:
    path = Path(configured)
    return path if path.is_absolute() else state_dir / path


def open_journal(path: Path, *, max_events: int, fsync: str) -> EventStore:
    """Open (create) the journal and read what it holds (``load()`` then returns it).

    Whatever is at ``path`` that cannot be used as the journal (not a SQLite database, a
    damaged file, an empty file, a directory, a dangling symlink, a read-only file, a file
    SQLite cannot open) is logged as an error with the reason, moved aside (``NAME.corrupt-
    TIME``, with its -wal and -shm files: its events are lost) and a new journal started.
    EventStoreError when no journal can be had at ``path`` (its directory is missing or not
    writable, the file cannot be moved aside, another process holds it): the caller runs
    without persistence."""
    problem = unusable_journal_file(path)
    if problem is not None:
        _move_aside(path, problem)
    _check_wal(path)
    try:
        store = _open_loaded(path, max_events, fsync)
    except JournalInUseError:
        raise
    except (sqlite3.DatabaseError, EventStoreError) as exc:
        if not os.path.lexists(path):
            raise EventStoreError(f"event journal {path}: {exc}") from exc
        _move_aside(path, str(exc))
    else:
        return store
    try:
        return _open_loaded(path, max_events, fsync)
    except (sqlite3.Error, EventStoreError) as again:
        raise EventStoreError(f"event journal {path}: a new journal cannot be started either: "
                              f"{again}") from again


def _open_loaded(path: Path, max_events: int, fsync: str) -> EventStore:
    store = EventStore(path, max_events=max_events, fsync=fsync)
    try:
        store.load()
    except BaseException:
        store.close()
        raise
    return store


def unusable_journal_file(path: Path) -> str | None:
    """Why what is at ``path`` cannot be a journal file before SQLite even tries; None: fine
    or absent."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot look at it: {exc.strerror}"
    if stat.S_ISLNK(st.st_mode):
        if not path.exists():
            return "a symbolic link to nothing"
        st = os.stat(path)
    if stat.S_ISDIR(st.st_mode):
        return "a directory, not a file"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size == 0:
        # SQLite would take it for a new database; the journal always writes its header
        # when created, so an empty file is a damaged one
        return "an empty file (the journal it held is lost)"
    if not os.access(path, os.R_OK | os.W_OK):
        return "not readable and writable by this user"
    try:
        with path.open("rb") as f:
            magic = f.read(16)
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if magic != b"SQLite format 3\x00":
        return "not a SQLite database"
    return None


def _move_aside(path: Path, reason: str) -> None:
    aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    log.error("event journal %s is unusable (%s): moved to %s, starting a new one; the "
              "events it held are lost", path, reason, aside)
    try:
        os.replace(path, aside)
        for suffix in ("-wal", "-shm"):
            extra = path.with_name(path.name + suffix)
            if os.path.lexists(extra):
                os.replace(extra, aside.with_name(aside.name + suffix))
    except OSError as move:
        raise EventStoreError(f"event journal {path}: unusable ({reason}) and cannot be moved "
                              f"aside: {move.strerror}") from move


_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32


def _check_wal(path: Path) -> None:
    """SQLite ignores a write-ahead log whose header is damaged, and with it every commit not
    yet checkpointed into the main file, without a word: say so (the file is kept as
    NAME-wal.damaged-TIME for inspection). A torn last frame (a power cut in the middle of a
    commit) is normal and not reported: that commit had not completed."""
    wal = path.with_name(path.name + "-wal")
    try:
        with wal.open("rb") as f:
            header = f.read(_WAL_HEADER)
    except OSError:
        return
    if not header:
        return
    problem = None
    if len(header) < _WAL_HEADER:
        problem = f"{len(header)} octets, shorter than its header"
    else:
        magic = int.from_bytes(header[:4], "big")
        if magic not in _WAL_MAGIC:
            problem = "no write-ahead log header"
        elif _wal_checksum(header[:24], big=magic & 1 == 1) != (
                int.from_bytes(header[24:28], "big"), int.from_bytes(header[28:32], "big")):
            problem = "its header checksum does not match"
    if problem is None:
        return
    aside = wal.with_name(f"{wal.name}.damaged-{int(time.time())}")
    log.error("event journal %s: the write-ahead log %s is damaged (%s): the events committed "
              "since the last checkpoint are lost; kept as %s", path, wal, problem, aside)
    try:
        os.replace(wal, aside)
    except OSError as exc:
        log.error("event journal %s: cannot move %s aside: %s", path, wal, exc.strerror)


def _wal_checksum(data: bytes, *, big: bool) -> tuple[int, int]:
    """SQLite's WAL checksum over ``data`` (a multiple of 8 octets)."""
    order: Literal["big", "little"] = "big" if big else "little"
    s0 = s1 = 0
    for i in range(0, len(data), 8):
        s0 = (s0 + int.from_bytes(data[i:i + 4], order) + s1) & 0xFFFFFFFF
        s1 = (s1 + int.from_bytes(data[i + 4:i + 8], order) + s0) & 0xFFFFFFFF
    return s0, s1


class JournalWriter:
    """Drives an EventStore for one outstation (the outstation's ``journal``)."""

    def __init__(self, store: EventStore, settings: JournalConfig) -> None:
        self.store = store
        self.settings = settings
        self.outstation: Outstation | None = None
        self.restored = 0  # events handed back to the groups at start-up
        self.skipped = 0  # rows (events, marks) that did not decode at start-up: skipped
        self.failures = 0  # commits that failed (the events were kept for the next one)
        self.last_error: str | None = None
        self._pending: list[EventRecord] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scheduled = False
        self._thread: asyncio.Future[int] | None = None  # a commit running in a worker thread
        self._thread_batch: list[EventRecord] = []  # the events it is writing
        self._eager = settings.commit_interval == 0
        self._overflow_told = 0  # store.overflowed when the outstation was last told

    # -- wiring -----------------------------------------------------------------------------
    def attach(self, outstation: Outstation) -> None:
        """Record ``outstation``'s events; its queues decide what is still needed."""
        outstation.attach_journal(self)
        self.outstation = outstation

    def restore(self, outstation: Outstation, restored: Restored) -> None:
        """Put what the journal held back into each group's backlog, in order, right after
        this run's end of initialisation (which stays each station's first ASDU), and continue
        the sequence numbers after them."""
        outstation.continue_sequence(restored.next_seq)
        wanted: set[int] = set()
        for name in outstation.group_names():
            events = restored.for_group(name)
            if events:
                outstation.requeue(name, events)
                wanted.update(r.seq for r in events)
                log.info("event journal: %d unacknowledged events of group %s restored "
                         "(sequence %d..%d)", len(events), name, events[0].seq, events[-1].seq)
        self.restored = len(wanted)
        orphans = len(restored.events) - len(wanted)
        if orphans:
            log.warning("event journal: %d events belong to no configured group and were "
                        "dropped", orphans)
        self.skipped = restored.unreadable
        if restored.unreadable:
            log.error("event journal: %d unreadable rows skipped", restored.unreadable)

    def configure(self, settings: JournalConfig) -> None:
        """Apply a reloaded [journal] (commit_interval, max_events, fsync)."""
        self.settings = settings
        self._eager = settings.commit_interval == 0
        self.store.max_events = settings.max_events
        self.store.fsync = settings.fsync

    # -- the event path ---------------------------------------------------------------------
    def append(self, record: EventRecord) -> None:
        self._pending.append(record)
        if self._eager and not self._scheduled and self._loop is not None:
            # committed at the end of this loop turn, before the turn that sends it
            self._scheduled = True
            self._loop.call_soon(self._eager_commit)

    def before_send(self) -> None:
        if self._eager and self._pending:
            self.commit_now()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- commits ----------------------------------------------------------------------------
    def _snapshot(self) -> tuple[list[EventRecord], dict[str, int], int]:
        assert self.outstation is not None
        batch, self._pending = self._pending, []
        return batch, self.outstation.held_from(), self.outstation.next_seq

    def _failed(self, batch: list[EventRecord], exc: Exception) -> None:
        """Keep the batch for the next commit (bounded by max_events: the oldest go)."""
        self.failures += 1
        self.last_error = str(exc)
        log.error("event journal %s: commit failed (%s); %d events kept for the next attempt",
                  self.store.path, exc, len(batch))
        self._pending[:0] = batch
        excess = len(self._pending) - self.store.max_events
        if excess > 0:
            del self._pending[:excess]
            self.store._count_overflow(excess)

    def commit_now(self) -> None:
        """Commit on the calling (loop) thread; skipped while a threaded commit runs."""
        if self._thread is not None or self.outstation is None:
            return
        batch, marks, next_seq = self._snapshot()
        try:
            self.store.commit(batch, marks, next_seq)
        except sqlite3.Error as exc:
            self._failed(batch, exc)
        else:
            self.last_error = None
        self._tell_overflow()

    def _tell_overflow(self) -> None:
        """Unacknowledged events deleted from the journal are lost if the outstation stops
        before a master acknowledges them: the outstation's events lost point reports it
        (after the current loop turn: a commit may run on the event path)."""
        overflowed = self.store.overflowed
        if overflowed <= self._overflow_told or self.outstation is None:
            return
        n, self._overflow_told = overflowed - self._overflow_told, overflowed
        what = f"the event journal deleted {n} unacknowledged events (max_events)"
        if self._loop is not None:
            self._loop.call_soon(self.outstation.report_loss, what)
        else:
            self.outstation.report_loss(what)

    def _eager_commit(self) -> None:
        self._scheduled = False
        self.commit_now()

    async def commit(self) -> None:
        """Commit in a worker thread (the loop goes on queueing events meanwhile)."""
        if self._thread is not None or self.outstation is None:
            return
        batch, marks, next_seq = self._snapshot()
        loop = asyncio.get_running_loop()
        thread = loop.run_in_executor(None, self.store.commit, batch, marks, next_seq)
        self._thread, self._thread_batch = thread, batch
        # a cancellation (shutdown) does not stop the thread: close() waits for it
        await asyncio.wait([thread])
        self._thread_done()

    def _thread_done(self) -> None:
        thread, batch = self._thread, self._thread_batch
        if thread is None or not thread.done():
            return
        self._thread, self._thread_batch = None, []
        exc = thread.exception()
        if isinstance(exc, sqlite3.Error):
            self._failed(batch, exc)
        elif exc is not None:
            raise exc
        else:
            self.last_error = None
        self._tell_overflow()

    async def run(self) -> None:
        """Commit once per window until cancelled."""
        self._loop = asyncio.get_running_loop()
        if self._eager:
            self.commit_now()  # what was generated before the loop ran
        while True:
            interval = self.settings.commit_interval
            await asyncio.sleep(interval or EAGER_MARK_INTERVAL)
            if self._eager:
                self.commit_now()
            else:
                await self.commit()

    async def close(self) -> None:
        """The last commit (an orderly stop loses nothing), then close the file."""
        self._loop = None
        if self._thread is not None:
            await asyncio.wait([self._thread])
            self._thread_done()
        self.commit_now()
        self.store.close()

    def status(self) -> dict[str, object]:
        store = self.store
        return {
            "path": str(store.path),
            "stored": store.rows,
            "pending": len(self._pending),
            "written": store.written,
            "commits": store.commits,
            "restored": self.restored,
            "skipped": self.skipped,
            "overflowed": store.overflowed,
            "failures": self.failures,
            "last_error": self.last_error,
            "commit_interval": self.settings.commit_interval,
            "max_events": store.max_events,
            "fsync": self.settings.fsync,
        }
