"""Element codecs of the monitor direction (M_SP .. M_ME_ND): element octets only, no IOA
and no time tag.  Pure functions, moved out of :mod:`rtu.iec.asdu.codec`.
"""

from __future__ import annotations

from rtu.iec.asdu.codec_base import (
    BCR_ADJUSTED,
    BCR_CARRY,
    BCR_INVALID,
    BCR_SEQUENCE_MASK,
    DPI_ENCODE,
    DPI_VALUE,
    F32_U8,
    I16,
    I16_U8,
    I32_U8,
    OCTET_BYTES,
    QDS_ENCODE,
    QDS_QUALITY,
    SIQ_ENCODE,
    SIQ_QUALITY,
    SIQ_SPI,
    U8_U8,
    U32_U8,
    VTI_MAX,
    VTI_MIN,
    VTI_TRANSIENT,
    VTI_VALUE,
    VTI_VALUE_MASK,
    bad_quality,
    out_of_range,
)
from rtu.iec.asdu.objects import (
    Bitstring32,
    DoublePoint,
    IntegratedTotal,
    MeasuredFloat,
    MeasuredNormalized,
    MeasuredNormalizedNoQuality,
    MeasuredScaled,
    SinglePoint,
    StepPosition,
    TimeTag,
)


def enc_single_point(obj: SinglePoint) -> bytes:
    q = SIQ_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL")
    return OCTET_BYTES[q | SIQ_SPI if obj.value else q]


def enc_double_point(obj: DoublePoint) -> bytes:
    q = SIQ_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL")
    value = DPI_ENCODE.get(obj.value)
    if value is None:
        raise out_of_range(obj, "value", obj.value)
    return OCTET_BYTES[q | value]


def enc_step_position(obj: StepPosition) -> bytes:
    q = QDS_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL OV")
    value = obj.value
    if not VTI_MIN <= value <= VTI_MAX:
        raise out_of_range(obj, "value", value)
    vti = value & VTI_VALUE_MASK
    return U8_U8.pack(vti | VTI_TRANSIENT if obj.transient else vti, q)


def enc_bitstring(obj: Bitstring32) -> bytes:
    q = QDS_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL OV")
    return U32_U8.pack(obj.value, q)


def enc_measured_normalized(obj: MeasuredNormalized) -> bytes:
    q = QDS_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL OV")
    return I16_U8.pack(obj.value, q)


def enc_measured_scaled(obj: MeasuredScaled) -> bytes:
    q = QDS_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL OV")
    return I16_U8.pack(obj.value, q)


def enc_measured_float(obj: MeasuredFloat) -> bytes:
    q = QDS_ENCODE.get(obj.quality)
    if q is None:
        raise bad_quality(obj, "IV NT SB BL OV")
    return F32_U8.pack(obj.value, q)


def enc_integrated_total(obj: IntegratedTotal) -> bytes:
    seq = obj.sequence
    if not 0 <= seq <= BCR_SEQUENCE_MASK:
        raise out_of_range(obj, "sequence", seq)
    if obj.carry:
        seq |= BCR_CARRY
    if obj.adjusted:
        seq |= BCR_ADJUSTED
    if obj.invalid:
        seq |= BCR_INVALID
    return I32_U8.pack(obj.value, seq)


def enc_normalized_no_quality(obj: MeasuredNormalizedNoQuality) -> bytes:
    return I16.pack(obj.value)


def dec_single_point(data: bytes, off: int, ioa: int, time: TimeTag | None) -> SinglePoint:
    siq = data[off]
    return SinglePoint(ioa, bool(siq & SIQ_SPI), SIQ_QUALITY[siq], time)


def dec_double_point(data: bytes, off: int, ioa: int, time: TimeTag | None) -> DoublePoint:
    diq = data[off]
    return DoublePoint(ioa, DPI_VALUE[diq], SIQ_QUALITY[diq], time)


def dec_step_position(data: bytes, off: int, ioa: int, time: TimeTag | None) -> StepPosition:
    vti, qds = U8_U8.unpack_from(data, off)
    return StepPosition(ioa, VTI_VALUE[vti], bool(vti & VTI_TRANSIENT), QDS_QUALITY[qds], time)


def dec_bitstring(data: bytes, off: int, ioa: int, time: TimeTag | None) -> Bitstring32:
    value, qds = U32_U8.unpack_from(data, off)
    return Bitstring32(ioa, value, QDS_QUALITY[qds], time)


def dec_measured_normalized(
    data: bytes, off: int, ioa: int, time: TimeTag | None
) -> MeasuredNormalized:
    value, qds = I16_U8.unpack_from(data, off)
    return MeasuredNormalized(ioa, value, QDS_QUALITY[qds], time)


def dec_measured_scaled(
    data: bytes, off: int, ioa: int, time: TimeTag | None
) -> MeasuredScaled:
    value, qds = I16_U8.unpack_from(data, off)
    return MeasuredScaled(ioa, value, QDS_QUALITY[qds], time)


def dec_measured_float(data: bytes, off: int, ioa: int, time: TimeTag | None) -> MeasuredFloat:
    value, qds = F32_U8.unpack_from(data, off)
    return MeasuredFloat(ioa, value, QDS_QUALITY[qds], time)


def dec_integrated_total(
    data: bytes, off: int, ioa: int, time: TimeTag | None
) -> IntegratedTotal:
    value, flags = I32_U8.unpack_from(data, off)
    return IntegratedTotal(
        ioa,
        value,
        flags & BCR_SEQUENCE_MASK,
        bool(flags & BCR_CARRY),
        bool(flags & BCR_ADJUSTED),
        bool(flags & BCR_INVALID),
        time,
    )


def dec_normalized_no_quality(
    data: bytes, off: int, ioa: int, time: TimeTag | None
) -> MeasuredNormalizedNoQuality:
    return MeasuredNormalizedNoQuality(ioa, I16.unpack_from(data, off)[0])
