"""Send coalescing (`[iec104] send_delay_ms`, issue 21 item 3) against c104 (lib60870-C) as the
master: a burst of events made over many loop turns arrives complete and in order, with the
flushes held (the server counts them), and a lone event after a quiet spell is not held.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import asyncio
import dataclasses
import time

import pytest

from rtu.config import bench_config
from rtu.servers.iec104 import Iec104Server
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

COT_SPONTANEOUS = 3
NAMES = [f"di{i:02d}" for i in range(1, 17)]  # IOA 1001..1016, simulated: made manual below
DELAY_MS = 5.0
TURNS, PER_TURN = 60, 3  # 180 events over about 60 ms


@pytest.fixture
def rtu():
    config = bench_config()
    assert config.iec104 is not None
    config = dataclasses.replace(
        config,
        iec104=dataclasses.replace(config.iec104, send_delay_ms=DELAY_MS),
        simulation=dataclasses.replace(
            config.simulation, manual=(*config.simulation.manual, *NAMES)),
    )
    with OutstationThread(config, free_tcp_port()) as outstation:
        yield outstation


def _events(master, since):
    """(IOA, SPI) of every spontaneous M_SP_TB_1 object of NAMES received after ``since``."""
    out = []
    for r in master.received.snapshot(since):
        if r["format"] == "I" and r["type"] == "M_SP_TB_1" and r["cot"] == COT_SPONTANEOUS:
            out += [(o["ioa"], bool(int(o["data"][:2], 16) & 1)) for o in r["objects"]
                    if 1001 <= o["ioa"] <= 1016]
    return out


def _wait_events(master, since, count, timeout):
    deadline = time.monotonic() + timeout
    while len(_events(master, since)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return _events(master, since)


def test_a_burst_arrives_complete_and_in_order_with_flushes_held(rtu) -> None:
    db = rtu.sup.db
    with C104Master(rtu.port, ca=1) as master:
        master.wait_connected(5)
        for name in NAMES:  # a known start: every point OFF (only changes make events)
            rtu.call(lambda n=name: db.update(n, False, timestamp=time.time()))
        time.sleep(0.3)
        since = master.mark()
        server = rtu.sup.server(Iec104Server)
        assert server is not None
        held_before = rtu.call(lambda: server.held_flushes)
        expected = [(1001 + e % 16, (e // 16) % 2 == 0) for e in range(TURNS * PER_TURN)]

        async def burst() -> None:
            for turn in range(TURNS):
                for e in range(turn * PER_TURN, (turn + 1) * PER_TURN):
                    db.update(NAMES[e % 16], (e // 16) % 2 == 0, timestamp=time.time())
                await asyncio.sleep(0.001)

        rtu.run(burst())
        ended = time.monotonic()
        received = _wait_events(master, since, len(expected), 5.0)
        arrived = time.monotonic() - ended
        held = rtu.call(lambda: server.held_flushes) - held_before
    assert received == expected
    assert held > 0
    assert arrived < 2.0


def test_a_lone_event_after_a_quiet_spell_is_not_held(rtu) -> None:
    db = rtu.sup.db
    with C104Master(rtu.port, ca=1) as master:
        master.wait_connected(5)
        rtu.call(lambda: db.update("di01", False, timestamp=time.time()))
        time.sleep(0.3)  # quiet: far longer than the delay
        server = rtu.sup.server(Iec104Server)
        assert server is not None
        held_before = rtu.call(lambda: server.held_flushes)
        since = master.mark()
        rtu.call(lambda: db.update("di01", True, timestamp=time.time()))
        received = _wait_events(master, since, 1, 3.0)
        held = rtu.call(lambda: server.held_flushes) - held_before
    assert received == [(1001, True)]
    assert held == 0
