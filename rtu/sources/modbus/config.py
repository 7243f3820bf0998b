"""The ``[modbus]`` section: Modbus buses and devices polled by the outstation (source.py).

Declared once (:data:`BUS`, :data:`DEVICE`, :data:`POLL`, :data:`READ`): the allowed keys,
their defaults (also the dataclasses' below) and ranges; :func:`parse_modbus` checks what a
JSON Schema cannot (a read names a point with ``source = "modbus"``, no register decoded two
ways, unit ids per bus type).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import TYPE_CHECKING, Final

from rtu.config.reader import MISSING, Reader, close_match, is_host, one_of, point_table_index, show
from rtu.config.schema import (
    Table,
    boolean,
    choice,
    integer,
    number,
    seconds,
    string,
    table,
    tables,
)
from rtu.frozen import frozen
from rtu.points.model import Point, PointKind

if TYPE_CHECKING:
    from rtu.config import AppConfig

__all__ = [
    "MODBUS",
    "MODBUS_SOURCE",
    "Endian",
    "ModbusBusConfig",
    "ModbusConfig",
    "ModbusDeviceConfig",
    "ModbusPoll",
    "ModbusRead",
    "ModbusTable",
    "ModbusType",
    "ModbusWrite",
    "modbus_config",
    "parse_modbus",
]

MODBUS_SOURCE: Final = "modbus"  # the [[points]] source of a point a Modbus read feeds
_UNIT_ID: Final = {"tcp": (0, 255), "rtu": (1, 247), "sim": (0, 255)}  # RTU: 0 is broadcast
_BUS_TYPES: Final = ("tcp", "rtu", "sim")  # sim: a device the outstation serves itself
_SIM_TABLE_SIZE: Final = 1000  # a served device's addresses 0..999 (hal/modbus_served.py)
_MAX_REGISTERS: Final = 125  # per read request (Modbus application protocol 6.3/6.4)
_MAX_BITS: Final = 2000  # per read request (6.1/6.2)
_TCP_KEYS: Final = ("host", "port")
_RTU_KEYS: Final = ("device", "baudrate", "parity", "bytesize", "stopbits")

BUS: Final = Table("[[modbus.buses]]", (
    string("name", required=True),
    # sim: the outstation serves the bus's devices itself (pymodbus's TCP server on 127.0.0.1,
    # a port chosen free at start, addresses 0..999 of each table): the bench, no hardware
    choice("type", ("tcp", "rtu", "sim"), required=True),
    string("host", "", doc="tcp: an IP address or host name"),
    integer("port", 502, 1, 0xFFFF),
    string("device", "", doc="rtu: a serial device path"),
    integer("baudrate", 9600, 50, 4_000_000),
    choice("parity", ("N", "E", "O"), "E"),  # the Modbus serial line default is even
    integer("bytesize", 8, 7, 8), integer("stopbits", 1, 1, 2),
    seconds("timeout", 1.0),  # to wait for an answer (and to connect)
    seconds("reconnect_delay", 1.0),  # first wait before a silent device / lost bus is retried
    number("reconnect_delay_max", 10.0, above=0.0),  # the wait doubles up to this
))
READ: Final = Table("[[modbus.devices.polls.reads]]", (
    string("point", required=True), choice("table", ("coil", "discrete", "holding", "input"),
                                           required=True),
    integer("address", lo=0, hi=0xFFFF, required=True),
    choice("type", ("int16", "uint16", "int32", "uint32", "float32"), "uint16"),
    choice("word_order", ("big", "little"), "big"), choice("byte_order", ("big", "little"), "big"),
    integer("bit", lo=0, hi=31), number("scale", 1.0), number("offset", 0.0),
))
POLL: Final = Table("[[modbus.devices.polls]]", (
    seconds("interval", required=True), tables("reads", READ, required=True),
))
DEVICE: Final = Table("[[modbus.devices]]", (
    string("name", required=True), string("bus", required=True),
    integer("unit_id", lo=0, hi=255, required=True),
    integer("max_registers", _MAX_REGISTERS, 1, _MAX_REGISTERS),
    integer("max_bits", _MAX_BITS, 1, _MAX_BITS),
    tables("polls", POLL, required=True),
))
WRITE: Final = Table("[[modbus.writes]]", (
    string("command", required=True, doc='a command point with target = "modbus"'),
    string("device", required=True, doc="the name of a [[modbus.devices]] entry"),
    choice("table", ("coil", "holding"), required=True),
    integer("address", lo=0, hi=0xFFFF, required=True),
    choice("type", ("int16", "uint16", "int32", "uint32", "float32"), "uint16"),
    choice("word_order", ("big", "little"), "big"), choice("byte_order", ("big", "little"), "big"),
    number("scale", 1.0), number("offset", 0.0),  # raw = (value - offset) / scale
    # holding: write single register (function 6, 16-bit types) or multiple (function 16)
    choice("function", ("single", "multiple"), "multiple"),
    boolean("verify", False),  # read the written value back; a difference fails the command
))
SECTION: Final = Table("[modbus]", (tables("buses", BUS), tables("devices", DEVICE),
                                    tables("writes", WRITE)))
MODBUS: Final = table("modbus", SECTION)


class ModbusTable(Enum):
    """The four Modbus data tables a read comes from."""

    COIL = "coil"  # read coils (function 1)
    DISCRETE = "discrete"  # read discrete inputs (function 2)
    HOLDING = "holding"  # read holding registers (function 3)
    INPUT = "input"  # read input registers (function 4)

    @property
    def is_bits(self) -> bool:
        return self.value in ("coil", "discrete")


class ModbusType(Enum):
    """How the register(s) of a read are decoded."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def words(self) -> int:
        """Registers the value takes."""
        return 1 if self.value.endswith("16") else 2


class Endian(Enum):
    BIG = "big"  # most significant first (the Modbus default)
    LITTLE = "little"  # least significant first (a "swapped" device)


# the point kinds a Modbus read can feed
_KINDS: Final = (PointKind.SINGLE, PointKind.BITSTRING, PointKind.SCALED,
                        PointKind.NORMALIZED, PointKind.FLOAT, PointKind.COUNTER,
                        PointKind.STEP)  # step: a tap position from an integer register


@frozen
class ModbusBusConfig:
    """A Modbus TCP connection or a serial (RTU) line; its devices are polled one at a time."""

    name: str
    type: str  # "tcp" | "rtu" | "sim" (served by the outstation itself)
    host: str = BUS.default("host")  # tcp
    port: int = BUS.default("port")  # tcp
    device: str = BUS.default("device")  # rtu: serial device path
    baudrate: int = BUS.default("baudrate")  # rtu
    parity: str = BUS.default("parity")  # rtu: "N" | "E" | "O"
    bytesize: int = BUS.default("bytesize")  # rtu
    stopbits: int = BUS.default("stopbits")  # rtu
    timeout: float = BUS.default("timeout")  # seconds to wait for an answer (and to connect)
    reconnect_delay: float = BUS.default("reconnect_delay")  # seconds
    reconnect_delay_max: float = BUS.default("reconnect_delay_max")


@frozen
class ModbusRead:
    """One point fed from a Modbus device: where its value is and how it is decoded."""

    point: str  # name of the [[points]] entry (its source is "modbus")
    table: ModbusTable
    address: int  # 0-based protocol address of the (first) register or bit
    type: ModbusType = ModbusType.UINT16  # registers only
    word_order: Endian = Endian.BIG  # 32-bit types: BIG = high word first
    byte_order: Endian = Endian.BIG  # within each register: BIG = high byte first
    bit: int | None = None  # registers only: single point from this bit (0 = least significant)
    scale: float = READ.default("scale")  # engineering value = raw * scale + offset
    offset: float = READ.default("offset")


@frozen
class ModbusPoll:
    interval: float  # seconds between polls of these reads
    reads: tuple[ModbusRead, ...]


@frozen
class ModbusDeviceConfig:
    name: str
    bus: str  # name of its ModbusBusConfig
    unit_id: int  # Modbus unit identifier (TCP) / server address (RTU); pymodbus: device_id
    polls: tuple[ModbusPoll, ...]
    max_registers: int = DEVICE.default("max_registers")  # most registers one request may read
    max_bits: int = DEVICE.default("max_bits")  # most coils / discrete inputs one request may read


@frozen
class ModbusWrite:
    """Where a command point's value goes on a Modbus device, and how it is encoded."""

    command: str  # the command point (target = "modbus")
    device: str  # its ModbusDeviceConfig
    table: ModbusTable  # COIL (single/double commands) or HOLDING (set-points, bitstrings)
    address: int
    type: ModbusType = ModbusType.UINT16  # holding only
    word_order: Endian = Endian.BIG
    byte_order: Endian = Endian.BIG
    scale: float = WRITE.default("scale")  # raw = (value - offset) / scale
    offset: float = WRITE.default("offset")
    function: str = WRITE.default("function")  # "single" (6) | "multiple" (16)
    verify: bool = WRITE.default("verify")


@frozen
class ModbusConfig:
    buses: tuple[ModbusBusConfig, ...] = ()
    devices: tuple[ModbusDeviceConfig, ...] = ()
    writes: tuple[ModbusWrite, ...] = ()


def parse_modbus(p: Reader, value: object, points: tuple[Point, ...], raw_points: object) -> ModbusConfig:
    """[modbus]: buses, devices, poll groups and the reads that feed points.

    A read names its point (``point = "..."``); that point must have ``source = "modbus"``,
    and every such point must be fed by exactly one read.
    """
    tbl = p.table(value, "modbus", SECTION.names, "[modbus]")
    buses = _buses(p, tbl.get("buses", MISSING))
    by_name = {p.name: p for p in points}
    # names of [[points]] tables, also of those with errors (they are reported already)
    raw_index = point_table_index(raw_points)
    fed: dict[str, str] = {}  # point name -> key path of the read that feeds it
    devices = _devices(p, tbl.get("devices", MISSING), buses, by_name, raw_index, fed)
    for point in points:
        if point.source == MODBUS_SOURCE and point.name not in fed:
            p.error(f"points[{raw_index.get(point.name, '?')}].source",
                       f"expected a [[modbus.devices.polls.reads]] entry with point = "
                       f"{point.name!r} for a point with source = \"modbus\", got none")
    commanded: set[str] = set()  # named by a write, also by one with errors (reported)
    writes = _writes(p, tbl.get("writes", MISSING), {d.name for d in devices}, by_name,
                     commanded)
    for point in points:
        if point.target == MODBUS_SOURCE and point.name not in commanded:
            p.error(f"points[{raw_index.get(point.name, '?')}].target",
                    f"expected a [[modbus.writes]] entry with command = {point.name!r}, got "
                    "none")
    _check_served(p, tbl, buses, devices, writes)
    return ModbusConfig(buses=tuple(buses.values()), devices=devices, writes=writes)


def _check_served(p: Reader, tbl: Mapping[str, object], buses: Mapping[str, ModbusBusConfig],
                  devices: tuple[ModbusDeviceConfig, ...],
                  writes: tuple[ModbusWrite, ...]) -> None:
    """A device the outstation serves itself (a "sim" bus) has addresses 0..999 only."""
    served = {d.name for d in devices if d.bus in buses and buses[d.bus].type == "sim"}
    if not served:
        return
    top = _SIM_TABLE_SIZE - 1
    raw_devices = tbl.get("devices")
    raw_writes = tbl.get("writes")

    def index(raw: object, key: str, name: str) -> str:
        if isinstance(raw, list):
            for i, item in enumerate(raw):
                if isinstance(item, Mapping) and item.get(key) == name:
                    return str(i)
        return "?"

    for device in devices:
        if device.name not in served:
            continue
        for poll in device.polls:
            for read in poll.reads:
                last = read.address + (1 if read.table.is_bits else read.type.words) - 1
                if last > top:
                    p.error(f"modbus.devices[{index(raw_devices, 'name', device.name)}]",
                            f"expected addresses 0..{top} on a device of a sim bus, got "
                            f"{read.address}..{last} for point {read.point!r}")
    for write in writes:
        last = write.address + (1 if write.table is ModbusTable.COIL else write.type.words) - 1
        if write.device in served and last > top:
            p.error(f"modbus.writes[{index(raw_writes, 'command', write.command)}].address",
                    f"expected addresses 0..{top} on a device of a sim bus, got "
                    f"{write.address}..{last}")

def _buses(p: Reader, value: object) -> dict[str, ModbusBusConfig]:
    buses: dict[str, ModbusBusConfig] = {}
    first: dict[str, int] = {}
    for i, path, tbl in BUS.entries(p, value, "modbus.buses"):
        errors_before = len(p.errors)
        name = p.name(tbl.get("name", MISSING), f"{path}.name")
        if name is not None:
            if name in first:
                # reported, but kept: a duplicate still names a bus for the devices' checks
                p.expected(f"{path}.name", "a unique bus name", name,
                              f"already used by modbus.buses[{first[name]}]")
            else:
                first[name] = i
        type_value = tbl.get("type", MISSING)
        bus_type: str | None = None
        if type_value is MISSING:
            p.missing(f"{path}.type", "'tcp', 'rtu' or 'sim'")
        else:
            bus_type = p.choice(type_value, f"{path}.type", _BUS_TYPES)
        if bus_type is not None:
            others = {"tcp": _RTU_KEYS, "rtu": _TCP_KEYS, "sim": _TCP_KEYS + _RTU_KEYS}
            for key in others[bus_type]:
                if key in tbl:
                    why = (f"{key} applies to {'tcp' if key in _TCP_KEYS else 'rtu'} "
                           "buses only" if bus_type != "sim" else "the outstation serves it "
                           "on 127.0.0.1 at a port chosen at start")
                    p.error(f"{path}.{key}", f"expected no {key} on a {bus_type} bus ({why}), "
                                             f"got {show(tbl[key])}")
        default = ModbusBusConfig(name="", type="tcp")
        host, port, device = default.host, default.port, default.device
        if bus_type == "tcp":
            host_value = tbl.get("host", MISSING)
            host_expected = "an IP address or host name such as 192.168.1.20"
            if host_value is MISSING:
                p.missing(f"{path}.host", host_expected)
            elif not isinstance(host_value, str) or not is_host(host_value):
                p.expected(f"{path}.host", host_expected, host_value)
            else:
                host = host_value
            port = BUS.key("port").read(p, tbl, path) or default.port
        elif bus_type == "rtu":
            device_value = tbl.get("device", MISSING)
            device_expected = "a serial device path such as /dev/ttyUSB0"
            if device_value is MISSING:
                p.missing(f"{path}.device", device_expected)
            elif not isinstance(device_value, str) or not device_value:
                p.expected(f"{path}.device", device_expected, device_value)
            else:
                device = device_value
        baudrate, parity, bytesize, stopbits, timeout = (
            BUS.key(key).read(p, tbl, path)
            for key in ("baudrate", "parity", "bytesize", "stopbits", "timeout"))
        delay, delay_max = p.reconnect_delays(tbl, path, default.reconnect_delay,
                                                 default.reconnect_delay_max)
        if (len(p.errors) > errors_before or name is None or bus_type is None
                or baudrate is None or parity is None or bytesize is None or stopbits is None
                or timeout is None or delay is None or delay_max is None):
            if name is not None and bus_type is not None and name not in buses:
                # keep its name and type for the devices' checks
                buses[name] = ModbusBusConfig(name=name, type=bus_type)
            continue
        buses[name] = ModbusBusConfig(
            name=name, type=bus_type, host=host, port=port, device=device, baudrate=baudrate,
            parity=parity, bytesize=bytesize, stopbits=stopbits, timeout=timeout,
            reconnect_delay=delay, reconnect_delay_max=delay_max,
        )
    return buses

def _devices(p: Reader, value: object, buses: dict[str, ModbusBusConfig],
                   points: dict[str, Point], raw_index: dict[str, int],
                   fed: dict[str, str]) -> tuple[ModbusDeviceConfig, ...]:
    devices: list[ModbusDeviceConfig] = []
    first: dict[str, int] = {}
    units: dict[tuple[str, int], int] = {}
    for i, path, tbl in DEVICE.entries(p, value, "modbus.devices"):
        errors_before = len(p.errors)
        name = p.unique_name(tbl, path, i, first, "device", "modbus.devices")
        bus_value = tbl.get("bus", MISSING)
        bus_expected = "the name of a [[modbus.buses]] entry"
        bus: ModbusBusConfig | None = None
        if bus_value is MISSING:
            p.missing(f"{path}.bus", bus_expected)
        elif not isinstance(bus_value, str) or bus_value not in buses:
            note = ("" if not isinstance(bus_value, str)
                    else "no such bus" if not buses
                    else f"buses: {', '.join(sorted(buses))}")
            p.expected(f"{path}.bus", bus_expected, bus_value, note)
        else:
            bus = buses[bus_value]
        lo, hi = _UNIT_ID[bus.type] if bus is not None else (0, 255)
        unit_expected = f"an integer {lo}..{hi}" + (f" ({bus.type} bus)" if bus else "")
        unit_value = tbl.get("unit_id", MISSING)
        unit_id: int | None = None
        if unit_value is MISSING:
            p.missing(f"{path}.unit_id", unit_expected)
        else:
            unit_id = p.integer(unit_value, f"{path}.unit_id", lo, hi, unit_expected)
        if bus is not None and unit_id is not None:
            other = units.setdefault((bus.name, unit_id), i)
            if other != i:
                p.expected(f"{path}.unit_id", f"a unit_id no other device on bus "
                              f"{bus.name!r} uses", unit_id,
                              f"already used by modbus.devices[{other}]")
        max_registers = DEVICE.key("max_registers").read(p, tbl, path)
        max_bits = DEVICE.key("max_bits").read(p, tbl, path)
        polls: list[ModbusPoll] = []
        spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]] = {}
        polls_value = tbl.get("polls", MISSING)
        poll_items = p.array_of_tables(polls_value, f"{path}.polls")
        if polls_value is MISSING or polls_value == []:
            p.error(f"{path}.polls", "expected at least one [[modbus.devices.polls]] "
                                        "table, got none")
        for j, poll_item in enumerate(poll_items):
            poll = _poll(p, poll_item, f"{path}.polls[{j}]", points, raw_index, fed,
                                    spans)
            if poll is not None:
                polls.append(poll)
        if (len(p.errors) > errors_before or name is None or bus is None or unit_id is None
                or max_registers is None or max_bits is None):
            continue
        devices.append(ModbusDeviceConfig(name=name, bus=bus.name, unit_id=unit_id,
                                          polls=tuple(polls), max_registers=max_registers,
                                          max_bits=max_bits))
    return tuple(devices)

def _poll(p: Reader, item: object, path: str, points: dict[str, Point],
                raw_index: dict[str, int], fed: dict[str, str],
                spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]],
                ) -> ModbusPoll | None:
    if not isinstance(item, Mapping):
        p.expected(path, "a table ([[modbus.devices.polls]])", item)
        return None
    tbl = p.table(item, path, POLL.names, "[[modbus.devices.polls]]")
    interval_value = tbl.get("interval", MISSING)
    interval: float | None = None
    if interval_value is MISSING:
        p.missing(f"{path}.interval", "a number of seconds > 0")
    else:
        interval = p.seconds(interval_value, f"{path}.interval")
    reads: list[ModbusRead] = []
    reads_value = tbl.get("reads", MISSING)
    read_items = p.array_of_tables(reads_value, f"{path}.reads")
    ok = bool(read_items)
    if reads_value is MISSING or reads_value == []:
        p.error(f"{path}.reads", "expected at least one [[modbus.devices.polls.reads]] "
                                    "table, got none")
    for k, read_item in enumerate(read_items):
        read = _read(p, read_item, f"{path}.reads[{k}]", points, raw_index, fed)
        if read is None:
            ok = False
            continue
        _overlap(p, read, f"{path}.reads[{k}]", spans)
        reads.append(read)
    if interval is None or not ok:
        return None
    return ModbusPoll(interval=interval, reads=tuple(reads))

def _read(p: Reader, item: object, path: str, points: dict[str, Point],
                raw_index: dict[str, int], fed: dict[str, str]) -> ModbusRead | None:
    if not isinstance(item, Mapping):
        p.expected(path, "a table ([[modbus.devices.polls.reads]])", item)
        return None
    tbl = p.table(item, path, READ.names, "[[modbus.devices.polls.reads]]")
    errors_before = len(p.errors)
    kinds = ", ".join(k.value for k in _KINDS)

    # point: the [[points]] entry this read feeds
    point: Point | None = None
    point_value = tbl.get("point", MISSING)
    point_expected = f"the name of a [[points]] entry with source = \"modbus\" ({kinds})"
    if point_value is MISSING:
        p.missing(f"{path}.point", point_expected)
    elif not isinstance(point_value, str):
        p.expected(f"{path}.point", point_expected, point_value)
    elif point_value not in points:
        if point_value not in raw_index:  # else the point has errors of its own
            hint = close_match(point_value, list(raw_index)) if raw_index else None
            p.expected(f"{path}.point", point_expected, point_value, "no such point" + (
                f"; did you mean {hint!r}?" if hint else ""))
    else:
        candidate = points[point_value]
        where = f"points[{raw_index.get(point_value, '?')}]"
        if candidate.kind not in _KINDS:
            p.expected(f"{path}.point", point_expected, point_value,
                          f"{where} is a {candidate.kind.value} point")
        elif candidate.source != MODBUS_SOURCE:
            p.expected(f"{path}.point", point_expected, point_value,
                          f"{where} has source = {candidate.source!r}")
        elif point_value in fed:
            p.expected(f"{path}.point", "a point no other read feeds", point_value,
                          f"already fed by {fed[point_value]}")
        else:
            point = candidate
            fed[point_value] = path
    kind = point.kind if point is not None else None

    # table and address
    table_value = tbl.get("table", MISSING)
    table_names = [t.value for t in ModbusTable]
    table: ModbusTable | None = None
    if table_value is MISSING:
        p.missing(f"{path}.table", one_of(table_names))
    else:
        choice = p.choice(table_value, f"{path}.table", table_names)
        table = None if choice is None else ModbusTable(choice)
    address_value = tbl.get("address", MISSING)
    address: int | None = None
    if address_value is MISSING:
        p.missing(f"{path}.address", "an integer 0..65535 (0-based protocol address)")
    else:
        address = p.integer(address_value, f"{path}.address", 0, 0xFFFF,
                               "an integer 0..65535 (0-based protocol address)")
    if table is None:
        return None

    def not_for(key: str, what: str, applies_to: str) -> None:
        p.error(f"{path}.{key}", f"expected no {key} {what} ({key} applies to "
                                    f"{applies_to} only), got {show(tbl[key])}")

    if table.is_bits:
        for key in ("type", "word_order", "byte_order", "bit", "scale", "offset"):
            if key in tbl:
                not_for(key, f"on a {table.value} read", "holding and input registers")
        if kind is not None and kind is not PointKind.SINGLE:
            p.expected(f"{path}.table", f"'holding' or 'input' for a {kind.value} point",
                          table_value, "coils and discrete inputs feed single points only")
        if len(p.errors) > errors_before or point is None or address is None:
            return None
        return ModbusRead(point=point.name, table=table, address=address)

    # registers: type, orders, bit, scale and offset
    type_choice = p.choice(tbl.get("type", ModbusType.UINT16.value), f"{path}.type",
                              [t.value for t in ModbusType])
    mtype = None if type_choice is None else ModbusType(type_choice)
    word_order: Endian | None = Endian.BIG
    if "word_order" in tbl:
        if mtype is not None and mtype.words == 1:
            not_for("word_order", f"on a {mtype.value} read", "int32, uint32 and float32")
            word_order = None
        else:
            word_choice = p.choice(tbl["word_order"], f"{path}.word_order",
                                      ("big", "little"))
            word_order = None if word_choice is None else Endian(word_choice)
    byte_choice = p.choice(tbl.get("byte_order", "big"), f"{path}.byte_order",
                              ("big", "little"))
    byte_order = None if byte_choice is None else Endian(byte_choice)
    if address is not None and mtype is not None and address + mtype.words - 1 > 0xFFFF:
        p.expected(f"{path}.address",
                      f"an integer 0..{0x10000 - mtype.words} ({mtype.value} takes "
                      f"{mtype.words} registers)", address)
    bit: int | None = None
    if "bit" in tbl:
        if kind is not None and kind is not PointKind.SINGLE:
            not_for("bit", f"for a {kind.value} point", "single points")
        elif mtype is ModbusType.FLOAT32:
            not_for("bit", "on a float32 read", "int16, uint16, int32 and uint32")
        else:
            top = 16 * (mtype.words if mtype is not None else 2) - 1
            bit = p.integer(tbl["bit"], f"{path}.bit", 0, top,
                               f"an integer 0..{top} (0 = least significant bit)")
    elif kind is PointKind.SINGLE:
        p.missing(f"{path}.bit", "an integer 0..15: a single point read from a register "
                                    "takes one of its bits")
    if kind in (PointKind.BITSTRING, PointKind.STEP) and mtype is ModbusType.FLOAT32:
        p.expected(f"{path}.type", "'int16', 'uint16', 'int32' or 'uint32' for a "
                                      f"{kind.value} point", type_choice)
    numeric = kind is None or (kind.is_analog or kind is PointKind.COUNTER)
    factors: dict[str, float | None] = {"scale": 1.0, "offset": 0.0}
    for key in ("scale", "offset"):
        if key not in tbl:
            continue
        if not numeric:
            assert kind is not None
            not_for(key, f"for a {kind.value} point",
                    "analog (normalized, scaled, float) and counter points")
            continue
        factors[key] = p.number(tbl[key], f"{path}.{key}", "a finite number")
    if factors["scale"] == 0.0:
        p.expected(f"{path}.scale", "a finite number other than 0", tbl["scale"])
    scale, offset = factors["scale"], factors["offset"]
    if (len(p.errors) > errors_before or point is None or address is None or mtype is None
            or word_order is None or byte_order is None or scale is None or offset is None):
        return None
    return ModbusRead(point=point.name, table=table, address=address, type=mtype,
                      word_order=word_order, byte_order=byte_order, bit=bit, scale=scale,
                      offset=offset)

def _overlap(p: Reader, read: ModbusRead, path: str,
                   spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]]) -> None:
    """Registers of one device read as two different values are a configuration mistake
    (e.g. a float32 at 10 and another at 11); the same value read again, or other bits of
    one register, are fine."""
    if read.table.is_bits:
        return
    for register in range(read.address, read.address + read.type.words):
        other = spans.setdefault((read.table, register), (read, path))
        other_read, other_path = other
        if other_path == path:
            continue
        if (other_read.address, other_read.type, other_read.word_order,
                other_read.byte_order) != (read.address, read.type, read.word_order,
                                           read.byte_order):
            last = read.address + read.type.words - 1
            p.error(f"{path}.address",
                       f"expected {read.table.value} registers no other read decodes "
                       f"differently, got {read.address}..{last} as {read.type.value} "
                       f"(register {register} is also read by {other_path} as "
                       f"{other_read.type.value} at {other_read.address})")
            return


def modbus_config(config: AppConfig) -> ModbusConfig:
    """The [modbus] section of ``config`` as its parser read it (empty when absent)."""
    found = config.section(MODBUS_SOURCE)
    return found if isinstance(found, ModbusConfig) else ModbusConfig()


def modbus_serial_ports(section: object) -> list[tuple[str, str]]:
    """The serial devices the [modbus] buses open: (key path, device)."""
    if not isinstance(section, ModbusConfig):
        return []
    return [(f"modbus.buses[{i}].device", bus.device)
            for i, bus in enumerate(section.buses) if bus.type == "rtu" and bus.device]


# what each table can take: coils single/double commands; holding registers set-points and
# bitstrings (rtu check refuses a command point whose target cannot execute its kind)
WRITE_KINDS: Final = {
    ModbusTable.COIL: frozenset({PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND}),
    ModbusTable.HOLDING: frozenset({PointKind.SETPOINT_NORMALIZED, PointKind.SETPOINT_SCALED,
                                    PointKind.SETPOINT_FLOAT, PointKind.BITSTRING_COMMAND}),
}


def _writes(p: Reader, value: object, devices: set[str], points: Mapping[str, Point],
            named: set[str]) -> tuple[ModbusWrite, ...]:
    writes: list[ModbusWrite] = []
    commands: dict[str, str] = {}
    for i, item in enumerate(p.array_of_tables(value, "modbus.writes")):
        path = f"modbus.writes[{i}]"
        tbl = WRITE.open(p, item, path)
        errors = len(p.errors)
        command, device, table_name, address, type_name, words, bytes_, scale, offset, \
            function, verify = (WRITE.key(k).read(p, tbl, path) for k in WRITE.names)
        point = points.get(command) if isinstance(command, str) else None
        if isinstance(command, str):
            named.add(command)
            if point is None or point.target != MODBUS_SOURCE:
                p.expected(f"{path}.command", 'a command point with target = "modbus"', command)
            elif command in commands:
                p.expected(f"{path}.command", "a command point of one write only", command,
                           f"already written by {commands[command]}")
            commands.setdefault(command, path)
        if isinstance(device, str) and device not in devices:
            p.expected(f"{path}.device", "the name of a [[modbus.devices]] entry", device)
        table = ModbusTable(table_name) if isinstance(table_name, str) else None
        if point is not None and point.target == MODBUS_SOURCE and table is not None \
                and point.kind not in WRITE_KINDS[table]:
            p.expected(f"{path}.table", "coil for single and double commands, holding for "
                       "set-points and bitstrings", table_name,
                       f"{command} is a {point.kind.value} point")
        kind = ModbusType(type_name) if isinstance(type_name, str) else None
        if table is ModbusTable.HOLDING and kind is not None and kind.words == 2 \
                and function == "single":
            p.expected(f"{path}.function", '"multiple" for a 32-bit type', function,
                       "write single register takes one register")
        if scale == 0:
            p.expected(f"{path}.scale", "a number other than 0", tbl.get("scale"))
        if (len(p.errors) > errors or point is None or table is None or kind is None
                or not isinstance(device, str) or None in (address, words, bytes_, scale,
                                                           offset, function, verify)):
            continue
        writes.append(ModbusWrite(
            command=point.name, device=device, table=table, address=address, type=kind,
            word_order=Endian(words), byte_order=Endian(bytes_), scale=float(scale),
            offset=float(offset), function=function, verify=verify))
    return tuple(writes)
