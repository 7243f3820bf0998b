"""The ``[protection]`` section: protection events (``[[protection.events]]``) from signals.

A protection point says ``kind = "protection"`` (M_EP_TD_1), ``"protection_start"``
(M_EP_TE_1) or ``"protection_trip"`` (M_EP_TF_1) and ``source = "protection"`` in
[[points]], and has exactly one entry here naming the points that feed it (single or double
points of any source: GPIO inputs, calculated points, IEC 61850 Str/Op attributes, simulated
signals). What each kind takes and how its times are measured: rtu/points/protection.py.

    [[protection.events]]
    point = "ptoc1_trip"        # the protection point
    general = "ptoc1_op"        # trip: general, l1, l2, l3 (at least one)
    start = "ptoc1_str"         # protection and protection_trip: times measured from it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, string, table, tables
from rtu.frozen import frozen
from rtu.points.model import Point, PointKind
from rtu.points.protection import ROLES, WITH_START
from rtu.sources.entries import claim, unclaimed

__all__ = ["PROTECTION_SOURCE", "SECTION", "ProtectionConfig", "ProtectionPoint",
           "parse_protection"]

PROTECTION_SOURCE: Final = "protection"
_INPUT_KINDS: Final = frozenset({PointKind.SINGLE, PointKind.DOUBLE})
_ROLE_DOC: Final = {
    "signal": "protection: the signal whose on/off is the event",
    "general": "protection_start: general start (GS); protection_trip: general command (GC)",
    "l1": "start L1 (SL1) / command to L1 (CL1)",
    "l2": "start L2 (SL2) / command to L2 (CL2)",
    "l3": "start L3 (SL3) / command to L3 (CL3)",
    "ie": "protection_start: start on earth current (SIE)",
    "srd": "protection_start: start in reverse direction (SRD)",
    "start": "protection, protection_trip: the start signal the elapsed or operating time "
             "is measured from",
}
ENTRY: Final = Table("[[protection.events]]", (
    string("point", required=True, doc='the name of a point with source = "protection"'),
    *(string(role, doc=f"a single or double point: {doc}") for role, doc in _ROLE_DOC.items()),
))
TABLE: Final = Table("[protection]", (tables("events", ENTRY),))
SECTION: Final = table("protection", TABLE)


@frozen
class ProtectionPoint:
    point: str
    inputs: Mapping[str, str] = field(default_factory=dict)  # input point name -> role
    start: str | None = None


@frozen
class ProtectionConfig:
    points: tuple[ProtectionPoint, ...] = ()


def parse_protection(p: Reader, value: object, points: Sequence[Point],
                     raw_points: object) -> ProtectionConfig | None:
    by_name = {point.name: point for point in points}
    found: list[ProtectionPoint] = []
    paths: dict[str, str] = {}
    if value is not MISSING:
        tbl = TABLE.open(p, value, "protection")
        for i, item in enumerate(p.array_of_tables(tbl.get("events", MISSING),
                                                   "protection.events")):
            path = f"protection.events[{i}]"
            entry = _entry(p, ENTRY.open(p, item, path), path, by_name, paths)
            if entry is not None:
                found.append(entry)
    unclaimed(p, points, PROTECTION_SOURCE, raw_points, paths, "[[protection.events]]")
    if value is MISSING:
        return None
    return ProtectionConfig(tuple(found))


def _entry(p: Reader, entry: Mapping[str, object], path: str, by_name: Mapping[str, Point],
           paths: dict[str, str]) -> ProtectionPoint | None:
    name = ENTRY.key("point").read(p, entry, path)
    point = by_name.get(name) if isinstance(name, str) else None
    if isinstance(name, str) and (point is None or point.source != PROTECTION_SOURCE
                                  or not point.kind.is_protection):
        p.expected(f"{path}.point", 'the name of a point with kind = "protection", '
                   '"protection_start" or "protection_trip" and source = "protection"', name)
        return None
    if point is None:
        return None
    if not claim(p, path, name, point.name, paths, "a point fed by one entry only", "fed"):
        return None
    roles = ROLES[point.kind]
    inputs: dict[str, str] = {}
    start: str | None = None
    ok = True
    for role in _ROLE_DOC:
        if role not in entry:
            continue
        key_path = f"{path}.{role}"
        if role != "start" and role not in roles or role == "start" and point.kind not in WITH_START:
            p.error(key_path, f"expected no {role} on a {point.kind.value} point (it takes "
                    + ", ".join([*roles, *(("start",) if point.kind in WITH_START else ())])
                    + f"), got {entry[role]!r}")
            ok = False
            continue
        used = ENTRY.key(role).read(p, entry, path)
        source = by_name.get(used) if isinstance(used, str) else None
        if source is None or source.kind not in _INPUT_KINDS:
            p.expected(key_path, "the name of a single or double point", used,
                       "no such point" if isinstance(used, str) and source is None
                       else f"it is a {source.kind.value} point" if source is not None else "")
            ok = False
            continue
        if role == "start":
            start = source.name
        elif source.name in inputs:
            p.expected(key_path, "a point used for one role only", used,
                       f"already the {inputs[source.name]}")
            ok = False
        else:
            inputs[source.name] = role
    if not any(role in entry for role in roles):
        p.error(path, f"expected at least one of {', '.join(roles)} (the signals that feed "
                      f"{point.name!r}), got none")
        ok = False
    return ProtectionPoint(point.name, inputs, start) if ok else None
