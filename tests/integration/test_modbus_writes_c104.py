"""Set-points to a Modbus device: c104 (lib60870-C) as master sends C_SE_NC_1 to our
outstation, which writes the float to a holding register of pymodbus's own TCP server,
reads it back, and reports the register's value polled back as M_ME_TF_1; a register the
device does not have gives a negative ACT_CON.

No `from __future__ import annotations` here: c104 checks callback annotations at run time."""

import asyncio
import struct
import threading
from pathlib import Path

import c104
import pytest
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from rtu.config import load_config
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import C104Master, free_tcp_port

pytestmark = pytest.mark.integration

HOLDING = 3  # pymodbus's getValues function code for holding registers


class ServerThread:
    """pymodbus's TCP server on 127.0.0.1 in a loop of its own."""

    def __init__(self, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = port
        self.device = SimDevice(id=1, simdata=(
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=16, values=False, datatype=DataType.BITS)],
            [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=16, values=0, datatype=DataType.REGISTERS)],
        ))
        self.server: ModbusTcpServer | None = None  # made on its loop

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(5)

    def __enter__(self):
        self.thread.start()

        async def start() -> ModbusTcpServer:
            server = ModbusTcpServer([self.device], address=("127.0.0.1", self.port))
            await server.serve_forever(background=True)
            return server

        self.server = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.shutdown())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def holding(self, address: int, count: int) -> list[int]:
        return list(self.run(self.server.async_getValues(1, HOLDING, address, count)))


def config_file(path: Path, modbus_port: int):
    path.write_text(f"""
[station]
common_address = 1

[iec104]
listen = "127.0.0.1:0"

[[points]]
name = "sp_back"
ioa = 3301
kind = "float"
source = "modbus"

[[points]]
name = "sp"
ioa = 5301
kind = "setpoint_float"
target = "modbus"

[[points]]
name = "sp_missing"
ioa = 5302
kind = "setpoint_float"
target = "modbus"

[[modbus.buses]]
name = "field"
type = "tcp"
host = "127.0.0.1"
port = {modbus_port}
timeout = 0.5

[[modbus.devices]]
name = "plc"
bus = "field"
unit_id = 1

[[modbus.devices.polls]]
interval = 0.2

[[modbus.devices.polls.reads]]
point = "sp_back"
table = "holding"
address = 100
type = "float32"

[[modbus.writes]]
command = "sp"
device = "plc"
table = "holding"
address = 100
type = "float32"
verify = true

[[modbus.writes]]
command = "sp_missing"
device = "plc"
table = "holding"
address = 1000
type = "float32"
""", encoding="utf-8")
    return load_config(path)


def test_a_float_set_point_reaches_the_register_and_comes_back(tmp_path: Path, caplog) -> None:
    modbus_port, port = free_tcp_port(), free_tcp_port()
    with ServerThread(modbus_port) as device, \
            OutstationThread(config_file(tmp_path / "rtu.toml", modbus_port), port) as rtu:
        (bus,) = [s for s in rtu.sup.field.sources if s.name == "modbus:field"]
        poller = rtu.call(lambda: asyncio.ensure_future(bus.run()))  # the harness runs none
        try:
            with C104Master(port, ca=1) as master:
                master.wait_connected(5)
                result = master._command("C_SE_NC_1", 5301, c104.ShortCmd(target=12.5), False)
                assert result.act_con is not None and not result.act_con["negative"]
                term = master.wait_act_term(5301, "C_SE_NC_1", since=result.since)
                assert not term["negative"]
                assert device.holding(100, 2) == [0x4148, 0x0000]  # 12.5 as float32
                report = master.wait_for(
                    lambda r: r.get("type") == "M_ME_TF_1" and r.get("ioa") == 3301
                    and struct.unpack("<f", bytes.fromhex(r["objects"][0]["data"])[:4])[0]
                    == 12.5, since=result.since)
                assert report["cot"] == 3
                # a register the device does not have: its exception, a negative ACT_CON
                refused = master._command("C_SE_NC_1", 5302, c104.ShortCmd(target=1.0), False)
                assert refused.act_con is not None and refused.act_con["negative"]
                assert "command sp_missing to modbus device plc (unit 1) holding 1000 failed" \
                    in caplog.text
        finally:
            rtu.call(poller.cancel)
