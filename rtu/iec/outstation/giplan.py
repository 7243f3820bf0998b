"""What a general interrogation sends, worked out once per point set and shared.

Grouping 50,000 points by type took ~13 ms on the development VM, and that ran at the start of
every GI, blocking the event loop (and every other master's events) for that long. The plan
depends only on the database's tuple of monitored points (immutable; a reload builds a new
database) and the QOI, so it is computed once and kept: the lists in it are never mutated
(a session walks them with an offset, see ``Interrogation.offset``).
"""

from __future__ import annotations

from collections import deque

from rtu.iec.asdu.types import TypeId
from rtu.iec.outstation.mapping import chunk_by_type
from rtu.points.model import Point, PointKind

#: plans kept at once (station GI plus a few groups); the oldest is dropped beyond that
_MAX_PLANS = 8

Plan = tuple[tuple[TypeId, list[Point]], ...]

_plans: dict[tuple[int, int | None], tuple[tuple[Point, ...], Plan]] = {}


def interrogation_plan(monitored: tuple[Point, ...], group: int | None) -> Plan:
    """(type id, points) chunks of a station GI (``group`` None) or of a group GI, in the
    order they are sent; counters are left out (they answer counter interrogation), and so
    are protection events (events only)."""
    key = (id(monitored), group)
    hit = _plans.get(key)
    if hit is not None and hit[0] is monitored:  # the id may belong to a freed tuple
        return hit[1]
    if group is None:
        points = [p for p in monitored if p.kind is not PointKind.COUNTER
                  and not p.kind.is_protection]
    else:
        points = [p for p in monitored if p.kind is not PointKind.COUNTER
                  and not p.kind.is_protection and group in p.groups]
    plan = tuple(chunk_by_type(points))
    if len(_plans) >= _MAX_PLANS:
        del _plans[next(iter(_plans))]
    _plans[key] = (monitored, plan)
    return plan


def interrogation_pending(monitored: tuple[Point, ...], group: int | None) -> deque[tuple[TypeId, list[Point]]]:
    """The pending chunks of a new interrogation (a deque of the shared plan's entries)."""
    return deque(interrogation_plan(monitored, group))
