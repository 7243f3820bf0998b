"""The 104 driver lets a running GI yield to the event loop (issue 21): another master's events
must not wait behind a whole window of GI data. Driven with a fake transport, no socket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rtu.iec.asdu.codec import PROFILE_104, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand
from rtu.iec.asdu.types import Cot, TypeId
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


def _i_frame(asdu: bytes) -> bytes:
    return bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu


@RUNNERS
def test_a_gi_yields_to_the_loop_and_goes_on_by_itself(monkeypatch: pytest.MonkeyPatch, run: Runner) -> None:
    monkeypatch.setattr(iec104, "GI_SLICE_S", 0.0)  # yield after every ASDU
    db = PointDatabase([Point(f"sp{i}", 1000 + i, PointKind.SINGLE) for i in range(3000)])
    outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
    server = Iec104Server(outstation, Iec104Settings())

    async def scenario() -> tuple[int, bool, int, int]:
        link = iec104._Link(server)
        transport = FakeTransport()
        link.connection_made(transport)
        link.data_received(STARTDT_ACT)
        await asyncio.sleep(0)
        before = transport.i_frames()  # end of initialisation
        ask = Asdu(TypeId.C_IC_NA_1, Cot.ACTIVATION, 1, (InterrogationCommand(0, 20),))
        link.data_received(_i_frame(encode_asdu(ask, PROFILE_104)))
        # the receive path sent one ASDU (the ACT_CON) and left the rest to a later loop turn
        sent_at_once = transport.i_frames() - before
        still_running = link.session is not None and link.session.interrogation is not None
        for _ in range(20):  # the window (k = 12) fills over several loop turns
            await asyncio.sleep(0)
        return sent_at_once, still_running, transport.i_frames(), before

    sent_at_once, still_running, total, before = run(scenario())
    assert before == 1  # the end of initialisation
    assert sent_at_once == 1
    assert still_running
    # k = 12 unacknowledged I-frames: the GI went on in later loop turns, with no receive
    assert total == Iec104Settings().apci.k


def _s_frame(rx_seq: int) -> bytes:
    return bytes([0x68, 0x04, 0x01, 0x00, (rx_seq << 1) & 0xFF, (rx_seq >> 7) & 0xFF])


@RUNNERS
def test_an_acknowledgement_to_a_gi_does_not_put_its_data_before_other_masters_events(run: Runner) -> None:
    """Master A's GI is waiting for its window when an event is made and, in the same loop
    turn, A's S-frame opens its window again: B's event goes out before A's next GI data
    (the receive path sends only answers while a GI runs; the GI goes on from the woken
    flushes, behind the links woken for events)."""
    db = PointDatabase([Point(f"sp{i}", 1000 + i, PointKind.SINGLE) for i in range(3000)])
    outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
    server = Iec104Server(outstation, Iec104Settings())
    order: list[str] = []

    class Logged(FakeTransport):
        def write(self, data: object) -> None:
            super().write(data)
            order.append(f"{self.port}:{self.i_frames()}")

    async def scenario() -> tuple[Logged, Logged]:
        a, b = iec104._Link(server), iec104._Link(server)
        ta, tb = Logged(40001), Logged(40002)
        a.connection_made(ta)
        b.connection_made(tb)
        a.data_received(STARTDT_ACT)
        b.data_received(STARTDT_ACT)
        await asyncio.sleep(0)
        ask = Asdu(TypeId.C_IC_NA_1, Cot.ACTIVATION, 1, (InterrogationCommand(0, 20),))
        a.data_received(_i_frame(encode_asdu(ask, PROFILE_104)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert ta.i_frames() == Iec104Settings().apci.k  # the window is full: the GI waits
        order.clear()
        db.update("sp5", True, timestamp=1_700_000_000.0)  # wakes both links
        a.data_received(_s_frame(ta.i_frames()))  # A acknowledges everything, same turn
        for _ in range(5):
            await asyncio.sleep(0)
        return ta, tb

    ta, tb = run(scenario())
    assert tb.i_frames() == 2  # end of initialisation, then the event
    first_b = next(i for i, w in enumerate(order) if w.startswith("40002"))
    first_a = next(i for i, w in enumerate(order) if w.startswith("40001"))
    assert first_b < first_a, order
    assert ta.i_frames() > Iec104Settings().apci.k  # and A's GI went on after it
