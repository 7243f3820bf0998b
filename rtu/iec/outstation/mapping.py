"""Points <-> information objects: which type reports a point, and the object for a value."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from rtu.iec.asdu.objects import (
    Bitstring32,
    Cp56Time2a,
    DoublePoint,
    InformationObject,
    IntegratedTotal,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredScaled,
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
    SinglePoint,
    StepPosition,
)
from rtu.iec.asdu.types import Cot, Qdp, Qds, TypeId
from rtu.points.model import (
    ChangeOrigin,
    Point,
    PointKind,
    PointValue,
    Quality,
    protection_parts,
)

NORMALIZED_SCALE = 32768  # a normalized value's raw int16 over its engineering float
_INT16_MIN, _INT16_MAX = -32768, 32767
_SIQ_MASK = int(Qds.IV | Qds.NT | Qds.SB | Qds.BL)
_QDS_MASK = _SIQ_MASK | int(Qds.OV)
_TRANSIENT = int(Quality.TRANSIENT)
_QDP_MASK = int(Qdp.IV | Qdp.NT | Qdp.SB | Qdp.BL | Qdp.EI)
# Qds for every octet value: building an IntFlag per event is slow, a tuple index is not
_QDS_BY_OCTET: tuple[Qds, ...] = tuple(Qds(i) for i in range(256))

# the cause of transmission of a point change's event, by what caused the change
ORIGIN_COT: dict[ChangeOrigin, Cot] = {
    ChangeOrigin.FIELD: Cot.SPONTANEOUS,
    ChangeOrigin.REMOTE_COMMAND: Cot.RETURN_INFO_REMOTE,
    ChangeOrigin.LOCAL_COMMAND: Cot.RETURN_INFO_LOCAL,
}

# monitored kind -> (type without time tag, type with CP56Time2a)
MONITOR_TYPES: dict[PointKind, tuple[TypeId, TypeId]] = {
    PointKind.SINGLE: (TypeId.M_SP_NA_1, TypeId.M_SP_TB_1),
    PointKind.DOUBLE: (TypeId.M_DP_NA_1, TypeId.M_DP_TB_1),
    PointKind.STEP: (TypeId.M_ST_NA_1, TypeId.M_ST_TB_1),
    PointKind.BITSTRING: (TypeId.M_BO_NA_1, TypeId.M_BO_TB_1),
    PointKind.NORMALIZED: (TypeId.M_ME_NA_1, TypeId.M_ME_TD_1),
    PointKind.SCALED: (TypeId.M_ME_NB_1, TypeId.M_ME_TE_1),
    PointKind.FLOAT: (TypeId.M_ME_NC_1, TypeId.M_ME_TF_1),
    PointKind.COUNTER: (TypeId.M_IT_NA_1, TypeId.M_IT_TB_1),
}

# protection kinds: events only, with CP56Time2a (the CP24 types 17-19 are the 101 line's
# choice); no type without time tag: never interrogated, read or sent cyclically
PROTECTION_TYPES: dict[PointKind, TypeId] = {
    PointKind.PROTECTION: TypeId.M_EP_TD_1,
    PointKind.PROTECTION_START: TypeId.M_EP_TE_1,
    PointKind.PROTECTION_TRIP: TypeId.M_EP_TF_1,
}

# command type -> the point kind it operates
COMMAND_KINDS: dict[TypeId, PointKind] = {
    TypeId.C_SC_NA_1: PointKind.SINGLE_COMMAND,
    TypeId.C_SC_TA_1: PointKind.SINGLE_COMMAND,
    TypeId.C_DC_NA_1: PointKind.DOUBLE_COMMAND,
    TypeId.C_DC_TA_1: PointKind.DOUBLE_COMMAND,
    TypeId.C_RC_NA_1: PointKind.REGULATING_STEP,
    TypeId.C_RC_TA_1: PointKind.REGULATING_STEP,
    TypeId.C_SE_NA_1: PointKind.SETPOINT_NORMALIZED,
    TypeId.C_SE_TA_1: PointKind.SETPOINT_NORMALIZED,
    TypeId.C_SE_NB_1: PointKind.SETPOINT_SCALED,
    TypeId.C_SE_TB_1: PointKind.SETPOINT_SCALED,
    TypeId.C_SE_NC_1: PointKind.SETPOINT_FLOAT,
    TypeId.C_SE_TC_1: PointKind.SETPOINT_FLOAT,
    TypeId.C_BO_NA_1: PointKind.BITSTRING_COMMAND,
    TypeId.C_BO_TA_1: PointKind.BITSTRING_COMMAND,
}


def event_type(point: Point) -> TypeId:
    """The time-tagged type of a monitored point's events."""
    protection = PROTECTION_TYPES.get(point.kind)
    return protection if protection is not None else MONITOR_TYPES[point.kind][1]


EventMaker = Callable[[Point, PointValue, Cp56Time2a], InformationObject]


def _single_event(point: Point, pv: PointValue, time: Cp56Time2a) -> InformationObject:
    return SinglePoint(point.ioa, bool(pv.value), _QDS_BY_OCTET[int(pv.quality) & _SIQ_MASK],
                       time)


def _double_event(point: Point, pv: PointValue, time: Cp56Time2a) -> InformationObject:
    return DoublePoint(point.ioa, int(pv.value), _QDS_BY_OCTET[int(pv.quality) & _SIQ_MASK],
                       time)


# the kinds whose events are made as octets (EventRecord.wire; events._from_wire makes their
# objects back): the highest value of their element (codec_prebuilt.point_elements)
WIRE_TOPS: dict[PointKind, int] = {PointKind.SINGLE: 1, PointKind.DOUBLE: 3}


def event_recipe(point: Point) -> tuple[TypeId, EventMaker]:
    """How an event of ``point`` is made (it depends on the kind only): its time-tagged type
    and the function that makes its information object (the same object as
    :func:`monitor_object`, without going through every kind for the two commonest)."""
    kind = point.kind
    maker = _single_event if kind is PointKind.SINGLE else \
        _double_event if kind is PointKind.DOUBLE else monitor_object
    return event_type(point), maker


def chunk_by_type(points: list[Point]) -> deque[tuple[TypeId, list[Point]]]:
    """Points (in IOA order) grouped by the type without time tag that reports them."""
    by_type: dict[TypeId, list[Point]] = {}
    for point in points:
        by_type.setdefault(MONITOR_TYPES[point.kind][0], []).append(point)
    return deque(sorted(by_type.items()))


def monitor_object(point: Point, pv: PointValue, time: Cp56Time2a | None) -> InformationObject:
    """The information object reporting ``pv`` of a monitored point."""
    kind = point.kind
    q = int(pv.quality)
    if kind is PointKind.SINGLE:
        return SinglePoint(point.ioa, bool(pv.value), _QDS_BY_OCTET[q & _SIQ_MASK], time)
    if kind is PointKind.DOUBLE:
        return DoublePoint(point.ioa, int(pv.value), _QDS_BY_OCTET[q & _SIQ_MASK], time)
    qds = _QDS_BY_OCTET[q & _QDS_MASK]
    if kind is PointKind.STEP:
        return StepPosition(point.ioa, int(pv.value), bool(q & _TRANSIENT), qds, time)
    if kind is PointKind.BITSTRING:
        return Bitstring32(point.ioa, int(pv.value), qds, time)
    if kind is PointKind.NORMALIZED:
        raw = max(_INT16_MIN, min(_INT16_MAX, round(float(pv.value) * NORMALIZED_SCALE)))
        return MeasuredNormalized(point.ioa, raw, qds, time)
    if kind is PointKind.SCALED:
        return MeasuredScaled(point.ioa, int(pv.value), qds, time)
    if kind is PointKind.FLOAT:
        return MeasuredFloat(point.ioa, float(pv.value), qds, time)
    if kind is PointKind.COUNTER:
        return counter_object(point, pv, time, 0)
    if kind.is_protection:
        return protection_object(point, pv, time)
    raise ValueError(f"{point.name}: {kind.value} is not a monitored kind")


def counter_object(point: Point, pv: PointValue, time: Cp56Time2a | None, sequence: int) -> IntegratedTotal:
    q = pv.quality
    return IntegratedTotal(point.ioa, int(pv.value), sequence, bool(q & Quality.CY),
                           bool(q & Quality.CA), bool(q & Quality.IV), time)


def protection_object(point: Point, pv: PointValue, time: Cp56Time2a | None) -> InformationObject:
    """The event of a protection point (value: rtu.points.model.protection_value)."""
    bits, ms = protection_parts(int(pv.value))
    qdp = Qdp(int(pv.quality) & _QDP_MASK)
    if point.kind is PointKind.PROTECTION:
        return ProtectionEvent(point.ioa, bits, ms, qdp, time)
    if point.kind is PointKind.PROTECTION_START:
        return ProtectionStartEvents(point.ioa, bits, ms, qdp, time)
    return ProtectionOutputCircuit(point.ioa, bits, ms, qdp, time)
