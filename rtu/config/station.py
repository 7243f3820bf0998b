"""The ``[station]`` section: the outstation's common address, field sizes and command rules.

The defaults of the outstation's own settings are its dataclass's (rtu/iec/outstation.py:
a protocol core knows nothing of files); the keys, ranges and the field sizes are declared
here once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from rtu.config.reader import Reader, one_of
from rtu.config.schema import (
    Table,
    array,
    boolean,
    choice,
    default_of,
    integer,
    number,
    seconds,
    table,
    tables,
)
from rtu.iec.outstation import OutstationConfig

__all__ = ["STATION", "FieldSizes", "parse_station"]

_CA_MAX: Final = {1: 0xFF - 1, 2: 0xFFFF - 1}  # 0 is unused, the all-ones address is broadcast

# periodic data (COT 1) of an interrogation group's points that have no period of their own
CYCLIC_GROUP: Final = Table("[[station.cyclic_groups]]", (
    integer("group", lo=1, hi=16, required=True),
    seconds("period", required=True),
))

SECTION: Final = Table("[station]", (
    integer("common_address", default_of(OutstationConfig, "common_address"), 1, 0xFFFF - 1),
    choice("cot_size", (1, 2), 2), choice("ca_size", (1, 2), 2), choice("ioa_size", (1, 2, 3), 3),
    seconds("select_timeout", default_of(OutstationConfig, "select_timeout")),
    integer("event_queue_size", default_of(OutstationConfig, "event_queue_size"), 1),
    boolean("time_invalid_until_sync", default_of(OutstationConfig, "time_invalid_until_sync")),
    array("command_originators", ("integer",), [],
          doc="originator addresses 0..255 whose commands are accepted (empty: any)"),
    tables("cyclic_groups", CYCLIC_GROUP),
    number("background_scan", default_of(OutstationConfig, "background_scan"), at_least=0.0,
           doc="seconds for one round of the background scan (COT 2); 0 = off"),
))
STATION: Final = table("station", SECTION)


@dataclass(frozen=True, slots=True)
class FieldSizes:
    """Octets of the cause of transmission, common address and IOA on 101 links (104: 2/2/3)."""

    cot_size: int = SECTION.default("cot_size")
    ca_size: int = SECTION.default("ca_size")
    ioa_size: int = SECTION.default("ioa_size")


def parse_station(p: Reader, value: object) -> tuple[OutstationConfig | None, FieldSizes]:
    tbl = SECTION.open(p, value, "station")
    sizes = FieldSizes()
    cot_size = _size(p, tbl, "cot_size", (1, 2), sizes.cot_size)
    ca_size = _size(p, tbl, "ca_size", (1, 2), sizes.ca_size)
    ioa_size = _size(p, tbl, "ioa_size", (1, 2, 3), sizes.ioa_size)
    sizes = FieldSizes(cot_size=cot_size, ca_size=ca_size, ioa_size=ioa_size)
    defaults = OutstationConfig()
    ca_max = _CA_MAX[ca_size]
    common_address = p.integer(
        tbl.get("common_address", defaults.common_address), "station.common_address", 1, ca_max,
        f"an integer 1..{ca_max} (ca_size {ca_size}; 0 and broadcast {ca_max + 1} are not "
        "allowed)",
    )
    select_timeout = SECTION.key("select_timeout").read(p, tbl, "station")
    event_queue_size = SECTION.key("event_queue_size").read(p, tbl, "station")
    time_invalid = p.boolean(
        tbl.get("time_invalid_until_sync", defaults.time_invalid_until_sync),
        "station.time_invalid_until_sync",
    )
    originators = _originators(p, tbl.get("command_originators", []),
                                   "station.command_originators")
    cyclic_groups = _cyclic_groups(p, tbl.get("cyclic_groups", []), "station.cyclic_groups")
    background_scan = SECTION.key("background_scan").read(p, tbl, "station")
    if common_address is None or select_timeout is None or event_queue_size is None \
            or time_invalid is None or originators is None or cyclic_groups is None \
            or background_scan is None:
        return None, sizes
    try:
        config = OutstationConfig(
            common_address=common_address,
            select_timeout=select_timeout,
            event_queue_size=event_queue_size,
            time_invalid_until_sync=time_invalid,
            command_originators=originators,
            cyclic_groups=cyclic_groups,
            background_scan=background_scan,
        )
    except ValueError as exc:
        p.error("station", str(exc))
        return None, sizes
    return config, sizes


def _cyclic_groups(p: Reader, value: object,
                   path: str) -> tuple[tuple[int, float], ...] | None:
    found: dict[int, float] = {}
    ok = True
    for i, item in enumerate(p.array_of_tables(value, path)):
        at = f"{path}[{i}]"
        tbl = CYCLIC_GROUP.open(p, item, at)
        group = CYCLIC_GROUP.key("group").read(p, tbl, at)
        period = CYCLIC_GROUP.key("period").read(p, tbl, at)
        if not isinstance(group, int) or not isinstance(period, float | int):
            ok = False
            continue
        if group in found:
            p.error(f"{at}.group", f"expected each group once, got group {group} again")
            ok = False
            continue
        found[group] = float(period)
    return tuple(sorted(found.items())) if ok else None


def _originators(p: Reader, value: object, path: str) -> frozenset[int] | None:
    if not isinstance(value, list):
        p.expected(path, "an array of originator addresses 0..255 (empty: any)", value)
        return None
    found: set[int] = set()
    for i, entry in enumerate(value):
        address = p.integer(entry, f"{path}[{i}]", 0, 255,
                               "an originator address 0..255")
        if address is None:
            return None
        found.add(address)
    return frozenset(found)


def _size(p: Reader, tbl: Mapping[Any, Any], key: str, choices: tuple[int, ...], default: int) -> int:
    path = f"station.{key}"
    value = tbl.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
        p.expected(path, one_of([str(c) for c in choices], quote=False), value)
        return default
    return value
