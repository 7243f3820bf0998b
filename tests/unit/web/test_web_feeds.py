"""The web page's live feeds: recent events, the outbox bound, event filters (rtu/web/feeds.py)."""

from __future__ import annotations

import math

from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, Point, PointKind, Quality
from rtu.web.feeds import (
    Outbox,
    RecentEvents,
    change_row,
    event_filter,
    json_value,
    quality_text,
    time_text,
)


def database() -> PointDatabase:
    return PointDatabase([Point("di01", 1001, PointKind.SINGLE, source="sim"),
                          Point("ai1", 3001, PointKind.FLOAT, source="sim"),
                          Point("cmd", 5001, PointKind.SINGLE_COMMAND)])


def test_recent_events_keeps_the_last_changes_and_follows_a_new_database() -> None:
    db = database()
    recent = RecentEvents(db, size=3)
    seen: list[dict[str, object]] = []
    db.update("di01", True, timestamp=1_700_000_000.5)
    unsubscribe = recent.subscribe(lambda row: seen.append(dict(row)))
    db.update("ai1", 1.5, Quality.IV, timestamp=1_700_000_001.0)
    db.update("ai1", 1.5, Quality.IV, timestamp=1_700_000_002.0)  # not reportable: no event
    db.update("di01", False, timestamp=1_700_000_003.0, origin=ChangeOrigin.REMOTE_COMMAND)
    db.update("di01", True, timestamp=1_700_000_004.0)
    rows = recent.recent(10)
    assert [(r["name"], r["value"]) for r in rows] == [
        ("ai1", 1.5), ("di01", False), ("di01", True)]  # the ring holds 3
    assert rows[0]["quality"] == "IV" and rows[1]["cause"] == "remote command"
    assert rows[2]["cause"] == "spontaneous" and rows[2]["time"] == "2023-11-14T22:13:24.000Z"
    assert [(r["name"], r["time"]) for r in seen] == [(r["name"], r["time"]) for r in rows]
    assert len(db._subscribers) == 2  # the ring's deque.append and, while watched, rows
    assert recent.recent(1) == rows[-1:] and recent.recent(0) == []
    unsubscribe()
    assert len(db._subscribers) == 1  # nobody watching: only the ring's deque.append
    fresh = database()
    recent.rebind(fresh)
    db.update("di01", False, timestamp=1_700_000_005.0)  # the old database: not followed
    fresh.update("di01", True, timestamp=1_700_000_006.0)
    assert [r["time"] for r in recent.recent(10)][-1] == "2023-11-14T22:13:26.000Z"
    assert len(recent.recent(10)) == 3 and len(seen) == 3
    recent.close()
    fresh.update("di01", False, timestamp=1_700_000_007.0)
    assert len(recent.recent(10)) == 3


def test_outbox_coalesces_by_key_and_drops_the_oldest() -> None:
    box = Outbox(3)
    woken: list[int] = []
    box.wake = lambda: woken.append(1)
    box.put("point", "a1", key="a")
    box.put("point", "b1", key="b")
    box.put("point", "a2", key="a")  # replaces a1, moves to the end
    assert box.take() == [("point", "b1"), ("point", "a2")] and len(box) == 0
    for i in range(5):
        box.put("event", i)
    assert box.dropped == 2 and box.take() == [("event", 2), ("event", 3), ("event", 4)]
    assert len(woken) == 8


def test_event_filter() -> None:
    rows = [{"name": "di01", "ioa": 1001, "kind": "single", "cause": "spontaneous",
             "quality": "ok"},
            {"name": "ai1", "ioa": 3001, "kind": "float", "cause": "spontaneous",
             "quality": "IV|NT"},
            {"name": "di02", "ioa": 1002, "kind": "single", "cause": "remote command",
             "quality": "ok"}]

    def names(**filters: str) -> list[str]:
        keep = event_filter(filters)
        return [str(r["name"]) for r in rows if keep(r)]

    assert names() == ["di01", "ai1", "di02"]
    assert names(point="di*") == ["di01", "di02"] and names(point="3001") == ["ai1"]
    assert names(kind="SINGLE", cause="remote command") == ["di02"]
    assert names(quality="nt") == ["ai1"] and names(quality="ok") == ["di01", "di02"]


def test_text_helpers() -> None:
    assert quality_text(Quality.GOOD) == "ok" and quality_text(Quality.IV | Quality.NT) == "NT|IV"
    assert time_text(0) == "-"
    assert json_value(math.nan) == "nan" and json_value(math.inf) == "inf"
    assert json_value(True) is True and json_value(2.5) == 2.5


def test_change_row_of_a_database_change() -> None:
    db = database()
    changes = []
    db.subscribe(changes.append)
    db.update("ai1", 7.25, timestamp=1.0)
    assert change_row(changes[0]) == {
        "time": "1970-01-01T00:00:01.000Z", "name": "ai1", "ioa": 3001,
        "kind": "float", "value": 7.25, "quality": "ok", "cause": "spontaneous", "t": 1.0}


def test_a_ring_of_size_zero_stays_off_the_event_path_until_watched() -> None:
    db = database()
    recent = RecentEvents(db, size=0)
    assert db._subscribers == []  # nothing added to the event path
    db.update("di01", True, timestamp=1.0)
    assert recent.recent(10) == []
    seen: list[object] = []
    unsubscribe = recent.subscribe(seen.append)
    db.update("di01", False, timestamp=2.0)
    assert [r["value"] for r in seen] == [False]  # type: ignore[index]
    assert recent.recent(10) == []
    unsubscribe()
    assert db._subscribers == []
    fresh = database()
    recent.rebind(fresh)
    assert fresh._subscribers == [] and db._subscribers == []


def test_the_ring_answers_the_time_filters_too() -> None:
    import asyncio

    db = database()
    recent = RecentEvents(db, size=10)
    for i in range(4):
        db.update("di01", i % 2 == 0, timestamp=1_700_000_000.0 + i)
    rows = asyncio.run(recent.query({"since": "2023-11-14T22:13:21Z",
                                     "until": "2023-11-14T22:13:22Z"}, 10))
    assert [r["t"] for r in rows] == [1_700_000_001.0, 1_700_000_002.0]
    assert [r["t"] for r in asyncio.run(recent.query({}, 1))] == [1_700_000_003.0]
    recent.close()
