"""Modbus sources against pymodbus's own server as the field device (a peer we did not write).

* Modbus TCP on 127.0.0.1: the whole outstation (Supervisor, with its 104 server) polls two
  unit ids of one server; values written into the server's datastore reach the point database
  decoded and scaled; the server stops: every point turns IV|NT within one poll cycle while the
  outstation keeps running; the server comes back: the points recover by themselves.
* Modbus RTU over a pseudo-terminal pair (socat): two devices on one serial bus; one of them
  falls silent (its answers are dropped on the wire), only its points turn IV|NT, the other
  device goes on being polled; it answers again and recovers.

Every wait is bounded; 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from rtu.config import AppConfig, load_config
from rtu.points.model import Quality
from rtu.servers.iec104 import Iec104Server
from rtu.supervisor import Supervisor
from tests.integration.peers import free_tcp_port

pytestmark = pytest.mark.integration

GOOD = Quality.GOOD
INVALID = Quality.IV | Quality.NT
# function codes for pymodbus's server.async_setValues: which table is written
COILS, DISCRETE_INPUTS, HOLDING, INPUT = 15, 2, 16, 4
POLL = 0.2  # seconds between polls in these tests
TIMEOUT = 0.3  # seconds the master waits for an answer
ONE_CYCLE = POLL + TIMEOUT + 0.4  # a poll that is due, its timeout, and scheduling slack


def sim_device(unit: int) -> SimDevice:
    """A device with 64 coils, 64 discrete inputs, 200 holding and 200 input registers."""
    return SimDevice(id=unit, simdata=(
        [SimData(0, count=64, values=False, datatype=DataType.BITS)],
        [SimData(0, count=64, values=False, datatype=DataType.BITS)],
        [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
        [SimData(0, count=200, values=0, datatype=DataType.REGISTERS)],
    ))


def words(fmt: str, value: float, *, word_swap: bool = False) -> list[int]:
    """A value as a device puts it into registers (independent of the code under test)."""
    raw = struct.pack(">" + fmt, value)
    regs = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    return regs[::-1] if word_swap else regs


def write_config(path: Path, bus: str, iec104: str, level_address: int = 20) -> AppConfig:
    path.write_text(f"""
[station]
common_address = 1

{iec104}

[[points]]
name = "flow"
ioa = 100
kind = "float"
source = "modbus"

[[points]]
name = "temperature"
ioa = 101
kind = "scaled"
source = "modbus"

[[points]]
name = "pump_on"
ioa = 102
kind = "single"
source = "modbus"

[[points]]
name = "door"
ioa = 103
kind = "single"
source = "modbus"

[[points]]
name = "energy"
ioa = 104
kind = "counter"
source = "modbus"

[[points]]
name = "alarm"
ioa = 105
kind = "single"
source = "modbus"

[[points]]
name = "pf"
ioa = 106
kind = "normalized"
source = "modbus"

[[points]]
name = "level"
ioa = 107
kind = "float"
source = "modbus"

{bus}

[[modbus.devices]]
name = "plc"
bus = "field"
unit_id = 1

[[modbus.devices.polls]]
interval = {POLL}

[[modbus.devices.polls.reads]]
point = "flow"
table = "holding"
address = 10
type = "float32"
word_order = "little"

[[modbus.devices.polls.reads]]
point = "temperature"
table = "holding"
address = 12
type = "int16"
scale = 0.1
offset = -40

[[modbus.devices.polls.reads]]
point = "pump_on"
table = "coil"
address = 3

[[modbus.devices.polls.reads]]
point = "door"
table = "discrete"
address = 5

[[modbus.devices.polls]]
interval = {POLL * 2}

[[modbus.devices.polls.reads]]
point = "energy"
table = "input"
address = 0
type = "uint32"

[[modbus.devices.polls.reads]]
point = "alarm"
table = "input"
address = 2
bit = 15

[[modbus.devices.polls.reads]]
point = "pf"
table = "input"
address = 3
type = "int16"
scale = {1 / 32768}

[[modbus.devices]]
name = "tank"
bus = "field"
unit_id = 2

[[modbus.devices.polls]]
interval = {POLL}

[[modbus.devices.polls.reads]]
point = "level"
table = "input"
address = {level_address}
type = "float32"
byte_order = "little"
""", encoding="utf-8")
    return load_config(path)


PLC_POINTS = ("flow", "temperature", "pump_on", "door", "energy", "alarm", "pf")


async def fill(server: Any, flow: float, temperature_raw: int, energy: int,
               level: float) -> None:
    await server.async_setValues(1, HOLDING, 10, words("f", flow, word_swap=True))
    await server.async_setValues(1, HOLDING, 12, words("h", temperature_raw))
    await server.async_setValues(1, COILS, 3, [True])
    await server.async_setValues(1, DISCRETE_INPUTS, 5, [True])
    await server.async_setValues(1, INPUT, 0, words("I", energy))
    await server.async_setValues(1, INPUT, 2, [0x8000])
    await server.async_setValues(1, INPUT, 3, words("h", -16384))
    swapped = [((w & 0xFF) << 8) | (w >> 8) for w in words("f", level)]
    await server.async_setValues(2, INPUT, 20, swapped)


async def eventually(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Wait until ``condition()``; returns the seconds it took (fails after ``timeout``)."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def quality(sup: Supervisor, *names: str) -> set[Quality]:
    return {sup.db.value(n).quality for n in names}


def value(sup: Supervisor, name: str) -> bool | int | float:
    return sup.db.value(name).value


# -- Modbus TCP ------------------------------------------------------------------------------
def devices(sup: Supervisor) -> dict[str, str]:
    """The field devices as `rtu status` lists them: name -> communication."""
    from rtu.control import status_snapshot

    return {d["name"]: d["communication"] for d in status_snapshot(sup)["devices"]
            if d["kind"] == "modbus"}


def test_tcp_values_death_and_recovery(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_tcp_port()
    config = write_config(tmp_path / "tcp.toml", f"""
[[modbus.buses]]
name = "field"
type = "tcp"
host = "127.0.0.1"
port = {port}
timeout = {TIMEOUT}
reconnect_delay = 0.2
reconnect_delay_max = 0.4
""", '[iec104]\nlisten = "127.0.0.1:0"')

    async def main() -> None:
        server = ModbusTcpServer([sim_device(1), sim_device(2)], address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        await fill(server, flow=12.5, temperature_raw=615, energy=70000, level=3.25)
        sup = Supervisor(config)
        running = asyncio.create_task(sup.run())
        try:
            everything = (*PLC_POINTS, "level")
            await eventually(lambda: quality(sup, *everything) == {GOOD}, 3.0,
                             "all points valid")
            assert value(sup, "flow") == 12.5  # float32, low word first
            assert value(sup, "temperature") == 22  # 615 * 0.1 - 40 = 21.5, scaled: rounded
            assert value(sup, "pump_on") is True and value(sup, "door") is True
            assert value(sup, "energy") == 70000  # uint32 over two registers
            assert value(sup, "alarm") is True  # bit 15
            assert value(sup, "pf") == -0.5
            assert value(sup, "level") == 3.25  # float32, bytes swapped
            # `rtu status` shows each device's real state, and so do its health signals
            assert devices(sup) == {"plc": "OK", "tank": "OK"}
            assert sup.health.signals()["source:plc"] is True
            # a change in the device reaches the database
            await server.async_setValues(1, HOLDING, 10, words("f", -7.75, word_swap=True))
            await server.async_setValues(1, INPUT, 2, [0x7FFF])
            await eventually(lambda: value(sup, "flow") == -7.75 and value(sup, "alarm") is False,
                             2.0, "new values")

            # the device dies: every point IV|NT within one poll cycle, values kept
            await server.shutdown()
            took = await eventually(lambda: quality(sup, *everything) == {INVALID},
                                    ONE_CYCLE + POLL, "points invalid after the server stopped")
            assert took <= ONE_CYCLE + POLL
            assert value(sup, "flow") == -7.75 and value(sup, "level") == 3.25
            assert devices(sup) == {"plc": "FAILED", "tank": "FAILED"}
            assert sup.health.signals()["source:tank"] is False
            await asyncio.sleep(1.0)  # a few failed reconnects later ...
            assert not running.done()  # ... the outstation is still running
            assert sup.server(Iec104Server) is not None
            host, port104 = sup.server(Iec104Server).address
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port104), 2.0)
            writer.close()  # and its 104 server still accepts masters

            # the device comes back (same port, other values): the points recover by themselves
            server = ModbusTcpServer([sim_device(1), sim_device(2)],
                                     address=("127.0.0.1", port))
            await server.serve_forever(background=True)
            await fill(server, flow=99.0, temperature_raw=400, energy=70001, level=1.5)
            await eventually(lambda: quality(sup, *everything) == {GOOD}, 3.0,
                             "points valid again")
            assert (value(sup, "flow"), value(sup, "temperature"), value(sup, "energy"),
                    value(sup, "level")) == (99.0, 0, 70001, 1.5)
            assert devices(sup) == {"plc": "OK", "tank": "OK"}
            assert not running.done()
        finally:
            sup.stop()
            await asyncio.wait_for(running, 5.0)
            await server.shutdown()

    with caplog.at_level(logging.INFO):
        asyncio.run(asyncio.wait_for(main(), 30.0))
    assert "failed; restarting" not in caplog.text  # the source itself never failed
    assert caplog.text.count("modbus bus field: ") >= 1
    assert "answers again" in caplog.text


def test_tcp_exception_response_invalidates_only_its_points(tmp_path: Path) -> None:
    """A read of registers the device does not have (exception 2) leaves the rest valid."""
    port = free_tcp_port()
    config = write_config(tmp_path / "tcp.toml", f"""
[[modbus.buses]]
name = "field"
type = "tcp"
host = "127.0.0.1"
port = {port}
timeout = {TIMEOUT}
""", "[iec104]\nenabled = false", level_address=500)

    async def main() -> None:
        server = ModbusTcpServer([sim_device(1), sim_device(2)], address=("127.0.0.1", port))
        await server.serve_forever(background=True)
        await fill(server, flow=1.0, temperature_raw=500, energy=1, level=2.0)
        sup = Supervisor(config)
        running = asyncio.create_task(sup.run())
        try:
            await eventually(lambda: quality(sup, *PLC_POINTS) == {GOOD}, 3.0, "plc valid")
            await asyncio.sleep(3 * POLL)
            assert quality(sup, "level") == {INVALID}  # input 500 is no register of the device
            assert quality(sup, *PLC_POINTS) == {GOOD}
        finally:
            sup.stop()
            await asyncio.wait_for(running, 5.0)
            await server.shutdown()

    asyncio.run(asyncio.wait_for(main(), 20.0))


# -- Modbus RTU over a pty pair ----------------------------------------------------------------
@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed (scripts/setup-test installs it): no pty pair for "
                    "Modbus RTU")
    a, b = tmp_path / "master", tmp_path / "device"
    proc = subprocess.Popen([socat, f"pty,raw,echo=0,link={a}",
                             f"pty,raw,echo=0,link={b}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 3.0
        while not (a.exists() and b.exists()):
            if proc.poll() is not None or time.monotonic() > deadline:
                said = proc.stderr.read() if proc.stderr else b""
                pytest.fail(f"socat gave no pty pair: {said!r}")
            time.sleep(0.02)
        yield str(a), str(b)
    finally:
        proc.terminate()
        try:
            proc.wait(3.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_rtu_two_devices_one_falls_silent(tmp_path: Path,
                                          pty_pair: tuple[str, str]) -> None:
    master, device = pty_pair
    config = write_config(tmp_path / "rtu.toml", f"""
[[modbus.buses]]
name = "field"
type = "rtu"
device = "{master}"
baudrate = 38400
parity = "N"                   # a pty may refuse parity (EINVAL); the line is virtual anyway
bytesize = 8
stopbits = 1
timeout = {TIMEOUT}
reconnect_delay = 0.2
reconnect_delay_max = 0.4
""", "[iec104]\nenabled = false")
    silent: set[int] = set()

    def drop_answers(sending: bool, data: bytes) -> bytes:
        # RTU frames start with the server address: a silent device's answers never leave
        return b"" if sending and data and data[0] in silent else data

    async def main() -> None:
        server = ModbusSerialServer([sim_device(1), sim_device(2)], port=device,
                                    baudrate=38400, parity="N", bytesize=8, stopbits=1,
                                    trace_packet=drop_answers)
        await server.serve_forever(background=True)
        await fill(server, flow=4.5, temperature_raw=700, energy=123_456, level=0.125)
        sup = Supervisor(config)
        running = asyncio.create_task(sup.run())
        try:
            await eventually(lambda: quality(sup, *PLC_POINTS, "level") == {GOOD}, 3.0,
                             "all points valid over RTU")
            assert (value(sup, "flow"), value(sup, "temperature"), value(sup, "energy"),
                    value(sup, "level"), value(sup, "pf")) == (4.5, 30, 123_456, 0.125, -0.5)

            silent.add(2)  # the tank falls silent; the plc on the same line goes on
            took = await eventually(lambda: quality(sup, "level") == {INVALID}, ONE_CYCLE,
                                    "silent device invalid")
            assert took <= ONE_CYCLE
            await server.async_setValues(1, HOLDING, 10, words("f", 8.0, word_swap=True))
            await eventually(lambda: value(sup, "flow") == 8.0, 2.0, "the other device polled")
            assert quality(sup, *PLC_POINTS) == {GOOD}
            assert value(sup, "level") == 0.125

            silent.clear()
            await eventually(lambda: quality(sup, "level") == {GOOD}, 3.0, "device recovered")
            assert not running.done()
        finally:
            sup.stop()
            await asyncio.wait_for(running, 5.0)
            await server.shutdown()

    asyncio.run(asyncio.wait_for(main(), 30.0))


def test_rtu_port_that_does_not_exist_is_not_fatal(tmp_path: Path) -> None:
    """A serial port missing at start (USB adapter unplugged): points stay invalid, the
    outstation runs."""
    config = write_config(tmp_path / "rtu.toml", f"""
[[modbus.buses]]
name = "field"
type = "rtu"
device = "{tmp_path / 'no-such-tty'}"
timeout = {TIMEOUT}
reconnect_delay = 0.1
reconnect_delay_max = 0.2
""", "[iec104]\nenabled = false")

    async def main() -> None:
        sup = Supervisor(config)
        running = asyncio.create_task(sup.run())
        await asyncio.sleep(0.8)
        assert not running.done()
        assert quality(sup, *PLC_POINTS, "level") == {INVALID}
        sup.stop()
        await asyncio.wait_for(running, 5.0)

    asyncio.run(asyncio.wait_for(main(), 10.0))



# -- the link itself: pymodbus's failures as ModbusError -----------------------------------------
def test_link_errors(tmp_path: Path) -> None:
    from hal.modbus import ModbusError, ModbusErrorKind, ModbusTcpSettings, PymodbusLink

    port = free_tcp_port()
    mute = False

    def drop_answers(sending: bool, data: bytes) -> bytes:
        return b"" if sending and mute else data

    async def main() -> None:
        nonlocal mute
        link = PymodbusLink("t", ModbusTcpSettings("127.0.0.1", port, timeout=TIMEOUT))
        with pytest.raises(ModbusError) as info:  # nothing listens yet
            await link.read_holding_registers(0, 1, 1)
        assert info.value.kind is ModbusErrorKind.CONNECTION
        server = ModbusTcpServer([sim_device(1)], address=("127.0.0.1", port),
                                 trace_packet=drop_answers)
        await server.serve_forever(background=True)
        try:
            await server.async_setValues(1, HOLDING, 198, [7, 8])
            await server.async_setValues(1, COILS, 62, [True])
            assert await link.read_holding_registers(198, 2, 1) == [7, 8]
            assert await link.read_coils(60, 4, 1) == [False, False, True, False]
            assert await link.read_discrete_inputs(0, 3, 1) == [False] * 3
            assert await link.read_input_registers(0, 125, 1) == [0] * 125
            with pytest.raises(ModbusError) as info:  # 199..200: beyond the device's registers
                await link.read_holding_registers(199, 2, 1)
            assert (info.value.kind, info.value.code) == (ModbusErrorKind.EXCEPTION, 2)
            assert "ILLEGAL_DATA_ADDRESS" in str(info.value)
            mute = True
            with pytest.raises(ModbusError) as info:
                await link.read_holding_registers(0, 1, 1)
            assert info.value.kind is ModbusErrorKind.TIMEOUT
            mute = False
            assert await link.read_holding_registers(198, 1, 1) == [7]  # the link goes on
            with pytest.raises(ValueError, match="count must be 1..125"):  # our misuse
                await link.read_input_registers(0, 126, 1)
        finally:
            link.close()
            await server.shutdown()

    asyncio.run(asyncio.wait_for(main(), 10.0))
