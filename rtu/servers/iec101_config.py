"""The ``[iec101]`` section: the serial line and the FT1.2 link of the 101 server.

Declared once in :data:`SECTION`; the defaults are those of the server's and the link
layer's own settings classes (rtu/servers/iec101.py, rtu/iec/cs101/link.py).
"""

from __future__ import annotations

from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import (
    Table,
    boolean,
    choice,
    default_of,
    integer,
    number,
    seconds,
    string,
    table,
    tables,
)
from rtu.config.station import FieldSizes
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.servers.iec101 import TIME_TAGS, Iec101Settings, SerialSettings

__all__ = ["IEC101", "parse_iec101"]

_DEVICE: Final = "a serial device path such as /dev/ttyUSB0"
# unbalanced multi-drop: another logical station on the line, behind its own link address
STATION: Final = Table("[[iec101.stations]]", (
    integer("link_address", lo=0, hi=65535, required=True),
    integer("common_address", lo=1, hi=0xFFFF - 1, required=True),
))
SECTION: Final = Table("[iec101]", (
    boolean("enabled", True),
    string("device", doc=_DEVICE),
    integer("baudrate", default_of(SerialSettings, "baudrate"), 50, 4_000_000),
    choice("parity", ("N", "E", "O"), default_of(SerialSettings, "parity")),
    integer("bytesize", default_of(SerialSettings, "bytesize"), 7, 8),
    choice("stopbits", (1, 1.5, 2), default_of(SerialSettings, "stopbits")),
    boolean("rs485", default_of(SerialSettings, "rs485")),
    choice("mode", ("unbalanced", "balanced"), default_of(LinkParameters, "mode").value),
    integer("link_address", default_of(LinkParameters, "address"), 0, 65535),
    integer("link_address_size", default_of(LinkParameters, "address_size"), 0, 2),
    integer("remote_link_address", default_of(LinkParameters, "remote_address"), 0, 65535),
    boolean("single_char_ack", default_of(LinkParameters, "single_char_ack")),
    seconds("repeat_timeout", default_of(LinkParameters, "repeat_timeout")),
    integer("max_repeats", default_of(LinkParameters, "max_repeats"), 0, 100),
    number("test_interval", default_of(LinkParameters, "test_interval"), at_least=0.0,
           doc="a number of seconds > 0, or 0 (no link test)"),
    number("inter_character_timeout_min", default_of(Iec101Settings, "inter_character_timeout_min"),
           at_least=0.0, at_most=10.0, doc="a number of seconds from 0 to 10"),
    # cp56: time-tagged events as types 30-40; cp24: as types 2-19, with a spontaneous clock
    # synchronisation at each change of the hour
    choice("time_tag", TIME_TAGS, default_of(Iec101Settings, "time_tag")),
    tables("stations", STATION),
))
IEC101: Final = table("iec101", SECTION)


def parse_iec101(p: Reader, value: object, sizes: FieldSizes) -> Iec101Settings | None:
    """[iec101]: the serial line and the FT1.2 link; absent or enabled = false: no 101."""
    if value is MISSING:
        return None
    tbl = SECTION.open(p, value, "iec101")
    errors_before = len(p.errors)
    enabled = SECTION.key("enabled").read(p, tbl, "iec101")
    device: str | None = None
    if "device" in tbl:
        device = p.string(tbl["device"], "iec101.device",
                             "a serial device path such as /dev/ttyUSB0")
    elif enabled:
        p.missing("iec101.device", "a serial device path such as /dev/ttyUSB0")
    baudrate, parity, bytesize = (SECTION.key(key).read(p, tbl, "iec101")
                                  for key in ("baudrate", "parity", "bytesize"))
    stopbits_value = SECTION.key("stopbits").value(tbl)
    stopbits: float | None = None
    if stopbits_value in (1, 1.5, 2) and not isinstance(stopbits_value, bool):
        stopbits = float(stopbits_value)
    else:
        p.expected("iec101.stopbits", "1, 1.5 or 2", stopbits_value)
    rs485, mode, address_size, address, remote, single_char, repeat_timeout, max_repeats = (
        SECTION.key(key).read(p, tbl, "iec101") for key in (
            "rs485", "mode", "link_address_size", "link_address", "remote_link_address",
            "single_char_ack", "repeat_timeout", "max_repeats"))
    test_value = SECTION.key("test_interval").value(tbl)
    test_interval = 0.0 if test_value == 0 and not isinstance(test_value, bool) else \
        p.seconds(test_value, "iec101.test_interval")
    char_floor = SECTION.key("inter_character_timeout_min").read(p, tbl, "iec101")
    time_tag = SECTION.key("time_tag").read(p, tbl, "iec101")
    stations: list[tuple[int, int]] = []
    for i, item in enumerate(p.array_of_tables(tbl.get("stations", MISSING), "iec101.stations")):
        at = f"iec101.stations[{i}]"
        entry = STATION.open(p, item, at)
        link_address = STATION.key("link_address").read(p, entry, at)
        common_address = STATION.key("common_address").read(p, entry, at)
        if isinstance(link_address, int) and isinstance(common_address, int):
            stations.append((link_address, common_address))
    if len(p.errors) > errors_before or not enabled:
        return None
    if device is None:
        return None
    assert parity is not None and mode is not None
    assert baudrate is not None and bytesize is not None and stopbits is not None
    assert rs485 is not None and address_size is not None and address is not None
    assert remote is not None and single_char is not None and repeat_timeout is not None
    assert max_repeats is not None and test_interval is not None and char_floor is not None
    assert time_tag is not None
    try:
        link = LinkParameters(
            mode=LinkMode(mode), address=address, address_size=address_size,
            remote_address=remote, single_char_ack=single_char,
            repeat_timeout=repeat_timeout, max_repeats=max_repeats,
            test_interval=test_interval,
        )
        serial = SerialSettings(device=device, baudrate=baudrate, parity=parity,
                                bytesize=bytesize, stopbits=stopbits, rs485=rs485)
    except ValueError as exc:
        p.error("iec101", str(exc))
        return None
    try:
        return Iec101Settings(serial=serial, link=link, cot_size=sizes.cot_size,
                              ca_size=sizes.ca_size, ioa_size=sizes.ioa_size,
                              inter_character_timeout_min=char_floor, stations=tuple(stations),
                              time_tag=time_tag)
    except ValueError as exc:
        p.error("iec101.stations", str(exc))
        return None
