"""rtu.sources.modbus.writes: encoding set-points and commands for Modbus, the writes with a
fake link (exception, timeout, read-back), and the [[modbus.writes]] checks."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence
from typing import Any

import pytest

from hal.modbus import ModbusError, ModbusErrorKind
from rtu.config import ConfigError, parse_config
from rtu.points.commands import CommandRequest
from rtu.points.model import DoublePointValue, Point, PointKind
from rtu.sources.modbus.config import (
    Endian,
    ModbusDeviceConfig,
    ModbusTable,
    ModbusType,
    ModbusWrite,
    modbus_config,
)
from rtu.sources.modbus.source import decode_registers
from rtu.sources.modbus.writes import EncodeError, ModbusCommands, encode_registers, raw_value


@pytest.mark.parametrize("kind", list(ModbusType))
@pytest.mark.parametrize("words", list(Endian))
@pytest.mark.parametrize("bytes_", list(Endian))
def test_encoding_is_the_inverse_of_decoding(kind: ModbusType, words: Endian,
                                             bytes_: Endian) -> None:
    value = {ModbusType.INT16: -1234, ModbusType.UINT16: 54321, ModbusType.INT32: -70000,
             ModbusType.UINT32: 3_000_000_000, ModbusType.FLOAT32: 12.5}[kind]
    registers = encode_registers(value, kind, words, bytes_)
    assert len(registers) == kind.words
    assert decode_registers(registers, kind, words, bytes_) == value


def test_golden_words_and_limits() -> None:
    assert encode_registers(12.5, ModbusType.FLOAT32) == [0x4148, 0x0000]
    assert encode_registers(12.5, ModbusType.FLOAT32, Endian.LITTLE) == [0x0000, 0x4148]
    assert encode_registers(-2, ModbusType.INT16, byte_order=Endian.LITTLE) == [0xFEFF]
    assert encode_registers(2.6, ModbusType.UINT16) == [3]  # rounded
    for value, kind in ((70000, ModbusType.INT16), (-1, ModbusType.UINT16),
                        (float("nan"), ModbusType.INT32), (1e40, ModbusType.FLOAT32)):
        with pytest.raises(EncodeError):
            encode_registers(value, kind)


def write(**changes: Any) -> ModbusWrite:
    base: dict[str, Any] = {"command": "sp", "device": "plc", "table": ModbusTable.HOLDING,
                                "address": 100, "type": ModbusType.INT16}
    return ModbusWrite(**{**base, **changes})


def test_raw_values_per_kind() -> None:
    sp = Point("sp", 1, PointKind.SETPOINT_SCALED, target="modbus")
    assert raw_value(write(scale=0.1, offset=-40.0), sp, 21.5) == [615]
    dc = Point("dc", 2, PointKind.DOUBLE_COMMAND, target="modbus")
    assert raw_value(write(table=ModbusTable.COIL), dc, DoublePointValue.ON) is True
    assert raw_value(write(table=ModbusTable.COIL), dc, DoublePointValue.OFF) is False
    bo = Point("bo", 3, PointKind.BITSTRING_COMMAND, target="modbus")
    assert raw_value(write(type=ModbusType.UINT32), bo, 0x12345678) == [0x1234, 0x5678]
    with pytest.raises(EncodeError):
        raw_value(write(type=ModbusType.UINT16), bo, 0x12345678)


class FakeLink:
    name = "fake"

    def __init__(self) -> None:
        self.registers: dict[int, int] = {}
        self.coils: dict[int, bool] = {}
        self.calls: list[tuple[str, int, object]] = []
        self.fail: ModbusError | None = None
        self.corrupt = False  # the device keeps something else than was written

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def write_coil(self, address: int, value: bool, device_id: int) -> None:
        self.calls.append(("write_coil", address, value))
        self._maybe_fail()
        self.coils[address] = value

    async def write_register(self, address: int, value: int, device_id: int) -> None:
        self.calls.append(("write_register", address, value))
        self._maybe_fail()
        self.registers[address] = value

    async def write_registers(self, address: int, values: Sequence[int], device_id: int) -> None:
        self.calls.append(("write_registers", address, list(values)))
        self._maybe_fail()
        for i, v in enumerate(values):
            self.registers[address + i] = v ^ (1 if self.corrupt else 0)

    async def read_holding_registers(self, address: int, count: int,
                                     device_id: int) -> list[int]:
        return [self.registers.get(address + i, 0) for i in range(count)]

    async def read_coils(self, address: int, count: int, device_id: int) -> list[bool]:
        return [self.coils.get(address + i, False) for i in range(count)]


class Bus:
    def __init__(self) -> None:
        self.link = FakeLink()
        self.lock = asyncio.Lock()


class Inner:
    def __init__(self) -> None:
        self.executed: list[str] = []

    def execute(self, request: CommandRequest, done: Any) -> None:
        self.executed.append(request.point.name)
        done(True)


def operate(commands: ModbusCommands, point: Point, value: Any) -> tuple[list[bool], list[bool]]:
    confirmed: list[bool] = []
    done: list[bool] = []

    async def run() -> None:
        commands.operate(CommandRequest(point, value), confirmed.append, done.append)
        for _ in range(100):
            await asyncio.sleep(0)

    asyncio.run(run())
    return confirmed, done


def rig(*writes: ModbusWrite) -> tuple[ModbusCommands, Bus, Inner]:
    bus, inner = Bus(), Inner()
    device = ModbusDeviceConfig(name="plc", bus="field", unit_id=1, polls=())
    commands = ModbusCommands(inner, writes, {"plc": device}, {"field": bus})  # type: ignore[dict-item]
    return commands, bus, inner


SP = Point("sp", 1, PointKind.SETPOINT_FLOAT, target="modbus")


def test_a_set_point_is_written_and_confirmed_after_the_answer() -> None:
    commands, bus, _ = rig(write(type=ModbusType.FLOAT32, verify=True))
    assert commands.confirms(SP)
    assert operate(commands, SP, 12.5) == ([True], [True])
    assert bus.link.calls == [("write_registers", 100, [0x4148, 0x0000])]


def test_an_exception_response_is_a_negative_confirmation_naming_the_register(
        caplog: pytest.LogCaptureFixture) -> None:
    commands, bus, _ = rig(write(type=ModbusType.FLOAT32))
    bus.link.fail = ModbusError(ModbusErrorKind.EXCEPTION, "exception response 2", 2)
    assert operate(commands, SP, 12.5) == ([False], [])
    assert "command sp to modbus device plc (unit 1) holding 100 failed: exception response 2" \
        in caplog.text
    bus.link.fail = ModbusError(ModbusErrorKind.TIMEOUT, "no valid answer")
    assert operate(commands, SP, 1.0) == ([False], [])


def test_a_read_back_that_differs_fails_the_command(caplog: pytest.LogCaptureFixture) -> None:
    commands, bus, _ = rig(write(type=ModbusType.FLOAT32, verify=True))
    bus.link.corrupt = True
    assert operate(commands, SP, 12.5) == ([False], [])
    assert "read back" in caplog.text


def test_single_register_coils_and_values_that_do_not_fit() -> None:
    sc = Point("sc", 2, PointKind.SINGLE_COMMAND, target="modbus")
    commands, bus, inner = rig(write(command="sp", function="single", scale=0.5),
                               write(command="sc", table=ModbusTable.COIL, address=7))
    scaled = Point("sp", 1, PointKind.SETPOINT_SCALED, target="modbus")
    assert operate(commands, scaled, 100) == ([True], [True])
    assert operate(commands, sc, True) == ([True], [True])
    assert bus.link.calls == [("write_register", 100, 200), ("write_coil", 7, True)]
    assert operate(commands, scaled, 40000) == ([False], [])  # int16 holds no 80000
    # a select is ours (Modbus has none); other points go on down the path
    selected: list[bool] = []
    commands.select(CommandRequest(scaled, 1), selected.append)
    assert selected == [True]
    other = Point("k1", 3, PointKind.SINGLE_COMMAND, target="k1")
    assert not commands.confirms(other)
    commands.execute(CommandRequest(other, True), lambda ok: None)
    assert inner.executed == ["k1"]
    assert struct.calcsize(">f") == 4


# -- configuration -------------------------------------------------------------------------------
def doc(*writes: dict[str, Any]) -> dict[str, Any]:
    return {
        "iec104": {"enabled": False},
        "points": [
            {"name": "level", "ioa": 1, "kind": "float", "source": "modbus"},
            {"name": "sp", "ioa": 2, "kind": "setpoint_float", "target": "modbus"},
            {"name": "sc", "ioa": 3, "kind": "single_command", "target": "modbus"},
        ],
        "modbus": {
            "buses": [{"name": "field", "type": "tcp", "host": "127.0.0.1"}],
            "devices": [{"name": "plc", "bus": "field", "unit_id": 1, "polls": [
                {"interval": 1.0, "reads": [{"point": "level", "table": "input",
                                             "address": 0}]}]}],
            "writes": list(writes),
        },
    }


def errors(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, "t.toml")
    return info.value.errors


def test_writes_are_read() -> None:
    config = parse_config(doc(
        {"command": "sp", "device": "plc", "table": "holding", "address": 100,
         "type": "float32", "word_order": "little", "verify": True},
        {"command": "sc", "device": "plc", "table": "coil", "address": 3}), "t.toml")
    assert modbus_config(config).writes == (
        ModbusWrite("sp", "plc", ModbusTable.HOLDING, 100, ModbusType.FLOAT32,
                    word_order=Endian.LITTLE, verify=True),
        ModbusWrite("sc", "plc", ModbusTable.COIL, 3))


def test_rtu_check_refuses_targets_that_cannot_execute_the_command() -> None:
    found = errors(doc(
        {"command": "sp", "device": "plc", "table": "coil", "address": 1},
        {"command": "sc", "device": "nope", "table": "holding", "address": 1,
         "type": "int32", "function": "single", "scale": 0},
    ))
    assert found == [
        ("t.toml: modbus.writes[0].table: expected coil for single and double commands, holding "
        "for set-points and bitstrings, got 'coil' (sp is a setpoint_float point)"),
        ("t.toml: modbus.writes[1].device: expected the name of a [[modbus.devices]] entry, "
        "got 'nope'"),
        ("t.toml: modbus.writes[1].table: expected coil for single and double commands, holding "
        "for set-points and bitstrings, got 'holding' (sc is a single_command point)"),
        ("t.toml: modbus.writes[1].function: expected \"multiple\" for a 32-bit type, got "
        "'single' (write single register takes one register)"),
        "t.toml: modbus.writes[1].scale: expected a number other than 0, got 0",
    ]
    assert errors(doc({"command": "sp", "device": "plc", "table": "holding",
                       "address": 1})) == [
        ("t.toml: points[2].target: expected a [[modbus.writes]] entry with command = 'sc', got "
        "none")]
