"""The ``[iec61850]`` section: IEC 61850 devices read over MMS (source.py).

The section's keys are declared once (:data:`SECTION`, also the dataclasses' defaults); its
checks run with the document's Reader, so every error names the key path like the rest of
the configuration::

    [[iec61850.devices]]                 name, host, port, timeouts, backoff, periods
    [[iec61850.devices.reports]]         rcb = "LD/LLN0.brcbA01", buffered = true
    [[iec61850.devices.points]]          point, reference = "LD/MMXU1.TotW.mag.f", fc = "MX"
    [[iec61850.devices.controls]]        point (a command), object = "LD/XCBR1.Pos"
                                         (a set-point: object = "LD/GGIO1.AnOut1", scale, offset)

A monitored point fed by a device has ``source = "iec61850"``; a command point forwarded to a
device's control object has ``target = "iec61850"``. Each such point is mapped exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from rtu.config.reader import MISSING, Reader, is_host, one_of, point_table_index
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
from rtu.sources.entries import claim

if TYPE_CHECKING:
    from rtu.config import AppConfig

IEC61850: Final = "iec61850"  # [[points]] source of a fed point / target of a forwarded command
# functional constraints a monitored value may be read under (IEC 61850-7-2 Table 18)
READ_FCS: Final = ("ST", "MX", "CF", "SP", "SV", "DC", "EX", "BL", "SG", "SE")
READ_KINDS: Final = (PointKind.SINGLE, PointKind.DOUBLE, PointKind.STEP, PointKind.BITSTRING,
                     PointKind.NORMALIZED, PointKind.SCALED, PointKind.FLOAT, PointKind.COUNTER)
BINARY_CONTROL_KINDS: Final = (PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND)
# set-points go to an analogue control (APC: ctlVal an AnalogueValue)
SETPOINT_KINDS: Final = (PointKind.SETPOINT_NORMALIZED, PointKind.SETPOINT_SCALED,
                         PointKind.SETPOINT_FLOAT)
CONTROL_KINDS: Final = BINARY_CONTROL_KINDS + SETPOINT_KINDS
# Data object names (IEC 61850-7-4, instance digits stripped) whose common data class is known
# from the name alone: what `rtu check` can tell about a control object without the device.
BINARY_CONTROL_NAMES: Final = frozenset({
    "Pos", "BlkOpn", "BlkCls", "SPCSO", "DPCSO", "CmdBlk"})
ANALOGUE_CONTROL_NAMES: Final = frozenset({"AnOut"})

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

REPORT: Final = Table("[[iec61850.devices.reports]]", (
    string("rcb", required=True, doc=_RCB_EXPECTED),
    boolean("buffered", required=True),  # true: a BRCB, false: a URCB
))
READ: Final = Table("[[iec61850.devices.points]]", (
    string("point", required=True), string("reference", required=True, doc=_REFERENCE_EXPECTED),
    choice("fc", READ_FCS, required=True),
    number("scale", 1.0), number("offset", 0.0),  # engineering value = raw * scale + offset
))
CONTROL: Final = Table("[[iec61850.devices.controls]]", (
    string("point", required=True), string("object", required=True, doc=_OBJECT_EXPECTED),
    # set-points only: ctlVal = (value - offset) / scale
    number("scale", 1.0), number("offset", 0.0),
))
_OFF_OR_SECONDS: Final = "a number of seconds >= 0 (0: off)"
DEVICE: Final = Table("[[iec61850.devices]]", (
    string("name", required=True), string("host", required=True),
    integer("port", 102, 1, 0xFFFF),
    seconds("timeout", 5.0),  # to connect, associate and wait for each answer
    seconds("reconnect_delay", 1.0),  # first wait after a failed or lost association
    number("reconnect_delay_max", 30.0, above=0.0),  # the wait doubles up to this
    # seconds between reads of the points; 0 = only at (re)connect
    number("poll_interval", 0.0, at_least=0.0, doc=_OFF_OR_SECONDS),
    # IntgPd written to the RCBs, seconds; 0 = leave it as is
    number("integrity_period", 0.0, at_least=0.0, at_most=4294967.0, doc=_OFF_OR_SECONDS),
    seconds("command_timeout", 10.0),  # to wait for a CommandTermination (enhanced security)
    tables("reports", REPORT), tables("points", READ), tables("controls", CONTROL),
    integer("common_address", 0, 0, 0xFFFE,
            doc="the logical station of every point the device feeds (0: the points' own)"),
))
SECTION: Final = Table("[iec61850]", (tables("devices", DEVICE),))
IEC61850_SECTION: Final = table(IEC61850, SECTION)



@frozen
class Iec61850Read:
    """One monitored point fed from a data attribute of a device."""

    point: str  # name of the [[points]] entry (its source is "iec61850")
    reference: str  # LD/LN.DO.DA without FC, e.g. "LD0/MMXU1.TotW.mag.f"
    fc: str  # functional constraint: ST, MX, ...
    scale: float = READ.default("scale")  # numeric: engineering value = raw * scale + offset
    offset: float = READ.default("offset")


@frozen
class Iec61850Report:
    """A report control block the source enables on the device."""

    rcb: str  # LD/LN.NAME, e.g. "LD0/LLN0.brcbA01"
    buffered: bool  # True: a BRCB (LN$BR$NAME), False: a URCB (LN$RP$NAME)


@frozen
class Iec61850Control:
    """A command point forwarded to a controllable data object (SPC, DPC; APC for set-points)."""

    point: str  # name of the [[points]] command entry (its target is "iec61850")
    object: str  # LD/LN.DO, e.g. "LD0/XCBR1.Pos"
    scale: float = CONTROL.default("scale")  # set-points: ctlVal = (value - offset) / scale
    offset: float = CONTROL.default("offset")


@frozen
class Iec61850DeviceConfig:
    name: str
    host: str
    port: int = DEVICE.default("port")
    timeout: float = DEVICE.default("timeout")  # seconds to connect, associate and wait for each answer
    reconnect_delay: float = DEVICE.default("reconnect_delay")  # first wait after a failed or lost association
    reconnect_delay_max: float = DEVICE.default("reconnect_delay_max")  # the wait doubles up to this
    poll_interval: float = DEVICE.default("poll_interval")  # seconds between reads of the points; 0 = only at (re)connect
    integrity_period: float = DEVICE.default("integrity_period")  # IntgPd written to the RCBs, seconds; 0 = leave it as is
    command_timeout: float = DEVICE.default("command_timeout")  # seconds to wait for a CommandTermination (enhanced security)
    reports: tuple[Iec61850Report, ...] = ()
    points: tuple[Iec61850Read, ...] = ()
    controls: tuple[Iec61850Control, ...] = ()
    common_address: int = 0  # the logical station of its points (0: the points' own)

    def point_names(self) -> tuple[str, ...]:
        """Every [[points]] entry this device feeds or takes commands for."""
        return tuple(r.point for r in self.points) + tuple(c.point for c in self.controls)


@frozen
class Iec61850Config:
    devices: tuple[Iec61850DeviceConfig, ...] = ()

    def logical_stations(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(config path, common address, point names) of each device with its own common
        address (0: the station's); the configuration gives those points that address."""
        return [(f"{IEC61850}.devices[{i}]", d.common_address, d.point_names())
                for i, d in enumerate(self.devices)]



def _required_match(p: Reader, tbl: Mapping[Any, Any], key: str, at: str,
                    pattern: re.Pattern[str], expected: str) -> str | None:
    """The required string ``key`` of ``tbl`` if it matches ``pattern``; else reported."""
    value = tbl.get(key, MISSING)
    if value is MISSING:
        p.missing(f"{at}.{key}", expected)
    elif not isinstance(value, str) or not pattern.fullmatch(value):
        p.expected(f"{at}.{key}", expected, value)
    else:
        return value
    return None

def parse_iec61850(p: Reader, value: object, points: tuple[Point, ...],
                   raw_points: object) -> Iec61850Config:
    """[iec61850]: validate the section with ``parser`` (its errors name every key path)."""
    tbl = SECTION.open(p, value, IEC61850)
    by_name = {p.name: p for p in points}
    raw_index = point_table_index(raw_points)
    fed: dict[str, str] = {}  # point name -> key path of what maps it
    devices: list[Iec61850DeviceConfig] = []
    first: dict[str, int] = {}
    for i, item in enumerate(p.array_of_tables(tbl.get("devices", MISSING),
                                                    "iec61850.devices")):
        path = f"iec61850.devices[{i}]"
        if not isinstance(item, Mapping):
            p.expected(path, "a table ([[iec61850.devices]])", item)
            continue
        device = _device(p, item, path, by_name, fed)
        if device is None:
            continue
        if device.name in first:
            p.expected(f"{path}.name", "a unique device name", device.name,
                            f"already used by iec61850.devices[{first[device.name]}]")
            continue
        first[device.name] = i
        devices.append(device)
    for point in points:
        if point.name in fed:
            continue
        where = f"points[{raw_index.get(point.name, '?')}]"
        if point.source == IEC61850:
            p.error(f"{where}.source",
                         f"expected a [[iec61850.devices.points]] entry with point = "
                         f"{point.name!r} for a point with source = \"iec61850\", got none")
        elif point.kind.is_command and point.target == IEC61850:
            p.error(f"{where}.target",
                         f"expected a [[iec61850.devices.controls]] entry with point = "
                         f"{point.name!r} for a command with target = \"iec61850\", got none")
    return Iec61850Config(devices=tuple(devices))


def _device(p: Reader, item: Mapping[Any, Any], path: str, points: dict[str, Point],
            fed: dict[str, str]) -> Iec61850DeviceConfig | None:
    tbl = p.table(item, path, DEVICE.names, "[[iec61850.devices]]")
    before = len(p.errors)
    default = Iec61850DeviceConfig(name="", host="")
    name = p.name(tbl.get("name", MISSING), f"{path}.name")
    host_value = tbl.get("host", MISSING)
    host_expected = "an IP address or host name such as 192.168.1.30"
    host = ""
    if host_value is MISSING:
        p.missing(f"{path}.host", host_expected)
    elif not isinstance(host_value, str) or not is_host(host_value):
        p.expected(f"{path}.host", host_expected, host_value)
    else:
        host = host_value
    port, timeout = (DEVICE.key(key).read(p, tbl, path) for key in ("port", "timeout"))
    delay, delay_max = p.reconnect_delays(tbl, path, default.reconnect_delay,
                                               default.reconnect_delay_max)
    poll, integrity, command_timeout = (
        DEVICE.key(key).read(p, tbl, path)
        for key in ("poll_interval", "integrity_period", "command_timeout"))
    reports = _reports(p, tbl.get("reports", MISSING), f"{path}.reports")
    reads = _reads(p, tbl.get("points", MISSING), f"{path}.points", points, fed)
    controls = _controls(p, tbl.get("controls", MISSING), f"{path}.controls", points,
                         fed, [(r, points[r.point].kind) for r in reads])
    common_address = DEVICE.key("common_address").read(p, tbl, path)
    if (len(p.errors) > before or name is None or port is None or timeout is None
            or delay is None or delay_max is None or poll is None or integrity is None
            or command_timeout is None or common_address is None):
        return None
    return Iec61850DeviceConfig(
        name=name, host=host, port=port, timeout=timeout, reconnect_delay=delay,
        reconnect_delay_max=delay_max, poll_interval=poll, integrity_period=integrity,
        command_timeout=command_timeout, reports=reports, points=reads, controls=controls,
        common_address=common_address)


def _reports(p: Reader, value: object, path: str) -> tuple[Iec61850Report, ...]:
    reports: list[Iec61850Report] = []
    seen: dict[tuple[str, bool], int] = {}
    for j, item in enumerate(p.array_of_tables(value, "iec61850.devices.reports")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            p.expected(at, "a table ([[iec61850.devices.reports]])", item)
            continue
        tbl = p.table(item, at, REPORT.names, "[[iec61850.devices.reports]]")
        rcb = _required_match(p, tbl, "rcb", at, _RCB_RE, _RCB_EXPECTED)
        buffered_value = tbl.get("buffered", MISSING)
        buffered: bool | None = None
        if buffered_value is MISSING:
            p.missing(f"{at}.buffered", "true (a BRCB) or false (a URCB)")
        else:
            buffered = p.boolean(buffered_value, f"{at}.buffered")
        if rcb is None or buffered is None:
            continue
        if (rcb, buffered) in seen:
            p.expected(f"{at}.rcb", "a report control block not listed before", rcb,
                            f"already listed as {path}[{seen[rcb, buffered]}]")
            continue
        seen[rcb, buffered] = j
        reports.append(Iec61850Report(rcb=rcb, buffered=buffered))
    return tuple(reports)


def _mapped_point(p: Reader, tbl: Mapping[Any, Any], at: str, points: dict[str, Point],
                  fed: dict[str, str], kinds: tuple[PointKind, ...], what: str) -> str | None:
    kind_names = ", ".join(k.value for k in kinds)
    expected = f"the name of a [[points]] entry with {what} ({kind_names})"
    value = tbl.get("point", MISSING)
    if value is MISSING:
        p.missing(f"{at}.point", expected)
        return None
    point = points.get(value) if isinstance(value, str) else None
    if point is None:
        p.expected(f"{at}.point", expected, value, "no such point" if isinstance(value, str)
                        else "")
        return None
    mapped = (point.source == IEC61850 if not point.kind.is_command
              else point.target == IEC61850)
    if not mapped or point.kind not in kinds:
        p.expected(f"{at}.point", expected, value,
                        f"it is a {point.kind.value} point"
                        + ("" if mapped else f" without {what}"))
        return None
    if not claim(p, at, value, point.name, fed, "a point not mapped before", "mapped"):
        return None
    return point.name


def _reads(p: Reader, value: object, path: str, points: dict[str, Point],
           fed: dict[str, str]) -> tuple[Iec61850Read, ...]:
    reads: list[Iec61850Read] = []
    for j, item in enumerate(p.array_of_tables(value, "iec61850.devices.points")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            p.expected(at, "a table ([[iec61850.devices.points]])", item)
            continue
        tbl = p.table(item, at, READ.names, "[[iec61850.devices.points]]")
        point = _mapped_point(p, tbl, at, points, fed, READ_KINDS, 'source = "iec61850"')
        reference = _required_match(p, tbl, "reference", at, _REFERENCE_RE,
                                    _REFERENCE_EXPECTED)
        fc_value = tbl.get("fc", MISSING)
        fc: str | None = None
        if fc_value is MISSING:
            p.missing(f"{at}.fc", one_of(READ_FCS))
        else:
            fc = p.choice(fc_value, f"{at}.fc", READ_FCS, fold_case=True)
        scale, offset = (READ.key(key).read(p, tbl, at) for key in ("scale", "offset"))
        if (point is None or reference is None or fc is None or scale is None
                or offset is None):
            continue
        reads.append(Iec61850Read(point=point, reference=reference, fc=fc, scale=scale,
                                  offset=offset))
    return tuple(reads)


def _controls(p: Reader, value: object, path: str, points: dict[str, Point],
              fed: dict[str, str], reads: Sequence[tuple[Iec61850Read, PointKind]],
              ) -> tuple[Iec61850Control, ...]:
    controls: list[Iec61850Control] = []
    for j, item in enumerate(p.array_of_tables(value, "iec61850.devices.controls")):
        at = f"{path}[{j}]"
        if not isinstance(item, Mapping):
            p.expected(at, "a table ([[iec61850.devices.controls]])", item)
            continue
        tbl = p.table(item, at, CONTROL.names, "[[iec61850.devices.controls]]")
        point = _mapped_point(p, tbl, at, points, fed, CONTROL_KINDS,
                              'target = "iec61850"')
        object_value = tbl.get("object", MISSING)
        obj: str | None = None
        if object_value is MISSING:
            p.missing(f"{at}.object", _OBJECT_EXPECTED)
        elif not isinstance(object_value, str) or not _OBJECT_RE.fullmatch(object_value):
            p.expected(f"{at}.object", _OBJECT_EXPECTED, object_value)
        else:
            obj = object_value
        scale, offset = (CONTROL.key(key).read(p, tbl, at) for key in ("scale", "offset"))
        if point is None or obj is None or scale is None or offset is None:
            continue
        kind = points[point].kind
        if kind in BINARY_CONTROL_KINDS and ("scale" in tbl or "offset" in tbl):
            p.error(f"{at}.{'scale' if 'scale' in tbl else 'offset'}",
                    f"expected no scale or offset for a {kind.value} point (they apply to "
                    "set-points)")
            continue
        if scale == 0.0:
            p.expected(f"{at}.scale", "a number other than 0", scale)
            continue
        why = _control_class_mismatch(kind, obj, reads)
        if why:
            p.error(f"{at}.object", why)
            continue
        controls.append(Iec61850Control(point=point, object=obj, scale=scale, offset=offset))
    return tuple(controls)


def _control_class_mismatch(kind: PointKind, obj: str,
                            reads: Sequence[tuple[Iec61850Read, PointKind]]) -> str:
    """Why a ``kind`` command cannot operate ``obj``, as far as the configuration tells: the
    data object's standard name (IEC 61850-7-4), or a read of its ``stVal`` into a single or
    double point (an SPC/DPC) or of its ``mxVal`` (an APC). '' when nothing says so."""
    do_name = obj.rsplit(".", 1)[1].rstrip("0123456789")
    binary = analogue = ""
    if do_name in BINARY_CONTROL_NAMES:
        binary = f"{do_name} is a binary controllable data object (IEC 61850-7-4)"
    elif do_name in ANALOGUE_CONTROL_NAMES:
        analogue = f"{do_name} is an analogue controllable data object (APC, IEC 61850-7-4)"
    for read, read_kind in reads:
        if read.reference.startswith(f"{obj}.stVal") and read_kind in (PointKind.SINGLE,
                                                                       PointKind.DOUBLE):
            binary = (f"{read.point} reads its stVal as a {read_kind.value} point: a binary "
                      "control (SPC, DPC)")
        elif read.reference.startswith(f"{obj}.mxVal"):
            analogue = f"{read.point} reads its mxVal: an analogue control (APC)"
    if kind in SETPOINT_KINDS and binary:
        return (f"expected an analogue control object (APC) for the {kind.value} point, got "
                f"{obj!r} ({binary})")
    if kind in BINARY_CONTROL_KINDS and analogue:
        return (f"expected a binary control object (SPC, DPC) for the {kind.value} point, got "
                f"{obj!r} ({analogue})")
    return ""


def iec61850_config(config: AppConfig) -> Iec61850Config:
    """The [iec61850] section of ``config`` as its parser read it (empty when absent)."""
    found = config.section(IEC61850)
    return found if isinstance(found, Iec61850Config) else Iec61850Config()
