"""Element codecs of the command direction (C_SC .. C_BO, with and without time tag):
element octets only.  Pure functions, moved out of :mod:`rtu.iec.asdu.codec`.
"""

from __future__ import annotations

from rtu.iec.asdu.codec_base import (
    CMD_QU_MASK,
    CMD_QU_SHIFT,
    CMD_SELECT,
    CMD_STATE_DCS_MASK,
    CMD_STATE_SCS,
    F32_U8,
    I16_U8,
    OCTET_BYTES,
    QOS_QL_MASK,
    U32,
    out_of_range,
)
from rtu.iec.asdu.objects import (
    Bitstring32Command,
    Cp56Time2a,
    DoubleCommand,
    RegulatingStepCommand,
    SetpointFloat,
    SetpointNormalized,
    SetpointScaled,
    SingleCommand,
)


def _command_qualifier(
    obj: SingleCommand | DoubleCommand | RegulatingStepCommand, state: int
) -> bytes:
    qu = obj.qu
    if not 0 <= qu <= CMD_QU_MASK:
        raise out_of_range(obj, "qu", qu)
    octet = state | qu << CMD_QU_SHIFT
    return OCTET_BYTES[octet | CMD_SELECT if obj.select else octet]


def enc_single_command(obj: SingleCommand) -> bytes:
    return _command_qualifier(obj, CMD_STATE_SCS if obj.state else 0)


def enc_double_command(obj: DoubleCommand | RegulatingStepCommand) -> bytes:
    state = obj.state
    if not 0 <= state <= CMD_STATE_DCS_MASK:
        raise out_of_range(obj, "state", state)
    return _command_qualifier(obj, state)


def _qos(obj: SetpointNormalized | SetpointScaled | SetpointFloat) -> int:
    ql = obj.ql
    if not 0 <= ql <= QOS_QL_MASK:
        raise out_of_range(obj, "ql", ql)
    return ql | CMD_SELECT if obj.select else ql


def enc_setpoint_normalized(obj: SetpointNormalized) -> bytes:
    return I16_U8.pack(obj.value, _qos(obj))


def enc_setpoint_scaled(obj: SetpointScaled) -> bytes:
    return I16_U8.pack(obj.value, _qos(obj))


def enc_setpoint_float(obj: SetpointFloat) -> bytes:
    return F32_U8.pack(obj.value, _qos(obj))


def enc_bitstring_command(obj: Bitstring32Command) -> bytes:
    return U32.pack(obj.value)


def dec_single_command(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> SingleCommand:
    sco = data[off]
    return SingleCommand(
        ioa,
        bool(sco & CMD_STATE_SCS),
        (sco >> CMD_QU_SHIFT) & CMD_QU_MASK,
        bool(sco & CMD_SELECT),
        time,
    )


def dec_double_command(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> DoubleCommand:
    dco = data[off]
    return DoubleCommand(
        ioa,
        dco & CMD_STATE_DCS_MASK,
        (dco >> CMD_QU_SHIFT) & CMD_QU_MASK,
        bool(dco & CMD_SELECT),
        time,
    )


def dec_regulating_step(
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


def dec_setpoint_normalized(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> SetpointNormalized:
    value, qos = I16_U8.unpack_from(data, off)
    return SetpointNormalized(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def dec_setpoint_scaled(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> SetpointScaled:
    value, qos = I16_U8.unpack_from(data, off)
    return SetpointScaled(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def dec_setpoint_float(data: bytes, off: int, ioa: int, time: Cp56Time2a | None) -> SetpointFloat:
    value, qos = F32_U8.unpack_from(data, off)
    return SetpointFloat(ioa, value, qos & QOS_QL_MASK, bool(qos & CMD_SELECT), time)


def dec_bitstring_command(
    data: bytes, off: int, ioa: int, time: Cp56Time2a | None
) -> Bitstring32Command:
    return Bitstring32Command(ioa, U32.unpack_from(data, off)[0], time)
