"""Start-up never fails on the journal: every kind of damage at the journal path is logged with
the path and the reason, moved aside and replaced by a new journal; rows that do not decode
are skipped and counted; where no journal can be had, the supervisor runs without persistence
and says so."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import pytest

from rtu.config import JournalConfig, bench_config
from rtu.control import status_line, status_snapshot
from rtu.eventstore import EventStore, EventStoreError, JournalInUseError, open_journal
from rtu.supervisor import Supervisor
from tests.unit.test_eventstore import record


def opened(path: Path) -> EventStore:
    return open_journal(path, max_events=100, fsync="commit")


def with_events(path: Path, n: int = 3) -> EventStore:
    store = opened(path)
    store.commit([record(i) for i in range(1, n + 1)], {"iec104": 1}, n + 1)
    return store


def aside(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.corrupt-*"))


def test_a_row_whose_value_is_text_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = with_events(path)
    store._db.execute("UPDATE events SET asdu = 'not an asdu' WHERE seq = 2")
    store._db.execute("INSERT INTO marks (grp, low) VALUES ('other', 'x')")
    store.close()
    restored = opened(path).load()
    assert [r.seq for r in restored.events] == [1, 3]
    assert restored.unreadable == 2  # the text row and the text mark
    assert restored.marks == {"iec104": 1}
    assert not aside(path)  # the file itself is fine: kept


@pytest.mark.parametrize("damage", ["directory", "dangling symlink", "empty file", "not sqlite"])
def test_an_unusable_file_is_moved_aside_and_a_new_journal_started(
        tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.sqlite3"
    if damage == "directory":
        path.mkdir()
    elif damage == "dangling symlink":
        path.symlink_to(tmp_path / "gone" / "events.sqlite3")
    elif damage == "empty file":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"not a database at all " * 100)
    with caplog.at_level(logging.ERROR, "rtu.eventstore"):
        store = opened(path)
    assert store.load().events == ()
    assert store.commit([record(1)], {"g": 1}, 2) == 1  # a working journal
    assert len(aside(path)) == 1
    assert str(path) in caplog.text and "is unusable" in caplog.text and "moved to" in caplog.text


def test_a_damaged_database_page_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = with_events(path, 2000)
    store.close()
    data = bytearray(path.read_bytes())
    data[4096 + 16:4096 * 3] = b"\xa5" * (4096 * 2 - 16)  # pages 2 and 3, header intact
    path.write_bytes(bytes(data))
    store = opened(path)
    assert store.load().events == ()
    assert len(aside(path)) == 1


def crash_copy(path: Path, into: Path) -> Path:
    """The journal file and its WAL as a kill -9 or a power cut leaves them."""
    into.mkdir()
    for suffix in ("", "-wal"):
        shutil.copy(f"{path}{suffix}", into / f"{path.name}{suffix}")
    return into / path.name


def test_a_damaged_write_ahead_log_is_reported_not_silent(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.sqlite3"
    store = with_events(path)
    intact = crash_copy(path, tmp_path / "intact")
    damaged = crash_copy(path, tmp_path / "damaged")
    store.close()
    assert len(opened(intact).load().events) == 3  # the WAL holds the commit
    wal = Path(f"{damaged}-wal")
    data = bytearray(wal.read_bytes())
    data[12] ^= 0xFF  # the checkpoint sequence: the header checksum no longer matches
    wal.write_bytes(bytes(data))
    with caplog.at_level(logging.ERROR, "rtu.eventstore"):
        restored = opened(damaged).load()
    assert restored.events == ()  # SQLite ignores the log...
    assert "write-ahead log" in caplog.text and "is damaged" in caplog.text  # ...we do not
    assert list(damaged.parent.glob("events.sqlite3-wal.damaged-*"))


def test_a_torn_last_frame_is_a_lost_commit_not_damage(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "events.sqlite3"
    store = with_events(path)
    store.commit([record(4)], {"iec104": 1}, 5)
    copy = crash_copy(path, tmp_path / "torn")
    store.close()
    wal = Path(f"{copy}-wal")
    wal.write_bytes(wal.read_bytes()[:-100])  # the power went in the last commit
    with caplog.at_level(logging.ERROR, "rtu.eventstore"):
        restored = opened(copy).load()
    assert [r.seq for r in restored.events] == [1, 2, 3]
    assert caplog.text == ""


def test_a_journal_in_a_missing_directory_cannot_be_had(tmp_path: Path) -> None:
    with pytest.raises(EventStoreError, match=str(tmp_path / "missing")):
        opened(tmp_path / "missing" / "events.sqlite3")


def test_a_journal_held_by_another_process_is_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    first = with_events(path)
    with pytest.raises(JournalInUseError):
        opened(path)
    assert not aside(path)
    first.close()


def test_the_supervisor_runs_without_persistence_and_says_so(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    base = bench_config()
    config = dataclasses.replace(base, journal=JournalConfig(
        enabled=True, path=str(tmp_path / "no" / "such" / "dir" / "events.sqlite3")))
    with caplog.at_level(logging.ERROR, "rtu.supervisor"):
        sup = Supervisor(config)
    assert sup.journal is None
    assert sup.journal_unavailable is not None and "no/such/dir" in sup.journal_unavailable
    assert "RUNNING WITHOUT PERSISTENCE" in caplog.text
    assert "RUNNING WITHOUT PERSISTENCE" in status_line(sup)
    assert status_snapshot(sup)["journal_unavailable"] == sup.journal_unavailable
    sup.outstation.close()


def test_the_supervisor_starts_on_a_directory_at_the_journal_path(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    path.mkdir()
    (path / "something").write_text("kept")
    config = dataclasses.replace(bench_config(), journal=JournalConfig(enabled=True,
                                                                       path=str(path)))
    sup = Supervisor(config)
    assert sup.journal is not None and sup.journal_unavailable is None
    moved = aside(path)
    assert len(moved) == 1 and (moved[0] / "something").read_text() == "kept"
    sup.journal.store.close()
    sup.outstation.close()
    assert os.path.isfile(path)
