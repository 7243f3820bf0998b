"""Commands written to Modbus devices (``[[modbus.writes]]``): set-points and bitstrings to
holding registers, single and double commands to coils.

The confirmations follow the device (a :class:`~rtu.points.commands.ConfirmingExecutor`): a
select is confirmed at once (Modbus has no select), an execute's ACT_CON and ACT_TERM come
once the device has answered the write (and, with ``verify``, the read-back matched). An
exception response, a timeout, a lost connection or a value the encoding cannot hold give a
negative answer and a log line naming the device and the register. Writes share the bus's
link with its polling, one request at a time (the bus source's lock).
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hal.modbus import ModbusError
from rtu.points.commands import CommandExecutor, CommandRequest, Done, ForwardingExecutor
from rtu.points.model import DoublePointValue, Point, PointKind
from rtu.sources.modbus.config import (
    Endian,
    ModbusDeviceConfig,
    ModbusTable,
    ModbusType,
    ModbusWrite,
)

if TYPE_CHECKING:
    from rtu.sources.modbus.source import ModbusBusSource

log = logging.getLogger(__name__)

_PACK = {ModbusType.INT16: ">h", ModbusType.UINT16: ">H", ModbusType.INT32: ">i",
         ModbusType.UINT32: ">I", ModbusType.FLOAT32: ">f"}


class EncodeError(ValueError):
    """A value the write's type cannot hold."""


def encode_registers(value: float, kind: ModbusType, word_order: Endian = Endian.BIG,
                     byte_order: Endian = Endian.BIG) -> list[int]:
    """The registers holding ``value`` as ``kind`` (the inverse of decode_registers)."""
    if kind is not ModbusType.FLOAT32:
        if not math.isfinite(value):
            raise EncodeError(f"{value!r} is not a number for {kind.value}")
        value = round(value)
    try:
        raw = struct.pack(_PACK[kind], value)
    except (struct.error, OverflowError) as exc:
        raise EncodeError(f"{value!r} does not fit {kind.value}") from exc
    words = [int.from_bytes(raw[i:i + 2], "big") for i in range(0, len(raw), 2)]
    if byte_order is Endian.LITTLE:
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    if word_order is Endian.LITTLE:
        words.reverse()
    return words


def raw_value(write: ModbusWrite, point: Point, value: bool | float) -> bool | list[int]:
    """What goes on the wire for a command's value: a coil state, or the registers."""
    if write.table is ModbusTable.COIL:
        if point.kind is PointKind.DOUBLE_COMMAND:
            return value == DoublePointValue.ON
        return bool(value)
    if point.kind is PointKind.BITSTRING_COMMAND:
        bits = int(value)
        if write.type.words == 1 and bits > 0xFFFF:
            raise EncodeError(f"bitstring {bits:#x} does not fit one register")
        return encode_registers(bits, ModbusType.UINT16 if write.type.words == 1
                                else ModbusType.UINT32, write.word_order, write.byte_order)
    return encode_registers((float(value) - write.offset) / write.scale, write.type,
                            write.word_order, write.byte_order)


class ModbusCommands(ForwardingExecutor):
    """Takes the commands of points written to Modbus devices; the others go to ``inner``."""

    def __init__(self, inner: CommandExecutor, writes: Sequence[ModbusWrite],
                 devices: Mapping[str, ModbusDeviceConfig],
                 buses: Mapping[str, ModbusBusSource]) -> None:
        super().__init__(inner)
        self.writes = {w.command: w for w in writes}
        self.devices = dict(devices)
        self.buses = dict(buses)  # bus name -> its ModbusBusSource (link and lock)
        self._tasks: set[asyncio.Task[None]] = set()

    def confirms(self, point: Point) -> bool:
        return point.name in self.writes or super().confirms(point)

    def select(self, request: CommandRequest, done: Done) -> None:
        if request.point.name in self.writes:
            done(True)  # Modbus has no select: the selection is ours alone
            return
        super().select(request, done)

    def cancel(self, request: CommandRequest) -> None:
        if request.point.name not in self.writes:
            super().cancel(request)

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        write = self.writes.get(request.point.name)
        if write is None:
            super().operate(request, confirmed, done)
            return
        task = asyncio.get_running_loop().create_task(self._write(write, request, confirmed,
                                                                  done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def execute(self, request: CommandRequest, done: Done) -> None:
        write = self.writes.get(request.point.name)
        if write is None:
            super().execute(request, done)
            return
        def confirmed(ok: bool) -> None:
            if not ok:
                done(False)

        self.operate(request, confirmed, done)

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()

    async def _write(self, write: ModbusWrite, request: CommandRequest, confirmed: Done,
                     done: Done) -> None:
        device = self.devices[write.device]
        where = (f"modbus device {device.name} (unit {device.unit_id}) {write.table.value} "
                 f"{write.address}")
        try:
            raw = raw_value(write, request.point, request.value)
        except EncodeError as exc:
            log.warning("command %s to %s refused: %s", request.point.name, where, exc)
            confirmed(False)
            return
        bus = self.buses[device.bus]
        link, lock = bus.link, bus.lock
        try:
            async with lock:
                if isinstance(raw, bool):
                    await link.write_coil(write.address, raw, device.unit_id)
                elif write.function == "single":
                    await link.write_register(write.address, raw[0], device.unit_id)
                else:
                    await link.write_registers(write.address, raw, device.unit_id)
                if write.verify:
                    back: list[bool] | list[int]
                    if isinstance(raw, bool):
                        back = await link.read_coils(write.address, 1, device.unit_id)
                        ok = back == [raw]
                    else:
                        back = await link.read_holding_registers(write.address, len(raw),
                                                                 device.unit_id)
                        ok = back == raw
                    if not ok:
                        log.warning("command %s to %s: wrote %s, read back %s", request.point.name,
                                    where, raw, back)
                        confirmed(False)
                        return
        except ModbusError as exc:
            log.warning("command %s to %s failed: %s", request.point.name, where, exc)
            confirmed(False)
            return
        log.info("command %s: %s written to %s", request.point.name, raw, where)
        confirmed(True)
        done(True)
