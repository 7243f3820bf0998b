"""Shared pieces of the ASDU codec: field constants, structs, errors, lookup tables and
CP56Time2a, used by the per-family element codecs and by :mod:`rtu.iec.asdu.codec`.

Pure code: no I/O, no clock.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final

from rtu.frozen import frozen
from rtu.iec.asdu.objects import (
    Cp24Time2a,
    Cp56Time2a,
    InformationObject,
)
from rtu.iec.asdu.types import Cot, DoublePointValue, Qds
from rtu.iec.errors import LocalProtocolError, RemoteProtocolError

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

CP24_OCTETS: Final = 3
CP24_STRUCT: Final = struct.Struct("<HB")

U8: Final = struct.Struct("<B")
U16: Final = struct.Struct("<H")
I16: Final = struct.Struct("<h")
U32: Final = struct.Struct("<I")
U8_U8: Final = struct.Struct("<BB")
I16_U8: Final = struct.Struct("<hB")
U32_U8: Final = struct.Struct("<IB")
I32_U8: Final = struct.Struct("<iB")
F32_U8: Final = struct.Struct("<fB")
CP56_STRUCT: Final = struct.Struct("<HBBBBB")
CP56_MS_STRUCT: Final = U16  # a CP56Time2a's first field: its milliseconds, two octets

ENCODE_ERRORS: Final = (struct.error, OverflowError)


# ============================================================================================
# Errors
# ============================================================================================


@frozen
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


class BadTimeTag(Exception):
    """Internal: a CP56Time2a field out of range while decoding."""


# ============================================================================================
# Lookup tables
# ============================================================================================

OCTET_BYTES: Final = tuple(bytes((i,)) for i in range(BYTE_VALUES))

SIQ_QUALITY: Final = tuple(Qds(i & SIQ_QUALITY_MASK) for i in range(BYTE_VALUES))
QDS_QUALITY: Final = tuple(Qds(i & QDS_QUALITY_MASK) for i in range(BYTE_VALUES))
# Quality values allowed in an element -> the same value as a plain int (Qds keys hash as ints).
SIQ_ENCODE: Final[dict[int, int]] = {
    i: i for i in range(BYTE_VALUES) if i & ~SIQ_QUALITY_MASK == 0
}
QDS_ENCODE: Final[dict[int, int]] = {
    i: i for i in range(BYTE_VALUES) if i & ~QDS_QUALITY_MASK == 0
}
# DPI values (plain ints or DoublePointValue) -> plain int
DPI_ENCODE: Final[dict[int, int]] = {i: i for i in range(DIQ_DPI_MASK + 1)}
DPI_VALUE: Final = tuple(DoublePointValue(i & DIQ_DPI_MASK) for i in range(BYTE_VALUES))
VTI_VALUE: Final = tuple(((i & VTI_VALUE_MASK) ^ VTI_SIGN) - VTI_SIGN for i in range(BYTE_VALUES))
COT_BY_VALUE: Final[tuple[Cot | None, ...]] = tuple(
    Cot(i) if i in {c.value for c in Cot} else None for i in range(COT_CAUSE_MASK + 1)
)
# Cot (or an int of its value) -> the plain int, for the encoder
COT_ENCODE: Final[dict[int, int]] = {c.value: c.value for c in Cot}


# ============================================================================================
# CP56Time2a
# ============================================================================================


def encode_cp56(t: Cp56Time2a | None, ioa: int) -> bytes:
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
    return CP56_STRUCT.pack(
        ms,
        minute | CP56_INVALID if t.invalid else minute,
        hour | CP56_SUMMER_TIME if t.summer_time else hour,
        day | weekday << CP56_WEEKDAY_SHIFT,
        month,
        year,
    )


def decode_cp56(data: bytes, offset: int) -> Cp56Time2a:
    ms, minute_octet, hour_octet, day_octet, month_octet, year_octet = CP56_STRUCT.unpack_from(
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
        raise BadTimeTag(
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
# CP24Time2a (101 only): ms within the minute (uint16 LE), minute (bits 0-5, IV bit 7)
# ============================================================================================


def encode_cp24(t: Cp56Time2a | Cp24Time2a | None, ioa: int) -> bytes:
    """The three octets of ``t``; a CP56Time2a gives its milliseconds, minute and IV."""
    if t is None:
        raise LocalProtocolError(f"IOA {ioa}: missing time tag for a time-tagged type")
    ms = t.milliseconds
    minute = t.minute
    if not (0 <= ms <= CP56_MS_MAX and 0 <= minute <= CP56_MINUTE_MAX):
        raise LocalProtocolError(f"IOA {ioa}: time tag field out of range: {t!r}")
    return CP24_STRUCT.pack(ms, minute | CP56_INVALID if t.invalid else minute)


def decode_cp24(data: bytes, offset: int) -> Cp24Time2a:
    ms, minute_octet = CP24_STRUCT.unpack_from(data, offset)
    minute = minute_octet & CP56_MINUTE_MASK
    if ms > CP56_MS_MAX or minute > CP56_MINUTE_MAX:
        raise BadTimeTag(f"time tag out of range at offset {offset}: ms={ms} minute={minute}")
    return Cp24Time2a(ms, minute, bool(minute_octet & CP56_INVALID))


# ============================================================================================
# Helpers of the element encoders (element only: no IOA, no time tag)
# ============================================================================================


def out_of_range(obj: InformationObject, name: str, value: object) -> LocalProtocolError:
    return LocalProtocolError(f"IOA {obj.ioa}: {type(obj).__name__}.{name} out of range: {value!r}")


def bad_quality(obj: InformationObject, allowed: str) -> LocalProtocolError:
    quality = getattr(obj, "quality", None)
    return out_of_range(obj, f"quality (the element has {allowed} only)", quality)


# ============================================================================================
# The element decoder signature: (data, element offset, ioa, decoded time tag or None) -> record
# (the time tag is a CP56Time2a, or a CP24Time2a for the 101 CP24 types)
# ============================================================================================

ElementDecoder = Callable[[bytes, int, int, Any], InformationObject]
