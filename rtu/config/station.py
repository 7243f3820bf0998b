"""The ``[station]`` section: the outstation's common address, field sizes and command rules.

The defaults of the outstation's own settings are its dataclass's (rtu/iec/outstation.py:
a protocol core knows nothing of files); the keys, ranges and the field sizes are declared
here once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
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
from rtu.frozen import frozen
from rtu.iec.outstation import OutstationConfig
from rtu.iec.outstation.settings import ClockSyncMode, CommandAgeAction
from rtu.points.model import Point, PointKind

__all__ = ["EVENTS_LOST_POINT", "EVENTS_LOST_SIGNAL", "STATION", "FieldSizes", "events_lost_point",
           "parse_station", "resolve_events_lost"]

log = logging.getLogger(__name__)

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
    boolean("invalid_time_until_synced", default_of(OutstationConfig, "invalid_time_until_synced")),
    # the older name of invalid_time_until_synced: still read (deprecated), the new one wins
    boolean("time_invalid_until_sync",
            default_of(OutstationConfig, "invalid_time_until_synced")),
    choice("time_tags", ("utc", "local"), "utc"),
    choice("clock_sync", tuple(m.value for m in ClockSyncMode),
           default_of(OutstationConfig, "clock_sync").value),
    number("clock_offset_lifetime", default_of(OutstationConfig, "clock_offset_lifetime"),
           at_least=0.0, doc="a number of seconds >= 0 (0: kept until the next sync)"),
    number("max_command_age", default_of(OutstationConfig, "max_command_age"), at_least=0.0,
           doc="a number of seconds >= 0 (0: no check)"),
    choice("command_age_action", tuple(a.value for a in CommandAgeAction),
           default_of(OutstationConfig, "command_age_action").value),
    choice("command_age_unsynchronised", ("check", "skip"), "check"),
    integer("events_lost_ioa", default_of(OutstationConfig, "events_lost_ioa"), 0, 0xFFFFFF,
            doc="an IOA (0: none; [[points]] source = \"health:events_lost\" may name it "
                "instead)"),
    array("command_originators", ("integer",), [],
          doc="originator addresses 0..255 whose commands are accepted (empty: any)"),
    tables("cyclic_groups", CYCLIC_GROUP),
    number("background_scan", default_of(OutstationConfig, "background_scan"), at_least=0.0,
           doc="seconds for one round of the background scan (COT 2); 0 = off"),
    # true: a station or group interrogation also answers the parameters of its measured
    # values (P_ME, COT 20-36), after the monitored data
    boolean("parameters_in_gi", default_of(OutstationConfig, "parameters_in_gi")),
))
STATION: Final = table("station", SECTION)


@frozen
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
    # invalid_time_until_synced; time_invalid_until_sync is its older name (still read)
    time_key = "invalid_time_until_synced" if "invalid_time_until_synced" in tbl \
        else "time_invalid_until_sync"
    time_invalid = SECTION.key(time_key).read(p, tbl, "station")
    if time_key == "time_invalid_until_sync" and time_key in tbl:
        log.warning("[station] time_invalid_until_sync is deprecated: it is read as "
                    "invalid_time_until_synced (rename it)")
    time_tags = SECTION.key("time_tags").read(p, tbl, "station")
    clock_sync = SECTION.key("clock_sync").read(p, tbl, "station")
    lifetime = SECTION.key("clock_offset_lifetime").read(p, tbl, "station")
    max_age = SECTION.key("max_command_age").read(p, tbl, "station")
    age_action = SECTION.key("command_age_action").read(p, tbl, "station")
    age_unsync = SECTION.key("command_age_unsynchronised").read(p, tbl, "station")
    ioa_max = (1 << (8 * ioa_size)) - 1
    events_lost_ioa = p.integer(tbl.get("events_lost_ioa", defaults.events_lost_ioa),
                                "station.events_lost_ioa", 0, ioa_max,
                                f"an IOA 1..{ioa_max} (0: none)")
    originators = _originators(p, tbl.get("command_originators", []),
                                   "station.command_originators")
    cyclic_groups = _cyclic_groups(p, tbl.get("cyclic_groups", []), "station.cyclic_groups")
    background_scan = SECTION.key("background_scan").read(p, tbl, "station")
    parameters_in_gi = SECTION.key("parameters_in_gi").read(p, tbl, "station")
    if common_address is None or select_timeout is None or event_queue_size is None \
            or time_invalid is None or originators is None or time_tags is None \
            or clock_sync is None or lifetime is None or max_age is None \
            or age_action is None or age_unsync is None or events_lost_ioa is None \
            or cyclic_groups is None or background_scan is None or parameters_in_gi is None:
        return None, sizes
    try:
        config = OutstationConfig(
            common_address=common_address,
            select_timeout=select_timeout,
            event_queue_size=event_queue_size,
            invalid_time_until_synced=time_invalid,
            local_time=time_tags == "local",
            clock_sync=ClockSyncMode(clock_sync),
            clock_offset_lifetime=lifetime,
            max_command_age=max_age,
            command_age_action=CommandAgeAction(age_action),
            check_age_unsynchronised=age_unsync == "check",
            events_lost_ioa=events_lost_ioa,
            command_originators=originators,
            cyclic_groups=cyclic_groups,
            background_scan=background_scan,
            parameters_in_gi=parameters_in_gi,
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


# -- the "events lost" points -------------------------------------------------------------------
# The outstation sets them (ON when an event queue dropped events of a station the point reports,
# OFF once every group that lost them was interrogated; their events are never dropped). The
# station's own is a [[points]] entry with source = "health:events_lost" (the health points'
# form, as in the bench profile) or the point [station] events_lost_ioa adds (both may name it
# only if they agree on its IOA); it reports every station without one of its own. Another
# logical station may have its own: a "health:events_lost" point at its common_address, one per
# station, which tells that station's masters, in that station's stream.
EVENTS_LOST_SIGNAL: Final = "health:events_lost"
EVENTS_LOST_POINT: Final = "health_events_lost"  # the name of the point events_lost_ioa adds


def events_lost_point(ioa: int) -> Point:
    """The "events lost" single point that ``[station] events_lost_ioa`` adds."""
    return Point(EVENTS_LOST_POINT, ioa, PointKind.SINGLE, groups=frozenset(),
                 source=EVENTS_LOST_SIGNAL,
                 description="events lost: an event queue overflowed (until the next GI)")


def resolve_events_lost(p: Reader, station: OutstationConfig | None,
                        points: tuple[Point, ...]) -> tuple[OutstationConfig | None,
                                                            tuple[Point, ...]]:
    """The station settings with ``events_lost_ioa`` naming the station's events lost point
    and ``station_events_lost_ioas`` the other stations' own, and the points with it (added
    when only ``events_lost_ioa`` declares it)."""
    if station is None:
        return station, points
    own_ca = station.common_address
    by_station: dict[int, list[Point]] = {}
    for point in points:
        if point.source == EVENTS_LOST_SIGNAL:
            by_station.setdefault(point.common_address or own_ca, []).append(point)
    for ca, named in by_station.items():
        if len(named) > 1:
            p.error("station.events_lost_ioa",
                    f"{EVENTS_LOST_SIGNAL}: one events lost point per station, but "
                    f"{len(named)} points name it at common address {ca}: "
                    + ", ".join(d.name for d in named))
            return station, points
    others = tuple(sorted(named[0].ioa for ca, named in by_station.items() if ca != own_ca))
    station = replace(station, station_events_lost_ioas=others)
    declared = by_station.get(own_ca, [])
    ioa = station.events_lost_ioa
    if declared:
        point = declared[0]
        if ioa and ioa != point.ioa:
            p.error("station.events_lost_ioa",
                    f"IOA {ioa}, but point {point.name!r} (source = \"{EVENTS_LOST_SIGNAL}\") "
                    f"is the events lost point at IOA {point.ioa}: give both the same IOA, "
                    "or keep one of them")
            return station, points
        return replace(station, events_lost_ioa=point.ioa), points
    if not ioa:
        return station, points
    clash = next((point.name for point in points if point.ioa == ioa), None)
    if clash is not None:
        p.error("station.events_lost_ioa",
                f"IOA {ioa} is point {clash!r}'s: the events lost point needs an IOA of its "
                "own")
        return station, points
    return station, (*points, events_lost_point(ioa))
