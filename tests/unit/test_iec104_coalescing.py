"""Send coalescing in the 104 driver (``[iec104] send_delay_ms``, issue 21 item 3): a connection
that has just written holds its next events until the delay after that write; an idle one sends
at once; answers and a GI in progress are never held; a link that closes or stops while held is
left alone. The rule itself (:meth:`_Link.hold_until`) is tested with the time passed in; the
rest with fake transports on a real event loop (its monotonic clock), no socket."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers import iec104
from rtu.servers.iec104 import MAX_SEND_DELAY_MS, Iec104Server, Iec104Settings
from rtu.servers.loop import run as turn_loop_run
from tests.unit.fake_link import FakeTransport, FixedClock

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
#: the driver runs on asyncio's loop in tests and on rtu.servers.loop's TurnLoop in `rtu run`
RUNNERS = pytest.mark.parametrize("run", [asyncio.run, turn_loop_run], ids=["asyncio", "turnloop"])

STARTDT_ACT = bytes([0x68, 0x04, 0x07, 0x00, 0x00, 0x00])
STOPDT_ACT = bytes([0x68, 0x04, 0x13, 0x00, 0x00, 0x00])
DELAY_MS = 30.0


def _ioas(writes: list[bytes]) -> list[int]:
    """The IOAs of the M_SP_TB_1 objects in the I-frames written, in order (SQ = 0)."""
    out = []
    for data in writes:
        pos = 0
        while pos < len(data):
            end = pos + 2 + data[pos + 1]
            if data[pos + 2] & 1 == 0 and data[pos + 6] == 30:
                count, obj = data[pos + 7] & 0x7F, pos + 12
                for _ in range(count):
                    out.append(data[obj] | data[obj + 1] << 8 | data[obj + 2] << 16)
                    obj += 11
            pos = end
    return out


def _setup(masters: int = 1, delay_ms: float = DELAY_MS) -> tuple[PointDatabase, Iec104Server]:
    db = PointDatabase([Point(f"sp{i}", 100 + i, PointKind.SINGLE) for i in range(200)])
    outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
    settings = Iec104Settings(max_connections=masters, max_connections_per_address=masters,
                              send_delay_ms=delay_ms)
    return db, Iec104Server(outstation, settings)


async def _started(server: Iec104Server, port: int = 40000) -> tuple[iec104._Link, FakeTransport]:
    link = iec104._Link(server)
    transport = FakeTransport(port)
    link.connection_made(transport)
    link.data_received(STARTDT_ACT)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return link, transport


@RUNNERS
def test_the_rule_with_the_time_passed_in(run: Runner) -> None:
    _, server = _setup()

    async def scenario() -> list[float]:
        link, _ = await _started(server)
        session = link.session
        assert session is not None
        delay = DELAY_MS / 1000
        link._written_at = 100.0
        link._flush_pending = True
        out = [link.hold_until(100.010, delay),  # wrote 10 ms ago: held until 130 ms
               link.hold_until(100.031, delay)]  # wrote 31 ms ago: not held (at or before now)
        session.respond(b"\x00")  # an answer waits: never held
        out.append(link.hold_until(100.010, delay))
        session.responses.clear()
        link._flush_pending = False  # flushed meanwhile (its receive path): nothing to hold
        out.append(link.hold_until(100.010, delay))
        return out

    held, idle, answer, flushed = run(scenario())
    assert held == pytest.approx(100.030)
    assert idle <= 100.031
    assert answer == 100.010
    assert flushed == 100.010


@RUNNERS
def test_an_idle_connection_sends_at_once_and_a_stream_is_held(run: Runner) -> None:
    db, server = _setup()

    async def scenario() -> tuple[list[bytes], FakeTransport, int]:
        loop = asyncio.get_running_loop()
        _, transport = await _started(server)
        await asyncio.sleep(DELAY_MS / 1000 * 1.5)  # idle since the end of initialisation
        transport.clear()
        start = loop.time()
        db.update("sp0", True, timestamp=1_700_000_000.0)
        await asyncio.sleep(0)
        at_once = list(transport.writes)
        for i in range(1, 6):  # five more events, a loop turn each, right after that write
            db.update(f"sp{i}", True, timestamp=1_700_000_000.0 + i)
            await asyncio.sleep(0)
        held = len(transport.writes)
        while len(transport.writes) < 2 and loop.time() - start < 1.0:
            await asyncio.sleep(0.001)
        return at_once, transport, held

    at_once, transport, held = run(scenario())
    writes = transport.writes
    assert _ioas(at_once) == [100]
    assert held == 1  # the five later events did not go out in their own loop turns
    assert len(writes) == 2
    assert _ioas(writes) == [100, 101, 102, 103, 104, 105]  # complete, in order
    second = transport.times[1] - transport.times[0]
    assert DELAY_MS / 1000 - 0.002 <= second < DELAY_MS / 1000 + 0.1


@RUNNERS
def test_a_burst_is_written_at_most_once_per_delay(run: Runner) -> None:
    db, server = _setup(masters=3)
    turns = 60

    async def scenario() -> tuple[list[FakeTransport], float]:
        loop = asyncio.get_running_loop()
        transports = [(await _started(server, 40000 + k))[1] for k in range(3)]
        for t in transports:
            t.clear()
        start = loop.time()
        for i in range(turns):  # an event a millisecond
            db.update(f"sp{i}", True, timestamp=1_700_000_000.0 + i)
            await asyncio.sleep(0.001)
        while (any(len(_ioas(t.writes)) < turns for t in transports)
               and loop.time() - start < 2.0):
            await asyncio.sleep(0.002)
        return transports, loop.time() - start

    transports, elapsed = run(scenario())
    for t in transports:
        assert _ioas(t.writes) == [100 + i for i in range(turns)]
        gaps = [b - a for a, b in itertools.pairwise(t.times)]
        assert all(g >= DELAY_MS / 1000 - 0.002 for g in gaps), gaps
        assert len(t.writes) <= elapsed / (DELAY_MS / 1000) + 2
    assert server.held_flushes > 0


@RUNNERS
def test_zero_is_off(run: Runner) -> None:
    db, server = _setup(delay_ms=0.0)

    async def scenario() -> int:
        _, transport = await _started(server)
        transport.clear()
        for i in range(5):
            db.update(f"sp{i}", True, timestamp=1_700_000_000.0 + i)
            await asyncio.sleep(0)
        return len(transport.writes)

    assert run(scenario()) == 5
    assert server.held_flushes == 0


@RUNNERS
def test_a_link_closed_or_stopped_while_held_is_left_alone(run: Runner) -> None:
    db, server = _setup(masters=2)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        closing, closed_t = await _started(server, 40000)
        stopping, stopped_t = await _started(server, 40001)
        db.update("sp0", True, timestamp=1_700_000_000.0)
        await asyncio.sleep(0)
        db.update("sp1", True, timestamp=1_700_000_001.0)
        await asyncio.sleep(0)  # both links hold sp1 now
        assert closing.held and stopping.held
        closing.abort("test")
        stopping.data_received(STOPDT_ACT)  # sp0 unacknowledged: the stop waits for its ack
        closed_t.clear()
        stopped_t.clear()
        await asyncio.sleep(DELAY_MS / 1000 * 2)
        return closed_t.writes, stopped_t.writes

    after_close, after_stop = run(scenario())
    assert after_close == []
    assert _ioas(after_stop) == []  # stopping: no I-frame goes out


def test_settings_and_config_bound_the_delay() -> None:
    for bad in (-1.0, MAX_SEND_DELAY_MS + 1):
        with pytest.raises(ValueError, match="send_delay_ms"):
            Iec104Settings(send_delay_ms=bad)
    def doc(delay: object) -> dict[str, Any]:
        return {"station": {"common_address": 1}, "iec104": {"send_delay_ms": delay}}

    config = parse_config(doc(2.5), "site.toml")
    assert config.iec104 is not None and config.iec104.send_delay_ms == 2.5
    assert parse_config(doc(4), "site.toml").iec104 is not None  # an integer is a number
    for bad in (60, -1, "2"):
        with pytest.raises(ConfigError, match="iec104.send_delay_ms"):
            parse_config(doc(bad), "site.toml")
