"""hal.modbus_served: the Modbus TCP device the outstation serves itself (a "sim" bus), reached
over a real loopback connection: a port chosen at start, each configured unit id answering,
addresses beyond its tables answered with exception 2, and a closed device served afresh
on the next request."""

from __future__ import annotations

import asyncio

import pytest

from hal.modbus import ModbusError, ModbusErrorKind
from hal.modbus_served import TABLE_SIZE, ServedLink, ServedModbusDevice

pytestmark = pytest.mark.integration


def test_the_served_device_answers_each_unit_and_bounds_its_tables() -> None:
    async def main() -> None:
        device = ServedModbusDevice("bench", [1, 2])
        link = ServedLink("modbus:bench", device, timeout=1.0)
        try:
            await link.write_registers(10, [0x4148, 0x0000], 1)
            await link.write_coil(3, True, 2)
            assert device.port is not None and device.port > 0
            assert await link.read_holding_registers(10, 2, 1) == [0x4148, 0]
            assert await link.read_holding_registers(10, 2, 2) == [0, 0]  # units are apart
            assert await link.read_coils(3, 1, 2) == [True]
            await link.write_register(TABLE_SIZE - 1, 7, 1)
            assert await link.read_holding_registers(TABLE_SIZE - 1, 1, 1) == [7]
            with pytest.raises(ModbusError) as beyond:
                await link.read_holding_registers(TABLE_SIZE, 1, 1)
            assert (beyond.value.kind, beyond.value.code) == (ModbusErrorKind.EXCEPTION, 2)
        finally:
            link.close()
            device.close()
        # closed: the next request starts it again, on a fresh port, with fresh tables
        link = ServedLink("modbus:bench", device, timeout=1.0)
        try:
            assert await link.read_holding_registers(10, 2, 1) == [0, 0]
        finally:
            link.close()
            device.close()

    asyncio.run(main())
