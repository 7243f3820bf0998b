"""rtu.servers.loop: callbacks at the end of a loop turn, before the selector is polled again,
and the 104 driver's events leaving in the turn that made them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers import iec104
from rtu.servers import loop as loop_module
from rtu.servers.iec104 import Iec104Server, Iec104Settings
from rtu.servers.loop import TurnLoop, call_at_end_of_turn, run
from tests.unit.fake_link import FakeTransport, FixedClock

STARTDT_ACT = bytes([0x68, 0x04, 0x07, 0x00, 0x00, 0x00])


def _log_polls(loop: asyncio.AbstractEventLoop, log: list[str]) -> None:
    """Write "poll" to ``log`` each time ``loop`` polls its selector."""
    selector = loop._selector  # type: ignore[attr-defined]
    select = selector.select

    def logged(timeout: float | None = None) -> Any:
        log.append("poll")
        return select(timeout)

    selector.select = logged


def test_an_end_of_turn_callback_runs_before_the_next_poll_and_before_call_soon() -> None:
    log: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        _log_polls(loop, log)

        def in_a_turn() -> None:
            log.append("callback")
            loop.call_soon(log.append, "soon")
            call_at_end_of_turn(loop, lambda: log.append("end of turn"))

        loop.call_soon(in_a_turn)
        await asyncio.sleep(0.01)

    run(scenario())
    start = log.index("callback")
    assert log[start:start + 4] == ["callback", "end of turn", "poll", "soon"]


def test_this_python_turns_through_the_method_turnloop_wraps() -> None:
    # if asyncio renamed _run_once, rtu run would fall back to its own loop (and lose only the
    # saving): this test says so first
    assert loop_module.HOOKABLE


def test_on_another_loop_the_callback_waits_for_the_next_turn() -> None:
    log: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert not isinstance(loop, TurnLoop)
        _log_polls(loop, log)

        def in_a_turn() -> None:
            log.append("callback")
            call_at_end_of_turn(loop, lambda: log.append("end of turn"))

        loop.call_soon(in_a_turn)
        await asyncio.sleep(0.01)

    asyncio.run(scenario())
    start = log.index("callback")
    assert log[start:start + 3] == ["callback", "poll", "end of turn"]


def test_a_failing_callback_is_reported_and_the_others_still_run() -> None:
    ran: list[str] = []
    reported: list[dict[str, Any]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reported.append(context))

        def broken() -> None:
            raise RuntimeError("a bug in a flush")

        def in_a_turn() -> None:
            call_at_end_of_turn(loop, broken)
            call_at_end_of_turn(loop, lambda: ran.append("after"))

        loop.call_soon(in_a_turn)
        await asyncio.sleep(0.01)

    run(scenario())
    assert ran == ["after"]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], RuntimeError)
    assert "end-of-turn callback" in reported[0]["message"]


def test_a_callback_registered_at_the_end_of_a_turn_runs_in_the_next() -> None:
    log: list[str] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        _log_polls(loop, log)

        def again() -> None:
            log.append("again")
            call_at_end_of_turn(loop, lambda: log.append("third"))

        def first() -> None:
            log.append("first")
            call_at_end_of_turn(loop, again)

        loop.call_soon(lambda: call_at_end_of_turn(loop, first))
        await asyncio.sleep(0.01)

    run(scenario())
    start = log.index("first")
    # no turn without end: what an end-of-turn callback registers runs in the next turn (as a
    # ready callback), and what that registers at the end of that turn
    assert log[start:start + 5] == ["first", "poll", "again", "third", "poll"]


def test_a_systemexit_in_a_callback_ends_the_loop() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()

        def leave() -> None:
            raise SystemExit(3)

        loop.call_soon(lambda: call_at_end_of_turn(loop, leave))
        await asyncio.sleep(1)

    with pytest.raises(SystemExit):
        run(scenario())


def test_an_event_leaves_in_the_turn_that_made_it() -> None:
    """On the TurnLoop a change made in a loop callback is written to the master before the
    selector is polled again; on asyncio's own loop one poll comes between."""
    def scenario(log: list[str]) -> Any:
        db = PointDatabase([Point(f"sp{i}", 1000 + i, PointKind.SINGLE) for i in range(10)])
        outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
        server = Iec104Server(outstation, Iec104Settings())

        class Logged(FakeTransport):
            def write(self, data: object) -> None:
                super().write(data)
                log.append("write")

        async def go() -> None:
            loop = asyncio.get_running_loop()
            link = iec104._Link(server)
            transport = Logged()
            link.connection_made(transport)
            link.data_received(STARTDT_ACT)
            await asyncio.sleep(0.01)  # the end of initialisation goes out
            _log_polls(loop, log)

            def change() -> None:
                log.append("change")
                db.update("sp3", True, timestamp=1_700_000_000.0)

            loop.call_soon(change)
            await asyncio.sleep(0.01)
            link.connection_lost(None)
        return go()

    turn: list[str] = []
    run(scenario(turn))
    start = turn.index("change")
    assert turn[start:start + 3] == ["change", "write", "poll"]
    plain: list[str] = []
    asyncio.run(scenario(plain))
    start = plain.index("change")
    assert plain[start:start + 3] == ["change", "poll", "write"]
