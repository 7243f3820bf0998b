"""The 104 driver's single timer per connection (issue 21 item 3): a flush looks at the timer
only when its I-frames start a t1 deadline that can fall before the armed one, and still every
deadline of the standard is met (t1 on an unacknowledged event, t2 on received I-frames).
Fake transport on a real event loop (its monotonic clock), no socket."""

from __future__ import annotations

import asyncio

from rtu.iec.cs104.connection import ApciParameters
from rtu.iec.outstation import Outstation, OutstationConfig
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.servers import iec104
from rtu.servers.iec104 import Iec104Server, Iec104Settings
from tests.unit.fake_link import FakeTransport, FixedClock

STARTDT_ACT = bytes([0x68, 0x04, 0x07, 0x00, 0x00, 0x00])


def _frames(writes: list[bytes]) -> list[bytes]:
    out = []
    for data in writes:
        pos = 0
        while pos < len(data):
            end = pos + 2 + data[pos + 1]
            out.append(data[pos:end])
            pos = end
    return out


def _s_frame(recv_seq: int) -> bytes:
    return bytes([0x68, 4, 0x01, 0x00, (recv_seq << 1) & 0xFF, recv_seq >> 7])


def _i_frame(send_seq: int, asdu: bytes) -> bytes:
    return bytes([0x68, 4 + len(asdu), (send_seq << 1) & 0xFF, send_seq >> 7, 0, 0]) + asdu


def _server(apci: ApciParameters) -> tuple[PointDatabase, Iec104Server]:
    db = PointDatabase([Point(f"sp{i}", 100 + i, PointKind.SINGLE) for i in range(4)])
    outstation = Outstation(db, OutstationConfig(), FixedClock(), None)  # type: ignore[arg-type]
    return db, Iec104Server(outstation, Iec104Settings(apci=apci))


def test_an_event_into_an_empty_window_arms_t1_before_t3() -> None:
    """t3 (armed at STARTDT) lies after the event's t1: the unacknowledged event must still
    close the connection at t1, not at t3."""
    db, server = _server(ApciParameters(t1=0.15, t2=0.1, t3=30.0))

    async def scenario() -> tuple[bool, float, float]:
        loop = asyncio.get_running_loop()
        link = iec104._Link(server)
        transport = FakeTransport()
        link.connection_made(transport)
        link.data_received(STARTDT_ACT)
        await asyncio.sleep(0)
        # acknowledge the end of initialisation: the window is empty again
        link.data_received(_s_frame(1))
        await asyncio.sleep(0)
        start = loop.time()
        db.update("sp0", True, timestamp=1_700_000_000.0)
        await asyncio.sleep(0)
        armed_at = link._timer_at - start
        while not transport.aborted and loop.time() - start < 2.0:
            await asyncio.sleep(0.01)
        return transport.aborted, loop.time() - start, armed_at

    aborted, after, armed_at = asyncio.run(scenario())
    assert aborted
    assert armed_at <= 0.15 + 0.01
    assert 0.15 <= after < 1.0


def test_events_into_an_open_window_keep_the_timer_handle() -> None:
    """While the oldest unacknowledged I-frame's t1 is armed, further events neither cancel nor
    create a timer handle."""
    db, server = _server(ApciParameters(k=12, w=8))

    async def scenario() -> tuple[bool, int]:
        link = iec104._Link(server)
        transport = FakeTransport()
        link.connection_made(transport)
        link.data_received(STARTDT_ACT)
        await asyncio.sleep(0)
        handle = link._timer
        for i in range(6):  # six flushes, one event each
            db.update(f"sp{i % 4}", i < 4, timestamp=1_700_000_000.0 + i)
            await asyncio.sleep(0)
        assert link.conn is not None
        return link._timer is handle, link.conn.unacknowledged

    same, unacknowledged = asyncio.run(scenario())
    assert unacknowledged == 7  # end of initialisation and six events
    assert same


def test_a_received_i_frame_is_acknowledged_at_t2() -> None:
    """Receipt arms t2, which falls before the armed t3; with the window full (k = 1, the end
    of initialisation unacknowledged) no answer can carry the acknowledgement: an S-frame goes
    out at t2."""
    _, server = _server(ApciParameters(k=1, t1=0.6, t2=0.1, t3=30.0))
    read = bytes([102, 1, 5, 0, 1, 0, 100, 0, 0])  # C_RD_NA_1 of IOA 100, CA 1

    async def scenario() -> tuple[list[bytes], float]:
        loop = asyncio.get_running_loop()
        link = iec104._Link(server)
        transport = FakeTransport()
        link.connection_made(transport)
        link.data_received(STARTDT_ACT)
        await asyncio.sleep(0)
        transport.clear()
        start = loop.time()
        link.data_received(_i_frame(0, read))
        while loop.time() - start < 0.5:
            if any(f[2] == 0x01 for f in _frames(transport.writes)):
                break
            await asyncio.sleep(0.005)
        return _frames(transport.writes), loop.time() - start

    frames, after = asyncio.run(scenario())
    assert [f[2] for f in frames] == [0x01], frames  # the S-frame only: the answer waits for k
    assert frames[0][4:6] == bytes([1 << 1, 0])  # N(R) = 1
    assert 0.09 <= after < 0.4
