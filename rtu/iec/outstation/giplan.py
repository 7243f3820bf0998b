"""What a general interrogation sends, worked out once per point set and shared.

Grouping 50,000 points by type took ~13 ms on the development VM, and that ran at the start of
every GI, blocking the event loop (and every other master's events) for that long. The plan
depends only on the database's tuple of monitored points (immutable; a reload builds a new
database) and the QOI, so it is computed once and kept: the lists in it are never mutated
(a session walks them with an offset, see ``Interrogation.offset``).

The octets are cached too (issue 21 item 2): the IOA fields of the points of a plan, once per
IOA size, and the element octets of each (value, quality) of single and double points; an
ASDU of GI data is then its header and a join of those (:func:`interrogation_asdu`), read
values only. Other kinds still encode each value's element (their values are many).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.codec_prebuilt import element_octets, encode_prebuilt, ioa_octets
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation.mapping import chunk_by_type, monitor_object
from rtu.points.model import Point, PointKind, PointValue

#: plans kept at once (station GI plus a few groups); the oldest is dropped beyond that
_MAX_PLANS = 8

Plan = tuple[tuple[TypeId, list[Point]], ...]

_plans: dict[tuple[int, int | None], tuple[tuple[Point, ...], Plan]] = {}

#: IOA octet lists kept (each plan's chunks, a few IOA sizes); the oldest is dropped beyond
_MAX_OCTET_LISTS = 64
# (id of a plan's point list, IOA size) -> (that list, the IOA fields of its points, end to
# end: one bytes object, not one per point, so that 100,000 points cost 300 kB, not 4 MB)
_ioa_octets: dict[tuple[int, int], tuple[list[Point], bytes]] = {}
# element octets by (value, quality) of the types whose element depends on nothing else
_ELEMENT_MEMO_TYPES = (TypeId.M_SP_NA_1, TypeId.M_DP_NA_1)
_MAX_MEMO = 4096  # (value, quality) pairs kept per type: far more than the flags can make
_element_memo: dict[TypeId, dict[tuple[object, int], bytes]] = {t: {} for t in _ELEMENT_MEMO_TYPES}


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


def prepare_plans(stations: list[tuple[Point, ...]], profiles: tuple[AsduProfile, ...]) -> None:
    """Work out the station GI plan of each of ``stations`` (monitored points) and the IOA
    octets of its chunks in each of ``profiles`` ahead of the first GI."""
    for monitored in stations:
        for _type_id, points in interrogation_plan(monitored, None):
            for profile in profiles:
                plan_ioa_octets(points, profile)


def plan_ioa_octets(points: list[Point], profile: AsduProfile) -> bytes:
    """The IOA fields of ``points`` (a list of a plan) for ``profile``, end to end (point ``i``
    at ``i * ioa_size``), computed once."""
    key = (id(points), profile.ioa_size)
    hit = _ioa_octets.get(key)
    if hit is not None and hit[0] is points:  # the id may belong to a freed list
        return hit[1]
    octets = b"".join(ioa_octets([p.ioa for p in points], profile))
    if len(_ioa_octets) >= _MAX_OCTET_LISTS:
        del _ioa_octets[next(iter(_ioa_octets))]
    _ioa_octets[key] = (points, octets)
    return octets


def interrogation_asdu(type_id: TypeId, points: list[Point], start: int, end: int,
                       value: Callable[[str], PointValue], cot: Cot, common_address: int,
                       profile: AsduProfile, *, test: bool = False, originator: int = 0) -> bytes:
    """The ASDU of GI data for ``points[start:end]`` (a chunk of a plan, all of ``type_id``),
    their present values read with ``value``: the same octets as encoding their information
    objects (SQ=0) with the codec."""
    ioas = plan_ioa_octets(points, profile)
    size = profile.ioa_size
    at = start * size
    body: list[bytes] = []
    append = body.append
    memo = _element_memo.get(type_id)
    if memo is not None:
        for i in range(start, end):
            point = points[i]
            pv = value(point.name)
            key = (pv.value, int(pv.quality))
            element = memo.get(key)
            if element is None:
                element = element_octets(type_id, monitor_object(point, pv, None))
                if len(memo) < _MAX_MEMO:
                    memo[key] = element
            append(ioas[at:at + size])
            append(element)
            at += size
    else:
        for i in range(start, end):
            point = points[i]
            append(ioas[at:at + size])
            append(element_octets(type_id, monitor_object(point, value(point.name), None)))
            at += size
    return encode_prebuilt(type_id, cot, common_address, end - start, body, profile, test=test,
                           originator=originator)
