"""The ``[iec61850]`` section: IEC 61850 devices read over MMS (rtu/sources/iec61850.py).

Kept apart from rtu/config.py (which calls :func:`parse_iec61850` with its parser) so that the
section's schema, dataclasses and checks live in one place. Every error names the key path,
like the rest of the configuration::

    [[iec61850.devices]]                 name, host, port, timeouts, backoff, periods
    [[iec61850.devices.reports]]         rcb = "LD/LLN0.brcbA01", buffered = true
    [[iec61850.devices.points]]          point, reference = "LD/MMXU1.TotW.mag.f", fc = "MX"
    [[iec61850.devices.controls]]        point (a command), object = "LD/XCBR1.Pos"

A monitored point fed by a device has ``source = "iec61850"``; a command point forwarded to a
device's control object has ``target = "iec61850"``. Each such point is mapped exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from rtu.points.model import Point, PointKind

if TYPE_CHECKING:
    from rtu.config import _Parser

IEC61850: Final = "iec61850"  # [[points]] source of a fed point / target of a forwarded command
SECTION_KEYS: Final = ("devices",)
DEVICE_KEYS: Final = (
    "name", "host", "port", "timeout", "reconnect_delay", "reconnect_delay_max", "poll_interval",
    "integrity_period", "command_timeout", "reports", "points", "controls",
)
REPORT_KEYS: Final = ("rcb", "buffered")
READ_KEYS: Final = ("point", "reference", "fc", "scale", "offset")
CONTROL_KEYS: Final = ("point", "object")
# functional constraints a monitored value may be read under (IEC 61850-7-2 Table 18)
READ_FCS: Final = ("ST", "MX", "CF", "SP", "SV", "DC", "EX", "BL", "SG", "SE")
READ_KINDS: Final = (PointKind.SINGLE, PointKind.DOUBLE, PointKind.STEP, PointKind.BITSTRING,
                     PointKind.NORMALIZED, PointKind.SCALED, PointKind.FLOAT, PointKind.COUNTER)
CONTROL_KINDS: Final = (PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND)

_IDENT: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_LD: Final = r"[A-Za-z0-9_]+"
# LD/LN.DO[.DA...]: a data attribute (or data object) reference without its FC
_REFERENCE_RE: Final = re.compile(rf"{_LD}/{_IDENT}(\.{_IDENT})+")
_REFERENCE_EXPECTED: Final = "an object reference LD/LN.DO.DA such as 'LD0/MMXU1.TotW.mag.f'"
# LD/LN.DO: a controllable data object
_OBJECT_RE: Final = re.compile(rf"{_LD}/{_IDENT}\.{_IDENT}")
_OBJECT_EXPECTED: Final = "a control object reference LD/LN.DO such as 'LD0/XCBR1.Pos'"
# LD/LN.RCB: a report control block (its BR/RP part follows from `buffered`)
_RCB_RE: Final = re.compile(rf"{_LD}/{_IDENT}\.{_IDENT}")
_RCB_EXPECTED: Final = "a report control block reference LD/LN.NAME such as 'LD0/LLN0.brcbA01'"


@dataclass(frozen=True, slots=True)
class Iec61850Read:
    """One monitored point fed from a data attribute of a device."""

    point: str  # name of the [[points]] entry (its source is "iec61850")
    reference: str  # LD/LN.DO.DA without FC, e.g. "LD0/MMXU1.TotW.mag.f"
    fc: str  # functional constraint: ST, MX, ...
    scale: float = 1.0  # numeric values: engineering value = raw * scale + offset
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class Iec61850Report:
    """A report control block the source enables on the device."""

    rcb: str  # LD/LN.NAME, e.g. "LD0/LLN0.brcbA01"
    buffered: bool  # True: a BRCB (LN$BR$NAME), False: a URCB (LN$RP$NAME)


@dataclass(frozen=True, slots=True)
class Iec61850Control:
    """A command point forwarded to a controllable data object (SPC, DPC)."""

    point: str  # name of the [[points]] command entry (its target is "iec61850")
    object: str  # LD/LN.DO, e.g. "LD0/XCBR1.Pos"


@dataclass(frozen=True, slots=True)
class Iec61850DeviceConfig:
    name: str
    host: str
    port: int = 102
    timeout: float = 5.0  # seconds to connect, associate and wait for each answer
    reconnect_delay: float = 1.0  # first wait after a failed or lost association
    reconnect_delay_max: float = 30.0  # the wait doubles up to this
    poll_interval: float = 0.0  # seconds between reads of the points; 0 = only at (re)connect
    integrity_period: float = 0.0  # IntgPd written to the RCBs, seconds; 0 = leave it as is
    command_timeout: float = 10.0  # seconds to wait for a CommandTermination (enhanced security)
    reports: tuple[Iec61850Report, ...] = ()
    points: tuple[Iec61850Read, ...] = ()
    controls: tuple[Iec61850Control, ...] = ()


@dataclass(frozen=True, slots=True)
class Iec61850Config:
    devices: tuple[Iec61850DeviceConfig, ...] = ()



def _required_match(parser: _Parser, tbl: Mapping[Any, Any], key: str, at: str,
                    pattern: re.Pattern[str], expected: str) -> str | None:
    """The required string ``key`` of ``tbl`` if it matches ``pattern``; else reported."""
    from rtu.config import parser as c  # rtu.config imports this module: resolve at call time

    value = tbl.get(key, c._MISSING)
    if value is c._MISSING:
        parser.missing(f"{at}.{key}", expected)
    elif not isinstance(value, str) or not pattern.fullmatch(value):
        parser.expected(f"{at}.{key}", expected, value)
    else:
        return value
    return None

def parse_iec61850(parser: _Parser, value: object, points: tuple[Point, ...],
                   raw_points: object) -> Iec61850Config:
    """[iec61850]: validate the section with ``parser`` (its errors name every key path)."""
    from rtu.config import parser as c  # rtu.config imports this module: resolve at call time

    tbl = parser.table(value, IEC61850, SECTION_KEYS, "[iec61850]")
    by_name = {p.name: p for p in points}
    raw_index = c.point_table_index(raw_points)
    fed: dict[str, str] = {}  # point name -> key path of what maps it
    devices: list[Iec61850DeviceConfig] = []
    first: dict[str, int] = {}
    for i, item in enumerate(parser.array_of_tables(tbl.get("devices", c._MISSING),
                                                    "iec61850.devices")):
        path = f"iec61850.devices[{i}]"
        if not isinstance(item, Mapping):
            parser.expected(path, "a table ([[iec61850.devices]])", item)
            continue
        device = _device(parser, item, path, by_name, fed)
        if device is None:
            continue
        if device.name in first:
            parser.expected(f"{path}.name", "a unique device name", device.name,
                            f"already used by iec61850.devices[{first[device.name]}]")
            continue
        first[device.name] = i
        devices.append(device)
    for point in points:
        if point.name in fed:
            continue
        where = f"points[{raw_index.get(point.name, '?')}]"
        if point.source == IEC61850:
            parser.error(f"{where}.source",
                         f"expected a [[iec61850.devices.points]] entry with point = "
                         f"{point.name!r} for a point with source = \"iec61850\", got none")
        elif point.kind.is_command and point.target == IEC61850:
            parser.error(f"{where}.target",
                         f"expected a [[iec61850.devices.controls]] entry with point = "
                         f"{point.name!r} for a command with target = \"iec61850\", got none")
    return Iec61850Config(devices=tuple(devices))


def _device(parser: _Parser, item: Mapping[Any, Any], path: str, points: dict[str, Point],
            fed: dict[str, str]) -> Iec61850DeviceConfig | None:
    from rtu.config import parser as c

    tbl = parser.table(item, path, DEVICE_KEYS, "[[iec61850.devices]]")
    before = len(parser.errors)
    default = Iec61850DeviceConfig(name="", host="")
    name = parser.name(tbl.get("name", c._MISSING), f"{path}.name")
    host_value = tbl.get("host", c._MISSING)
    host_expected = "an IP address or host name such as 192.168.1.30"
    host = ""
    if host_value is c._MISSING:
        parser.missing(f"{path}.host", host_expected)
    elif not isinstance(host_value, str) or not c._is_host(host_value):
        parser.expected(f"{path}.host", host_expected, host_value)
    else:
        host = host_value
    port = parser.integer(tbl.get("port", default.port), f"{path}.port", 1, 0xFFFF)
    timeout = parser.seconds(tbl.get("timeout", default.timeout), f"{path}.timeout")
    delay, delay_max = parser.reconnect_delays(tbl, path, default.reconnect_delay,
                                               default.reconnect_delay_max)
    zero_or_seconds = "a number of seconds >= 0 (0: off)"
    poll = parser.number(tbl.get("poll_interval", default.poll_interval),
                         f"{path}.poll_interval", zero_or_seconds, at_least=0.0)
    integrity = parser.number(tbl.get("integrity_period", default.integrity_period),
                              f"{path}.integrity_period", zero_or_seconds, at_least=0.0,
                              at_most=4294967.0)
    command_timeout = parser.seconds(tbl.get("command_timeout", default.command_timeout),
                                     f"{path}.command_timeout")
    reports = _reports(parser, tbl.get("reports", c._MISSING), f"{path}.reports")
    reads = _reads(parser, tbl.get("points", c._MISSING), f"{path}.points", points, fed)
    controls = _controls(parser, tbl.get("controls", c._MISSING), f"{path}.controls", points,
                         fed)
    if (len(parser.errors) > before or name is None or port is None or timeout is None
            or delay is None or delay_max is None or poll is None or integrity is None
            or command_timeout is None):
        return None
    return Iec61850DeviceConfig(
        name=name, host=host, port=port, timeout=timeout, reconnect_delay=delay,
        reconnect_delay_max=delay_max, poll_interval=poll, integrity_period=integrity,
        command_timeout=command_timeout, reports=reports, points=reads, controls=controls)


def _reports(parser: _Parser, value: object, path: str) -> tuple[Iec61850Report, ...]:
    from rtu.config import parser as c

    reports: list[Iec61850Report] = []
    seen: dict[tuple[str, bool], int] = {}
    for j, item in enumerate(parser.array_of_tables(value, "iec61850.devices.reports")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            parser.expected(at, "a table ([[iec61850.devices.reports]])", item)
            continue
        tbl = parser.table(item, at, REPORT_KEYS, "[[iec61850.devices.reports]]")
        rcb = _required_match(parser, tbl, "rcb", at, _RCB_RE, _RCB_EXPECTED)
        buffered_value = tbl.get("buffered", c._MISSING)
        buffered: bool | None = None
        if buffered_value is c._MISSING:
            parser.missing(f"{at}.buffered", "true (a BRCB) or false (a URCB)")
        else:
            buffered = parser.boolean(buffered_value, f"{at}.buffered")
        if rcb is None or buffered is None:
            continue
        if (rcb, buffered) in seen:
            parser.expected(f"{at}.rcb", "a report control block not listed before", rcb,
                            f"already listed as {path}[{seen[rcb, buffered]}]")
            continue
        seen[rcb, buffered] = j
        reports.append(Iec61850Report(rcb=rcb, buffered=buffered))
    return tuple(reports)


def _mapped_point(parser: _Parser, tbl: Mapping[Any, Any], at: str, points: dict[str, Point],
                  fed: dict[str, str], kinds: tuple[PointKind, ...], what: str) -> str | None:
    from rtu.config import parser as c

    kind_names = ", ".join(k.value for k in kinds)
    expected = f"the name of a [[points]] entry with {what} ({kind_names})"
    value = tbl.get("point", c._MISSING)
    if value is c._MISSING:
        parser.missing(f"{at}.point", expected)
        return None
    point = points.get(value) if isinstance(value, str) else None
    if point is None:
        parser.expected(f"{at}.point", expected, value, "no such point" if isinstance(value, str)
                        else "")
        return None
    mapped = (point.source == IEC61850 if not point.kind.is_command
              else point.target == IEC61850)
    if not mapped or point.kind not in kinds:
        parser.expected(f"{at}.point", expected, value,
                        f"it is a {point.kind.value} point"
                        + ("" if mapped else f" without {what}"))
        return None
    if point.name in fed:
        parser.expected(f"{at}.point", "a point not mapped before", value,
                        f"already mapped by {fed[point.name]}")
        return None
    fed[point.name] = at
    return point.name


def _reads(parser: _Parser, value: object, path: str, points: dict[str, Point],
           fed: dict[str, str]) -> tuple[Iec61850Read, ...]:
    from rtu.config import parser as c

    reads: list[Iec61850Read] = []
    for j, item in enumerate(parser.array_of_tables(value, "iec61850.devices.points")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            parser.expected(at, "a table ([[iec61850.devices.points]])", item)
            continue
        tbl = parser.table(item, at, READ_KEYS, "[[iec61850.devices.points]]")
        point = _mapped_point(parser, tbl, at, points, fed, READ_KINDS, 'source = "iec61850"')
        reference = _required_match(parser, tbl, "reference", at, _REFERENCE_RE,
                                    _REFERENCE_EXPECTED)
        fc_value = tbl.get("fc", c._MISSING)
        fc: str | None = None
        if fc_value is c._MISSING:
            parser.missing(f"{at}.fc", c._one_of(READ_FCS))
        else:
            fc = parser.choice(fc_value, f"{at}.fc", READ_FCS, fold_case=True)
        scale = parser.number(tbl.get("scale", 1.0), f"{at}.scale", "a number")
        offset = parser.number(tbl.get("offset", 0.0), f"{at}.offset", "a number")
        if (point is None or reference is None or fc is None or scale is None
                or offset is None):
            continue
        reads.append(Iec61850Read(point=point, reference=reference, fc=fc, scale=scale,
                                  offset=offset))
    return tuple(reads)


def _controls(parser: _Parser, value: object, path: str, points: dict[str, Point],
              fed: dict[str, str]) -> tuple[Iec61850Control, ...]:
    from rtu.config import parser as c

    controls: list[Iec61850Control] = []
    for j, item in enumerate(parser.array_of_tables(value, "iec61850.devices.controls")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            parser.expected(at, "a table ([[iec61850.devices.controls]])", item)
            continue
        tbl = parser.table(item, at, CONTROL_KEYS, "[[iec61850.devices.controls]]")
        point = _mapped_point(parser, tbl, at, points, fed, CONTROL_KINDS,
                              'target = "iec61850"')
        object_value = tbl.get("object", c._MISSING)
        obj: str | None = None
        if object_value is c._MISSING:
            parser.missing(f"{at}.object", _OBJECT_EXPECTED)
        elif not isinstance(object_value, str) or not _OBJECT_RE.fullmatch(object_value):
            parser.expected(f"{at}.object", _OBJECT_EXPECTED, object_value)
        else:
            obj = object_value
        if point is None or obj is None:
            continue
        controls.append(Iec61850Control(point=point, object=obj))
    return tuple(controls)
