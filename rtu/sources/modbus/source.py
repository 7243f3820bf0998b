"""Modbus sources: poll Modbus devices (TCP, or RTU on a serial line) into the point database.

One :class:`ModbusBusSource` per bus runs every poll group of every device on that bus from a
single loop, so requests on a bus never overlap (a serial line carries one at a time; a TCP
connection is used the same way). Each poll group has its own interval; the group whose time
has come first is polled first.

What a poll does (the pure parts are :func:`plan_requests` and :func:`decode_read`):

* the reads of a poll group are batched: reads next to each other (or overlapping) in one table
  become one request, at most 125 registers / 2000 bits (or the device's own limits), never
  splitting a 32-bit value and never asking for registers that no read maps;
* each answer is decoded (type, word order, byte order, bit, scale, offset) and handed to
  :meth:`PointDatabase.update`, which applies the point's deadband and range;
* a device that does not answer (timeout, gateway exceptions 0x0A/0x0B) has ALL its points set
  invalid + not topical (IV|NT, value kept) at once, and is tried again after the bus's
  ``reconnect_delay``, doubling up to ``reconnect_delay_max``; a bus that cannot be reached (TCP
  connect refused or lost, serial port gone) does the same for every device on it. The first
  answer makes the points valid again with their current values;
* an exception response to one request (e.g. illegal data address) sets only that request's
  points IV|NT; the device's other requests go on.

Communication failures never leave :meth:`ModbusBusSource.run`; only a bug does (the supervisor
then restarts the source, after it has marked its points IV|NT).
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from hal.modbus import (
    MAX_READ_BITS,
    MAX_READ_REGISTERS,
    ExceptionCode,
    ModbusError,
    ModbusErrorKind,
    ModbusLink,
    ModbusSerialSettings,
    ModbusTcpSettings,
    PymodbusLink,
)
from rtu.components import Field, Parts
from rtu.frozen import frozen
from rtu.points.commands import CommandExecutor
from rtu.points.database import PointDatabase
from rtu.points.model import PointKind, Quality
from rtu.sources.modbus.config import (
    Endian,
    ModbusBusConfig,
    ModbusConfig,
    ModbusDeviceConfig,
    ModbusRead,
    ModbusTable,
    ModbusType,
    modbus_config,
)

if TYPE_CHECKING:
    from hal.modbus_served import ServedModbusDevice

log = logging.getLogger(__name__)

MODBUS_SOURCE: Final = "modbus"  # Point.source of the points a Modbus read feeds
MAX_REGISTERS: Final = MAX_READ_REGISTERS  # per request: 125
MAX_BITS: Final = MAX_READ_BITS  # per request: 2000
INVALID: Final = Quality.IV | Quality.NT

_FORMAT: Final = {
    ModbusType.INT16: "h", ModbusType.UINT16: "H", ModbusType.INT32: "i",
    ModbusType.UINT32: "I", ModbusType.FLOAT32: "f",
}
_UNSIGNED: Final = {1: "H", 2: "I"}  # raw bits of a register value, by width in registers
# exception codes that mean "the device behind the gateway did not answer"
_SILENT_CODES: Final = frozenset({ExceptionCode.GATEWAY_PATH_UNAVAILABLE,
                                  ExceptionCode.GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND})

LinkFactory = Callable[[ModbusBusConfig], ModbusLink]


# -- pure: batching and decoding ----------------------------------------------------------------
@frozen
class Request:
    """One Modbus read request and the reads decoded from its answer."""

    table: ModbusTable
    address: int
    count: int
    reads: tuple[ModbusRead, ...]


def width(read: ModbusRead) -> int:
    """Bits or registers the read takes."""
    return 1 if read.table.is_bits else read.type.words


def plan_requests(reads: Sequence[ModbusRead], *, max_registers: int = MAX_REGISTERS,
                  max_bits: int = MAX_BITS) -> tuple[Request, ...]:
    """The fewest requests that fetch ``reads``: per table, reads that touch or overlap are
    merged while the request stays within the limit; a gap starts a new request."""
    requests: list[Request] = []
    for table in ModbusTable:
        limit = max_bits if table.is_bits else max_registers
        items = sorted((r for r in reads if r.table is table),
                       key=lambda r: (r.address, width(r)))
        group: list[ModbusRead] = []
        start = end = 0
        for read in items:
            lo, hi = read.address, read.address + width(read)
            if hi - lo > limit:
                raise ValueError(f"{read.point}: {hi - lo} registers exceed the limit {limit}")
            if group and lo <= end and max(end, hi) - start <= limit:
                group.append(read)
                end = max(end, hi)
                continue
            if group:
                requests.append(Request(table, start, end - start, tuple(group)))
            group, start, end = [read], lo, hi
        if group:
            requests.append(Request(table, start, end - start, tuple(group)))
    return tuple(requests)


def registers_to_bytes(words: Sequence[int], word_order: Endian = Endian.BIG,
                       byte_order: Endian = Endian.BIG) -> bytes:
    """The value's bytes, most significant first, from its registers as they came."""
    ordered = list(words)
    if word_order is Endian.LITTLE:
        ordered.reverse()
    if byte_order is Endian.LITTLE:
        ordered = [((w & 0xFF) << 8) | ((w >> 8) & 0xFF) for w in ordered]
    return b"".join((w & 0xFFFF).to_bytes(2, "big") for w in ordered)


def decode_registers(words: Sequence[int], kind: ModbusType, word_order: Endian = Endian.BIG,
                     byte_order: Endian = Endian.BIG) -> int | float:
    """One value of ``kind`` from its ``kind.words`` registers."""
    if len(words) != kind.words:
        raise ValueError(f"{kind.value} takes {kind.words} registers, got {len(words)}")
    value: int | float = struct.unpack(
        ">" + _FORMAT[kind], registers_to_bytes(words, word_order, byte_order))[0]
    return value


def decode_read(read: ModbusRead, kind: PointKind, start: int,
                data: Sequence[bool] | Sequence[int]) -> bool | int | float:
    """The value of the point ``read`` feeds (of ``kind``), from the answer ``data`` of a
    request starting at ``start``. A float result may be NaN or infinite (the caller's
    business); a counter is rounded to an integer."""
    at = read.address - start
    if read.table.is_bits:
        return bool(data[at])
    words = [int(w) for w in data[at:at + read.type.words]]
    if read.bit is not None or kind is PointKind.BITSTRING:
        raw = int(struct.unpack(">" + _UNSIGNED[read.type.words],
                                registers_to_bytes(words, read.word_order, read.byte_order))[0])
        return bool((raw >> read.bit) & 1) if read.bit is not None else raw
    value = decode_registers(words, read.type, read.word_order, read.byte_order)
    if read.scale != 1.0 or read.offset != 0.0:
        value = value * read.scale + read.offset
    if kind is PointKind.COUNTER and isinstance(value, float) and math.isfinite(value):
        return round(value)
    return value


# -- the runtime ---------------------------------------------------------------------------------
@dataclass(slots=True, eq=False)
class DeviceState:
    config: ModbusDeviceConfig
    points: tuple[str, ...]  # every point of the device, in read order
    up: bool | None = None  # None: not asked yet
    retry_at: float = 0.0  # monotonic time before which the device is not asked (backoff)
    delay: float = 0.0  # the next backoff


@dataclass(slots=True, eq=False)
class PollGroup:
    device: DeviceState
    interval: float
    requests: tuple[Request, ...]
    due: float = 0.0  # monotonic time of the next poll
    failing: set[int] = field(default_factory=set)  # requests answered with an exception


class ModbusBusSource:
    """Polls every device on one Modbus bus (a :class:`hal.modbus.ModbusLink`)."""

    def __init__(self, bus: ModbusBusConfig, devices: Sequence[ModbusDeviceConfig],
                 db: PointDatabase, link: ModbusLink, *,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.name = f"modbus:{bus.name}"
        self.bus = bus
        self.db = db
        self.link = link
        self.wall = wall
        self.monotonic = monotonic
        self.devices: list[DeviceState] = []
        self.groups: list[PollGroup] = []
        for config in devices:
            if config.bus != bus.name:
                raise ValueError(f"device {config.name!r} is on bus {config.bus!r}, "
                                 f"not {bus.name!r}")
            names = tuple(r.point for poll in config.polls for r in poll.reads)
            device = DeviceState(config, names, delay=bus.reconnect_delay)
            self.devices.append(device)
            for poll in config.polls:
                requests = plan_requests(poll.reads, max_registers=config.max_registers,
                                         max_bits=config.max_bits)
                self.groups.append(PollGroup(device, poll.interval, requests))
        self.kinds = {name: db.point(name).kind for d in self.devices for name in d.points}
        self.lock = asyncio.Lock()  # one request at a time on the link: polls and writes
        self.bus_up: bool | None = None
        self.bus_retry_at = 0.0
        self.bus_delay = bus.reconnect_delay

    # -- Source ------------------------------------------------------------------------------------
    async def run(self) -> None:
        try:
            if not self.groups:
                await asyncio.Event().wait()
            while True:
                group, at = self.next_group()
                wait = at - self.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue
                await self.poll(group)
        except Exception:
            self._invalidate([n for d in self.devices for n in d.points])  # a bug: restart
            raise
        finally:
            self.link.close()

    def next_group(self) -> tuple[PollGroup, float]:
        """The group to poll next and when (honouring device and bus backoff)."""
        best: tuple[PollGroup, float] | None = None
        for group in self.groups:
            at = max(group.due, group.device.retry_at, self.bus_retry_at)
            if best is None or at < best[1]:
                best = (group, at)
        assert best is not None
        return best

    async def poll(self, group: PollGroup) -> None:
        """Poll one group now and schedule its next poll."""
        started = self.monotonic()
        # keep the rhythm; after a delay of more than an interval (backoff, a slow bus) start
        # a new one instead of catching up with polls back to back
        due = group.due + group.interval
        try:
            await self._poll(group)
        finally:
            group.due = due if due > started else started + group.interval

    async def _poll(self, group: PollGroup) -> None:
        device = group.device
        for index, request in enumerate(group.requests):
            try:
                data = await self._read(request, device.config.unit_id)
            except ModbusError as exc:
                if exc.kind is ModbusErrorKind.CONNECTION:
                    self._bus_down(exc)
                    return
                if exc.kind is ModbusErrorKind.TIMEOUT or exc.code in _SILENT_CODES:
                    self._device_down(device, exc)
                    return
                self._request_failed(group, index, request, exc)
                continue
            now = self.wall()
            self._bus_answered()
            self._device_answered(device)
            if index in group.failing:
                group.failing.discard(index)
                log.info("modbus device %s: %s %d..%d answered again", device.config.name,
                         request.table.value, request.address,
                         request.address + request.count - 1)
            self._store(request, data, now)

    # -- internals ---------------------------------------------------------------------------------
    async def _read(self, request: Request, unit_id: int) -> list[bool] | list[int]:
        async with self.lock:
            return await self._read_unlocked(request, unit_id)

    async def _read_unlocked(self, request: Request,
                             unit_id: int) -> list[bool] | list[int]:
        link, table = self.link, request.table
        if table is ModbusTable.COIL:
            return await link.read_coils(request.address, request.count, unit_id)
        if table is ModbusTable.DISCRETE:
            return await link.read_discrete_inputs(request.address, request.count, unit_id)
        if table is ModbusTable.HOLDING:
            return await link.read_holding_registers(request.address, request.count, unit_id)
        return await link.read_input_registers(request.address, request.count, unit_id)

    def _store(self, request: Request, data: list[bool] | list[int], now: float) -> None:
        for read in request.reads:
            kind = self.kinds[read.point]
            value = decode_read(read, kind, request.address, data)
            if isinstance(value, float) and not math.isfinite(value):
                # NaN / infinity from a float32: keep the last value, flag it invalid
                log.debug("modbus %s: %s is %r: invalid", self.bus.name, read.point, value)
                self.db.set_quality(read.point, Quality.IV, timestamp=now)
                continue
            self.db.update(read.point, value, Quality.GOOD, timestamp=now)

    def _invalidate(self, names: Sequence[str]) -> None:
        now = self.wall()
        for name in names:
            if self.db.value(name).quality != INVALID:
                self.db.set_quality(name, INVALID, timestamp=now)

    def _bus_answered(self) -> None:
        if self.bus_up is False:
            log.info("modbus bus %s: reachable again", self.bus.name)
        self.bus_up = True
        self.bus_retry_at = 0.0
        self.bus_delay = self.bus.reconnect_delay

    def _bus_down(self, exc: ModbusError) -> None:
        delay = self.bus_delay
        self.bus_retry_at = self.monotonic() + delay
        self.bus_delay = min(delay * 2, self.bus.reconnect_delay_max)
        self.link.close()
        if self.bus_up is not False:
            log.warning("modbus bus %s: %s; the points of its %d device(s) are invalid, "
                        "trying again in %.1f s", self.bus.name, exc, len(self.devices), delay)
        else:
            log.debug("modbus bus %s: %s; next try in %.1f s", self.bus.name, exc, delay)
        self.bus_up = False
        for device in self.devices:
            if device.up is not False:
                device.up = False
            self._invalidate(device.points)

    def _device_answered(self, device: DeviceState) -> None:
        if device.up is False:
            log.info("modbus device %s (unit %d on %s) answers again", device.config.name,
                     device.config.unit_id, self.bus.name)
            # its other groups' points are invalid: poll them now, not at their next turn
            now = self.monotonic()
            for group in self.groups:
                if group.device is device:
                    group.due = min(group.due, now)
        device.up = True
        device.retry_at = 0.0
        device.delay = self.bus.reconnect_delay

    def _device_down(self, device: DeviceState, exc: ModbusError) -> None:
        delay = device.delay
        device.retry_at = self.monotonic() + delay
        device.delay = min(delay * 2, self.bus.reconnect_delay_max)
        if device.up is not False:
            log.warning("modbus device %s (unit %d on %s) does not answer: %s; its %d points "
                        "are invalid, trying again in %.1f s", device.config.name,
                        device.config.unit_id, self.bus.name, exc, len(device.points), delay)
        else:
            log.debug("modbus device %s: %s; next try in %.1f s", device.config.name, exc, delay)
        device.up = False
        self._invalidate(device.points)

    def _request_failed(self, group: PollGroup, index: int, request: Request,
                        exc: ModbusError) -> None:
        # the device answered: it is up, but this request's points have no value
        self._bus_answered()
        self._device_answered(group.device)
        last = request.address + request.count - 1
        if index not in group.failing:
            group.failing.add(index)
            log.warning("modbus device %s: reading %s %d..%d failed: %s; its %d points are "
                        "invalid", group.device.config.name, request.table.value,
                        request.address, last, exc, len(request.reads))
        self._invalidate([r.point for r in request.reads])


# -- construction --------------------------------------------------------------------------------
def pymodbus_link(bus: ModbusBusConfig) -> ModbusLink:
    """The real link for a configured bus."""
    settings: ModbusTcpSettings | ModbusSerialSettings
    if bus.type == "sim":  # served_links() makes those: a caller's mistake
        raise ValueError(f"modbus bus {bus.name} is served by the outstation: use served_links")
    if bus.type == "tcp":
        settings = ModbusTcpSettings(host=bus.host, port=bus.port, timeout=bus.timeout)
    else:
        settings = ModbusSerialSettings(device=bus.device, baudrate=bus.baudrate,
                                        parity=bus.parity, bytesize=bus.bytesize,
                                        stopbits=bus.stopbits, timeout=bus.timeout)
    return PymodbusLink(f"modbus:{bus.name}", settings)


def modbus_sources(config: ModbusConfig, db: PointDatabase,
                   link_factory: LinkFactory = pymodbus_link) -> list[ModbusBusSource]:
    """One source per bus that has devices (a bus without devices is not opened)."""
    sources: list[ModbusBusSource] = []
    for bus in config.buses:
        devices = [d for d in config.devices if d.bus == bus.name]
        if devices:
            sources.append(ModbusBusSource(bus, devices, db, link_factory(bus)))
    return sources


class ServedLinks:
    """The link factory of a configuration: a "sim" bus gets a device the outstation serves
    itself (hal/modbus_served.py, imported only then) and a link to it; the others
    :func:`pymodbus_link`. ``devices`` are the served devices, by bus name (their ``port``
    once started)."""

    def __init__(self, config: ModbusConfig) -> None:
        self.config = config
        self.devices: dict[str, ServedModbusDevice] = {}

    def __call__(self, bus: ModbusBusConfig) -> ModbusLink:
        if bus.type != "sim":
            return pymodbus_link(bus)
        from hal.modbus_served import ServedLink, ServedModbusDevice

        units = [d.unit_id for d in self.config.devices if d.bus == bus.name]
        device = ServedModbusDevice(bus.name, units)
        self.devices[bus.name] = device
        return ServedLink(f"modbus:{bus.name}", device, bus.timeout)

    def close(self) -> None:
        for device in self.devices.values():
            device.close()


# -- the registry (rtu/components.py) ----------------------------------------------------------
def build(field: Field) -> Parts:
    """One source per bus; the commands of [[modbus.writes]] go to the devices (ACT_CON and
    ACT_TERM follow their answers), every other command on down the path."""
    from rtu.sources.modbus.writes import ModbusCommands

    config = modbus_config(field.config)
    served = ServedLinks(config)
    sources = modbus_sources(config, field.db, served)
    buses = {source.bus.name: source for source in sources}
    devices = {device.name: device for device in config.devices}
    built: list[ModbusCommands] = []

    def commands(executor: CommandExecutor) -> CommandExecutor:
        built.append(ModbusCommands(executor, config.writes, devices, buses))
        return built[-1]

    def close() -> None:
        for modbus_commands in built:
            modbus_commands.close()
        served.close()

    return Parts(sources=list(sources), commands=commands if config.writes else None,
                 close=[close], provides=(*sources, served))
