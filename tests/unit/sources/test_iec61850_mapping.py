"""The pure parts of the IEC 61850 source: names, type paths, values and quality mapping."""

from __future__ import annotations

import datetime as dt

import pytest
from open61850.data import (
    BitStringData,
    BoolData,
    FloatData,
    IntData,
    StructureData,
    TimestampData,
    UIntData,
    VisibleStringData,
)
from open61850.mms import DataAccessError, ObjectName
from open61850.mms.types import PrimitiveType, StructureType

from rtu.points.model import PointKind, Quality
from rtu.sources.iec61850.config import Iec61850Report
from rtu.sources.iec61850.mapping import (
    Location,
    MappingError,
    control_object,
    convert,
    locate,
    map_quality,
    member_path,
    object_name,
    pick,
    posix_time,
    rcb_name,
)


def quality(*bits: int) -> BitStringData:
    """A 13-bit IEC 61850 quality with the given bit numbers set (bit 0 first)."""
    raw = bytearray(2)
    for b in bits:
        raw[b // 8] |= 0x80 >> (b % 8)
    return BitStringData(bytes(raw), 3)


def test_names() -> None:
    assert object_name("LD0/MMXU1.TotW.mag.f", "MX") == ObjectName("MMXU1$MX$TotW$mag$f", "LD0")
    assert control_object("LD0/XCBR1.Pos") == ObjectName("XCBR1$CO$Pos", "LD0")
    assert rcb_name(Iec61850Report("LD0/LLN0.brcb01", True)) == ObjectName("LLN0$BR$brcb01",
                                                                          "LD0")
    assert rcb_name(Iec61850Report("LD0/LLN0.urcb01", False)) == ObjectName("LLN0$RP$urcb01",
                                                                           "LD0")
    member = ObjectName("MMXU1$MX$TotW", "LD0")
    assert member_path(member, ObjectName("MMXU1$MX$TotW$mag$f", "LD0")) == ("mag", "f")
    assert member_path(member, member) == ()
    assert member_path(member, ObjectName("MMXU1$MX$TotWh", "LD0")) is None
    assert member_path(member, ObjectName("MMXU1$MX$TotW$mag$f", "LD1")) is None


MV = StructureType([
    ("mag", StructureType([("f", PrimitiveType("float"))])),
    ("q", PrimitiveType("bit-string", 13)),
    ("t", PrimitiveType("utc-time")),
])


def test_locate_finds_the_nearest_q_and_t() -> None:
    assert locate(MV, ("mag", "f")) == Location((0, 0), (1,), (2,))
    # a data set member that is the attribute itself has no q/t of its own
    assert locate(PrimitiveType("float"), ()) == Location((), None, None)
    wye = StructureType([("phsA", MV), ("q", PrimitiveType("bit-string", 13)),
                         ("t", PrimitiveType("utc-time"))])
    assert locate(wye, ("phsA", "mag", "f")) == Location((0, 0, 0), (0, 1), (0, 2))
    with pytest.raises(ValueError, match="no component 'g' at mag"):
        locate(MV, ("mag", "g"))


def test_pick_and_time() -> None:
    when = dt.datetime(2021, 1, 2, 3, 4, 5, 500000, tzinfo=dt.UTC)
    value = StructureData([StructureData([FloatData(7.5)]), quality(), TimestampData(when)])
    assert pick(value, (0, 0)) == FloatData(7.5)
    assert posix_time(pick(value, (2,))) == when.timestamp()
    assert posix_time(TimestampData(dt.datetime(1970, 1, 1, tzinfo=dt.UTC))) is None  # unset
    with pytest.raises(ValueError):
        pick(value, (0, 0, 0))


@pytest.mark.parametrize(("bits", "expected"), [
    ((), Quality.GOOD),
    ((1,), Quality.IV),  # validity invalid (01)
    ((0, 1), Quality.NT),  # questionable (11)
    ((2,), Quality.OV),  # overflow
    ((7,), Quality.NT),  # oldData
    ((10,), Quality.SB),  # source substituted
    ((11,), Quality.IV),  # test
    ((12,), Quality.BL),  # operatorBlocked
    ((0, 1, 7, 10, 2), Quality.NT | Quality.SB | Quality.OV),
    ((5,), Quality.GOOD),  # oscillatory alone: the device sets validity with it
])
def test_quality_mapping(bits: tuple[int, ...], expected: Quality) -> None:
    assert map_quality(quality(*bits)) == expected


def test_quality_absent_is_good() -> None:
    assert map_quality(None) == Quality.GOOD


def test_convert() -> None:
    assert convert(PointKind.SINGLE, BoolData(True)) is True
    assert convert(PointKind.DOUBLE, BitStringData(b"\x80", 6)) == 2  # Dbpos on
    assert convert(PointKind.DOUBLE, BitStringData(b"\x40", 6)) == 1  # off
    assert convert(PointKind.DOUBLE, BitStringData(b"\xc0", 6)) == 3  # bad state
    assert convert(PointKind.FLOAT, FloatData(1000.0), 0.001, 1.0) == pytest.approx(2.0)
    assert convert(PointKind.COUNTER, IntData(12345)) == 12345
    assert convert(PointKind.SCALED, UIntData(7), 2.0) == 14
    assert convert(PointKind.BITSTRING, BitStringData(b"\xa0", 4)) == 0b0101
    for kind, value in [(PointKind.SINGLE, FloatData(1.0)), (PointKind.FLOAT, BoolData(True)),
                        (PointKind.DOUBLE, BoolData(True)),
                        (PointKind.FLOAT, VisibleStringData("x")),
                        (PointKind.FLOAT, DataAccessError(10))]:
        with pytest.raises(MappingError):
            convert(kind, value)
    with pytest.raises(ValueError, match="finite"):
        convert(PointKind.COUNTER, FloatData(float("nan")))
