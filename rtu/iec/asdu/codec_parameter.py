"""Element codecs of the parameter family (P_ME_NA/NB/NC_1: value + QPM; P_AC_NA_1: QPA):
element octets only. Pure functions."""

from __future__ import annotations

from rtu.iec.asdu.codec_base import F32_U8, I16_U8, OCTET_BYTES, out_of_range
from rtu.iec.asdu.objects import (
    Cp56Time2a,
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
)
from rtu.iec.asdu.types import QPM_KPA_MASK, QPM_LPC, QPM_POP


def _qpm(obj: ParameterNormalized | ParameterScaled | ParameterFloat) -> int:
    kpa = obj.kpa
    if not 0 <= kpa <= QPM_KPA_MASK:
        raise out_of_range(obj, "kpa", kpa)
    return kpa | (QPM_LPC if obj.lpc else 0) | (QPM_POP if obj.pop else 0)


def enc_parameter_normalized(obj: ParameterNormalized) -> bytes:
    return I16_U8.pack(obj.value, _qpm(obj))


def enc_parameter_scaled(obj: ParameterScaled) -> bytes:
    return I16_U8.pack(obj.value, _qpm(obj))


def enc_parameter_float(obj: ParameterFloat) -> bytes:
    return F32_U8.pack(obj.value, _qpm(obj))


def enc_parameter_activation(obj: ParameterActivation) -> bytes:
    if not 0 <= obj.qpa <= 0xFF:
        raise out_of_range(obj, "qpa", obj.qpa)
    return OCTET_BYTES[obj.qpa]


def dec_parameter_normalized(data: bytes, off: int, ioa: int,
                             time: Cp56Time2a | None) -> ParameterNormalized:
    value, qpm = I16_U8.unpack_from(data, off)
    return ParameterNormalized(ioa, value, qpm & QPM_KPA_MASK, bool(qpm & QPM_LPC),
                               bool(qpm & QPM_POP))


def dec_parameter_scaled(data: bytes, off: int, ioa: int,
                         time: Cp56Time2a | None) -> ParameterScaled:
    value, qpm = I16_U8.unpack_from(data, off)
    return ParameterScaled(ioa, value, qpm & QPM_KPA_MASK, bool(qpm & QPM_LPC),
                           bool(qpm & QPM_POP))


def dec_parameter_float(data: bytes, off: int, ioa: int,
                        time: Cp56Time2a | None) -> ParameterFloat:
    value, qpm = F32_U8.unpack_from(data, off)
    return ParameterFloat(ioa, value, qpm & QPM_KPA_MASK, bool(qpm & QPM_LPC),
                          bool(qpm & QPM_POP))


def dec_parameter_activation(data: bytes, off: int, ioa: int,
                             time: Cp56Time2a | None) -> ParameterActivation:
    return ParameterActivation(ioa, data[off])
