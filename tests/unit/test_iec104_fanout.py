"""Fan-out in the 104 driver (issue 21 item 3): the events of one loop turn reach every started
master in one write per connection, with the same ASDU octets encoded once; a link whose
flush fails does not leave the others unflushed. Fake transports, no socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers import iec104
from rtu.servers.iec104 import Iec104Server, Iec104Settings
from rtu.servers.loop import run as turn_loop_run
from tests.unit.fake_link import FakeTransport, FixedClock

Runner = Callable[[Coroutine[Any, Any, Any]], Any]
#: the driver runs on asyncio's loop in tests and on rtu.servers.loop's TurnLoop in `rtu run`
RUNNERS = pytest.mark.parametrize("run", [asyncio.run, turn_loop_run], ids=["asyncio", "turnloop"])

STARTDT_ACT = bytes([0x68, 0x04, 0x07, 0x00, 0x00, 0x00])


def _asdus(data: bytes) -> list[bytes]:
    """The ASDUs of the I-frames in ``data``."""
    out, pos = [], 0
    while pos < len(data):
        end = pos + 2 + data[pos + 1]
        if data[pos + 2] & 1 == 0:
            out.append(data[pos + 6:end])
        pos = end
    return out


def _setup(masters: int) -> tuple[PointDatabase, Iec104Server]:
    db = PointDatabase([Point(f"sp{i}", 100 + i, PointKind.SINGLE) for i in range(10)])
    outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
    settings = Iec104Settings(max_connections=masters, max_connections_per_address=masters)
    return db, Iec104Server(outstation, settings)


@RUNNERS
def test_one_write_per_master_and_shared_octets(run: Runner) -> None:
    db, server = _setup(4)

    async def scenario() -> list[FakeTransport]:
        transports = []
        for k in range(4):
            link = iec104._Link(server)
            transport = FakeTransport(40000 + k)
            link.connection_made(transport)
            link.data_received(STARTDT_ACT)
            transports.append(transport)
        await asyncio.sleep(0)
        await asyncio.sleep(0)  # STARTDT con and the end of initialisation are out
        for t in transports:
            t.clear()
        for i in range(3):  # three events in one loop turn
            db.update(f"sp{i}", True, timestamp=1_700_000_000.0 + i)
        await asyncio.sleep(0)
        return transports

    transports = run(scenario())
    assert [len(t.writes) for t in transports] == [1, 1, 1, 1]
    asdus = [_asdus(t.writes[0]) for t in transports]
    assert all(len(a) == 1 for a in asdus)  # the three events in one ASDU
    assert all(a[0] == asdus[0][0] for a in asdus)
    assert asdus[0][0][1] == 3  # VSQ: three objects


@RUNNERS
def test_a_failing_flush_leaves_the_other_links_woken(monkeypatch: pytest.MonkeyPatch, run: Runner) -> None:
    db, server = _setup(2)

    async def scenario() -> tuple[list[FakeTransport], bool]:
        links, transports = [], []
        for k in range(2):
            link = iec104._Link(server)
            transport = FakeTransport(41000 + k)
            link.connection_made(transport)
            link.data_received(STARTDT_ACT)
            links.append(link)
            transports.append(transport)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        for t in transports:
            t.clear()
        calls = 0
        original = links[0].flush_if_woken

        def broken() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("bug")
            original()

        monkeypatch.setattr(links[0], "flush_if_woken", broken)
        db.update("sp0", True, timestamp=1_700_000_000.0)
        raised = False
        try:
            server._flush_woken()  # what the loop callback runs
        except RuntimeError:
            raised = True
        await asyncio.sleep(0)  # the second link went to the next turn
        return transports, raised

    transports, raised = run(scenario())
    assert raised
    assert len(transports[1].writes) == 1
