"""The persistent event journal: the SQLite store on its own (tmp_path files), and the writer
with a real Outstation (sans-I/O, fake clock): what survives an abandoned process, what is
written when, and what is deleted."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rtu.config import ConfigError, JournalConfig, parse_config
from rtu.eventstore import (
    EventStore,
    EventStoreError,
    JournalWriter,
    journal_path,
    open_journal,
)
from rtu.iec.asdu.codec import PROFILE_104, decode_asdu
from rtu.iec.asdu.objects import (
    Cp56Time2a,
    DoublePoint,
    EndOfInitialization,
    MeasuredFloat,
    MeasuredScaled,
    SinglePoint,
)
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.outstation import CommandRequest, Done, EventRecord, Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointKind, Quality

T0 = 1_700_000_000.0


def tag(offset: float) -> Cp56Time2a:
    return Cp56Time2a.from_timestamp(T0 + offset)


def record(seq: int, value: int = 0) -> EventRecord:
    return EventRecord(TypeId.M_ME_TE_1, Cot.SPONTANEOUS,
                       MeasuredScaled(10, value, Qds(0), tag(seq / 1000)), seq)


def store_at(tmp_path: Path, **kw: Any) -> EventStore:
    return EventStore(tmp_path / "events.sqlite3", **kw)


# -- the store ------------------------------------------------------------------------------------
def test_events_survive_an_abandoned_connection(tmp_path: Path) -> None:
    """Committed events are read back, in order, with their time tags, causes and numbers,
    by a new connection after the first was never closed (a process killed)."""
    records = [
        EventRecord(TypeId.M_SP_TB_1, Cot.SPONTANEOUS,
                    SinglePoint(1001, True, Qds(0), tag(0.001)), 1),
        EventRecord(TypeId.M_DP_TB_1, Cot.RETURN_INFO_REMOTE,
                    DoublePoint(2001, 2, Qds.IV | Qds.NT, tag(0.002)), 2),
        EventRecord(TypeId.M_ME_TF_1, Cot.RETURN_INFO_LOCAL,
                    MeasuredFloat(3001, 12.5, Qds.OV, Cp56Time2a.from_timestamp(T0, invalid=True)),
                    3),
    ]
    first = store_at(tmp_path)
    assert first.commit(records, {"iec104": 1}, 4) == 3
    # no close(): the file is what a kill -9 leaves (the WAL not checkpointed)
    assert (tmp_path / "events.sqlite3-wal").stat().st_size > 0
    second = open_journal(tmp_path / "other.sqlite3", max_events=10, fsync="commit")
    second.close()
    first._db.close()  # releases the exclusive lock; nothing else is done on the way out
    restored = store_at(tmp_path).load()
    assert list(restored.events) == records
    assert [r.seq for r in restored.events] == [1, 2, 3]
    assert [r.obj.time for r in restored.events] == [r.obj.time for r in records]  # type: ignore[attr-defined]
    assert [r.cot for r in restored.events] == [Cot.SPONTANEOUS, Cot.RETURN_INFO_REMOTE,
                                                Cot.RETURN_INFO_LOCAL]
    assert restored.marks == {"iec104": 1}
    assert restored.next_seq == 4


def test_rows_are_single_object_asdus_in_the_104_profile(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.commit([record(7, 1234)], {"g": 7}, 8)
    data = store._db.execute("SELECT asdu FROM events WHERE seq = 7").fetchone()[0]
    asdu = decode_asdu(bytes(data), PROFILE_104)
    assert asdu.type_id is TypeId.M_ME_TE_1 and asdu.cot is Cot.SPONTANEOUS
    assert asdu.objects == (MeasuredScaled(10, 1234, Qds(0), tag(0.007)),)


def test_events_acknowledged_within_the_window_are_never_written(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    # every group's mark is past the batch: nothing to keep, nothing in the file
    assert store.commit([record(s) for s in range(1, 101)], {"a": 101, "b": 101}, 101) == 0
    assert store.commits == 0 and store.rows == 0
    # one group still holds 61..100: only those are written
    assert store.commit([record(s) for s in range(101, 201)], {"a": 201, "b": 161}, 201) == 40
    assert store.rows == 40 and store.commits == 1
    # nothing changed: no transaction at all
    assert store.commit([], {"a": 201, "b": 161}, 201) == 0
    assert store.commits == 1


def test_an_event_leaves_when_every_group_has_it(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.commit([record(s) for s in range(1, 11)], {"a": 1, "b": 1}, 11)
    store.commit([], {"a": 11, "b": 4}, 11)  # a has everything, b up to 3
    assert store.rows == 7
    seqs = [s for (s,) in store._db.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(4, 11))
    restored = store.load()
    assert [r.seq for r in restored.for_group("a")] == []
    assert [r.seq for r in restored.for_group("b")] == list(range(4, 11))
    assert [r.seq for r in restored.for_group("new")] == list(range(4, 11))  # never recorded


def test_overflow_deletes_the_oldest_counts_and_logs(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    store = store_at(tmp_path, max_events=5)
    with caplog.at_level(logging.WARNING, logger="rtu.eventstore"):
        store.commit([record(s) for s in range(1, 9)], {"g": 1}, 9)
    assert store.rows == 5 and store.overflowed == 3
    assert [r.seq for r in store.load().events] == [4, 5, 6, 7, 8]
    assert "event journal full (max_events 5)" in caplog.text
    assert "3 deleted so far" in caplog.text


def test_sequence_numbers_continue_after_everything_was_acknowledged(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.commit([record(s) for s in range(1, 6)], {"g": 1}, 6)
    store.commit([], {"g": 6}, 6)
    assert store.rows == 0
    store._db.close()
    assert store_at(tmp_path).load().next_seq == 6


def test_a_second_process_cannot_open_the_same_journal(tmp_path: Path) -> None:
    store_at(tmp_path)
    with pytest.raises(EventStoreError, match="in use by another process"):
        open_journal(tmp_path / "events.sqlite3", max_events=10, fsync="commit")


def test_a_corrupt_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.ERROR, logger="rtu.eventstore"):
        store = open_journal(path, max_events=10, fsync="checkpoint")
    assert store.load().events == ()
    aside = list(tmp_path.glob("events.sqlite3.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    assert "is unusable" in caplog.text and "moved to" in caplog.text


def test_unreadable_rows_are_skipped_and_counted(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.commit([record(1), record(2)], {"g": 1}, 3)
    store._db.execute("UPDATE events SET asdu = x'0102' WHERE seq = 1")
    restored = store.load()
    assert [r.seq for r in restored.events] == [2] and restored.unreadable == 1


def test_journal_path(tmp_path: Path) -> None:
    assert journal_path("events.sqlite3", tmp_path) == tmp_path / "events.sqlite3"
    assert journal_path("/var/x.db", tmp_path) == Path("/var/x.db")


# -- the writer with an outstation ----------------------------------------------------------------
@dataclass
class FakeClock:
    system: float = T0

    def monotonic(self) -> float:
        return 0.0

    def wall(self) -> float:
        return self.system


class NoExecutor:
    def execute(self, request: CommandRequest, done: Done) -> None:
        done(False)


class Station:
    """One run of an outstation: database, outstation, a 104-like session, the journal."""

    def __init__(self, path: Path, **journal: Any) -> None:
        self.db = PointDatabase([Point("ai", 10, PointKind.SCALED),
                                 Point("sp", 11, PointKind.SINGLE)])
        self.db.update("ai", 0, timestamp=T0)
        self.db.update("sp", False, timestamp=T0)
        self.outstation = Outstation(self.db, OutstationConfig(invalid_time_until_synced=False),
                                     FakeClock(), NoExecutor())
        self.outstation.group("iec104")
        settings = JournalConfig(enabled=True, path=str(path), **journal)
        self.store = open_journal(path, max_events=settings.max_events, fsync=settings.fsync)
        self.writer = JournalWriter(self.store, settings)
        self.writer.restore(self.outstation, self.store.load())
        self.writer.attach(self.outstation)

    def change(self, value: int, at: float) -> None:
        self.db.update("ai", value, timestamp=T0 + at, origin=ChangeOrigin.FIELD)

    def crash(self) -> None:
        """What kill -9 leaves: no last commit; the OS closes the file (lock released)."""
        self.store._db.close()


def values(records: list[EventRecord]) -> list[int]:
    return [r.obj.value for r in records if isinstance(r.obj, MeasuredScaled)]  # type: ignore[misc]


def test_unacknowledged_events_come_back_in_order_after_end_of_initialisation(
        tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    first = Station(path)
    for v in range(1, 51):
        first.change(v, v / 100)
    first.writer.commit_now()
    first.change(51, 0.51)  # generated after the last commit: lost by the crash
    first.crash()

    second = Station(path)
    backlog = list(second.outstation.groups["iec104"].backlog.snapshot())
    assert backlog[0].type_id is TypeId.M_EI_NA_1  # the new run's end of initialisation first
    assert isinstance(backlog[0].obj, EndOfInitialization)
    assert len(backlog) == 51 and values(backlog) == list(range(1, 51))
    assert [r.obj.time for r in backlog[1:]] == [tag(v / 100) for v in range(1, 51)]  # type: ignore[attr-defined]
    assert all(r.cot is Cot.SPONTANEOUS for r in backlog[1:])
    assert second.writer.restored == 50
    # new events are numbered after the restored ones and queue behind them
    second.change(99, 1.0)
    assert second.outstation.groups["iec104"].backlog.snapshot()[-1].seq == 51


def test_acknowledged_events_are_deleted_and_not_restored(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    first = Station(path)
    for v in range(1, 31):
        first.change(v, v / 100)
    first.writer.commit_now()
    assert first.store.rows == 30
    session = first.outstation.open_session("m", PROFILE_104, "iec104", lambda: None)
    session.activate()
    sent: list[int] = []
    while (out := session.next_output()) is not None:
        sent.append(len(out.events))
    # the master acknowledges the end of initialisation and the first ASDU only
    session.acknowledged(2)
    first.writer.commit_now()
    acknowledged = sent[1]
    assert 0 < acknowledged < 30
    marks = first.outstation.held_from()
    assert marks == {"iec104": acknowledged + 1}
    assert first.store.rows == 30 - acknowledged
    first.crash()

    second = Station(path)
    backlog = list(second.outstation.groups["iec104"].backlog.snapshot())
    assert values(backlog) == list(range(acknowledged + 1, 31))


def test_a_returned_session_keeps_its_events_held(tmp_path: Path) -> None:
    """Sent, not acknowledged, connection lost: back to the backlog, still held and stored."""
    station = Station(tmp_path / "j.sqlite3")
    session = station.outstation.open_session("m", PROFILE_104, "iec104", lambda: None)
    session.activate()
    for v in range(1, 6):
        station.change(v, v)
    while session.next_output() is not None:
        pass
    assert station.outstation.held_from() == {"iec104": 1}
    session.close()
    assert station.outstation.held_from() == {"iec104": 1}
    station.writer.commit_now()
    assert station.store.rows == 5


def test_dropped_events_are_released(tmp_path: Path) -> None:
    """An in-memory queue overflow (counted there) releases the dropped events' rows too."""
    db_path = tmp_path / "j.sqlite3"
    station = Station(db_path)
    station.outstation.reconfigure(OutstationConfig(event_queue_size=10))
    station.outstation.drop_group("iec104")  # made again with the smaller queue
    station.outstation.group("iec104")
    for v in range(1, 26):
        station.change(v, v)
    station.writer.commit_now()
    backlog = station.outstation.groups["iec104"].backlog
    # 25 events + end of initialisation in 10 places; the end of initialisation is kept
    assert backlog.overflowed == 16
    assert station.store.rows == 9
    assert station.outstation.held_from() == {"iec104": 17}


def test_a_failed_commit_keeps_its_events(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    station = Station(tmp_path / "j.sqlite3")
    station.change(1, 1)
    real = station.store._db
    station.store._db = sqlite3.connect(":memory:")  # no tables: the insert fails
    with caplog.at_level(logging.ERROR, logger="rtu.eventstore"):
        station.writer.commit_now()
    assert station.writer.failures == 1 and station.writer.pending == 1
    assert "commit failed" in caplog.text
    station.store._db = real
    station.writer.commit_now()
    assert station.store.rows == 1 and station.writer.last_error is None


def test_threaded_commits_and_close(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"

    async def scenario() -> None:
        station = Station(path, commit_interval=0.05)
        task = asyncio.create_task(station.writer.run())
        for v in range(1, 201):
            station.change(v, v / 1000)
            if v % 50 == 0:
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.15)
        assert station.store.rows == 200 and station.store.commits >= 2
        station.change(201, 1)  # committed by close(), an orderly stop
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await station.writer.close()

    asyncio.run(scenario())
    assert values(list(Station(path).outstation.groups["iec104"].backlog.snapshot())) == \
        list(range(1, 202))


def test_eager_mode_commits_before_the_next_loop_turn(tmp_path: Path) -> None:
    async def scenario() -> None:
        station = Station(tmp_path / "j.sqlite3", commit_interval=0.0)
        task = asyncio.create_task(station.writer.run())
        await asyncio.sleep(0)
        station.change(1, 1)
        station.change(2, 2)
        assert station.store.rows == 0
        await asyncio.sleep(0)  # one turn: the commit scheduled by the first append ran
        assert station.store.rows == 2 and station.store.commits == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await station.writer.close()

    asyncio.run(scenario())


def test_disabled_journal_changes_nothing() -> None:
    db = PointDatabase([Point("sp", 11, PointKind.SINGLE)])
    db.update("sp", False, timestamp=T0)
    outstation = Outstation(db, OutstationConfig(), FakeClock(), NoExecutor())
    outstation.group("g")
    db.update("sp", True, timestamp=T0 + 1, quality=Quality(0))
    assert outstation.journal is None
    assert len(outstation.groups["g"].backlog) == 2


# -- configuration --------------------------------------------------------------------------------
def parse_journal(journal: dict[str, Any]) -> Any:
    return parse_config({"journal": journal}, "site.toml").journal


def test_journal_config() -> None:
    assert parse_journal({}) == JournalConfig()
    assert parse_journal({"enabled": True, "commit_interval": 0, "fsync": "checkpoint",
                          "max_events": 5, "path": "/var/lib/rtu/j.db"}) == JournalConfig(
        True, "/var/lib/rtu/j.db", 0.0, 5, "checkpoint")


@pytest.mark.parametrize(("key", "value", "message"), [
    ("commit_interval", -1, "journal.commit_interval: expected a number of seconds 0..60"),
    ("commit_interval", 61, "journal.commit_interval: expected a number of seconds 0..60"),
    ("max_events", 0, "journal.max_events: expected an integer 1..10000000, got 0"),
    ("fsync", "always", "journal.fsync: expected 'commit' or 'checkpoint', got 'always'"),
    ("path", "", "journal.path: expected a file name (inside the state directory)"),
    ("enabled", "yes", "journal.enabled: expected true or false, got 'yes'"),
    ("comit_interval", 1,
     "journal.comit_interval: unknown key (did you mean 'commit_interval'?)"),
])
def test_journal_config_errors(key: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_journal({key: value})
    assert len(info.value.errors) == 1
    assert info.value.errors[0].startswith(f"site.toml: {message}"), info.value.errors[0]


def test_eager_mode_commits_before_an_event_is_sent(tmp_path: Path) -> None:
    """Even when the session's flush runs first in the loop turn, nothing leaves uncommitted."""
    station = Station(tmp_path / "j.sqlite3", commit_interval=0.0)
    session = station.outstation.open_session("m", PROFILE_104, "iec104", lambda: None)
    session.activate()
    station.change(1, 1)
    station.change(2, 2)
    assert station.store.rows == 0
    outputs = [session.next_output(), session.next_output()]
    assert [len(o.events) for o in outputs if o is not None] == [1, 2]  # EI, then both events
    assert station.store.rows == 2 and station.store.commits == 1
