"""rtu.sources.gpio.source: the processor with a fake clock (plain numbers: debounce, chatter,
double points, re-read), then the thin asyncio runner over an in-memory GPIO bank."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from hal.fake import FakeGpio
from rtu.iec.asdu.types import DoublePointValue as Dpi
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointChanged, PointKind, Quality
from rtu.sources.gpio import source as digital
from rtu.sources.gpio.source import (
    Board,
    ChatterSettings,
    DigitalProcessor,
    DigitalSource,
    DoubleBinding,
    InputChange,
    InputSettings,
    PointReport,
    SingleBinding,
)
from rtu.sources.relays.component import Relays

GOOD, IV = Quality.GOOD, Quality.IV
ON, OFF = int(Dpi.ON), int(Dpi.OFF)
INTERMEDIATE, FAULTY = int(Dpi.INDETERMINATE), int(Dpi.INDETERMINATE_OR_FAULTY)


NO_CHATTER = ChatterSettings()


def single(debounce: float = 0.0, invert: bool = False,
           chatter: ChatterSettings = NO_CHATTER, level: bool = False,
           now: float = 0.0) -> DigitalProcessor:
    p = DigitalProcessor([InputSettings("in", invert, debounce)],
                         [SingleBinding("pt", "in", chatter)])
    p.start({"in": level}, now)
    p.take_changes()
    return p


def reports(p: DigitalProcessor) -> list[tuple[bool | int, Quality, float]]:
    return [(r.value, r.quality, r.timestamp) for r in p.take_reports()]


# -- start ---------------------------------------------------------------------------------------
def test_start_reports_every_point_good_and_every_input() -> None:
    p = DigitalProcessor([InputSettings("a"), InputSettings("b", invert=True)],
                         [SingleBinding("pa", "a"), SingleBinding("pb", "b")])
    assert p.level("a") is None and p.next_deadline() is None
    p.start({"a": True, "b": True}, 5.0)
    assert p.take_reports() == [PointReport("pa", True, GOOD, 5.0),
                                PointReport("pb", False, GOOD, 5.0)]  # b inverted
    assert p.take_changes() == [InputChange("a", True, 5.0), InputChange("b", False, 5.0)]
    assert p.level("b") is False


def test_a_binding_to_an_unknown_input_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no input 'x'"):
        DigitalProcessor([InputSettings("a")], [SingleBinding("p", "x")])


# -- debounce ------------------------------------------------------------------------------------
def test_without_debounce_an_edge_is_reported_at_once_with_its_time() -> None:
    p = single()
    p.take_reports()
    p.edge("in", True, 1.25)
    assert reports(p) == [(True, GOOD, 1.25)]
    p.edge("in", True, 1.5)  # the same level again (an edge in between was lost): nothing
    assert reports(p) == []


def test_debounce_waits_for_a_steady_input_and_stamps_the_first_edge() -> None:
    p = single(debounce=0.010)
    p.take_reports()
    p.edge("in", True, 1.000)  # the contact closes ...
    p.edge("in", False, 1.002)  # ... and bounces
    p.edge("in", True, 1.004)
    assert reports(p) == []
    assert p.next_deadline() == pytest.approx(1.014)  # 10 ms after the LAST edge
    p.advance(1.0139)
    assert reports(p) == []
    p.advance(1.014)
    assert reports(p) == [(True, GOOD, 1.000)]  # time-stamped at the FIRST edge
    assert p.next_deadline() is None
    assert p.take_changes() == [InputChange("in", True, 1.000)]


def test_a_glitch_shorter_than_the_debounce_time_is_dropped() -> None:
    p = single(debounce=0.010)
    p.take_reports()
    p.edge("in", True, 2.000)
    p.edge("in", False, 2.003)
    p.advance(3.0)
    assert reports(p) == [] and p.take_changes() == []
    assert p.level("in") is False


def test_edges_processed_late_keep_their_order_in_time() -> None:
    """Timers due before an edge run first, even when the loop sees both at once."""
    p = single(debounce=0.010)
    p.take_reports()
    p.edge("in", True, 1.000)
    p.edge("in", False, 1.050)  # the first change was accepted at 1.010, before this edge
    assert reports(p) == [(True, GOOD, 1.000)]
    p.advance(1.060)
    assert reports(p) == [(False, GOOD, 1.050)]


def test_inversion_happens_first() -> None:
    p = single(invert=True, level=True)  # a normally closed contact, closed: inactive
    assert reports(p) == [(False, GOOD, 0.0)]
    p.edge("in", False, 1.0)  # opens: active
    assert reports(p) == [(True, GOOD, 1.0)]


# -- chatter -------------------------------------------------------------------------------------
def test_chatter_blocks_the_point_invalid_until_quiet() -> None:
    p = single(chatter=ChatterSettings(changes=3, window=1.0, recovery=2.0))
    p.take_reports()
    for i, t in enumerate((1.0, 1.1, 1.2)):
        p.edge("in", i % 2 == 0, t)
    assert reports(p) == [(True, GOOD, 1.0), (False, GOOD, 1.1), (True, GOOD, 1.2)]
    p.edge("in", False, 1.3)  # the 4th change within a second: blocked
    assert reports(p) == [(False, IV, 1.3)]
    p.edge("in", True, 1.4)  # not reported while blocked
    p.edge("in", False, 2.0)
    p.edge("in", True, 3.5)  # still within 2 s of the previous change
    assert reports(p) == []
    assert p.next_deadline() == pytest.approx(5.5)
    p.advance(5.4)
    assert reports(p) == []
    p.advance(6.0)
    assert reports(p) == [(True, GOOD, 5.5)]  # the current state, good, when quiet
    p.edge("in", False, 7.0)
    assert reports(p) == [(False, GOOD, 7.0)]  # counting starts afresh


def test_changes_spread_wider_than_the_window_do_not_block() -> None:
    p = single(chatter=ChatterSettings(changes=2, window=1.0, recovery=2.0))
    p.take_reports()
    for i in range(10):
        p.edge("in", i % 2 == 0, i * 0.6)
    assert [q for _, q, _ in reports(p)] == [GOOD] * 10


def test_chatter_off() -> None:
    p = single(chatter=ChatterSettings(changes=0))
    p.take_reports()
    for i in range(100):
        p.edge("in", i % 2 == 0, i * 0.001)
    assert len(reports(p)) == 100


# -- double points -------------------------------------------------------------------------------
def breaker(settle: float = 0.5, on: bool = False, off: bool = True,
            debounce: float = 0.0) -> DigitalProcessor:
    p = DigitalProcessor([InputSettings("closed", debounce=debounce),
                          InputSettings("open", debounce=debounce)],
                         doubles=[DoubleBinding("brk", "closed", "open", settle)])
    p.start({"closed": on, "open": off}, 0.0)
    return p


def test_double_point_states() -> None:
    p = breaker(settle=0.0)
    assert reports(p) == [(OFF, GOOD, 0.0)]
    p.edge("closed", True, 1.0)
    assert reports(p) == [(FAULTY, GOOD, 1.0)]  # both contacts: faulty, at once
    p.edge("open", False, 1.1)
    assert reports(p) == [(ON, GOOD, 1.1)]
    p.edge("closed", False, 2.0)
    assert reports(p) == [(INTERMEDIATE, GOOD, 2.0)]  # settle 0: at once


def test_a_travel_within_the_settling_time_reports_only_the_end_position() -> None:
    p = breaker(settle=0.5)
    p.take_reports()
    p.edge("open", False, 1.00)  # leaves OFF: 00
    assert reports(p) == [] and p.next_deadline() == pytest.approx(1.5)
    p.edge("closed", True, 1.08)  # reaches ON within 0.5 s
    assert reports(p) == [(ON, GOOD, 1.08)]
    assert p.next_deadline() is None
    p.advance(5.0)
    assert reports(p) == []


def test_an_intermediate_state_that_persists_is_reported_from_its_start() -> None:
    p = breaker(settle=0.5)
    p.take_reports()
    p.edge("open", False, 1.00)
    p.advance(1.49)
    assert reports(p) == []
    p.advance(1.50)
    assert reports(p) == [(INTERMEDIATE, GOOD, 1.00)]
    p.edge("closed", True, 3.0)
    assert reports(p) == [(ON, GOOD, 3.0)]


def test_a_glitch_to_intermediate_and_back_reports_nothing() -> None:
    p = breaker(settle=0.5)
    p.take_reports()
    p.edge("open", False, 1.0)
    p.edge("open", True, 1.2)
    p.advance(3.0)
    assert reports(p) == []


def test_double_point_inputs_are_debounced_each() -> None:
    p = breaker(settle=0.5, debounce=0.02)
    p.take_reports()
    p.edge("open", False, 1.000)
    p.edge("open", True, 1.001)
    p.edge("open", False, 1.002)
    p.edge("closed", True, 1.100)
    p.edge("closed", False, 1.101)
    p.edge("closed", True, 1.103)
    p.advance(2.0)
    assert reports(p) == [(ON, GOOD, 1.100)]


# -- re-read -------------------------------------------------------------------------------------
def test_a_lost_edge_is_caught_by_the_re_read_with_the_re_read_time(
        caplog: pytest.LogCaptureFixture) -> None:
    p = single()
    p.take_reports()
    p.reread({"in": True}, 10.0)  # differs: maybe an edge on its way; wait for the next one
    assert reports(p) == []
    p.reread({"in": True}, 11.0)
    assert reports(p) == [(True, GOOD, 10.0)]  # stamped with the first re-read that saw it
    assert "input in: an edge was lost" in caplog.text


def test_an_edge_arriving_after_the_re_read_is_no_lost_edge(
        caplog: pytest.LogCaptureFixture) -> None:
    p = single()
    p.take_reports()
    p.reread({"in": True}, 10.0)
    p.edge("in", True, 9.999)  # the kernel saw it before the re-read
    assert reports(p) == [(True, GOOD, 9.999)]
    p.reread({"in": True}, 11.0)
    assert reports(p) == []
    assert "lost" not in caplog.text


def test_a_lost_edge_is_still_debounced() -> None:
    p = single(debounce=0.5)
    p.take_reports()
    p.reread({"in": True}, 10.0)
    p.reread({"in": True}, 10.2)
    assert reports(p) == []
    p.advance(10.5)
    assert reports(p) == [(True, GOOD, 10.0)]


def test_a_failed_read_invalidates_and_the_next_good_read_restores() -> None:
    p = DigitalProcessor([InputSettings("a"), InputSettings("b"), InputSettings("c")],
                         [SingleBinding("pa", "a")], [DoubleBinding("pd", "b", "c")])
    p.start({"a": True, "b": False, "c": True}, 0.0)
    p.take_reports()
    p.failed(1.0)
    p.failed(2.0)  # once
    assert p.take_reports() == [PointReport("pa", True, IV | Quality.NT, 1.0),
                                PointReport("pd", OFF, IV | Quality.NT, 1.0)]
    assert p.level("a") is None and not p.ok
    p.edge("a", False, 2.5)  # ignored while failed
    assert p.take_reports() == []
    p.reread({"a": False, "b": True, "c": False}, 3.0)
    assert p.take_reports() == [PointReport("pa", False, GOOD, 3.0),
                                PointReport("pd", ON, GOOD, 3.0)]


# -- the asyncio runner ----------------------------------------------------------------------------
def database() -> PointDatabase:
    return PointDatabase([
        Point("door", 1, PointKind.SINGLE, source="gpio:door"),
        Point("brk", 2, PointKind.DOUBLE, source="gpio:brk"),
    ])


def runner(bank: FakeGpio, db: PointDatabase, debounce: float = 0.0,
           reread: float = 0.05) -> DigitalSource:
    processor = DigitalProcessor(
        [InputSettings("door", debounce=debounce), InputSettings("closed"), InputSettings("open")],
        [SingleBinding("door", "door")], [DoubleBinding("brk", "closed", "open", 0.0)])
    return DigitalSource(db, bank, processor, reread_interval=reread)


def test_runner_reports_edges_with_their_wall_time_and_tells_watchers() -> None:
    bank = FakeGpio(["door", "closed", "open"])
    bank.set_level("open", True)
    db = database()
    changes: list[PointChanged] = []
    source = runner(bank, db, debounce=0.005)
    source.initialise()
    assert db.value("door").quality is GOOD and db.value("brk").value == OFF
    db.subscribe(changes.append)
    seen: list[tuple[bool, float]] = []
    source.watch_input("door", lambda level, stamp: seen.append((level, stamp)))

    async def main() -> None:
        task = asyncio.create_task(source.run())
        await asyncio.sleep(0)
        assert bank.handler is not None
        edge_time = time.monotonic() - 0.25  # the kernel saw it a quarter second ago
        bank.drive("door", True, timestamp=edge_time)
        for _ in range(200):
            if changes:
                break
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert bank.handler is None  # unwatched

    asyncio.run(main())
    assert [c.point.name for c in changes] == ["door"] and changes[0].new.value is True
    assert changes[0].new.timestamp == pytest.approx(time.time() - 0.25, abs=0.1)
    assert seen and seen[-1][0] is True
    assert seen[-1][1] == pytest.approx(changes[0].new.timestamp)


def test_runner_re_reads_and_marks_read_failures(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "rtu.sources.gpio.source")
    bank = FakeGpio(["door", "closed", "open"])
    db = database()
    source = runner(bank, db, reread=0.01)
    source.initialise()

    async def wait_for(condition: object) -> None:
        for _ in range(300):
            if callable(condition) and condition():
                return
            await asyncio.sleep(0.005)
        raise AssertionError("condition not met")

    async def main() -> None:
        task = asyncio.create_task(source.run())
        bank.set_level("door", True)  # no edge: found by two re-reads
        await wait_for(lambda: db.value("door").value is True)
        bank.fail = True
        await wait_for(lambda: db.value("door").quality == IV | Quality.NT)
        bank.fail = False
        await wait_for(lambda: db.value("door").quality is GOOD)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert "edge was lost" in caplog.text
    assert caplog.text.count("reading the inputs failed") == 1
    assert "inputs readable again" in caplog.text


def test_initial_read_failure_is_retried_by_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digital, "_RETRY", 0.01)
    bank = FakeGpio(["door", "closed", "open"])
    bank.fail = True
    db = database()
    source = runner(bank, db, reread=0.0)  # no periodic re-read: a failure is still retried
    source.initialise()
    assert db.value("door").quality == IV | Quality.NT

    async def main() -> None:
        task = asyncio.create_task(source.run())
        await asyncio.sleep(0.02)
        bank.fail = False
        bank.set_level("door", True)
        for _ in range(200):
            if db.value("door").quality is GOOD:
                break
            await asyncio.sleep(0.005)
        task.cancel()

    asyncio.run(main())
    assert db.value("door").value is True and db.value("door").quality is GOOD


# -- built from the configuration (the "sim" backend: FakeGpio) ----------------------------------
def test_the_supervisor_wires_gpio_inputs_relays_and_local_control() -> None:
    from rtu.config import parse_config
    from rtu.supervisor import Supervisor

    config = parse_config({
        "iec104": {"enabled": False},
        "gpio": {"backend": "sim", "debounce": 0.0,
                 "inputs": [{"name": "door", "line": 4, "invert": True},
                            {"name": "local", "line": 5}]},
        "relays": [{"name": "k1", "driver": "gpio", "line": 6, "local_input": "local"},
                   {"name": "k2"}],
        "points": [
            {"name": "door", "ioa": 1, "kind": "single", "source": "gpio:door"},
            {"name": "k1_cmd", "ioa": 2, "kind": "single_command", "target": "k1"},
        ],
    }, "sim.toml")

    async def main() -> None:
        sup = Supervisor(config)
        bank = sup.provided(Board).bank  # the gpio component's (rtu/components.py)
        assert isinstance(bank, FakeGpio) and sup.provided(Board).inputs in sup.sources
        assert sup.provided(Relays).outputs["k1"] is bank.output("k1")
        assert sup.db.value("door").value is True  # inverted, read at start-up
        assert not sup.db.value("k1_cmd").quality & Quality.BL
        task = asyncio.create_task(sup.provided(Board).inputs.run())  # type: ignore[union-attr]
        await asyncio.sleep(0)
        bank.drive("local", True)
        assert sup.db.value("k1_cmd").quality & Quality.BL
        bank.drive("door", True)
        assert sup.db.value("door").value is False
        task.cancel()
        await sup.close()
        assert bank.closed

    asyncio.run(main())
