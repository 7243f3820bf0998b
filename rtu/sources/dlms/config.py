"""The ``[dlms]`` section: DLMS/COSEM meters read by the outstation (rtu/sources/dlms.py).

Kept apart from rtu/config.py so that other sections grow there without touching this one;
:func:`parse_dlms` is called by the main parser with itself as the :class:`Reporter`, so
errors read like every other: ``FILE: dlms.meters[0].reads[2].obis: expected ..., got ...``.

The secrets (LLS password, HLS keys) are not in the configuration file but in a separate
credentials file named by ``dlms.credentials``, readable only by the service: a file that
grants any permission to group or others is refused. It is read only when a meter
authenticates (lls or hls-gmac). Its format (TOML)::

    [meters.NAME]                 # NAME: the [[dlms.meters]] entry
    password = "..."              # lls: the LLS secret (text)
    encryption_key = "00112233445566778899AABBCCDDEEFF"      # hls-gmac: 32 hex digits
    authentication_key = "..."    # hls-gmac: 32 hex digits
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING, Final

from rtu.config.reader import Reader, point_table_index
from rtu.config.schema import (
    Table,
    any_of,
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
from rtu.sources.dlms.push_config import PUSH, DlmsPushConfig, parse_push

if TYPE_CHECKING:
    from rtu.config import AppConfig

__all__ = [
    "DLMS",
    "DLMS_SOURCE",
    "DLMS_UNITS",
    "DlmsConfig",
    "DlmsMeterConfig",
    "DlmsProfile",
    "DlmsRead",
    "dlms_config",
    "parse_dlms",
]

DLMS_SOURCE: Final = "dlms"  # the [[points]] source of a point a meter feeds
DEFAULT_PROFILE_OBIS: Final = (1, 0, 99, 1, 0, 255)  # load profile 1
MAX_CAPTURE_PERIOD: Final = 31 * 86400
_TCP_KEYS: Final = ("host", "port")
_HDLC_KEYS: Final = ("device", "baudrate", "server_physical_address")
_CREDENTIAL_KEYS: Final = ("password", "encryption_key", "authentication_key")
_TRANSPORTS: Final = ("tcp", "udp", "hdlc")
_UDP_KEYS: Final = ("retries",)
MAX_UDP_RETRIES: Final = 10
_AUTHENTICATIONS: Final = ("none", "lls", "hls-gmac")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_OBIS_RE: Final = re.compile(r"(\d{1,3})[.-](\d{1,3})[.:](\d{1,3})\.(\d{1,3})\.(\d{1,3})"
                             r"(?:[.*](\d{1,3}))?")
_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]+")
_READ_KINDS: Final = (PointKind.FLOAT, PointKind.COUNTER)
# interface classes a read may name, and the attribute holding their scaler_unit
CLASS_DATA: Final = 1
CLASS_REGISTER: Final = 3
CLASS_EXTENDED_REGISTER: Final = 4
CLASS_DEMAND_REGISTER: Final = 5
SCALER_UNIT_ATTRIBUTE: Final = {CLASS_REGISTER: 3, CLASS_EXTENDED_REGISTER: 3,
                                CLASS_DEMAND_REGISTER: 4}
_CLASSES: Final = (CLASS_DATA, CLASS_REGISTER, CLASS_EXTENDED_REGISTER, CLASS_DEMAND_REGISTER)
# units of a scaler_unit (Blue Book, enumerated "unit"), by the names a read's `unit` uses
DLMS_UNITS: Final = {
    "s": 7, "degC": 9, "m3": 13, "W": 27, "VA": 28, "var": 29, "Wh": 30, "VAh": 31,
    "varh": 32, "A": 33, "C": 34, "V": 35, "Hz": 44, "%": 56, "count": 255,
}
_DEFAULT_SYSTEM_TITLE: Final = b"RTU\x00\x00\x00\x00\x01"
_KEY_HEX_DIGITS: Final = 32  # security suite 0: AES-128 keys

READ: Final = Table("[[dlms.meters.reads]]", (
    string("point", required=True),
    string("obis", required=True, doc='an OBIS code A.B.C.D.E.F such as "1.0.1.8.0.255"'),
    choice("class_id", _CLASSES, CLASS_REGISTER),  # 1 data, 3 register, 4 extended, 5 demand
    integer("attribute", 2, 1, 127, doc="an attribute index 1..127 (2: the value)"),
    number("scale", 1.0, doc="a finite number other than 0"),
    any_of("unit", ("string", "integer"), doc="a unit name or a unit code 1..255"),
))
PROFILE: Final = Table("[dlms.meters.profile]", (
    string("obis", ".".join(map(str, DEFAULT_PROFILE_OBIS))),
    integer("capture_period", lo=1, hi=MAX_CAPTURE_PERIOD, required=True),
    number("backfill", 86400.0, at_least=0.0,
           doc="a number of seconds >= 0 (history taken on the first read)"),
    tables("columns", READ, required=True),
))
METER: Final = Table("[[dlms.meters]]", (
    string("name", required=True), choice("transport", _TRANSPORTS, required=True),
    string("host", doc="tcp, udp: an IP address or host name"),
    integer("port", 4059, 1, 0xFFFF),
    integer("retries", 2, 0, MAX_UDP_RETRIES),  # udp
    string("device", doc="hdlc: a serial device path"), integer("baudrate", 9600, 300, 4_000_000),
    integer("server_physical_address", lo=0, hi=0x3FFF),  # hdlc; absent: one-byte address
    integer("client_address", 16, 0, 0xFFFF),  # client SAP; 16 = public client (hdlc: 0..127)
    integer("server_address", 1, 0, 0xFFFF),  # server SAP / HDLC upper address (hdlc: ..16383)
    choice("authentication", _AUTHENTICATIONS, "none"),
    string("system_title", doc="16 hex digits (the client's 8-octet system title)"),
    seconds("interval", 60.0),  # between polls
    seconds("timeout", 5.0),  # per request
    string("clock_point", doc="a single point: on while the clock drifts beyond the limit"),
    seconds("clock_max_drift", 10.0),
    tables("reads", READ), table("profile", PROFILE),
    integer("common_address", 0, 0, 0xFFFE,
            doc="the logical station of every point the meter feeds (0: the points' own)"),
))
SECTION: Final = Table("[dlms]", (
    string("credentials", "", doc="the path of the credentials file"), tables("meters", METER),
    table("push", PUSH),
))
DLMS: Final = table("dlms", SECTION)



@frozen
class DlmsRead:
    """One point fed from one COSEM attribute."""

    point: str  # the [[points]] entry (source "dlms"; float or counter)
    obis: tuple[int, int, int, int, int, int]
    class_id: int = READ.default("class_id")  # 1 data, 3 register, 4 extended register, 5 demand register
    attribute: int = READ.default("attribute")  # the value
    scale: float = READ.default("scale")  # after the meter's scaler: engineering value = value * 10^scaler * scale
    unit: int | None = None  # the unit the meter must report (code); None: any


@frozen
class DlmsProfile:
    """A Profile Generic (class 7) whose new buffer entries become time-tagged point updates."""

    capture_period: int  # seconds between the meter's captures (its attribute 4)
    columns: tuple[DlmsRead, ...]  # the captured objects mapped onto points
    obis: tuple[int, int, int, int, int, int] = DEFAULT_PROFILE_OBIS
    backfill: float = PROFILE.default("backfill")  # seconds of history taken on the very first read


@frozen
class DlmsMeterConfig:
    name: str
    transport: str  # "tcp" | "udp" (wrapper, IEC 62056-47) | "hdlc" (serial, IEC 62056-46)
    reads: tuple[DlmsRead, ...]
    host: str = ""  # tcp, udp
    port: int = METER.default("port")  # tcp, udp
    retries: int = METER.default("retries")  # udp: a request unanswered in time is sent again
    device: str = ""  # hdlc
    baudrate: int = METER.default("baudrate")  # hdlc
    server_physical_address: int | None = None  # hdlc: None = one-byte server address
    client_address: int = METER.default("client_address")  # client SAP (source wPort); 16 = public client
    server_address: int = METER.default("server_address")  # server SAP (destination wPort / HDLC upper address)
    authentication: str = METER.default("authentication")  # none | lls | hls-gmac
    system_title: bytes = _DEFAULT_SYSTEM_TITLE  # the client's, 8 octets (hls-gmac)
    interval: float = METER.default("interval")  # seconds between polls
    timeout: float = METER.default("timeout")  # seconds per request
    clock_point: str | None = None  # single point: on while the clock drifts beyond the limit
    clock_max_drift: float = METER.default("clock_max_drift")  # seconds
    profile: DlmsProfile | None = None  # a load profile read once per capture period
    password: bytes = field(default=b"", repr=False)  # from the credentials file
    encryption_key: bytes = field(default=b"", repr=False)
    authentication_key: bytes = field(default=b"", repr=False)
    common_address: int = 0  # the logical station of its points (0: the points' own)

    def point_names(self) -> tuple[str, ...]:
        """Every [[points]] entry this meter feeds."""
        names = [r.point for r in self.reads]
        if self.profile is not None:
            names += [c.point for c in self.profile.columns]
        if self.clock_point is not None:
            names.append(self.clock_point)
        return tuple(names)


@frozen
class DlmsConfig:
    credentials: str = ""  # the credentials file (absolute, or relative to the config file)
    meters: tuple[DlmsMeterConfig, ...] = ()
    push: DlmsPushConfig | None = None  # the push (DataNotification) listener, when configured

    def logical_stations(self) -> list[tuple[str, int, tuple[str, ...]]]:
        """(config path, common address, point names) of each meter with its own common
        address (0: the station's); the configuration gives those points that address."""
        return [(f"dlms.meters[{i}]", m.common_address, m.point_names())
                for i, m in enumerate(self.meters)]


def parse_obis(text: str) -> tuple[int, int, int, int, int, int] | None:
    """``"1.0.1.8.0.255"`` (also ``1-0:1.8.0.255``; F defaults to 255) -> six integers."""
    match = _OBIS_RE.fullmatch(text.strip())
    if match is None:
        return None
    groups = [int(g) if g is not None else 255 for g in match.groups()]
    if any(g > 255 for g in groups):
        return None
    a, b, c, d, e, f = groups
    return a, b, c, d, e, f


def obis_text(obis: Sequence[int]) -> str:
    return ".".join(str(x) for x in obis)


def parse_dlms(p: Reader, value: object, points: Sequence[Point],
               raw_points: object) -> DlmsConfig:
    """[dlms]: the meters, their reads, and the credentials of those that authenticate.

    ``raw_points`` is the [[points]] array as written (to name entries that had errors of
    their own); a relative credentials path is relative to the configuration file.
    """
    tbl = SECTION.open(p, value, "dlms")
    by_name = {pt.name: pt for pt in points}
    config_dir = os.path.dirname(p.source)
    raw_index = point_table_index(raw_points)
    fed: dict[str, str] = {}  # point -> key path of what feeds it
    meters: list[DlmsMeterConfig] = []
    first: dict[str, int] = {}
    for i, item in enumerate(p.array_of_tables(tbl.get("meters", []), "dlms.meters")):
        meter = _meter(p, item, f"dlms.meters[{i}]", by_name, raw_index, fed, first, i)
        if meter is not None:
            meters.append(meter)
    push: DlmsPushConfig | None = None
    if "push" in tbl:
        push = parse_push(p, tbl["push"], lambda value, path, kinds: _point(
            p, value, path, kinds, by_name, raw_index, fed))
    for pt in points:
        if pt.source == DLMS_SOURCE and pt.name not in fed:
            p.error(f"points[{raw_index.get(pt.name, '?')}].source",
                    f"expected a [[dlms.meters.reads]] entry, a dlms.meters clock_point, a "
                    f"[[dlms.meters.profile.columns]] or a [[dlms.push.devices.objects]] entry "
                    f"naming {pt.name!r} for a point with source = \"dlms\", got none")
    credentials = ""
    if "credentials" in tbl:
        text = p.string(tbl["credentials"], "dlms.credentials",
                        "the path of the credentials file")
        if text is not None:
            credentials = os.path.join(config_dir, os.path.expanduser(text)) if text else ""
    needs = [m for m in meters if m.authentication != "none"]
    ciphered_pushes = [d for d in push.devices if d.ciphered] if push is not None else []
    needs += [DlmsMeterConfig(name=d.name, transport="tcp", reads=(),
                              authentication="hls-gmac") for d in ciphered_pushes
              if d.name not in {m.name for m in needs}]
    if needs:
        if not credentials:
            if "credentials" not in tbl:
                p.missing("dlms.credentials",
                          f"the path of the credentials file (meter {needs[0].name!r} uses "
                          f"authentication {needs[0].authentication!r})")
        else:
            secrets = _read_credentials(p, credentials, needs)
            if secrets is not None:
                meters = [_with_secrets(m, secrets.get(m.name, {})) for m in meters]
                if push is not None:
                    push = dataclasses.replace(push, devices=tuple(
                        dataclasses.replace(d, encryption_key=secrets.get(d.name, {}).get(
                            "encryption_key", b""), authentication_key=secrets.get(
                            d.name, {}).get("authentication_key", b""))
                        if d.ciphered else d for d in push.devices))
    return DlmsConfig(credentials=credentials, meters=tuple(meters), push=push)


def _meter(p: Reader, item: object, path: str, points: dict[str, Point],
           raw_index: dict[str, int], fed: dict[str, str], first: dict[str, int],
           index: int) -> DlmsMeterConfig | None:
    if not isinstance(item, Mapping):
        p.expected(path, "a table ([[dlms.meters]])", item)
        return None
    tbl = p.table(item, path, METER.names, "[[dlms.meters]]")
    before = len(p.errors)
    name: str | None = None
    name_value = tbl.get("name")
    if "name" not in tbl:
        p.missing(f"{path}.name", "a name of letters, digits, '_', '.' or '-'")
    elif not isinstance(name_value, str) or not _NAME_RE.fullmatch(name_value):
        p.expected(f"{path}.name", "a name of letters, digits, '_', '.' or '-'", name_value)
    elif name_value in first:
        p.expected(f"{path}.name", "a unique meter name", name_value,
                   f"already used by dlms.meters[{first[name_value]}]")
    else:
        name = name_value
        first[name] = index
    transport: str | None = None
    if "transport" not in tbl:
        p.missing(f"{path}.transport", "'tcp', 'udp' or 'hdlc'")
    else:
        transport = p.choice(tbl["transport"], f"{path}.transport", _TRANSPORTS)
    d = DlmsMeterConfig(name="", transport="tcp", reads=())
    host, port, device, baudrate, physical = d.host, d.port, d.device, d.baudrate, None
    retries = d.retries
    if transport is not None:
        applies = {key: "tcp, udp" for key in _TCP_KEYS} | {key: "hdlc" for key in _HDLC_KEYS} \
            | {key: "udp" for key in _UDP_KEYS}
        for key, where in applies.items():
            if key in tbl and transport not in where:
                p.error(f"{path}.{key}", f"expected no {key} with transport = {transport!r} "
                                         f"({key} applies to {where} only), got {tbl[key]!r}")
    if transport == "udp":
        retries = p.integer(tbl.get("retries", d.retries), f"{path}.retries", 0,
                            MAX_UDP_RETRIES) or 0
    if transport in ("tcp", "udp"):
        expectation = "an IP address or host name such as 192.168.1.30"
        if "host" not in tbl:
            p.missing(f"{path}.host", expectation)
        elif not isinstance(tbl["host"], str) or not tbl["host"] or any(
                c.isspace() for c in tbl["host"]):
            p.expected(f"{path}.host", expectation, tbl["host"])
        else:
            host = tbl["host"]
        port = METER.key("port").read(p, tbl, path) or d.port
    elif transport == "hdlc":
        expectation = "a serial device path such as /dev/ttyUSB0"
        if "device" not in tbl:
            p.missing(f"{path}.device", expectation)
        elif not isinstance(tbl["device"], str) or not tbl["device"]:
            p.expected(f"{path}.device", expectation, tbl["device"])
        else:
            device = tbl["device"]
        baudrate = METER.key("baudrate").read(p, tbl, path) or d.baudrate
        if "server_physical_address" in tbl:
            physical = p.integer(tbl["server_physical_address"],
                                 f"{path}.server_physical_address", 0, 0x3FFF,
                                 "an integer 0..16383 (HDLC lower server address)")
    client_address = p.integer(tbl.get("client_address", d.client_address),
                               f"{path}.client_address", 0, 0x7F if transport == "hdlc"
                               else 0xFFFF)
    server_address = p.integer(tbl.get("server_address", d.server_address),
                               f"{path}.server_address", 0, 0x3FFF if transport == "hdlc"
                               else 0xFFFF)
    authentication = METER.key("authentication").read(p, tbl, path)
    system_title = d.system_title
    if "system_title" in tbl:
        raw = tbl["system_title"]
        if isinstance(raw, str) and len(raw) == 16 and _HEX_RE.fullmatch(raw):
            system_title = bytes.fromhex(raw)
        else:
            p.expected(f"{path}.system_title",
                       "16 hex digits (the client's 8-octet system title)", raw)
    interval, timeout = (METER.key(key).read(p, tbl, path) for key in ("interval", "timeout"))
    clock_point: str | None = None
    if "clock_point" in tbl:
        clock_point = _point(p, tbl["clock_point"], f"{path}.clock_point", (PointKind.SINGLE,),
                             points, raw_index, fed)
    max_drift = METER.key("clock_max_drift").read(p, tbl, path)
    reads: list[DlmsRead] = []
    reads_value = tbl.get("reads")
    items = p.array_of_tables(reads_value, f"{path}.reads") if "reads" in tbl else []
    if (not items and clock_point is None and "clock_point" not in tbl
            and "profile" not in tbl):
        p.error(f"{path}.reads", "expected at least one [[dlms.meters.reads]] table (or a "
                                 "clock_point or a [dlms.meters.profile]), got none")
    for k, read_item in enumerate(items):
        read = _read(p, read_item, f"{path}.reads[{k}]", points, raw_index, fed)
        if read is not None:
            reads.append(read)
    profile: DlmsProfile | None = None
    if "profile" in tbl:
        profile = _profile(p, tbl["profile"], f"{path}.profile", points, raw_index, fed)
    common_address = METER.key("common_address").read(p, tbl, path)
    if (len(p.errors) > before or name is None or transport is None or client_address is None
            or server_address is None or authentication is None or interval is None
            or timeout is None or max_drift is None or common_address is None):
        return None
    return DlmsMeterConfig(
        name=name, transport=transport, reads=tuple(reads), host=host, port=port, retries=retries,
        device=device,
        baudrate=baudrate, server_physical_address=physical, client_address=client_address,
        server_address=server_address, authentication=authentication, system_title=system_title,
        interval=interval, timeout=timeout, clock_point=clock_point, clock_max_drift=max_drift,
        profile=profile, common_address=common_address)


def _profile(p: Reader, value: object, path: str, points: dict[str, Point],
             raw_index: dict[str, int], fed: dict[str, str]) -> DlmsProfile | None:
    if not isinstance(value, Mapping):
        p.expected(path, "a table ([dlms.meters.profile])", value)
        return None
    tbl = p.table(value, path, PROFILE.names, "[dlms.meters.profile]")
    before = len(p.errors)
    obis: tuple[int, int, int, int, int, int] | None = DEFAULT_PROFILE_OBIS
    obis_expected = "the OBIS code of a Profile Generic such as \"1.0.99.1.0.255\""
    if "obis" in tbl and (not isinstance(tbl["obis"], str)
                          or (obis := parse_obis(tbl["obis"])) is None):
        p.expected(f"{path}.obis", obis_expected, tbl["obis"])
    period: int | None = None
    period_expected = (f"the meter's capture period, a whole number of seconds "
                       f"1..{MAX_CAPTURE_PERIOD} (900: a 15-minute load profile)")
    if "capture_period" not in tbl:
        p.missing(f"{path}.capture_period", period_expected)
    else:
        period = p.integer(tbl["capture_period"], f"{path}.capture_period", 1,
                           MAX_CAPTURE_PERIOD, period_expected)
    backfill = PROFILE.key("backfill").read(p, tbl, path)
    columns: list[DlmsRead] = []
    if "columns" not in tbl:
        p.missing(f"{path}.columns", "at least one [[dlms.meters.profile.columns]] table")
    else:
        items = p.array_of_tables(tbl["columns"], f"{path}.columns")
        if not items and len(p.errors) == before:
            p.error(f"{path}.columns", "expected at least one [[dlms.meters.profile.columns]] "
                                       "table, got none")
        for k, item in enumerate(items):
            column = _read(p, item, f"{path}.columns[{k}]", points, raw_index, fed,
                           "[[dlms.meters.profile.columns]]")
            if column is not None:
                columns.append(column)
        captured = [(c.class_id, c.obis, c.attribute) for c in columns]
        for k, key in enumerate(captured):
            if key in captured[:k]:
                p.error(f"{path}.columns[{k}]", f"expected each captured object once, got "
                                                f"{obis_text(key[1])} (class {key[0]}, "
                                                f"attribute {key[2]}) again")
    if len(p.errors) > before or obis is None or period is None or backfill is None:
        return None
    return DlmsProfile(capture_period=period, columns=tuple(columns), obis=obis,
                       backfill=backfill)


def _point(p: Reader, value: object, path: str, kinds: Sequence[PointKind],
           points: dict[str, Point], raw_index: dict[str, int],
           fed: dict[str, str]) -> str | None:
    names = ", ".join(k.value for k in kinds)
    expectation = f"the name of a [[points]] entry with source = \"dlms\" ({names})"
    if not isinstance(value, str):
        p.expected(path, expectation, value)
        return None
    point = points.get(value)
    if point is None:
        if value not in raw_index:  # else it has errors of its own, reported already
            p.expected(path, expectation, value, "no such point")
        return None
    where = f"points[{raw_index.get(value, '?')}]"
    if point.kind not in kinds:
        p.expected(path, expectation, value, f"{where} is a {point.kind.value} point")
    elif point.source != DLMS_SOURCE:
        p.expected(path, expectation, value, f"{where} has source = {point.source!r}")
    elif value in fed:
        p.expected(path, "a point nothing else feeds", value, f"already fed by {fed[value]}")
    else:
        fed[value] = path
        return value
    return None


def _read(p: Reader, item: object, path: str, points: dict[str, Point],
          raw_index: dict[str, int], fed: dict[str, str],
          header: str = "[[dlms.meters.reads]]") -> DlmsRead | None:
    if not isinstance(item, Mapping):
        p.expected(path, f"a table ({header})", item)
        return None
    tbl = p.table(item, path, READ.names, header)
    before = len(p.errors)
    point: str | None = None
    if "point" not in tbl:
        p.missing(f"{path}.point", "the name of a [[points]] entry with source = \"dlms\"")
    else:
        point = _point(p, tbl["point"], f"{path}.point", _READ_KINDS, points, raw_index, fed)
    obis: tuple[int, int, int, int, int, int] | None = None
    obis_expected = "an OBIS code A.B.C.D.E.F such as \"1.0.1.8.0.255\""
    if "obis" not in tbl:
        p.missing(f"{path}.obis", obis_expected)
    elif not isinstance(tbl["obis"], str) or (obis := parse_obis(tbl["obis"])) is None:
        p.expected(f"{path}.obis", obis_expected, tbl["obis"])
    class_value = tbl.get("class_id", CLASS_REGISTER)
    class_id: int | None = None
    if isinstance(class_value, bool) or class_value not in _CLASSES:
        p.expected(f"{path}.class_id", "1 (data), 3 (register), 4 (extended register) or "
                                       "5 (demand register)", class_value)
    else:
        class_id = int(class_value)
    attribute, scale = (READ.key(key).read(p, tbl, path) for key in ("attribute", "scale"))
    if scale == 0.0:
        p.expected(f"{path}.scale", "a finite number other than 0", tbl["scale"])
    unit: int | None = None
    if "unit" in tbl:
        raw = tbl["unit"]
        unit_expected = ("a unit name (" + ", ".join(DLMS_UNITS) + ") or a unit code 1..255")
        if class_id == CLASS_DATA:
            p.error(f"{path}.unit", f"expected no unit on a class_id 1 (data) read, which has "
                                    f"no scaler_unit, got {raw!r}")
        elif isinstance(raw, str) and raw in DLMS_UNITS:
            unit = DLMS_UNITS[raw]
        elif isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 255:
            unit = raw
        else:
            p.expected(f"{path}.unit", unit_expected, raw)
    if (len(p.errors) > before or point is None or obis is None or class_id is None
            or attribute is None or scale is None):
        return None
    return DlmsRead(point=point, obis=obis, class_id=class_id, attribute=attribute, scale=scale,
                    unit=unit)


def _read_credentials(p: Reader, path: str,
                      meters: Sequence[DlmsMeterConfig]) -> dict[str, dict[str, bytes]] | None:
    """The secrets of ``meters`` from the credentials file, or None (errors reported)."""
    key = "dlms.credentials"
    try:
        info = os.stat(path)
    except OSError as exc:
        p.error(key, f"{path}: cannot read the credentials file: {exc.strerror or exc}")
        return None
    if not stat.S_ISREG(info.st_mode):
        p.error(key, f"{path}: expected a regular file")
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        p.error(key, f"{path}: expected a file only the service can read (chmod 600), got mode "
                     f"{mode:04o}: it grants access to group or others")
        return None
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        p.error(key, f"{path}: cannot read the credentials file: {exc.strerror or exc}")
        return None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as exc:
        p.error(key, f"{path}: TOML syntax error: {exc}")
        return None
    where = f"{key}: {path}"
    tables = data.get("meters", {})
    if not isinstance(tables, Mapping) or set(data) - {"meters"}:
        p.error(where, "expected only [meters.NAME] tables")
        return None
    found: dict[str, dict[str, bytes]] = {}
    for meter in meters:
        entry = tables.get(meter.name)
        mpath = f"meters.{meter.name}"
        if not isinstance(entry, Mapping):
            p.error(where, f"{mpath}: expected a table with the secrets of meter "
                           f"{meter.name!r} (authentication {meter.authentication!r}), got "
                           f"{'none' if entry is None else repr(type(entry).__name__)}")
            continue
        for k in entry:
            if k not in _CREDENTIAL_KEYS:
                p.error(where, f"{mpath}.{k}: unknown key; expected one of "
                               f"{', '.join(_CREDENTIAL_KEYS)}")
        secrets: dict[str, bytes] = {}
        if meter.authentication == "lls":
            password = entry.get("password")
            if not isinstance(password, str) or not password:
                p.error(where, f"{mpath}.password: expected the LLS password as a non-empty "
                               f"string" + (" (required key missing)" if password is None
                                            else ""))
            else:
                secrets["password"] = password.encode("utf-8")
        else:
            for k in ("encryption_key", "authentication_key"):
                raw = entry.get(k)
                if (not isinstance(raw, str) or len(raw) != _KEY_HEX_DIGITS
                        or not _HEX_RE.fullmatch(raw)):
                    # never echo a secret: say what is wrong with it, not what it is
                    p.error(where, f"{mpath}.{k}: expected {_KEY_HEX_DIGITS} hex digits (an "
                                   f"AES-128 key, security suite 0)" + (
                                       " (required key missing)" if raw is None else ""))
                else:
                    secrets[k] = bytes.fromhex(raw)
        found[meter.name] = secrets
    return found


def _with_secrets(meter: DlmsMeterConfig, secrets: Mapping[str, bytes]) -> DlmsMeterConfig:
    return dataclasses.replace(meter, password=secrets.get("password", b""),
                               encryption_key=secrets.get("encryption_key", b""),
                               authentication_key=secrets.get("authentication_key", b""))


def dlms_config(config: AppConfig) -> DlmsConfig:
    """The [dlms] section of ``config`` as its parser read it (empty when absent)."""
    found = config.section(DLMS_SOURCE)
    return found if isinstance(found, DlmsConfig) else DlmsConfig()


def dlms_serial_ports(section: object) -> list[tuple[str, str]]:
    """The serial devices the [[dlms.meters]] on HDLC open: (key path, device)."""
    if not isinstance(section, DlmsConfig):
        return []
    return [(f"dlms.meters[{i}].device", meter.device) for i, meter in enumerate(section.meters)
            if meter.transport == "hdlc" and meter.device]
