"""The web page's real feeds: the sequence-of-events log (rtu/web/soefeed.py) and the frame
tap (rtu/web/frames.py), without sockets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

import rtu.points.model
import rtu.soe
import rtu.tap
from rtu.config import bench_config
from rtu.servers.iec104 import PROFILE_104
from rtu.soe import ActionRecord, SoeLog
from rtu.supervisor import Supervisor
from rtu.tap import FrameTap
from rtu.web import pages
from rtu.web.feeds import Row, event_filter
from rtu.web.frames import TapFrames, frame_filter
from rtu.web.soefeed import SoeEvents, sql_filters

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp()
MASTER = "104:127.0.0.1:5000"
# I(0,0) C_IC_NA_1 COT 6 (activation) CA 1, IOA 0, QOI 20 (station interrogation)
GI_ACT = bytes.fromhex("680e00000000" "64010600" "0100" "000000" "14")
# I(0,1) M_SP_NA_1 COT 20 CA 1, IOA 1001 ON
SP_GI = bytes.fromhex("680e00000200" "01011400" "0100" "e90300" "01")
STARTDT_ACT = bytes.fromhex("680407000000")


def logged(tmp_path: Path) -> tuple[Supervisor, SoeLog]:
    sup = Supervisor(bench_config())
    soe = SoeLog(tmp_path / "soe.sqlite3", wall=lambda: T0 + 3600)
    soe.attach(sup.outstation)
    return sup, soe


def test_the_log_history_with_every_filter(tmp_path: Path) -> None:
    sup, soe = logged(tmp_path)  # di03, di04: no calculated point follows them
    for i in range(6):
        sup.db.update("di03", i % 2 == 0, timestamp=T0 + i)
        sup.db.update("ai1", float(i), timestamp=T0 + i)
    sup.db.set_quality("di04", rtu.points.model.Quality.IV, timestamp=T0 + 10)
    soe.action(ActionRecord(T0 + 11, "command", "cmd", 5001, "C_SC_NA_1", "on", "executed",
                            "ACTIVATION", "link 104:x"))
    soe.flush()
    events = SoeEvents(soe)

    def q(limit: int = 100, **filters: str) -> list[Row]:
        return asyncio.run(events.query(filters, limit))

    rows = q()
    assert len(rows) == 14 and rows[-1]["kind"] == "command" and rows[-1]["detail"]
    first = rows[0]
    assert (first["name"], first["ioa"], first["type"], first["value"], first["cause"],
            first["masters"], first["time"]) == (
        "di03", 1003, "M_SP_TB_1", "on", "SPONTANEOUS", "-", "2026-12-05T10:00:00.000Z")
    assert [r["value"] for r in q(limit=2, point="di03")] == ["on", "off"]  # the newest 2
    assert {r["name"] for r in q(point="3001")} == {"ai1"}  # an IOA
    assert {r["name"] for r in q(kind="m_me_tf_1")} == {"ai1"}  # a type, any case
    assert [r["name"] for r in q(kind="COMMAND")] == ["cmd"]  # the entry's kind
    assert len(q(cause="spontaneous")) == 13 and q(cause="activation")[0]["name"] == "cmd"
    assert [r["name"] for r in q(quality="iv")] == ["di04"]
    assert len(q(quality="ok")) == 12
    assert len(q(since="2026-12-05T10:00:04Z", until="2026-12-05T10:00:05Z")) == 4
    for bad in ({"quality": "X%"}, {"since": "yesterday"}):
        with pytest.raises(ValueError):
            sql_filters(bad)
    # the same filters on a row (what the live view applies) agree with the query
    for filters in ({"point": "di*"}, {"kind": "M_SP_TB_1"}, {"cause": "SPONTANEOUS"},
                    {"quality": "IV"}, {"since": "2026-12-05T10:00:04Z"}):
        keep = event_filter(filters)
        assert [r for r in rows if keep(r)] == q(**filters), filters
    events.close()
    asyncio.run(soe.close())


def test_live_rows_arrive_after_the_log_writes_and_again_when_a_master_acknowledges(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtu.soe, "FLUSH_INTERVAL", 0.01)
    sup, soe = logged(tmp_path)
    events = SoeEvents(soe)
    seen: list[Row] = []

    async def scenario() -> None:
        writer = asyncio.get_running_loop().create_task(soe.run())
        sup.db.update("di03", True, timestamp=T0)  # before anybody watches (no calc follows di03)
        await wait_for(lambda: soe.logged == 1)
        assert soe.written == []  # nobody watches: the log tells nobody
        unsubscribe = events.subscribe(seen.append)
        assert soe.written == [events._written]
        session = sup.outstation.open_session(MASTER, PROFILE_104, "iec104", lambda: None)
        session.activate()
        sup.db.update("di03", False, timestamp=T0 + 1)
        await wait_for(lambda: len(seen) == 1)
        row = seen[0]
        assert (row["name"], row["value"], row["masters"]) == ("di03", "off", "-")
        count = 0
        while session.next_output() is not None:
            count += 1
        session.acknowledged(count)
        await wait_for(lambda: len(seen) == 2)
        assert seen[1]["id"] == row["id"] and seen[1]["masters"] == MASTER
        unsubscribe()
        assert soe.written == [] and events._task is None
        sup.db.update("di03", True, timestamp=T0 + 2)
        await wait_for(lambda: soe.logged == 3)
        await asyncio.sleep(0.05)
        assert len(seen) == 2  # unsubscribed: nothing more
        writer.cancel()
        events.close()
        await soe.close()

    asyncio.run(scenario())


async def wait_for(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.005)


def feed(tap: FrameTap, *chunks: tuple[str, bytes]) -> None:
    for direction, data in chunks:
        tap.frame("104", f"104:127.0.0.1:{5000 if direction else 0}", direction, data)


def test_frames_are_taken_from_the_tap_only_while_watched_and_decoded_in_columns() -> None:
    tap = FrameTap()
    frames = TapFrames(tap=tap)
    seen: list[Row] = []

    async def scenario() -> None:
        assert tap.watchers == [] and not frames.watching  # nobody: the links' fast path
        unsubscribe = frames.subscribe(seen.append)
        assert len(tap.watchers) == 1
        # a GI activation split across two chunks, then the answer and a U frame
        feed(tap, ("rx", STARTDT_ACT + GI_ACT[:5]), ("rx", GI_ACT[5:]), ("tx", SP_GI))
        await wait_for(lambda: len(seen) == 3)
        unsubscribe()
        assert tap.watchers == [] and not frames.watching
        feed(tap, ("rx", STARTDT_ACT))  # nobody watches: not even queued
        await asyncio.sleep(0.01)
        assert len(seen) == 3

    asyncio.run(scenario())
    start, gi, answer = seen
    assert (start["direction"], start["frame"], start["type"]) == ("rx", "U STARTDT act", "-")
    assert (gi["frame"], gi["type"], gi["cot"], gi["ca"]) == (
        "I(0,0)", "C_IC_NA_1", "ACTIVATION", 1)
    assert gi["objects"] == "IOA 0: qoi=20" and gi["link"] == "104:127.0.0.1:5000"
    assert (answer["frame"], answer["type"], answer["cot"], answer["objects"]) == (
        "I(0,1)", "M_SP_NA_1", "INTERROGATED_BY_STATION", "IOA 1001: value=True quality=ok")
    assert answer["hex"].startswith("68 0e 00 00 02 00") and answer["lost"] == 0
    assert frames.recent(2) == [gi, answer] and frames.frames == 3
    keep = frame_filter({"type": "M_SP_NA_1"})
    assert [r for r in seen if keep(r)] == [answer]
    assert [r for r in seen if frame_filter({"ioa": "1001"})(r)] == [answer]
    assert [r for r in seen if frame_filter({"direction": "tx"})(r)] == [answer]
    assert [r for r in seen if frame_filter({"link": "104:*:5000"})(r)] == seen
    for bad in ({"direction": "up"}, {"type": "X_YZ"}, {"ioa": "one"}):
        with pytest.raises(ValueError):
            frame_filter(bad)
    html = pages.frames_page(seen, "RTU", {"type": "M_SP_NA_1"})
    assert 'data-stream="/api/stream/frames?type=M_SP_NA_1"' in html
    assert "C_IC_NA_1" in html and "INTERROGATED_BY_STATION" in html


def test_a_burst_beyond_the_tap_bound_is_counted_not_queued(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rtu.tap, "QUEUE_FRAMES", 5)
    tap = FrameTap()
    frames = TapFrames(tap=tap)
    seen: list[Row] = []

    async def scenario() -> None:
        unsubscribe = frames.subscribe(seen.append)
        feed(tap, *[("tx", STARTDT_ACT)] * 12)  # in one loop turn: 5 queued, 7 dropped
        await wait_for(lambda: len(seen) == 5)
        unsubscribe()

    asyncio.run(scenario())
    assert frames.lost == 7 and seen[-1]["lost"] == 7


def test_a_page_nobody_views_adds_nothing_to_the_event_path_nor_the_links(
        tmp_path: Path) -> None:
    """With the log on, the page keeps no ring of its own; with nobody viewing, neither the
    log nor the frame tap has anything of the page registered."""
    pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed")
    from rtu.tap import TAP
    from rtu.web.server import WebServer
    from rtu.web.settings import WebSettings
    from rtu.web.view import StationView

    sup, soe = logged(tmp_path)
    before = list(sup.db._subscribers)
    sup.soe = soe
    server = WebServer(StationView(sup), WebSettings(port=0))
    assert isinstance(server.events, SoeEvents)
    assert sup.db._subscribers == before and soe.written == [] and TAP.watchers == []
    sup.soe = None
    ring = WebServer(StationView(sup), WebSettings(port=0))  # the log off: the page's ring
    assert not isinstance(ring.events, SoeEvents) and len(sup.db._subscribers) == len(before) + 1
    asyncio.run(ring.close())
    asyncio.run(server.close())
    assert sup.db._subscribers == before
    asyncio.run(soe.close())


def test_frames_of_the_101_line_are_decoded_too() -> None:
    tap = FrameTap()
    frames = TapFrames(tap=tap)
    seen: list[Row] = []

    async def scenario() -> None:
        unsubscribe = frames.subscribe(seen.append)
        # request status of link (fixed frame, address 1), then the single-character ACK
        tap.frame("101", "101:/dev/ttyS0", "rx", bytes.fromhex("1049014a16"))
        tap.frame("101", "101:/dev/ttyS0", "tx", b"\xe5")
        await wait_for(lambda: len(seen) == 2)
        unsubscribe()

    asyncio.run(scenario())
    request, ack = seen
    assert request["frame"].startswith("fixed ") and request["frame"].endswith("A=1")
    assert (request["type"], request["objects"]) == ("-", "")
    assert ack["frame"] == "E5 (ACK / no data)" and ack["direction"] == "tx"
