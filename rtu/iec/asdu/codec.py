"""The one ASDU codec of IEC 60870-5-101 and -104, parameterised by field sizes.

Wire layout (IEC 60870-5-101 clause 7.1; 104 is the profile COT=2, CA=2, IOA=3)::

    type id (1) | VSQ (1: bit7 SQ, bits0-6 count) | COT (bits0-5 cause, bit6 P/N, bit7 T)
    [originator (1) if cot_size == 2] | common address (ca_size, LE) | objects

SQ=0: every object is IOA (ioa_size octets, LE) followed by its element(s).
SQ=1: one IOA, then the elements of the objects with consecutive IOAs.

Pure functions only: no I/O, no clock. Per-type encoders and decoders are built once in
tables indexed by type id, and every fixed layout uses a precompiled ``struct.Struct``.

Decoding tolerates reserved bits that are set but rejects out-of-range time tag fields.
Encoding is strict: anything that cannot be represented exactly is our bug and raises
``LocalProtocolError``. As ``objects.py`` says, the type id decides whether an object's
``time`` travels: the time of an object sent with a type without time tag is not encoded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from rtu.iec.asdu.objects import (
    TIME_TAGGED_TYPES,
    Asdu,
    Bitstring32,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    Cp56Time2a,
    DoubleCommand,
    DoublePoint,
    EndOfInitialization,
    InformationObject,
    IntegratedTotal,
    InterrogationCommand,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredNormalizedNoQuality,
    MeasuredScaled,
    ReadCommand,
    RegulatingStepCommand,
    ResetProcessCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
    SinglePoint,
    StepPosition,
    TestCommand,
    TestCommandWithTime,
)
from rtu.iec.asdu.types import Cot, DoublePointValue, Qds, TypeId
from rtu.iec.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "PROFILE_104",
    "AsduError",
    "AsduHeader",
    "AsduProfile",
    "MalformedAsduError",
    "UnknownCauseError",
    "UnknownTypeError",
    "decode_asdu",
    "decode_header",
    "encode_asdu",
    "negative_mirror",
    "object_size",
    "pack_objects",
]

# --- data unit identifier -------------------------------------------------------------------

TYPE_ID_OCTETS: Final = 1
VSQ_OCTETS: Final = 1
VSQ_SEQUENCE: Final = 0x80  # SQ bit: one IOA, consecutive addresses
VSQ_COUNT_MASK: Final = 0x7F
MAX_OBJECTS: Final = 0x7F  # the count field is 7 bits

COT_CAUSE_MASK: Final = 0x3F
COT_NEGATIVE: Final = 0x40  # P/N bit
COT_TEST: Final = 0x80  # T bit
COT_OCTET_OFFSET: Final = TYPE_ID_OCTETS + VSQ_OCTETS  # index of the first COT octet
ORIGINATOR_MAX: Final = 0xFF

COT_SIZES: Final = (1, 2)
COT_SIZE_WITH_ORIGINATOR: Final = 2
CA_SIZE_TWO_OCTETS: Final = 2
CA_SIZES: Final = (1, 2)
IOA_SIZES: Final = (1, 2, 3)
OCTET_BITS: Final = 8
BYTE_VALUES: Final = 256
# An FT1.2 frame carries at most 255 octets of control + address + ASDU, so no ASDU is longer
# than 254 octets; 104 allows 253 - 4 APCI octets = 249.
MAX_ASDU_LENGTH_LIMIT: Final = 254
DEFAULT_MAX_ASDU_LENGTH: Final = 249

# --- information elements -------------------------------------------------------------------

SIQ_SPI: Final = 0x01
SIQ_QUALITY_MASK: Final = 0xF0  # IV NT SB BL (also DIQ)
DIQ_DPI_MASK: Final = 0x03
QDS_QUALITY_MASK: Final = 0xF1  # IV NT SB BL OV
VTI_VALUE_MASK: Final = 0x7F
VTI_SIGN: Final = 0x40
VTI_TRANSIENT: Final = 0x80
VTI_MIN: Final = -64
VTI_MAX: Final = 63
BCR_SEQUENCE_MASK: Final = 0x1F
BCR_CARRY: Final = 0x20
BCR_ADJUSTED: Final = 0x40
BCR_INVALID: Final = 0x80
CMD_STATE_SCS: Final = 0x01
CMD_STATE_DCS_MASK: Final = 0x03  # DCS and RCS
CMD_QU_SHIFT: Final = 2
CMD_QU_MASK: Final = 0x1F  # after the shift
CMD_SELECT: Final = 0x80  # S/E bit of SCO, DCO, RCO and QOS
QOS_QL_MASK: Final = 0x7F
COI_CAUSE_MASK: Final = 0x7F
COI_AFTER_PARAMETER_CHANGE: Final = 0x80
QCC_RQT_MASK: Final = 0x3F
QCC_FRZ_SHIFT: Final = 6
QCC_FRZ_MASK: Final = 0x03  # after the shift

# --- CP56Time2a -----------------------------------------------------------------------------

CP56_OCTETS: Final = 7
CP56_MS_MAX: Final = 59_999
CP56_MINUTE_MASK: Final = 0x3F
CP56_MINUTE_MAX: Final = 59
CP56_INVALID: Final = 0x80
CP56_HOUR_MASK: Final = 0x1F
CP56_HOUR_MAX: Final = 23
CP56_SUMMER_TIME: Final = 0x80
CP56_DAY_MASK: Final = 0x1F
CP56_DAY_MIN: Final = 1
CP56_DAY_MAX: Final = 31
CP56_WEEKDAY_SHIFT: Final = 5
CP56_WEEKDAY_MAX: Final = 7
CP56_MONTH_MASK: Final = 0x0F
CP56_MONTH_MIN: Final = 1
CP56_MONTH_MAX: Final = 12
CP56_YEAR_MASK: Final = 0x7F
CP56_YEAR_MAX: Final = 99

_U8: Final = struct.Struct("<B")
_U16: Final = struct.Struct("<H")
_I16: Final = struct.Struct("<h")
_U32: Final = struct.Struct("<I")
_U8_U8: Final = struct.Struct("<BB")
_I16_U8: Final = struct.Struct("<hB")
_U32_U8: Final = struct.Struct("<IB")
_I32_U8: Final = struct.Struct("<iB")
_F32_U8: Final = struct.Struct("<fB")
_CP56: Final = struct.Struct("<HBBBBB")

_ENCODE_ERRORS: Final = (struct.error, OverflowError)


# ============================================================================================
# Errors
# ============================================================================================


@dataclass(frozen=True, slots=True)
class AsduHeader:
    """The data unit identifier of a received ASDU, as raw numbers (no enum conversion)."""

    type_id: int
    sequence: bool
    count: int
    cause: int
    negative: bool
    test: bool
    originator: int
    common_address: int


class AsduError(RemoteProtocolError):
    """A received ASDU could not be decoded. ``raw`` is the ASDU as received; ``header`` is its
    data unit identifier when the ASDU was long enough to hold one."""

    def __init__(self, message: str, raw: bytes, header: AsduHeader | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.header = header


class UnknownTypeError(AsduError):
    """The type id is not one we know or decode (answer with COT 44, negative mirror)."""


class UnknownCauseError(AsduError):
    """The cause of transmission is not one of ``Cot`` (answer with COT 45, negative mirror)."""


class MalformedAsduError(AsduError):
    """Too short, wrong length for its count, bad time tag fields, or otherwise broken."""


class _BadTimeTag(Exception):
    """Internal: a CP56Time2a field out of range while decoding."""


# ============================================================================================
# Profile
# ============================================================================================


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a profile means for the codec, computed once per profile."""

    header_length: int
    ioa_size: int
    ioa_max: int
    ca_max: int
    cot_size: int
    max_length: int
    header: struct.Struct


_LAYOUTS: dict[AsduProfile, _Layout] = {}
# The profile used last and its layout: saves hashing the profile on every encode.
_last_layout: tuple[AsduProfile | None, _Layout]


@dataclass(frozen=True, slots=True)
class AsduProfile:
    """Field sizes of the data unit identifier and IOA, and the longest ASDU the link carries."""

    cot_size: int = 2  # 1 or 2 (2 = with originator address)
    ca_size: int = 2  # 1 or 2
    ioa_size: int = 3  # 1, 2 or 3
    max_asdu_length: int = DEFAULT_MAX_ASDU_LENGTH  # octets of the whole ASDU

    def __post_init__(self) -> None:
        for name in ("cot_size", "ca_size", "ioa_size", "max_asdu_length"):
            value = getattr(self, name)
            if type(value) is not int:
                raise ValueError(f"{name} must be an int, got {value!r}")
        if self.cot_size not in COT_SIZES:
            raise ValueError(f"cot_size must be 1 or 2 octets, got {self.cot_size!r}")
        if self.ca_size not in CA_SIZES:
            raise ValueError(f"ca_size must be 1 or 2 octets, got {self.ca_size!r}")
        if self.ioa_size not in IOA_SIZES:
            raise ValueError(f"ioa_size must be 1, 2 or 3 octets, got {self.ioa_size!r}")
        smallest = (
            TYPE_ID_OCTETS
            + VSQ_OCTETS
            + self.cot_size
            + self.ca_size
            + self.ioa_size
            + _LARGEST_OBJECT_ELEMENT
        )
        if not smallest <= self.max_asdu_length <= MAX_ASDU_LENGTH_LIMIT:
            raise ValueError(
                f"max_asdu_length must be between {smallest} (room for one object of every type"
                f" with this profile) and {MAX_ASDU_LENGTH_LIMIT} octets,"
                f" got {self.max_asdu_length!r}"
            )
        _register(self)

    @property
    def header_length(self) -> int:
        """Octets of the data unit identifier (type id, VSQ, COT, common address)."""
        return _layout_of(self).header_length


def _register(profile: AsduProfile) -> _Layout:
    fmt = (
        "<BBB"
        + ("B" if profile.cot_size == COT_SIZE_WITH_ORIGINATOR else "")
        + ("H" if profile.ca_size == CA_SIZE_TWO_OCTETS else "B")
    )
    layout = _Layout(
        header_length=TYPE_ID_OCTETS + VSQ_OCTETS + profile.cot_size + profile.ca_size,
        ioa_size=profile.ioa_size,
        ioa_max=(1 << (OCTET_BITS * profile.ioa_size)) - 1,
        ca_max=(1 << (OCTET_BITS * profile.ca_size)) - 1,
        cot_size=profile.cot_size,
        max_length=profile.max_asdu_length,
        header=struct.Struct(fmt),
    )
    _LAYOUTS[profile] = layout
    return layout


def _layout_of(profile: AsduProfile) -> _Layout:
    global _last_layout
    layout = _LAYOUTS.get(profile)
    if layout is None:  # a profile made without __init__ (unpickled) registers on first use
        layout = _register(profile)
    _last_layout = (profile, layout)
    return layout


# ============================================================================================
# Lookup tables
# ============================================================================================

_OCTET: Final = tuple(bytes((i,)) for i in range(BYTE_VALUES))

_SIQ_QUALITY: Final = tuple(Qds(i & SIQ_QUALITY_MASK) for i in range(BYTE_VALUES))
_QDS_QUALITY: Final = tuple(Qds(i & QDS_QUALITY_MASK) for i in range(BYTE_VALUES))
# Quality values allowed in an element -> the same value as a plain int (Qds keys hash as ints).
_SIQ_ENCODE: Final[dict[int, int]] = {
    i: i for i in range(BYTE_VALUES) if i & ~SIQ_QUALITY_MASK == 0
}
_QDS_ENCODE: Final[dict[int, int]] = {
    i: i for i in range(BYTE_VALUES) if i & ~QDS_QUALITY_MASK == 0
}
# DPI values (plain ints or DoublePointValue) -> plain int
_DPI_ENCODE: Final[dict[int, int]] = {i: i for i in range(DIQ_DPI_MASK + 1)}
_DPI: Final = tuple(DoublePointValue(i & DIQ_DPI_MASK) for i in range(BYTE_VALUES))
_VTI_VALUE: Final = tuple(((i & VTI_VALUE_MASK) ^ VTI_SIGN) - VTI_SIGN for i in range(BYTE_VALUES))
_COT_BY_VALUE: Final[tuple[Cot | None, ...]] = tuple(
    Cot(i) if i in {c.value for c in Cot} else None for i in range(COT_CAUSE_MASK + 1)
)
# Cot (or an int of its value) -> the plain int, for the encoder
_COT_ENCODE: Final[dict[int, int]] = {c.value: c.value for c in Cot}


# ============================================================================================
# CP56Time2a
# ============================================================================================


def _encode_cp56(t: Cp56Time2a | None, ioa: int) -> bytes:
    if t is None:
        raise LocalProtocolError(f"IOA {ioa}: missing time tag for a time-tagged type")
    ms = t.milliseconds
    minute = t.minute
    hour = t.hour
    day = t.day
    month = t.month
    year = t.year
    weekday = t.weekday
    if not (
        0 <= ms <= CP56_MS_MAX
        and 0 <= minute <= CP56_MINUTE_MAX
        and 0 <= hour <= CP56_HOUR_MAX
        and CP56_DAY_MIN <= day <= CP56_DAY_MAX
        and CP56_MONTH_MIN <= month <= CP56_MONTH_MAX
        and 0 <= year <= CP56_YEAR_MAX
        and 0 <= weekday <= CP56_WEEKDAY_MAX
    ):
        raise LocalProtocolError(f"IOA {ioa}: time tag field out of range: {t!r}")
    return _CP56.pack(
        ms,
        minute | CP56_INVALID if t.invalid else minute,
        hour | CP56_SUMMER_TIME if t.summer_time else hour,
        day | weekday << CP56_WEEKDAY_SHIFT,
        month,
        year,
    )


def _decode_cp56(data: bytes, offset: int) -> Cp56Time2a:
    ms, minute_octet, hour_octet, day_octet, month_octet, year_octet = _CP56.unpack_from(
        data, offset
    )
    minute = minute_octet & CP56_MINUTE_MASK
    hour = hour_octet & CP56_HOUR_MASK
    day = day_octet & CP56_DAY_MASK
    month = month_octet & CP56_MONTH_MASK
    year = year_octet & CP56_YEAR_MASK
    if (
        ms > CP56_MS_MAX
        or minute > CP56_MINUTE_MAX
        or hour > CP56_HOUR_MAX
        or day < CP56_DAY_MIN
        or not CP56_MONTH_MIN <= month <= CP56_MONTH_MAX
        or year > CP56_YEAR_MAX
    ):
        raise _BadTimeTag(
            f"time tag out of range at offset {offset}: ms={ms} minute={minute} hour={hour}"
            f" day={day} month={month} year={year}"
        )
    return Cp56Time2a(
        ms,
        minute,
        hour,
        day,
        month,
        year,
        day_octet >> CP56_WEEKDAY_SHIFT,
        bool(minute_octet & CP56_INVALID),
        bool(hour_octet & CP56_SUMMER_TIME),
    )


# ============================================================================================
# Element encoders (element only: no IOA, no time tag)
# ============================================================================================


def _out_of_range(obj: InformationObject, name: str, value: object) -> LocalProtocolError:
    return LocalProtocolError(f"IOA {obj.ioa}: {type(obj).__name__}.{name} out of range: {value!r}")


def _bad_quality(obj: InformationObject, allowed: str) -> LocalProtocolError:
    quality = getattr(obj, "quality", None)
    return _out_of_range(obj, f"quality (the element has {allowed} only)", quality)


def _enc_single_point(obj: SinglePoint) -> bytes:
    q = _SIQ_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL")
    return _OCTET[q | SIQ_SPI if obj.value else q]


def _enc_double_point(obj: DoublePoint) -> bytes:
    q = _SIQ_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL")
    value = _DPI_ENCODE.get(obj.value)
    if value is None:
        raise _out_of_range(obj, "value", obj.value)
    return _OCTET[q | value]


def _enc_step_position(obj: StepPosition) -> bytes:
    q = _QDS_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL OV")
    value = obj.value
    if not VTI_MIN <= value <= VTI_MAX:
        raise _out_of_range(obj, "value", value)
    vti = value & VTI_VALUE_MASK
    return _U8_U8.pack(vti | VTI_TRANSIENT if obj.transient else vti, q)


def _enc_bitstring(obj: Bitstring32) -> bytes:
    q = _QDS_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL OV")
    return _U32_U8.pack(obj.value, q)


def _enc_measured_normalized(obj: MeasuredNormalized) -> bytes:
    q = _QDS_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL OV")
    return _I16_U8.pack(obj.value, q)


def _enc_measured_scaled(obj: MeasuredScaled) -> bytes:
    q = _QDS_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL OV")
    return _I16_U8.pack(obj.value, q)


def _enc_measured_float(obj: MeasuredFloat) -> bytes:
    q = _QDS_ENCODE.get(obj.quality)
    if q is None:
        raise _bad_quality(obj, "IV NT SB BL OV")
    return _F32_U8.pack(obj.value, q)


def _enc_integrated_total(obj: IntegratedTotal) -> bytes:
    seq = obj.sequence
    if not 0 <= seq <= BCR_SEQUENCE_MASK:
        raise _out_of_range(obj, "sequence", seq)
    if obj.carry:
        seq |= BCR_CARRY
    if obj.adjusted:
        seq |= BCR_ADJUSTED
    if obj.invalid:
        seq |= BCR_INVALID
    return _I32_U8.pack(obj.value, seq)


def _enc_normalized_no_quality(obj: MeasuredNormalizedNoQuality) -> bytes:
    return _I16.pack(obj.value)


def _command_qualifier(
    obj: SingleCommand | DoubleCommand | RegulatingStepCommand, state: int
) -> bytes:
    qu = obj.qu
    if not 0 <= qu <= CMD_QU_MASK:
        raise _out_of_range(obj, "qu", qu)
    octet = state | qu << CMD_QU_SHIFT
    return _OCTET[octet | CMD_SELECT if obj.select else octet]


def _enc_single_command(obj: SingleCommand) -> bytes:
    return _command_qualifier(obj, CMD_STATE_SCS if obj.state else 0)


def _enc_double_command(obj: DoubleCommand | RegulatingStepCommand) -> bytes:
    state = obj.state
    if not 0 <= state <= CMD_STATE_DCS_MASK:
        raise _out_of_range(obj, "state", state)
    return _command_qualifier(obj, state)


def _qos(obj: SetpointNormalized | SetpointScaled | SetpointFloat) -> int:
    ql = obj.ql
    if not 0 <= ql <= QOS_QL_MASK:
        raise _out_of_range(obj, "ql", ql)
    return ql | CMD_SELECT if obj.select else ql


def _enc_setpoint_normalized(obj: SetpointNormalized) -> bytes:
    return _I16_U8.pack(obj.value, _qos(obj))


def _enc_setpoint_scaled(obj: SetpointScaled) -> bytes:
    return _I16_U8.pack(obj.value, _qos(obj))


def _enc_setpoint_float(obj: SetpointFloat) -> bytes:
    return _F32_U8.pack(obj.value, _qos(obj))


def _enc_bitstring_command(obj: Bitstring32Command) -> bytes:
    return _U32.pack(obj.value)


def _enc_end_of_init(obj: EndOfInitialization) -> bytes:
    cause = obj.cause
    if not 0 <= cause <= COI_CAUSE_MASK:
        raise _out_of_range(obj, "cause", cause)
    return _OCTET[cause | COI_AFTER_PARAMETER_CHANGE if obj.after_parameter_change else cause]


def _enc_interrogation(obj: InterrogationCommand) -> bytes:
    return _U8.pack(obj.qoi)


def _enc_counter_interrogation(obj: CounterInterrogationCommand) -> bytes:
    rqt = obj.rqt
    frz = obj.frz
    if not 0 <= rqt <= QCC_RQT_MASK:
        raise _out_of_range(obj, "rqt", rqt)
    if not 0 <= frz <= QCC_FRZ_MASK:
        raise _out_of_range(obj, "frz", frz)
    return _OCTET[rqt | frz << QCC_FRZ_SHIFT]


def _enc_nothing(obj: ReadCommand | ClockSyncCommand) -> bytes:
    return b""


def _enc_test(obj: TestCommand) -> bytes:
    return _U16.pack(obj.fbp)


def _enc_reset_process(obj: ResetProcessCommand) -> bytes:
    return _U8.pack(obj.qrp)


def _enc_test_with_time(obj: TestCommandWithTime) -> bytes:
    return _U16.pack(obj.tsc)


# ============================================================================================
# Element decoders: (data, offset of the element, ioa, decoded time tag or None) -> record
# ============================================================================================

_Decoder = Callable[[bytes, int, int, Cp56Time2a | None], InformationObject]


def _dec_single_point(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> SinglePoint:
    siq = data[off]
    return SinglePoint(ioa, bool(siq & SIQ_SPI), _SIQ_QUALITY[siq], time)


def _dec_double_point(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> DoublePoint:
    diq = data[off]
    return DoublePoint(ioa, _DPI[diq], _SIQ_QUALITY[diq], time)


def _dec_step_position(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> StepPosition:
    vti, qds = _U8_U8.unpack_from(data, off)
    return StepPosition(ioa, _VTI_VALUE[vti], bool(vti & VTI_TRANSIENT), _QDS_QUALITY[qds], time)


def _dec_bitstring(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> Bitstring32:
    value, qds = _U32_U8.unpack_from(data, off)
    return Bitstring32(ioa, value, _QDS_QUALITY[qds], time)


def _dec_measured_normalized(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> MeasuredNormalized:
    value, qds = _I16_U8.unpack_from(data, off)
    return MeasuredNormalized(ioa, value, _QDS_QUALITY[qds], time)


def _dec_measured_scaled(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> MeasuredScaled:
    value, qds = _I16_U8.unpack_from(data, off)
    return MeasuredScaled(ioa, value, _QDS_QUALITY[qds], time)


def _dec_measured_float(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> MeasuredFloat:
    value, qds = _F32_U8.unpack_from(data, off)
    return MeasuredFloat(ioa, value, _QDS_QUALITY[qds], time)


def _dec_integrated_total(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> IntegratedTotal:
    value, flags = _I32_U8.unpack_from(data, off)
    return IntegratedTotal(
        ioa,
        value,
        flags & BCR_SEQUENCE_MASK,
        bool(flags & BCR_CARRY),
        bool(flags & BCR_ADJUSTED),
        bool(flags & BCR_INVALID),
        time,
    )


def _dec_normalized_no_quality(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> MeasuredNormalizedNoQuality:
    return MeasuredNormalizedNoQuality(ioa, _I16.unpack_from(data, off)[0])


def _dec_single_command(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> SingleCommand:
    sco = data[off]
    return SingleCommand(
        ioa,
        bool(sco & CMD_STATE_SCS),
        (sco >> CMD_QU_SHIFT) & CMD_QU_MASK,
        bool(sco & CMD_SELECT),
        time,
    )


def _dec_double_command(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> DoubleCommand:
    dco = data[off]
    return DoubleCommand(
        ioa,
        dco & CMD_STATE_DCS_MASK,
        (dco >> CMD_QU_SHIFT) & CMD_QU_MASK,
        bool(dco & CMD_SELECT),
        time,
    )


def _dec_regulating_step(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> RegulatingStepCommand:
    rco = data[off]
    return RegulatingStepCommand(
        ioa,
        rco & CMD_STATE_DCS_MASK,
        (rco >> CMD_QU_SHIFT) & CMD_QU_MASK,
        bool(rco & CMD_SELECT),
        time,
    )


def _dec_setpoint_normalized(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> SetpointNormalized:
    value, qos = _I16_U8.unpack_from(data, off)
    return SetpointNormalized(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def _dec_setpoint_scaled(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> SetpointScaled:
    value, qos = _I16_U8.unpack_from(data, off)
    return SetpointScaled(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def _dec_setpoint_float(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> SetpointFloat:
    value, qos = _F32_U8.unpack_from(data, off)
    return SetpointFloat(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def _dec_bitstring_command(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> Bitstring32Command:
    return Bitstring32Command(ioa, _U32.unpack_from(data, off)[0], time)


def _dec_end_of_init(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> EndOfInitialization:
    coi = data[off]
    return EndOfInitialization(ioa, coi & COI_CAUSE_MASK, bool(coi & COI_AFTER_PARAMETER_CHANGE))


def _dec_interrogation(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> InterrogationCommand:
    return InterrogationCommand(ioa, data[off])


def _dec_counter_interrogation(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> CounterInterrogationCommand:
    qcc = data[off]
    return CounterInterrogationCommand(
        ioa, qcc & QCC_RQT_MASK, (qcc >> QCC_FRZ_SHIFT) & QCC_FRZ_MASK
    )


def _dec_read(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> ReadCommand:
    return ReadCommand(ioa)


def _dec_clock_sync(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> ClockSyncCommand:
    assert time is not None  # C_CS_NA_1 is time-tagged: the caller decodes the CP56 first
    return ClockSyncCommand(ioa, time)


def _dec_test(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> TestCommand:
    return TestCommand(ioa, _U16.unpack_from(data, off)[0])


def _dec_reset_process(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> ResetProcessCommand:
    return ResetProcessCommand(ioa, data[off])


def _dec_test_with_time(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> TestCommandWithTime:
    assert time is not None  # C_TS_TA_1 is time-tagged: the caller decodes the CP56 first
    return TestCommandWithTime(ioa, _U16.unpack_from(data, off)[0], time)


# ============================================================================================
# Per-type table
# ============================================================================================


@dataclass(frozen=True, slots=True)
class _TypeCodec:
    type_id: TypeId
    code: int  # int(type_id), for struct without IntEnum conversions
    cls: type
    element_size: int  # the element(s) before the time tag
    has_time: bool
    size: int  # element_size (+ 7 when time-tagged): one object without its IOA
    encode: Callable[[Any], bytes]  # the record class of ``cls``; element only
    decode: _Decoder
    sequence_ok: bool  # pack_objects may use SQ=1 (the standard defines SQ=1 for this type)


# Monitor types without time tag: the standard defines SQ=1 for these only.
_SEQUENCE_TYPES: Final = frozenset(
    {
        TypeId.M_SP_NA_1,
        TypeId.M_DP_NA_1,
        TypeId.M_ST_NA_1,
        TypeId.M_BO_NA_1,
        TypeId.M_ME_NA_1,
        TypeId.M_ME_NB_1,
        TypeId.M_ME_NC_1,
        TypeId.M_IT_NA_1,
        TypeId.M_ME_ND_1,
    }
)

# type id -> (record class, element octets before any time tag, encoder, decoder)
_ELEMENTS: Final[dict[TypeId, tuple[type, int, Callable[[Any], bytes], _Decoder]]] = {
    TypeId.M_SP_NA_1: (SinglePoint, 1, _enc_single_point, _dec_single_point),
    TypeId.M_SP_TB_1: (SinglePoint, 1, _enc_single_point, _dec_single_point),
    TypeId.M_DP_NA_1: (DoublePoint, 1, _enc_double_point, _dec_double_point),
    TypeId.M_DP_TB_1: (DoublePoint, 1, _enc_double_point, _dec_double_point),
    TypeId.M_ST_NA_1: (StepPosition, 2, _enc_step_position, _dec_step_position),
    TypeId.M_ST_TB_1: (StepPosition, 2, _enc_step_position, _dec_step_position),
    TypeId.M_BO_NA_1: (Bitstring32, 5, _enc_bitstring, _dec_bitstring),
    TypeId.M_BO_TB_1: (Bitstring32, 5, _enc_bitstring, _dec_bitstring),
    TypeId.M_ME_NA_1: (MeasuredNormalized, 3, _enc_measured_normalized, _dec_measured_normalized),
    TypeId.M_ME_TD_1: (MeasuredNormalized, 3, _enc_measured_normalized, _dec_measured_normalized),
    TypeId.M_ME_NB_1: (MeasuredScaled, 3, _enc_measured_scaled, _dec_measured_scaled),
    TypeId.M_ME_TE_1: (MeasuredScaled, 3, _enc_measured_scaled, _dec_measured_scaled),
    TypeId.M_ME_NC_1: (MeasuredFloat, 5, _enc_measured_float, _dec_measured_float),
    TypeId.M_ME_TF_1: (MeasuredFloat, 5, _enc_measured_float, _dec_measured_float),
    TypeId.M_IT_NA_1: (IntegratedTotal, 5, _enc_integrated_total, _dec_integrated_total),
    TypeId.M_IT_TB_1: (IntegratedTotal, 5, _enc_integrated_total, _dec_integrated_total),
    TypeId.M_ME_ND_1: (
        MeasuredNormalizedNoQuality,
        2,
        _enc_normalized_no_quality,
        _dec_normalized_no_quality,
    ),
    TypeId.C_SC_NA_1: (SingleCommand, 1, _enc_single_command, _dec_single_command),
    TypeId.C_SC_TA_1: (SingleCommand, 1, _enc_single_command, _dec_single_command),
    TypeId.C_DC_NA_1: (DoubleCommand, 1, _enc_double_command, _dec_double_command),
    TypeId.C_DC_TA_1: (DoubleCommand, 1, _enc_double_command, _dec_double_command),
    TypeId.C_RC_NA_1: (RegulatingStepCommand, 1, _enc_double_command, _dec_regulating_step),
    TypeId.C_RC_TA_1: (RegulatingStepCommand, 1, _enc_double_command, _dec_regulating_step),
    TypeId.C_SE_NA_1: (SetpointNormalized, 3, _enc_setpoint_normalized, _dec_setpoint_normalized),
    TypeId.C_SE_TA_1: (SetpointNormalized, 3, _enc_setpoint_normalized, _dec_setpoint_normalized),
    TypeId.C_SE_NB_1: (SetpointScaled, 3, _enc_setpoint_scaled, _dec_setpoint_scaled),
    TypeId.C_SE_TB_1: (SetpointScaled, 3, _enc_setpoint_scaled, _dec_setpoint_scaled),
    TypeId.C_SE_NC_1: (SetpointFloat, 5, _enc_setpoint_float, _dec_setpoint_float),
    TypeId.C_SE_TC_1: (SetpointFloat, 5, _enc_setpoint_float, _dec_setpoint_float),
    TypeId.C_BO_NA_1: (Bitstring32Command, 4, _enc_bitstring_command, _dec_bitstring_command),
    TypeId.C_BO_TA_1: (Bitstring32Command, 4, _enc_bitstring_command, _dec_bitstring_command),
    TypeId.M_EI_NA_1: (EndOfInitialization, 1, _enc_end_of_init, _dec_end_of_init),
    TypeId.C_IC_NA_1: (InterrogationCommand, 1, _enc_interrogation, _dec_interrogation),
    TypeId.C_CI_NA_1: (
        CounterInterrogationCommand,
        1,
        _enc_counter_interrogation,
        _dec_counter_interrogation,
    ),
    TypeId.C_RD_NA_1: (ReadCommand, 0, _enc_nothing, _dec_read),
    TypeId.C_CS_NA_1: (ClockSyncCommand, 0, _enc_nothing, _dec_clock_sync),
    TypeId.C_TS_NA_1: (TestCommand, 2, _enc_test, _dec_test),
    TypeId.C_RP_NA_1: (ResetProcessCommand, 1, _enc_reset_process, _dec_reset_process),
    TypeId.C_TS_TA_1: (TestCommandWithTime, 2, _enc_test_with_time, _dec_test_with_time),
}

_LARGEST_OBJECT_ELEMENT: Final = max(
    size + (CP56_OCTETS if tid in TIME_TAGGED_TYPES else 0)
    for tid, (_cls, size, _enc, _dec) in _ELEMENTS.items()
)


def _build_codecs() -> tuple[_TypeCodec | None, ...]:
    table: list[_TypeCodec | None] = [None] * BYTE_VALUES
    for tid, (cls, element_size, enc, dec) in _ELEMENTS.items():
        has_time = tid in TIME_TAGGED_TYPES
        table[tid] = _TypeCodec(
            type_id=tid,
            code=int(tid),
            cls=cls,
            element_size=element_size,
            has_time=has_time,
            size=element_size + (CP56_OCTETS if has_time else 0),
            encode=enc,
            decode=dec,
            sequence_ok=tid in _SEQUENCE_TYPES,
        )
    return tuple(table)


_CODECS: Final = _build_codecs()  # decoding: indexed by the received octet
_CODEC_BY_TYPE: Final[dict[int, _TypeCodec]] = {c.code: c for c in _CODECS if c is not None}

PROFILE_104: Final = AsduProfile()
_layout_of(PROFILE_104)  # primes the one-entry cache
_NO_TIME: Final = object()  # never a time tag


def _codec_for(type_id: int) -> _TypeCodec:
    codec = _CODEC_BY_TYPE.get(type_id)
    if codec is None:
        raise LocalProtocolError(f"type id {type_id!r} is not one this codec encodes")
    return codec


# ============================================================================================
# Encoding
# ============================================================================================


def object_size(type_id: TypeId, profile: AsduProfile) -> int:
    """Octets of one information object including its IOA, as sent with SQ=0."""
    return _layout_of(profile).ioa_size + _codec_for(type_id).size


def encode_asdu(asdu: Asdu, profile: AsduProfile) -> bytes:
    """The ASDU's octets for ``profile``.

    Raises ``LocalProtocolError`` (our bug) for objects of the wrong record class, values that
    do not fit their fields, a missing time tag on a time-tagged type, SQ=1 with
    non-consecutive IOAs, no or more than 127 objects, or more than ``max_asdu_length`` octets.
    """
    cached_profile, layout = _last_layout
    if cached_profile is not profile:
        layout = _layout_of(profile)
    codec = _CODEC_BY_TYPE.get(asdu.type_id)
    if codec is None:
        raise LocalProtocolError(f"type id {asdu.type_id!r} is not one this codec encodes")
    objects = asdu.objects
    count = len(objects)
    if not 0 < count <= MAX_OBJECTS:
        raise LocalProtocolError(f"an ASDU carries 1 to {MAX_OBJECTS} objects, not {count}")
    cot_octet = _COT_ENCODE.get(asdu.cot)
    if cot_octet is None:
        raise LocalProtocolError(f"cause of transmission {asdu.cot!r} is not a Cot")
    ioa_size = layout.ioa_size
    size = codec.size
    sequence = asdu.sequence
    length = layout.header_length + (
        ioa_size + count * size if sequence else count * (ioa_size + size)
    )
    if length > layout.max_length:
        raise LocalProtocolError(
            f"{codec.type_id.name} with {count} objects needs {length} octets,"
            f" more than max_asdu_length {layout.max_length}"
        )
    if asdu.negative:
        cot_octet |= COT_NEGATIVE
    if asdu.test:
        cot_octet |= COT_TEST
    originator = asdu.originator
    common_address = asdu.common_address
    if not 0 <= common_address <= layout.ca_max:
        raise LocalProtocolError(f"common address {common_address!r} does not fit the profile")
    vsq = count | VSQ_SEQUENCE if sequence else count
    parts: list[bytes]
    if layout.cot_size == 1:
        if originator != 0:
            raise LocalProtocolError(
                f"originator address {originator!r} needs a 2-octet cause of transmission"
            )
        parts = [layout.header.pack(codec.code, vsq, cot_octet, common_address)]
    else:
        if not 0 <= originator <= ORIGINATOR_MAX:
            raise LocalProtocolError(f"originator address {originator!r} out of range")
        parts = [layout.header.pack(codec.code, vsq, cot_octet, originator, common_address)]
    try:
        if sequence:
            _encode_sequence(codec, objects, layout, parts)
        else:
            _encode_plain(codec, objects, ioa_size, parts)
    except _ENCODE_ERRORS as exc:
        raise LocalProtocolError(
            f"{codec.type_id.name}: a value does not fit its field: {exc}"
        ) from exc
    return b"".join(parts)


def _encode_plain(
    codec: _TypeCodec, objects: Sequence[InformationObject], ioa_size: int, parts: list[bytes]
) -> None:
    """SQ=0: IOA + element (+ time tag) for each object, appended to ``parts``."""
    cls = codec.cls
    enc = codec.encode
    append = parts.append
    if not codec.has_time:
        for obj in objects:
            if type(obj) is not cls:
                raise _wrong_class(codec, obj)
            append(obj.ioa.to_bytes(ioa_size, "little"))
            append(enc(obj))
        return
    # Events of one batch often share a time tag object: encode it once.
    last_time: object = _NO_TIME
    last_octets = b""
    for obj in objects:
        if type(obj) is not cls:
            raise _wrong_class(codec, obj)
        append(obj.ioa.to_bytes(ioa_size, "little"))
        append(enc(obj))
        time = obj.time  # type: ignore[union-attr]
        if time is not last_time:
            last_octets = _encode_cp56(time, obj.ioa)
            last_time = time
        append(last_octets)


def _encode_sequence(
    codec: _TypeCodec, objects: Sequence[InformationObject], layout: _Layout, parts: list[bytes]
) -> None:
    """SQ=1: the first IOA, then the elements (+ time tags) of consecutive IOAs."""
    cls = codec.cls
    enc = codec.encode
    has_time = codec.has_time
    append = parts.append
    head = objects[0]
    if type(head) is not cls:
        raise _wrong_class(codec, head)
    first = head.ioa
    last = first + len(objects) - 1
    if first < 0 or last > layout.ioa_max:
        raise LocalProtocolError(f"IOAs {first}..{last} do not fit {layout.ioa_size} octets")
    append(first.to_bytes(layout.ioa_size, "little"))
    expected = first
    for obj in objects:
        if type(obj) is not cls:
            raise _wrong_class(codec, obj)
        if obj.ioa != expected:
            raise LocalProtocolError(
                f"SQ=1 needs consecutive IOAs: expected {expected}, got {obj.ioa}"
            )
        expected += 1
        append(enc(obj))
        if has_time:
            append(_encode_cp56(obj.time, obj.ioa))  # type: ignore[union-attr]


def _wrong_class(codec: _TypeCodec, obj: object) -> LocalProtocolError:
    return LocalProtocolError(
        f"{codec.type_id.name} carries {codec.cls.__name__} records, not {type(obj).__name__}"
    )


# ============================================================================================
# Decoding
# ============================================================================================


def decode_header(data: bytes, profile: AsduProfile) -> AsduHeader:
    """The data unit identifier of ``data``; MalformedAsduError if it is shorter than that."""
    layout = _layout_of(profile)
    if len(data) < layout.header_length:
        raise MalformedAsduError(
            f"ASDU of {len(data)} octets is shorter than its {layout.header_length}-octet header",
            bytes(data),
        )
    return _header_from(layout, data)


def _header_from(layout: _Layout, data: bytes) -> AsduHeader:
    fields = layout.header.unpack_from(data)
    if layout.cot_size == 1:
        type_id, vsq, cot_octet, common_address = fields
        originator = 0
    else:
        type_id, vsq, cot_octet, originator, common_address = fields
    return AsduHeader(
        type_id=type_id,
        sequence=bool(vsq & VSQ_SEQUENCE),
        count=vsq & VSQ_COUNT_MASK,
        cause=cot_octet & COT_CAUSE_MASK,
        negative=bool(cot_octet & COT_NEGATIVE),
        test=bool(cot_octet & COT_TEST),
        originator=originator,
        common_address=common_address,
    )


def decode_asdu(data: bytes, profile: AsduProfile) -> Asdu:
    """The ASDU in ``data`` (exactly one ASDU, no trailing octets).

    Raises UnknownTypeError (type id not decoded here), UnknownCauseError (cause not in Cot) or
    MalformedAsduError (anything else); all are AsduError, a RemoteProtocolError.
    """
    cached_profile, layout = _last_layout
    if cached_profile is not profile:
        layout = _layout_of(profile)
    header_length = layout.header_length
    total = len(data)
    if total < header_length:
        raise MalformedAsduError(
            f"ASDU of {total} octets is shorter than its {header_length}-octet header",
            bytes(data),
        )
    fields = layout.header.unpack_from(data)
    if layout.cot_size == 1:
        type_byte, vsq, cot_octet, common_address = fields
        originator = 0
    else:
        type_byte, vsq, cot_octet, originator, common_address = fields
    codec = _CODECS[type_byte]
    if codec is None:
        raise UnknownTypeError(
            f"unknown type id {type_byte}", bytes(data), _header_from(layout, data)
        )
    cot = _COT_BY_VALUE[cot_octet & COT_CAUSE_MASK]
    if cot is None:
        raise UnknownCauseError(
            f"unknown cause of transmission {cot_octet & COT_CAUSE_MASK}",
            bytes(data),
            _header_from(layout, data),
        )
    count = vsq & VSQ_COUNT_MASK
    sequence = bool(vsq & VSQ_SEQUENCE)
    ioa_size = layout.ioa_size
    size = codec.size
    if sequence:
        expected = header_length + ioa_size + count * size
    else:
        expected = header_length + count * (ioa_size + size)
    if count == 0 or total != expected:
        raise MalformedAsduError(
            f"{codec.type_id.name} with {count} objects (SQ={int(sequence)}) needs {expected}"
            f" octets, got {total}",
            bytes(data),
            _header_from(layout, data),
        )
    dec = codec.decode
    has_time = codec.has_time
    element_size = codec.element_size
    objects: list[InformationObject] = []
    append = objects.append
    try:
        if sequence:
            off = header_length + ioa_size
            first = int.from_bytes(data[header_length:off], "little")
            if first + count - 1 > layout.ioa_max:
                raise MalformedAsduError(
                    f"SQ=1 IOAs {first}..{first + count - 1} overflow {ioa_size} octets",
                    bytes(data),
                    _header_from(layout, data),
                )
            for ioa in range(first, first + count):
                append(
                    dec(
                        data, off, ioa, _decode_cp56(data, off + element_size) if has_time else None
                    )
                )
                off += size
        else:
            off = header_length
            while off < total:
                ioa_end = off + ioa_size
                ioa = int.from_bytes(data[off:ioa_end], "little")
                append(
                    dec(
                        data,
                        ioa_end,
                        ioa,
                        _decode_cp56(data, ioa_end + element_size) if has_time else None,
                    )
                )
                off = ioa_end + size
    except _BadTimeTag as exc:
        raise MalformedAsduError(str(exc), bytes(data), _header_from(layout, data)) from None
    return Asdu(
        type_id=codec.type_id,
        cot=cot,
        common_address=common_address,
        objects=tuple(objects),
        sequence=sequence,
        negative=bool(cot_octet & COT_NEGATIVE),
        test=bool(cot_octet & COT_TEST),
        originator=originator,
    )


def negative_mirror(raw: bytes, profile: AsduProfile, cot: Cot) -> bytes:
    """``raw`` sent back unchanged except cause := ``cot`` and the P/N bit set.

    The test bit and the originator address are kept. For answering an ASDU that could not be
    decoded into records (unknown type id: COT 44, unknown cause: COT 45).
    """
    layout = _layout_of(profile)
    if len(raw) < layout.header_length:
        raise MalformedAsduError(
            f"ASDU of {len(raw)} octets is shorter than its {layout.header_length}-octet header",
            bytes(raw),
        )
    if not 0 <= cot <= COT_CAUSE_MASK:
        raise LocalProtocolError(f"cause of transmission {cot!r} does not fit 6 bits")
    cot_octet = (raw[COT_OCTET_OFFSET] & COT_TEST) | COT_NEGATIVE | cot
    return b"".join(
        (bytes(raw[:COT_OCTET_OFFSET]), _OCTET[cot_octet], bytes(raw[COT_OCTET_OFFSET + 1 :]))
    )


# ============================================================================================
# Packing objects into ASDUs
# ============================================================================================


def pack_objects(
    type_id: TypeId,
    cot: Cot,
    common_address: int,
    objects: Sequence[InformationObject],
    profile: AsduProfile,
    *,
    originator: int = 0,
    test: bool = False,
    allow_sequence: bool = True,
) -> list[Asdu]:
    """Split ``objects`` (order kept) into as few ASDUs as fit ``max_asdu_length`` and 127.

    With ``allow_sequence`` and a type for which the standard defines SQ=1 (monitor types
    without time tag), a run of consecutive IOAs goes into an SQ=1 ASDU when that carries at
    least as many objects as SQ=0 would from the same place (and at least two). Taking, at each
    step, the longer of the SQ=0 chunk and the SQ=1 chunk is optimal, because a suffix never
    needs more ASDUs than a longer suffix; so the result never has more ASDUs than plain SQ=0
    greedy packing. Values are checked later, by ``encode_asdu``.
    """
    layout = _layout_of(profile)
    codec = _codec_for(type_id)
    cls = codec.cls
    for obj in objects:
        if type(obj) is not cls:
            raise _wrong_class(codec, obj)
    n = len(objects)
    room = layout.max_length - layout.header_length
    per_plain = min(MAX_OBJECTS, room // (layout.ioa_size + codec.size))
    use_sequence = allow_sequence and codec.sequence_ok
    per_sequence = min(MAX_OBJECTS, (room - layout.ioa_size) // codec.size) if use_sequence else 0
    # run[i]: how many objects from i on have consecutive IOAs (at least 1).
    run = [1] * n
    if use_sequence:
        for i in range(n - 2, -1, -1):
            if objects[i + 1].ioa == objects[i].ioa + 1:
                run[i] = run[i + 1] + 1
    out: list[Asdu] = []
    i = 0
    while i < n:
        plain = min(per_plain, n - i)
        seq = min(per_sequence, run[i])
        sequence = seq >= plain and seq > 1
        take = seq if sequence else plain
        out.append(
            Asdu(
                type_id=codec.type_id,
                cot=cot,
                common_address=common_address,
                objects=tuple(objects[i : i + take]),
                sequence=sequence,
                test=test,
                originator=originator,
            )
        )
        i += take
    return out
