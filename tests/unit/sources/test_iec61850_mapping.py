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

from rtu.points.model import DoublePointValue, PointKind, Quality
from rtu.sources.iec61850.config import Iec61850Report
from rtu.sources.iec61850.mapping import (
    Location,
    MappingError,
    control_object,
    convert,
    ctl_val_type,
    ctl_value,
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


BOOLEAN = PrimitiveType("boolean")
ANALOGUE_F = StructureType([("f", PrimitiveType("float", 32))])
ANALOGUE_IF = StructureType([("i", PrimitiveType("integer", 32)),
                             ("f", PrimitiveType("float", 32))])


def test_ctl_val_type_is_found_in_the_oper_structure() -> None:
    oper = StructureType([("ctlVal", ANALOGUE_F), ("origin", StructureType([])),
                          ("ctlNum", PrimitiveType("unsigned", 8))])
    assert ctl_val_type(oper) == ANALOGUE_F
    assert ctl_val_type(BOOLEAN) is None


def test_set_points_become_an_analogue_value_binary_commands_a_boolean() -> None:
    assert ctl_value(PointKind.SETPOINT_FLOAT, 12.5, ANALOGUE_F) == StructureData(
        [FloatData(12.5)])
    # ctlVal = (value - offset) / scale, in every member the AnalogueValue has
    assert ctl_value(PointKind.SETPOINT_SCALED, 110, ANALOGUE_IF, scale=0.5, offset=10.0) == \
        StructureData([IntData(200), FloatData(200.0)])
    assert ctl_value(PointKind.SETPOINT_NORMALIZED, -0.5, ANALOGUE_F) == StructureData(
        [FloatData(-0.5)])
    assert ctl_value(PointKind.SINGLE_COMMAND, True, BOOLEAN) == BoolData(True)
    assert ctl_value(PointKind.DOUBLE_COMMAND, DoublePointValue.OFF, BOOLEAN) == BoolData(False)


@pytest.mark.parametrize(("kind", "value", "ctl_type", "message"), [
    (PointKind.SETPOINT_FLOAT, 1.0, BOOLEAN,
     "not an analogue control (APC, ctlVal an AnalogueValue): its ctlVal is boolean"),
    (PointKind.SETPOINT_FLOAT, 1.0, None, "its ctlVal is ?"),
    (PointKind.SETPOINT_SCALED, 1.0, PrimitiveType("integer", 32), "its ctlVal is integer32"),
    (PointKind.DOUBLE_COMMAND, DoublePointValue.ON, ANALOGUE_F,
     "not a binary control (SPC, DPC): its ctlVal is structure of 1"),
    (PointKind.SETPOINT_FLOAT, 1e39, ANALOGUE_F, "which a FLOAT32 cannot hold"),
    (PointKind.SETPOINT_FLOAT, float("nan"), ANALOGUE_F, "which a FLOAT32 cannot hold"),
    (PointKind.SETPOINT_FLOAT, 3e9, ANALOGUE_IF, "which an INT32 cannot hold"),
    (PointKind.DOUBLE_COMMAND, DoublePointValue.INDETERMINATE, BOOLEAN, "has no IEC 61850"),
    (PointKind.REGULATING_STEP, 1, BOOLEAN, "regulating_step command has no IEC 61850"),
])
def test_a_command_the_object_cannot_take_is_a_mapping_error(
        kind: PointKind, value: float, ctl_type: PrimitiveType | None, message: str) -> None:
    with pytest.raises(MappingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ctl_value(kind, value, ctl_type)
