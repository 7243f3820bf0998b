"""IEC 61850 values onto points: object references, the path to a member, quality and time
(the quality table is in :mod:`rtu.sources.iec61850.source`), and value conversion. Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Final

from open61850.data import (
    BitStringData,
    BoolData,
    FloatData,
    IECData,
    IntData,
    StructureData,
    TimestampData,
    UIntData,
)
from open61850.mms import (
    DataAccessError,
    ObjectName,
    Reference,
)
from open61850.mms.types import MmsType, PrimitiveType, StructureType, describe
from open61850.quality import Quality as Quality61850

from rtu.frozen import frozen
from rtu.points.model import DoublePointValue, PointKind, Quality
from rtu.points.timestamps import posix_seconds
from rtu.sources.iec61850.config import (
    Iec61850Report,
)

_EPOCH_UNSET: Final = 0.0  # a `t` never set by the device reads as 1970-01-01T00:00:00Z


# -- pure: references, types, values, quality ----------------------------------------------------
class MappingError(TypeError, ValueError):
    """A device value that does not fit where the configuration maps it."""


def object_name(reference: str, fc: str) -> ObjectName:
    """``"LD0/MMXU1.TotW.mag.f"``, ``"MX"`` -> ``LD0/MMXU1$MX$TotW$mag$f``."""
    return Reference.parse(reference, fc).object_name


def rcb_name(report: Iec61850Report) -> ObjectName:
    """``LD0/LLN0.brcbA01`` (buffered) -> ``LD0/LLN0$BR$brcbA01``."""
    domain, _, rest = report.rcb.partition("/")
    ln, _, name = rest.partition(".")
    return ObjectName(f"{ln}${'BR' if report.buffered else 'RP'}${name}", domain)


def control_object(reference: str) -> ObjectName:
    """``LD0/XCBR1.Pos`` -> ``LD0/XCBR1$CO$Pos``."""
    return object_name(reference, "CO")


def member_path(container: ObjectName, target: ObjectName) -> tuple[str, ...] | None:
    """The component names leading from ``container`` to ``target`` (``()`` when they are the
    same variable), or None when ``target`` does not lie inside ``container``."""
    if container.domain != target.domain:
        return None
    if target.item == container.item:
        return ()
    if target.item.startswith(container.item + "$"):
        return tuple(target.item[len(container.item) + 1:].split("$"))
    return None


@frozen
class Location:
    """Where a point's value, quality and time stamp are inside a container's value."""

    value: tuple[int, ...]  # component indexes from the container's value
    quality: tuple[int, ...] | None  # of the nearest enclosing `q`, if there is one
    time: tuple[int, ...] | None  # of the nearest enclosing `t`


def locate(container: MmsType | None, names: Sequence[str]) -> Location:
    """Turn component ``names`` into indexes; ValueError when the type has no such path."""
    indexes: list[int] = []
    quality: tuple[int, ...] | None = None
    stamp: tuple[int, ...] | None = None
    current = container
    for depth in range(len(names) + 1):
        if isinstance(current, StructureType):
            members = [n for n, _ in current.components]
            if "q" in members and "t" in members:  # the nearest such structure wins
                quality = (*indexes, members.index("q"))
                stamp = (*indexes, members.index("t"))
        if depth == len(names):
            break
        name = names[depth]
        if not isinstance(current, StructureType) or current.component(name) is None:
            raise ValueError(f"no component {name!r} at {'.'.join(names[:depth]) or 'the top'}")
        index = [n for n, _ in current.components].index(name)
        indexes.append(index)
        current = current.components[index][1]
    return Location(tuple(indexes), quality, stamp)


def pick(value: IECData, path: tuple[int, ...]) -> IECData:
    """The component at ``path``; ValueError when the value does not have that shape."""
    for index in path:
        if not isinstance(value, StructureData) or index >= len(value.members):
            raise ValueError(f"value has no component #{index}: {value!r}")
        value = value.members[index]
    return value


def map_quality(value: IECData | None) -> Quality:
    """IEC 61850 Quality (a 13-bit string) -> IEC 60870-5 quality bits (see the module doc)."""
    if not isinstance(value, BitStringData):
        return Quality.GOOD
    q = Quality61850.from_bitstring(value)
    result = Quality.GOOD
    if q.validity == "invalid":
        result |= Quality.IV
    elif q.validity == "questionable":
        result |= Quality.NT
    if "overflow" in q.details:
        result |= Quality.OV
    if "old-data" in q.details:
        result |= Quality.NT
    if q.substituted:
        result |= Quality.SB
    if q.operator_blocked:
        result |= Quality.BL
    if q.test:
        result |= Quality.IV
    return result


def posix_time(value: IECData | None) -> float | None:
    """A UtcTime as POSIX seconds; None when absent or never set by the device (epoch 0)."""
    if not isinstance(value, TimestampData) or not isinstance(value.value, datetime):
        return None
    seconds = posix_seconds(value.value)
    return None if seconds == _EPOCH_UNSET else seconds


def _bits(value: BitStringData) -> list[bool]:
    out = [bool(byte & (0x80 >> i)) for byte in value.value for i in range(8)]
    return out[:len(out) - value.unused_bits] if value.unused_bits else out


def convert(kind: PointKind, value: IECData, scale: float = 1.0,
            offset: float = 0.0) -> bool | int | float:
    """A point value of ``kind`` from an MMS value; ValueError when they do not fit."""
    if isinstance(value, DataAccessError):
        raise MappingError(f"the device answered {value}")
    if kind is PointKind.SINGLE:
        if isinstance(value, BoolData):
            return value.value
        raise MappingError(f"a single point needs a BOOLEAN, got {value!r}")
    if kind is PointKind.DOUBLE:
        if isinstance(value, BitStringData) and len(_bits(value)) >= 2:
            bits = _bits(value)  # Dbpos: 00 intermediate, 01 off, 10 on, 11 bad: as DPI 0..3
            return (int(bits[0]) << 1) | int(bits[1])
        raise MappingError(f"a double point needs a Dbpos (BIT STRING of 2), got {value!r}")
    if kind is PointKind.BITSTRING:
        if isinstance(value, BitStringData):
            raw = 0
            for i, bit in enumerate(_bits(value)[:32]):  # first bit -> bit 0
                raw |= int(bit) << i
            return raw
        if isinstance(value, IntData | UIntData):
            return value.value & 0xFFFFFFFF
        raise MappingError(f"a bitstring point needs a BIT STRING or an integer, got {value!r}")
    number: float
    if isinstance(value, FloatData | IntData | UIntData) and not isinstance(value, BoolData):
        number = value.value
    else:
        raise MappingError(f"a {kind.value} point needs a number, got {value!r}")
    if scale != 1.0 or offset != 0.0:
        number = number * scale + offset
    if kind in (PointKind.COUNTER, PointKind.STEP, PointKind.SCALED):
        if not math.isfinite(number):
            raise ValueError(f"{number} is not a finite number")
        return round(number)
    return float(number)


_FLOAT32_MAX: Final = 3.4028234663852886e38
_INT32: Final = (-(2**31), 2**31 - 1)
_SETPOINTS: Final = frozenset({PointKind.SETPOINT_NORMALIZED, PointKind.SETPOINT_SCALED,
                               PointKind.SETPOINT_FLOAT})


def ctl_val_type(oper: MmsType) -> MmsType | None:
    """The type of ``ctlVal`` inside an ``Oper`` structure's type (None when it has none)."""
    return oper.component("ctlVal") if isinstance(oper, StructureType) else None


def ctl_value(kind: PointKind, value: bool | float, ctl_type: MmsType | None,
              scale: float = 1.0, offset: float = 0.0) -> IECData:
    """The ctlVal of a command of ``kind`` for a control object whose ctlVal has ``ctl_type``:
    a BOOLEAN for single and double commands (SPC, DPC), an AnalogueValue {i, f} for
    set-points (APC) with ctlVal = (value - offset) / scale. MappingError when the object is
    not of the class the command needs or the value does not fit."""
    if kind in (PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND):
        if not (isinstance(ctl_type, PrimitiveType) and ctl_type.kind == "boolean"):
            raise MappingError(f"not a binary control (SPC, DPC): its ctlVal is "
                               f"{describe(ctl_type)}")
        if kind is PointKind.SINGLE_COMMAND:
            return BoolData(bool(value))
        if value not in (DoublePointValue.ON, DoublePointValue.OFF):
            raise MappingError(f"double command value {value!r} has no IEC 61850 ctlVal")
        return BoolData(value == DoublePointValue.ON)
    if kind not in _SETPOINTS:
        raise MappingError(f"a {kind.value} command has no IEC 61850 control here")
    members = ctl_type.components if isinstance(ctl_type, StructureType) else []
    names = [name for name, _ in members]
    if not names or not set(names) <= {"i", "f"}:
        raise MappingError(f"not an analogue control (APC, ctlVal an AnalogueValue): its "
                           f"ctlVal is {describe(ctl_type)}")
    raw = (float(value) - offset) / scale
    if not math.isfinite(raw) or abs(raw) > _FLOAT32_MAX:
        raise MappingError(f"{value!r} gives ctlVal {raw!r}, which a FLOAT32 cannot hold")
    out: list[IECData] = []
    for name in names:
        if name == "f":
            out.append(FloatData(raw))
            continue
        whole = round(raw)
        if not _INT32[0] <= whole <= _INT32[1]:
            raise MappingError(f"{value!r} gives ctlVal.i {whole}, which an INT32 cannot hold")
        out.append(IntData(whole))
    return StructureData(out)


# -- bindings: which point is where ---------------------------------------------------------------
