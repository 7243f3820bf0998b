"""[dlms.push]: the DLMS/COSEM push (DataNotification) listener and the devices it accepts.

Parsed by rtu.sources.dlms.config.parse_dlms (which owns the credentials file and the record of
which point each entry feeds); kept apart so that the polled meters' schema stays one screen.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Final

from rtu.config.reader import Reader
from rtu.config.schema import (
    Table,
    boolean,
    choice,
    integer,
    number,
    seconds,
    string,
    tables,
)
from rtu.frozen import frozen
from rtu.points.model import PointKind

# (value, key path, kinds allowed) -> the point's name when it may be fed from there (else the
# error is reported and None comes back): parse_dlms's check, one feed per point
PointRef = Callable[[object, str, Sequence[PointKind]], str | None]

TRANSPORTS: Final = ("udp", "tcp", "both")
OBJECT: Final = Table("[[dlms.push.devices.objects]]", (
    string("point", required=True), integer("index", lo=0, hi=255, required=True),
    integer("bit", lo=0, hi=63), integer("scaler", 0, -128, 127),
    number("scale", 1.0, doc="a finite number other than 0"),
))
DEVICE: Final = Table("[[dlms.push.devices]]", (
    string("name", required=True),
    string("system_title", doc="16 hex digits (the device's system title)"),
    integer("wport", lo=0, hi=0xFFFF), boolean("ciphered", False),
    tables("objects", OBJECT, required=True),
))
PUSH: Final = Table("[dlms.push]", (
    string("listen", "0.0.0.0", doc="an IP address to listen on such as 0.0.0.0"),
    integer("port", 4059, 1, 0xFFFF), choice("transport", TRANSPORTS, "both"),
    integer("max_connections", 4, 1, 64),
    number("max_rate", 20.0, at_least=0.1, at_most=1000.0),
    integer("max_apdu", 4096, 64, 0xFFFF), seconds("idle_timeout", 60.0),
    tables("devices", DEVICE, required=True),
))
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_HEX_RE: Final = re.compile(r"[0-9A-Fa-f]{16}")


@frozen
class PushObject:
    """One element of a device's notification body mapped onto a point."""

    point: str
    index: int  # 1-based position in the body's structure; 0: the body itself
    bit: int | None = None  # single points: this bit of an integer (an alarm register)
    scaler: int = 0  # measurements: raw * 10**scaler * scale
    scale: float = 1.0


@frozen
class PushDeviceConfig:
    name: str
    objects: tuple[PushObject, ...]
    system_title: bytes | None = None  # identifies it (and deciphers its glo- APDUs)
    wport: int | None = None  # its source wPort
    ciphered: bool = False  # only ciphered pushes are accepted; keys from the credentials file
    encryption_key: bytes = field(default=b"", repr=False)
    authentication_key: bytes = field(default=b"", repr=False)


@frozen
class DlmsPushConfig:
    devices: tuple[PushDeviceConfig, ...]
    listen: str = PUSH.default("listen")
    port: int = PUSH.default("port")
    transport: str = PUSH.default("transport")  # udp | tcp | both
    max_connections: int = PUSH.default("max_connections")  # TCP connections at once; more closed
    max_rate: float = PUSH.default("max_rate")  # datagrams / connection reads per second; more dropped
    max_apdu: int = PUSH.default("max_apdu")  # octets of one push; longer: dropped (UDP) or ends TCP
    idle_timeout: float = PUSH.default("idle_timeout")  # seconds a TCP connection may stay silent


def parse_push(p: Reader, value: object, points: PointRef) -> DlmsPushConfig | None:
    if not isinstance(value, Mapping):
        p.expected("dlms.push", "a table ([dlms.push])", value)
        return None
    tbl = p.table(value, "dlms.push", PUSH.names, PUSH.header)
    before = len(p.errors)
    d = DlmsPushConfig(devices=())
    listen = d.listen
    if "listen" in tbl:
        raw = tbl["listen"]
        try:
            listen = str(ipaddress.ip_address(raw if isinstance(raw, str) else ""))
        except ValueError:
            p.expected("dlms.push.listen", "an IP address to listen on such as 0.0.0.0", raw)
    port = p.integer(tbl.get("port", d.port), "dlms.push.port", 1, 0xFFFF)
    transport = p.choice(tbl.get("transport", d.transport), "dlms.push.transport", TRANSPORTS)
    connections = p.integer(tbl.get("max_connections", d.max_connections),
                            "dlms.push.max_connections", 1, 64)
    rate = p.number(tbl.get("max_rate", d.max_rate), "dlms.push.max_rate",
                    "a number of pushes per second, 0.1 .. 1000", at_least=0.1, at_most=1000)
    max_apdu = p.integer(tbl.get("max_apdu", d.max_apdu), "dlms.push.max_apdu", 64, 0xFFFF)
    idle = p.seconds(tbl.get("idle_timeout", d.idle_timeout), "dlms.push.idle_timeout")
    devices: list[PushDeviceConfig] = []
    names: set[str] = set()
    items = p.array_of_tables(tbl.get("devices"), "dlms.push.devices") if "devices" in tbl \
        else []
    if not items:
        p.missing("dlms.push.devices", "at least one [[dlms.push.devices]] table")
    for i, item in enumerate(items):
        device = _device(p, item, f"dlms.push.devices[{i}]", points, names)
        if device is not None:
            devices.append(device)
    if (len(p.errors) > before or port is None or transport is None or connections is None
            or rate is None or max_apdu is None or idle is None):
        return None
    return DlmsPushConfig(tuple(devices), listen, port, transport, connections, rate, max_apdu,
                          idle)


def _device(p: Reader, item: object, path: str, points: PointRef,
            names: set[str]) -> PushDeviceConfig | None:
    if not isinstance(item, Mapping):
        p.expected(path, "a table ([[dlms.push.devices]])", item)
        return None
    tbl = p.table(item, path, DEVICE.names, DEVICE.header)
    before = len(p.errors)
    name = tbl.get("name")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        p.expected(f"{path}.name", "a name of letters, digits, '_', '.' or '-'", name)
    elif name in names:
        p.expected(f"{path}.name", "a unique push device name", name)
    else:
        names.add(name)
    title = None
    if "system_title" in tbl:
        raw = tbl["system_title"]
        if isinstance(raw, str) and _HEX_RE.fullmatch(raw):
            title = bytes.fromhex(raw)
        else:
            p.expected(f"{path}.system_title", "16 hex digits (the device's system title)", raw)
    wport = p.integer(tbl["wport"], f"{path}.wport", 0, 0xFFFF) if "wport" in tbl else None
    ciphered = tbl.get("ciphered", False)
    if not isinstance(ciphered, bool):
        p.expected(f"{path}.ciphered", "true or false", ciphered)
        ciphered = False
    if "system_title" not in tbl and "wport" not in tbl:
        p.error(path, "expected a system_title or a wport (or both): how its pushes are "
                      "recognised")
    if ciphered and "system_title" not in tbl:
        p.missing(f"{path}.system_title", "the device's system title (ciphered pushes are "
                                          "deciphered with it)")
    objects = []
    items = p.array_of_tables(tbl.get("objects"), f"{path}.objects") if "objects" in tbl \
        else []
    if not items:
        p.missing(f"{path}.objects", "at least one [[dlms.push.devices.objects]] table")
    for k, obj in enumerate(items):
        mapped = _object(p, obj, f"{path}.objects[{k}]", points)
        if mapped is not None:
            objects.append(mapped)
    if len(p.errors) > before or not isinstance(name, str):
        return None
    return PushDeviceConfig(name, tuple(objects), title, wport, ciphered)


def _object(p: Reader, item: object, path: str, points: PointRef) -> PushObject | None:
    if not isinstance(item, Mapping):
        p.expected(path, "a table ([[dlms.push.devices.objects]])", item)
        return None
    tbl = p.table(item, path, OBJECT.names, OBJECT.header)
    before = len(p.errors)
    point = points(tbl.get("point"), f"{path}.point",
                   (PointKind.SINGLE, PointKind.FLOAT, PointKind.COUNTER))
    if "index" not in tbl:
        p.missing(f"{path}.index", "the element's position in the pushed structure (1 = first)")
    index = p.integer(tbl.get("index", 1), f"{path}.index", 0, 255)
    bit = p.integer(tbl["bit"], f"{path}.bit", 0, 63) if "bit" in tbl else None
    scaler = p.integer(tbl.get("scaler", 0), f"{path}.scaler", -128, 127)
    scale = p.number(tbl.get("scale", 1.0), f"{path}.scale", "a finite number other than 0")
    if scale == 0:
        p.expected(f"{path}.scale", "a finite number other than 0", 0)
    if len(p.errors) > before or point is None or index is None or scaler is None \
            or scale is None:
        return None
    return PushObject(point, index, bit, scaler, scale)
