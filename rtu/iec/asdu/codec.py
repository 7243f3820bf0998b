"""The one ASDU codec of IEC 60870-5-101 and -104, parameterised by field sizes.

Wire layout (IEC 60870-5-101 clause 7.1; 104 is the profile COT=2, CA=2, IOA=3)::

    type id (1) | VSQ (1: bit7 SQ, bits0-6 count) | COT (bits0-5 cause, bit6 P/N, bit7 T)
    [originator (1) if cot_size == 2] | common address (ca_size, LE) | objects

SQ=0: every object is IOA (ioa_size octets, LE) followed by its element(s).
SQ=1: one IOA, then the elements of the objects with consecutive IOAs.

Pure functions only: no I/O, no clock. Per-type encoders and decoders are built once in
tables indexed by type id, and every fixed layout uses a precompiled ``struct.Struct``. The
element codecs live by family of types in :mod:`.codec_monitor`, :mod:`.codec_command`,
:mod:`.codec_system` (the file types, 120-127, in :mod:`.codec_file`, whole ASDUs); constants,
errors, lookup tables, CP56Time2a and CP24Time2a in :mod:`.codec_base`. Import from this module.

Decoding tolerates set reserved bits but rejects out-of-range time tag fields. Encoding is
strict: what cannot be represented exactly is our bug and raises ``LocalProtocolError``. The
type id decides whether an object's ``time`` travels (not with a type without time tag).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from rtu.frozen import frozen
from rtu.iec.asdu import codec_file as _file  # types 120-127, whole ASDUs
from rtu.iec.asdu.codec_base import (
    BYTE_VALUES,
    CA_SIZE_TWO_OCTETS,
    CA_SIZES,
    COT_BY_VALUE,
    COT_CAUSE_MASK,
    COT_ENCODE,
    COT_NEGATIVE,
    COT_OCTET_OFFSET,
    COT_SIZE_WITH_ORIGINATOR,
    COT_SIZES,
    COT_TEST,
    CP24_OCTETS,
    CP56_OCTETS,
    DEFAULT_MAX_ASDU_LENGTH,
    ENCODE_ERRORS,
    IOA_SIZES,
    MAX_ASDU_LENGTH_LIMIT,
    MAX_OBJECTS,
    OCTET_BITS,
    OCTET_BYTES,
    ORIGINATOR_MAX,
    TYPE_ID_OCTETS,
    VSQ_COUNT_MASK,
    VSQ_OCTETS,
    VSQ_SEQUENCE,
    AsduError,
    AsduHeader,
    BadTimeTag,
    ElementDecoder,
    MalformedAsduError,
    UnknownCauseError,
    UnknownTypeError,
    decode_cp24,
    decode_cp56,
    encode_cp24,
    encode_cp56,
)
from rtu.iec.asdu.codec_command import (
    dec_bitstring_command,
    dec_double_command,
    dec_regulating_step,
    dec_setpoint_float,
    dec_setpoint_normalized,
    dec_setpoint_scaled,
    dec_single_command,
    enc_bitstring_command,
    enc_double_command,
    enc_setpoint_float,
    enc_setpoint_normalized,
    enc_setpoint_scaled,
    enc_single_command,
)
from rtu.iec.asdu.codec_monitor import (
    dec_bitstring,
    dec_double_point,
    dec_integrated_total,
    dec_measured_float,
    dec_measured_normalized,
    dec_measured_scaled,
    dec_normalized_no_quality,
    dec_single_point,
    dec_step_position,
    enc_bitstring,
    enc_double_point,
    enc_integrated_total,
    enc_measured_float,
    enc_measured_normalized,
    enc_measured_scaled,
    enc_normalized_no_quality,
    enc_single_point,
    enc_step_position,
)
from rtu.iec.asdu.codec_parameter import (
    dec_parameter_activation,
    dec_parameter_float,
    dec_parameter_normalized,
    dec_parameter_scaled,
    enc_parameter_activation,
    enc_parameter_float,
    enc_parameter_normalized,
    enc_parameter_scaled,
)
from rtu.iec.asdu.codec_protection import (
    dec_protection_event,
    dec_protection_output,
    dec_protection_start,
    enc_protection_event,
    enc_protection_output,
    enc_protection_start,
)
from rtu.iec.asdu.codec_system import (
    dec_clock_sync,
    dec_counter_interrogation,
    dec_delay_acquisition,
    dec_end_of_init,
    dec_interrogation,
    dec_read,
    dec_reset_process,
    dec_test,
    dec_test_with_time,
    enc_counter_interrogation,
    enc_delay_acquisition,
    enc_end_of_init,
    enc_interrogation,
    enc_nothing,
    enc_reset_process,
    enc_test,
    enc_test_with_time,
)
from rtu.iec.asdu.objects import (
    CP24_TIME_TAGGED_TYPES,
    TIME_TAGGED_TYPES,
    Asdu,
    Bitstring32,
    Bitstring32Command,
    ClockSyncCommand,
    CounterInterrogationCommand,
    DelayAcquisitionCommand,
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
    ParameterActivation,
    ParameterFloat,
    ParameterNormalized,
    ParameterScaled,
    ProtectionEvent,
    ProtectionOutputCircuit,
    ProtectionStartEvents,
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
from rtu.iec.asdu.types import CP24_EQUIVALENT, Cot, TypeId
from rtu.iec.errors import LocalProtocolError

__all__ = ["PROFILE_104", "AsduError", "AsduHeader", "AsduProfile", "MalformedAsduError",
           "UnknownCauseError", "UnknownTypeError", "decode_asdu", "decode_header", "encode_asdu",
           "negative_mirror", "object_size", "pack_objects"]

# ============================================================================================
# Profile
# ============================================================================================


@frozen
class _Layout:
    """What a profile means for the codec, computed once per profile."""

    header_length: int
    ioa_size: int
    ioa_max: int
    ca_max: int
    cot_size: int
    max_length: int
    header: struct.Struct
    cp24: bool  # 101 time_tag = "cp24": CP56 monitor types go out as their CP24 equivalents


_LAYOUTS: dict[AsduProfile, _Layout] = {}
# The profile used last and its layout: saves hashing the profile on every encode.
_last_layout: tuple[AsduProfile | None, _Layout]


@frozen
class AsduProfile:
    """Field sizes of the data unit identifier and IOA, and the longest ASDU the link carries."""

    cot_size: int = 2  # 1 or 2 (2 = with originator address)
    ca_size: int = 2  # 1 or 2
    ioa_size: int = 3  # 1, 2 or 3
    max_asdu_length: int = DEFAULT_MAX_ASDU_LENGTH  # octets of the whole ASDU
    # 101 option: every CP56Time2a monitor type is encoded as its CP24Time2a equivalent
    # (types.CP24_EQUIVALENT: 30 -> 2 ... 40 -> 19); never on 104
    cp24: bool = False

    def __post_init__(self) -> None:
        for name in ("cot_size", "ca_size", "ioa_size", "max_asdu_length"):
            value = getattr(self, name)
            if type(value) is not int:
                raise ValueError(f"{name} must be an int, got {value!r}")
        if type(self.cp24) is not bool:
            raise ValueError(f"cp24 must be a bool, got {self.cp24!r}")
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
        cp24=profile.cp24,
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
# Per-type table
# ============================================================================================


@frozen
class _TypeCodec:
    type_id: TypeId
    code: int  # int(type_id), for struct without IntEnum conversions
    cls: type
    element_size: int  # the element(s) before the time tag
    has_time: bool
    size: int  # element_size (+ 7 or 3 when time-tagged): one object without its IOA
    encode: Callable[[Any], bytes]  # the record class of ``cls``; element only
    decode: ElementDecoder
    encode_time: Callable[[Any, int], bytes]  # (time tag, ioa) -> CP56 or CP24 octets
    decode_time: Callable[[bytes, int], Any]
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
_ELEMENTS: Final[dict[TypeId, tuple[type, int, Callable[[Any], bytes], ElementDecoder]]] = {
    TypeId.M_SP_NA_1: (SinglePoint, 1, enc_single_point, dec_single_point),
    TypeId.M_SP_TB_1: (SinglePoint, 1, enc_single_point, dec_single_point),
    TypeId.C_CD_NA_1: (DelayAcquisitionCommand, 2, enc_delay_acquisition, dec_delay_acquisition),
    TypeId.M_DP_NA_1: (DoublePoint, 1, enc_double_point, dec_double_point),
    TypeId.M_DP_TB_1: (DoublePoint, 1, enc_double_point, dec_double_point),
    TypeId.M_ST_NA_1: (StepPosition, 2, enc_step_position, dec_step_position),
    TypeId.M_ST_TB_1: (StepPosition, 2, enc_step_position, dec_step_position),
    TypeId.M_BO_NA_1: (Bitstring32, 5, enc_bitstring, dec_bitstring),
    TypeId.M_BO_TB_1: (Bitstring32, 5, enc_bitstring, dec_bitstring),
    TypeId.M_ME_NA_1: (MeasuredNormalized, 3, enc_measured_normalized, dec_measured_normalized),
    TypeId.M_ME_TD_1: (MeasuredNormalized, 3, enc_measured_normalized, dec_measured_normalized),
    TypeId.M_ME_NB_1: (MeasuredScaled, 3, enc_measured_scaled, dec_measured_scaled),
    TypeId.M_ME_TE_1: (MeasuredScaled, 3, enc_measured_scaled, dec_measured_scaled),
    TypeId.M_ME_NC_1: (MeasuredFloat, 5, enc_measured_float, dec_measured_float),
    TypeId.M_ME_TF_1: (MeasuredFloat, 5, enc_measured_float, dec_measured_float),
    TypeId.M_IT_NA_1: (IntegratedTotal, 5, enc_integrated_total, dec_integrated_total),
    TypeId.M_IT_TB_1: (IntegratedTotal, 5, enc_integrated_total, dec_integrated_total),
    TypeId.M_ME_ND_1: (
        MeasuredNormalizedNoQuality,
        2,
        enc_normalized_no_quality,
        dec_normalized_no_quality,
    ),
    TypeId.C_SC_NA_1: (SingleCommand, 1, enc_single_command, dec_single_command),
    TypeId.C_SC_TA_1: (SingleCommand, 1, enc_single_command, dec_single_command),
    TypeId.C_DC_NA_1: (DoubleCommand, 1, enc_double_command, dec_double_command),
    TypeId.C_DC_TA_1: (DoubleCommand, 1, enc_double_command, dec_double_command),
    TypeId.C_RC_NA_1: (RegulatingStepCommand, 1, enc_double_command, dec_regulating_step),
    TypeId.C_RC_TA_1: (RegulatingStepCommand, 1, enc_double_command, dec_regulating_step),
    TypeId.C_SE_NA_1: (SetpointNormalized, 3, enc_setpoint_normalized, dec_setpoint_normalized),
    TypeId.C_SE_TA_1: (SetpointNormalized, 3, enc_setpoint_normalized, dec_setpoint_normalized),
    TypeId.C_SE_NB_1: (SetpointScaled, 3, enc_setpoint_scaled, dec_setpoint_scaled),
    TypeId.C_SE_TB_1: (SetpointScaled, 3, enc_setpoint_scaled, dec_setpoint_scaled),
    TypeId.C_SE_NC_1: (SetpointFloat, 5, enc_setpoint_float, dec_setpoint_float),
    TypeId.C_SE_TC_1: (SetpointFloat, 5, enc_setpoint_float, dec_setpoint_float),
    TypeId.C_BO_NA_1: (Bitstring32Command, 4, enc_bitstring_command, dec_bitstring_command),
    TypeId.C_BO_TA_1: (Bitstring32Command, 4, enc_bitstring_command, dec_bitstring_command),
    TypeId.M_EI_NA_1: (EndOfInitialization, 1, enc_end_of_init, dec_end_of_init),
    TypeId.C_IC_NA_1: (InterrogationCommand, 1, enc_interrogation, dec_interrogation),
    TypeId.C_CI_NA_1: (
        CounterInterrogationCommand,
        1,
        enc_counter_interrogation,
        dec_counter_interrogation,
    ),
    TypeId.C_RD_NA_1: (ReadCommand, 0, enc_nothing, dec_read),
    TypeId.C_CS_NA_1: (ClockSyncCommand, 0, enc_nothing, dec_clock_sync),
    TypeId.C_TS_NA_1: (TestCommand, 2, enc_test, dec_test),
    TypeId.C_RP_NA_1: (ResetProcessCommand, 1, enc_reset_process, dec_reset_process),
    TypeId.C_TS_TA_1: (TestCommandWithTime, 2, enc_test_with_time, dec_test_with_time),
    TypeId.M_EP_TD_1: (ProtectionEvent, 3, enc_protection_event, dec_protection_event),
    TypeId.M_EP_TE_1: (ProtectionStartEvents, 4, enc_protection_start, dec_protection_start),
    TypeId.M_EP_TF_1: (ProtectionOutputCircuit, 4, enc_protection_output,
                       dec_protection_output),
    TypeId.P_ME_NA_1: (ParameterNormalized, 3, enc_parameter_normalized, dec_parameter_normalized),
    TypeId.P_ME_NB_1: (ParameterScaled, 3, enc_parameter_scaled, dec_parameter_scaled),
    TypeId.P_ME_NC_1: (ParameterFloat, 5, enc_parameter_float, dec_parameter_float),
    TypeId.P_AC_NA_1: (ParameterActivation, 1, enc_parameter_activation,
                       dec_parameter_activation),
}

# 101's CP24 types: the elements of their CP56 equivalents, with a CP24Time2a tag
_ELEMENTS.update({cp24: _ELEMENTS[cp56] for cp56, cp24 in CP24_EQUIVALENT.items()})
_LARGEST_OBJECT_ELEMENT: Final = max(
    size + (CP56_OCTETS if tid in TIME_TAGGED_TYPES else 0)
    for tid, (_cls, size, _enc, _dec) in _ELEMENTS.items()
)


def _build_codecs() -> tuple[_TypeCodec | None, ...]:
    table: list[_TypeCodec | None] = [None] * BYTE_VALUES
    for tid, (cls, element_size, enc, dec) in _ELEMENTS.items():
        cp24 = tid in CP24_TIME_TAGGED_TYPES
        time_size = CP24_OCTETS if cp24 else CP56_OCTETS if tid in TIME_TAGGED_TYPES else 0
        table[tid] = _TypeCodec(
            type_id=tid,
            code=int(tid),
            cls=cls,
            element_size=element_size,
            has_time=time_size > 0,
            size=element_size + time_size,
            encode=enc,
            decode=dec,
            encode_time=encode_cp24 if cp24 else encode_cp56,
            decode_time=decode_cp24 if cp24 else decode_cp56,
            sequence_ok=tid in _SEQUENCE_TYPES,
        )
    return tuple(table)


_CODECS: Final = _build_codecs()  # decoding: indexed by the received octet
_CODEC_BY_TYPE: Final[dict[int, _TypeCodec]] = {c.code: c for c in _CODECS if c is not None}
# a CP24 profile's codec of each CP56 monitor type: its CP24 equivalent's
_CP24_CODEC: Final[dict[int, _TypeCodec]] = {
    int(cp56): _CODEC_BY_TYPE[cp24] for cp56, cp24 in CP24_EQUIVALENT.items()
}

PROFILE_104: Final = AsduProfile()
_layout_of(PROFILE_104)  # primes the one-entry cache
_NO_TIME: Final = object()  # never a time tag


def _codec_for(type_id: int, layout: _Layout | None = None) -> _TypeCodec:
    codec = _CODEC_BY_TYPE.get(type_id)
    if codec is None:
        raise LocalProtocolError(f"type id {type_id!r} is not one this codec encodes")
    return _CP24_CODEC.get(type_id, codec) if layout is not None and layout.cp24 else codec


# ============================================================================================
# Encoding
# ============================================================================================


def object_size(type_id: TypeId, profile: AsduProfile) -> int:
    """Octets of one information object including its IOA, as sent with SQ=0 (CP24: mapped)."""
    layout = _layout_of(profile)
    if type_id in _file.FILE_TYPES:  # F_SG_NA_1: without its segment
        return layout.ioa_size + _file.file_element_size(type_id)
    return layout.ioa_size + _codec_for(type_id, layout).size


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
        if asdu.type_id in _file.FILE_TYPES:
            return _file.encode_file_asdu(asdu, profile)
        raise LocalProtocolError(f"type id {asdu.type_id!r} is not one this codec encodes")
    if layout.cp24:
        codec = _CP24_CODEC.get(codec.code, codec)
    objects = asdu.objects
    count = len(objects)
    if not 0 < count <= MAX_OBJECTS:
        raise LocalProtocolError(f"an ASDU carries 1 to {MAX_OBJECTS} objects, not {count}")
    cot_octet = COT_ENCODE.get(asdu.cot)
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
    except ENCODE_ERRORS as exc:
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
            last_octets = codec.encode_time(time, obj.ioa)
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
            append(codec.encode_time(obj.time, obj.ioa))  # type: ignore[union-attr]


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
        if type_byte in _file.FILE_TYPES:
            return _file.decode_file_asdu(data, profile)
        raise UnknownTypeError(
            f"unknown type id {type_byte}", bytes(data), _header_from(layout, data)
        )
    cot = COT_BY_VALUE[cot_octet & COT_CAUSE_MASK]
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
    decode_time = codec.decode_time
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
                        data, off, ioa, decode_time(data, off + element_size) if has_time else None
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
                        decode_time(data, ioa_end + element_size) if has_time else None,
                    )
                )
                off = ioa_end + size
    except BadTimeTag as exc:
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
        (bytes(raw[:COT_OCTET_OFFSET]), OCTET_BYTES[cot_octet], bytes(raw[COT_OCTET_OFFSET + 1 :]))
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
    codec = _codec_for(type_id, layout)
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
