"""Checks that the sections naming points in entries share (``[[calculated.points]]``,
``[[protection.events]]``, ``[[iec61850.devices.points]]`` ...): each point is claimed by one
entry only, and every point of the source is claimed by one."""

from __future__ import annotations

from collections.abc import Iterable

from rtu.config.reader import Reader, point_table_index
from rtu.points.model import Point


def claim(p: Reader, path: str, value: object, name: str, claimed: dict[str, str],
          expected: str, verb: str) -> bool:
    """Record that the entry at ``path`` claims point ``name`` (its ``point`` key ``value``);
    when an earlier entry did, an error ``path.point: expected EXPECTED, got VALUE (already
    VERB by PATH)`` and False."""
    if name in claimed:
        p.expected(f"{path}.point", expected, value, f"already {verb} by {claimed[name]}")
        return False
    claimed[name] = path
    return True


def unclaimed(p: Reader, points: Iterable[Point], source: str, raw_points: object,
              claimed: dict[str, str], entry: str) -> list[str]:
    """An error at ``points[i].source`` for each point with ``source`` that no ``entry``
    (``[[calculated.points]]``) claimed; their names."""
    index = point_table_index(raw_points)
    missing: list[str] = []
    for point in points:
        if point.source == source and point.name not in claimed:
            p.error(f"points[{index.get(point.name, '?')}].source",
                    f"expected a {entry} entry with point = {point.name!r}, got no such entry")
            missing.append(point.name)
    return missing
