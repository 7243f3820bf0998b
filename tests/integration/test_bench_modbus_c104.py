"""The bench profile's self-served Modbus device against c104 (lib60870-C) as master: a
C_SE_NC_1 at 5301 is written as a float to holding registers 100-101 of the Modbus TCP device
the profile serves itself (pymodbus's server on a free loopback port), and the poll of those
registers reports the value at 3301 (M_ME_TF_1).

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import asyncio
import struct

import c104
import pytest

from rtu.config import bench_config
from rtu.sources.modbus.source import ServedLinks
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

pytestmark = pytest.mark.integration

SET_POINT, READ_BACK = 5301, 3301


def reported(record: dict, value: float) -> bool:
    return (record.get("type") == "M_ME_TF_1" and record.get("ioa") == READ_BACK
            and struct.unpack("<f", bytes.fromhex(record["objects"][0]["data"])[:4])[0]
            == value)


def test_a_set_point_reaches_the_served_device_and_comes_back() -> None:
    port = free_tcp_port()
    with OutstationThread(bench_config(), port) as rtu:
        (bus,) = [s for s in rtu.sup.field.sources if s.name == "modbus:bench"]
        poller = rtu.call(lambda: asyncio.ensure_future(bus.run()))  # the harness runs none
        try:
            with C104Master(port, ca=1) as master:
                master.wait_connected(5)
                for value in (42.25, -7.5):
                    result = master._command("C_SE_NC_1", SET_POINT,
                                             c104.ShortCmd(target=value), False)
                    assert result.act_con is not None and not result.act_con["negative"]
                    term = master.wait_act_term(SET_POINT, "C_SE_NC_1", since=result.since)
                    assert not term["negative"]
                    report = master.wait_for(lambda r, v=value: reported(r, v), timeout=5.0,
                                             since=result.since)
                    assert report["cot"] == 3
            served = rtu.sup.provided(ServedLinks)
            assert served is not None
            device = served.devices["bench"]
            assert device.port is not None and device.port > 0  # chosen at start, not fixed
        finally:
            rtu.call(poller.cancel)
