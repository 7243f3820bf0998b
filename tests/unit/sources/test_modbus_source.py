"""rtu.sources.modbus.ModbusBusSource against a scripted in-memory link: values, quality on
silence and on exception responses, recovery, backoff, scheduling, one request at a time."""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from hal.modbus import ModbusError, ModbusErrorKind
from rtu.config import (
    ModbusBusConfig,
    ModbusConfig,
    ModbusDeviceConfig,
    ModbusPoll,
    ModbusRead,
    ModbusTable,
    ModbusType,
    parse_config,
)
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointChanged, PointKind, Quality
from rtu.sources.modbus.config import modbus_config
from rtu.sources.modbus.source import INVALID, ModbusBusSource, modbus_sources

GOOD = Quality.GOOD
H, IR, COIL = ModbusTable.HOLDING, ModbusTable.INPUT, ModbusTable.COIL


class FakeLink:
    """Device memories keyed by unit id; a unit may be silent or refuse an address."""

    def __init__(self) -> None:
        self.name = "fake"
        self.memory: dict[int, dict[tuple[ModbusTable, int], int | bool]] = {}
        self.silent: set[int] = set()  # units that do not answer
        self.refused: set[tuple[int, ModbusTable, int]] = set()  # -> exception 2
        self.gateway_silent: set[int] = set()  # -> exception 0x0B
        self.down = False  # the bus: connection refused
        self.calls: list[tuple[str, int, int, int]] = []
        self.closed = 0
        self.busy = False
        self.delay = 0.0

    def set(self, unit: int, table: ModbusTable, address: int, *values: int | bool) -> None:
        for i, v in enumerate(values):
            self.memory.setdefault(unit, {})[(table, address + i)] = v

    async def _read(self, table: ModbusTable, address: int, count: int,
                    unit: int) -> list[Any]:
        assert not self.busy, "two requests at once on one bus"
        self.busy = True
        try:
            self.calls.append((table.value, address, count, unit))
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.down:
                raise ModbusError(ModbusErrorKind.CONNECTION, "cannot connect to fake")
            if unit in self.silent:
                raise ModbusError(ModbusErrorKind.TIMEOUT, "no answer from fake")
            if unit in self.gateway_silent:
                raise ModbusError(ModbusErrorKind.EXCEPTION, "exception response 11", 0x0B)
            if any((unit, table, a) in self.refused for a in range(address, address + count)):
                raise ModbusError(ModbusErrorKind.EXCEPTION, "exception response 2", 2)
            mem = self.memory.get(unit, {})
            default: int | bool = False if table.is_bits else 0
            return [mem.get((table, a), default) for a in range(address, address + count)]
        finally:
            self.busy = False

    async def read_coils(self, address: int, count: int, device_id: int) -> list[bool]:
        return await self._read(COIL, address, count, device_id)

    async def read_discrete_inputs(self, address: int, count: int,
                                   device_id: int) -> list[bool]:
        return await self._read(ModbusTable.DISCRETE, address, count, device_id)

    async def read_holding_registers(self, address: int, count: int,
                                     device_id: int) -> list[int]:
        return await self._read(H, address, count, device_id)

    async def read_input_registers(self, address: int, count: int,
                                   device_id: int) -> list[int]:
        return await self._read(IR, address, count, device_id)

    def close(self) -> None:
        self.closed += 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POINTS = (
    Point("flow", 1, PointKind.FLOAT, source="modbus", deadband=0.5),
    Point("temp", 2, PointKind.SCALED, source="modbus"),
    Point("running", 3, PointKind.SINGLE, source="modbus"),
    Point("alarm", 4, PointKind.SINGLE, source="modbus"),
    Point("energy", 5, PointKind.COUNTER, source="modbus"),
    Point("level", 6, PointKind.FLOAT, source="modbus"),  # on the second device
)
BUS = ModbusBusConfig("net", "tcp", host="127.0.0.1", reconnect_delay=1.0,
                      reconnect_delay_max=4.0)
PLC = ModbusDeviceConfig("plc", "net", 1, (
    ModbusPoll(1.0, (
        ModbusRead("flow", H, 100, ModbusType.FLOAT32),
        ModbusRead("temp", H, 102, ModbusType.INT16, scale=0.1),
        ModbusRead("running", COIL, 0),
        ModbusRead("alarm", IR, 7, bit=2),
    )),
    ModbusPoll(5.0, (ModbusRead("energy", IR, 0, ModbusType.UINT32),)),
))
TANK = ModbusDeviceConfig("tank", "net", 2, (ModbusPoll(1.0, (ModbusRead("level", IR, 0,
                                                                         ModbusType.INT16),)),))


def f32(value: float) -> tuple[int, int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", value))
    return hi, lo


class Rig:
    def __init__(self) -> None:
        self.db = PointDatabase(POINTS)
        self.link = FakeLink()
        self.mono = Clock()
        self.wall = Clock()
        self.source = ModbusBusSource(BUS, [PLC, TANK], self.db, self.link, wall=self.wall,
                                      monotonic=self.mono)
        self.events: list[PointChanged] = []
        self.db.subscribe(self.events.append)
        self.link.set(1, H, 100, *f32(12.5))
        self.link.set(1, H, 102, 215)
        self.link.set(1, COIL, 0, True)
        self.link.set(1, IR, 7, 0b100)
        self.link.set(1, IR, 0, 0x0001, 0x0002)
        self.link.set(2, IR, 0, 0xFFFF)

    def run(self, coro: Coroutine[Any, Any, None]) -> None:
        asyncio.run(coro)

    def poll_all(self) -> None:
        async def go() -> None:
            for group in self.source.groups:
                await self.source.poll(group)
        self.run(go())

    def poll(self, index: int) -> None:
        self.run(self.source.poll(self.source.groups[index]))

    def value(self, name: str) -> tuple[bool | int | float, Quality]:
        v = self.db.value(name)
        return v.value, v.quality


def test_values_reach_the_database() -> None:
    rig = Rig()
    rig.poll_all()
    assert rig.value("flow") == (12.5, GOOD)
    assert rig.value("temp") == (22, GOOD)  # 21.5 rounded by the database (scaled)
    assert rig.value("running") == (True, GOOD)
    assert rig.value("alarm") == (True, GOOD)
    assert rig.value("energy") == (0x00010002, GOOD)
    assert rig.value("level") == (-1.0, GOOD)
    assert rig.db.value("flow").timestamp == rig.wall.now
    # the first group: coils, holding 100..102 and input 7 in three requests
    assert rig.link.calls[:3] == [("coil", 0, 1, 1), ("holding", 100, 3, 1), ("input", 7, 1, 1)]


def test_the_deadband_is_the_databases() -> None:
    rig = Rig()
    rig.poll(0)
    rig.events.clear()
    rig.link.set(1, H, 100, *f32(12.75))  # within the 0.5 deadband
    rig.poll(0)
    assert [e.point.name for e in rig.events] == []
    assert rig.value("flow") == (12.75, GOOD)  # stored, not reported
    rig.link.set(1, H, 100, *f32(13.5))
    rig.poll(0)
    assert [e.point.name for e in rig.events] == ["flow"]


def test_a_silent_device_is_invalid_at_once_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.poll_all()
    rig.link.silent.add(1)
    rig.events.clear()
    with caplog.at_level(logging.INFO, "rtu.sources.modbus.source"):
        rig.poll(0)  # one poll of ONE group of the device
    # every point of the device (also of its other group), value kept
    for name, value in (("flow", 12.5), ("temp", 22), ("running", True), ("alarm", True),
                        ("energy", 0x00010002)):
        assert rig.value(name) == (value, INVALID), name
    assert rig.value("level") == (-1.0, GOOD)  # the other device on the bus is fine
    assert len(rig.link.calls) == 5 + 1  # the rest of the group was not tried
    assert sorted(e.point.name for e in rig.events) == ["alarm", "energy", "flow", "running",
                                                         "temp"]
    assert caplog.text.count("does not answer") == 1
    # backoff: the device is not asked before reconnect_delay
    assert rig.source.devices[0].retry_at == rig.mono.now + 1.0
    rig.mono.now += 0.5
    rig.source.groups[0].due = rig.mono.now  # due, but the device waits
    rig.source.groups[2].due = rig.mono.now + 0.25  # the tank is not waiting
    assert rig.source.next_group() == (rig.source.groups[2], rig.mono.now + 0.25)
    rig.source.groups[2].due = rig.mono.now + 9
    assert rig.source.next_group() == (rig.source.groups[0], rig.mono.now + 0.5)
    # it answers again: valid with the current values
    rig.link.silent.clear()
    rig.link.set(1, H, 100, *f32(20.0))
    rig.mono.now += 0.5
    with caplog.at_level(logging.INFO, "rtu.sources.modbus.source"):
        rig.poll(0)
    assert rig.value("flow") == (20.0, GOOD)
    assert rig.value("energy") == (0x00010002, INVALID)  # its group has not been polled yet
    assert rig.source.next_group()[0] is rig.source.groups[1]  # ... and is overdue
    rig.poll(1)
    assert rig.value("energy") == (0x00010002, GOOD)
    assert "answers again" in caplog.text


def test_backoff_doubles_up_to_the_maximum() -> None:
    rig = Rig()
    rig.link.silent.add(1)
    device = rig.source.devices[0]
    waits = []
    for _ in range(5):
        rig.poll(0)
        waits.append(device.retry_at - rig.mono.now)
        rig.mono.now = device.retry_at
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    rig.link.silent.clear()
    rig.poll(0)
    assert device.up is True and device.delay == 1.0


def test_a_lost_bus_invalidates_every_device(caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.poll_all()
    rig.link.down = True
    with caplog.at_level(logging.WARNING, "rtu.sources.modbus.source"):
        rig.poll(2)
        rig.mono.now += 1.0
        rig.poll(2)  # still down: no second warning
    assert all(rig.db.value(p.name).quality == INVALID for p in POINTS)
    assert rig.link.closed == 2
    assert caplog.text.count("the points of its 2 device(s) are invalid") == 1
    assert rig.source.next_group()[1] == rig.mono.now + 2.0  # the whole bus waits, doubled
    rig.link.down = False
    rig.mono.now += 2.0
    rig.poll_all()
    assert all(rig.db.value(p.name).quality == GOOD for p in POINTS)


def test_an_exception_response_invalidates_only_that_request(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig()
    rig.poll_all()
    rig.link.refused.add((1, H, 101))
    with caplog.at_level(logging.INFO, "rtu.sources.modbus.source"):
        rig.poll(0)
        rig.poll(0)
    assert rig.value("flow") == (12.5, INVALID)
    assert rig.value("temp") == (22, INVALID)  # same request (holding 100..102)
    assert rig.value("running") == (True, GOOD)
    assert rig.value("alarm") == (True, GOOD)  # the request after it was still made
    assert caplog.text.count("holding 100..102 failed") == 1
    rig.link.refused.clear()
    with caplog.at_level(logging.INFO, "rtu.sources.modbus.source"):
        rig.poll(0)
    assert rig.value("flow") == (12.5, GOOD)
    assert "holding 100..102 answered again" in caplog.text


def test_a_gateway_without_its_device_means_silence() -> None:
    rig = Rig()
    rig.poll_all()
    rig.link.gateway_silent.add(2)
    rig.poll(2)
    assert rig.value("level") == (-1.0, INVALID)
    assert rig.source.devices[1].up is False


def test_nan_keeps_the_value_and_flags_it_invalid() -> None:
    rig = Rig()
    rig.poll(0)
    rig.link.set(1, H, 100, 0x7FC0, 0x0000)
    rig.poll(0)
    assert rig.value("flow") == (12.5, Quality.IV)
    rig.link.set(1, H, 100, *f32(1.0))
    rig.poll(0)
    assert rig.value("flow") == (1.0, GOOD)


def test_scheduling_follows_each_groups_interval() -> None:
    rig = Rig()
    src = rig.source
    order = []
    for _ in range(12):
        group, at = src.next_group()
        rig.mono.now = max(rig.mono.now, at)
        order.append((src.groups.index(group), rig.mono.now - 1000.0))
        rig.run(src.poll(group))
    # groups 0 and 2 every second, group 1 every five seconds
    assert order == [(0, 0.0), (1, 0.0), (2, 0.0), (0, 1.0), (2, 1.0), (0, 2.0), (2, 2.0),
                     (0, 3.0), (2, 3.0), (0, 4.0), (2, 4.0), (0, 5.0)]


def test_run_serialises_requests_and_survives_a_dead_device() -> None:
    async def main() -> None:
        db = PointDatabase(POINTS)
        link = FakeLink()
        link.delay = 0.002
        link.set(2, IR, 0, 7)
        fast = ModbusBusConfig("net", "tcp", host="x", reconnect_delay=0.05,
                               reconnect_delay_max=0.05)
        plc = ModbusDeviceConfig("plc", "net", 1, tuple(
            ModbusPoll(0.01, p.reads) for p in PLC.polls))
        tank = ModbusDeviceConfig("tank", "net", 2, (ModbusPoll(0.01, TANK.polls[0].reads),))
        source = ModbusBusSource(fast, [plc, tank], db, link)
        link.silent.add(1)
        task = asyncio.create_task(source.run())
        await wait_for(lambda: db.value("level").quality == GOOD)
        assert db.value("flow").quality == INVALID
        link.silent.clear()
        link.set(1, H, 100, *f32(3.0))
        await wait_for(lambda: db.value("flow").value == 3.0 and db.value("flow").quality == GOOD)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert link.closed >= 1

    asyncio.run(main())


def test_a_bug_invalidates_the_points_and_reaches_the_supervisor() -> None:
    async def main() -> None:
        db = PointDatabase(POINTS)
        link = FakeLink()
        source = ModbusBusSource(BUS, [PLC, TANK], db, link)
        await source.poll(source.groups[2])
        assert db.value("level").quality == GOOD

        async def broken(*args: object) -> list[int]:
            raise RuntimeError("bug")
        link.read_input_registers = broken  # type: ignore[method-assign, assignment]
        with pytest.raises(RuntimeError):
            await source.run()
        assert db.value("level").quality == INVALID
        assert link.closed == 1

    asyncio.run(main())


def test_one_source_per_bus_with_devices() -> None:
    config = parse_config({
        "points": [{"name": "a", "ioa": 1, "kind": "float", "source": "modbus"},
                   {"name": "b", "ioa": 2, "kind": "single", "source": "modbus"}],
        "modbus": {
            "buses": [{"name": "one", "type": "tcp", "host": "127.0.0.1"},
                      {"name": "idle", "type": "tcp", "host": "127.0.0.1"},
                      {"name": "two", "type": "rtu", "device": "/dev/null"}],
            "devices": [
                {"name": "d1", "bus": "one", "unit_id": 1, "polls": [
                    {"interval": 1, "reads": [{"point": "a", "table": "input", "address": 0}]}]},
                {"name": "d2", "bus": "two", "unit_id": 1, "polls": [
                    {"interval": 1, "reads": [{"point": "b", "table": "coil", "address": 0}]}]},
            ],
        },
    }, "t.toml")
    made: list[str] = []

    def factory(bus: ModbusBusConfig) -> FakeLink:
        made.append(bus.name)
        return FakeLink()

    db = PointDatabase(config.points)
    sources = modbus_sources(modbus_config(config), db, factory)
    assert [s.name for s in sources] == ["modbus:one", "modbus:two"]
    assert made == ["one", "two"]
    assert modbus_sources(ModbusConfig(), db) == []


def test_a_device_on_another_bus_is_a_bug() -> None:
    with pytest.raises(ValueError, match="is on bus 'net', not 'other'"):
        ModbusBusSource(ModbusBusConfig("other", "tcp", host="x"), [PLC], PointDatabase(POINTS),
                        FakeLink())


async def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(loop(), timeout)


def test_a_tap_position_from_an_integer_register() -> None:
    """A step point (a tap changer's M_ST) may come from a Modbus register (int16/uint16/32);
    a float32 register is refused for it."""
    from rtu.config import ConfigError, parse_config
    from rtu.sources.modbus.config import ModbusTable, ModbusType
    from rtu.sources.modbus.source import decode_read

    def data(kind: str) -> dict[str, Any]:
        return {
            "points": [{"name": "tap", "ioa": 1, "kind": "step", "source": "modbus"}],
            "modbus": {"buses": [{"name": "b", "type": "tcp", "host": "127.0.0.1"}],
                       "devices": [{"name": "d", "bus": "b", "unit_id": 1, "polls": [
                           {"interval": 1.0, "reads": [
                               {"point": "tap", "table": "holding", "address": 7,
                                "type": kind}]}]}]},
        }

    (device,) = modbus_config(parse_config(data("int16"), "t.toml")).devices
    (read,) = device.polls[0].reads
    assert (read.table, read.type) == (ModbusTable.HOLDING, ModbusType.INT16)
    assert decode_read(read, PointKind.STEP, 7, [0xFFFD]) == -3
    with pytest.raises(ConfigError) as info:
        parse_config(data("float32"), "t.toml")
    assert ("expected 'int16', 'uint16', 'int32' or 'uint32' for a step point, got 'float32'"
            in info.value.errors[0])
