"""The 104 driver lets a running GI yield to the event loop (issue 21): another master's events
must not wait behind a whole window of GI data. Driven with a fake transport, no socket."""

from __future__ import annotations

import asyncio

import pytest

from rtu.iec.asdu.codec import PROFILE_104, encode_asdu
from rtu.iec.asdu.objects import Asdu, InterrogationCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers import iec104
from rtu.servers.iec104 import Iec104Server, Iec104Settings
from tests.unit.fake_link import FakeTransport, FixedClock

STARTDT_ACT = bytes([0x68, 0x04, 0x07, 0x00, 0x00, 0x00])


def _i_frame(asdu: bytes) -> bytes:
    return bytes([0x68, 4 + len(asdu), 0, 0, 0, 0]) + asdu


def test_a_gi_yields_to_the_loop_and_goes_on_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
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

    sent_at_once, still_running, total, before = asyncio.run(scenario())
    assert before == 1  # the end of initialisation
    assert sent_at_once == 1
    assert still_running
    # k = 12 unacknowledged I-frames: the GI went on in later loop turns, with no receive
    assert total == Iec104Settings().apci.k
