"""ASDUs of monitored objects without time tag put together from octets computed beforehand:
the IOA octets of a point set once, the element octets of the values a point can take once.

A general interrogation of 100,000 points built an information object record per point and
encoded it field by field (issue 21 item 2: GI of 100,000 points under 0.2 s). Here the
interrogation plan's IOA octets are computed once per profile (and shared by every GI of that
plan), and an ASDU is its data unit identifier followed by IOA + element octets, the element
taken from a small table for single and double points (the common case) and from the codec's
element encoder otherwise. The octets are exactly those of :func:`rtu.iec.asdu.codec.encode_asdu`
for the same objects (SQ=0); the golden tests compare the two.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any, Final

from rtu.iec.asdu.codec import AsduProfile, encode_asdu
from rtu.iec.asdu.codec_base import (
    CA_SIZE_TWO_OCTETS,
    COT_ENCODE,
    COT_SIZE_WITH_ORIGINATOR,
    COT_TEST,
    ENCODE_ERRORS,
    MAX_OBJECTS,
    OCTET_BITS,
    OCTET_BYTES,
    ORIGINATOR_MAX,
    encode_cp24,
    encode_cp56,
)
from rtu.iec.asdu.codec_monitor import (
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
from rtu.iec.asdu.codec_protection import (
    enc_protection_event,
    enc_protection_output,
    enc_protection_start,
)
from rtu.iec.asdu.objects import (
    Asdu,
    Bitstring32,
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
from rtu.iec.asdu.types import CP24_EQUIVALENT, Cot, TypeId
from rtu.iec.errors import LocalProtocolError

#: the element encoders of the monitored types without time tag a GI sends (counters answer
#: counter interrogation, not GI)
ELEMENT_ENCODERS: Final[dict[TypeId, Callable[[Any], bytes]]] = {
    TypeId.M_SP_NA_1: enc_single_point,
    TypeId.M_DP_NA_1: enc_double_point,
    TypeId.M_ST_NA_1: enc_step_position,
    TypeId.M_BO_NA_1: enc_bitstring,
    TypeId.M_ME_NA_1: enc_measured_normalized,
    TypeId.M_ME_NB_1: enc_measured_scaled,
    TypeId.M_ME_NC_1: enc_measured_float,
    TypeId.M_ME_ND_1: enc_normalized_no_quality,
}

_HEADERS: dict[tuple[int, int], struct.Struct] = {}


def _header(profile: AsduProfile) -> struct.Struct:
    key = (profile.cot_size, profile.ca_size)
    header = _HEADERS.get(key)
    if header is None:
        header = _HEADERS[key] = struct.Struct(
            "<BBB" + ("B" if profile.cot_size == COT_SIZE_WITH_ORIGINATOR else "")
            + ("H" if profile.ca_size == CA_SIZE_TWO_OCTETS else "B"))
    return header


def ioa_octets(ioas: Sequence[int], profile: AsduProfile) -> list[bytes]:
    """The IOA field of each address in ``ioas`` for ``profile``; LocalProtocolError (our bug:
    the configuration admits no such address) for one that does not fit."""
    size = profile.ioa_size
    try:
        return [ioa.to_bytes(size, "little") for ioa in ioas]
    except OverflowError:
        bad = next(i for i in ioas if not 0 <= i < 1 << (OCTET_BITS * size))
        raise LocalProtocolError(f"IOA {bad} does not fit {size} octets") from None


def element_octets(type_id: TypeId, obj: InformationObject) -> bytes:
    """The element octets of ``obj`` (no IOA, no time tag) for a monitored type without time tag."""
    encode = ELEMENT_ENCODERS.get(type_id)
    if encode is None:
        raise LocalProtocolError(f"{type_id!r} is not a monitored type without time tag")
    try:
        return encode(obj)
    except ENCODE_ERRORS as exc:
        raise LocalProtocolError(f"{type_id.name}: a value does not fit its field: {exc}") from exc


def encode_prebuilt(type_id: TypeId, cot: Cot, common_address: int, count: int,
                    body: Sequence[bytes], profile: AsduProfile, *, test: bool = False,
                    originator: int = 0) -> bytes:
    """One ASDU (SQ=0) of ``count`` objects whose octets (IOA then element, each) are ``body``.

    LocalProtocolError (our bug) for a count outside 1..127, a cause that is no Cot, a common
    address or originator that does not fit, or more than ``max_asdu_length`` octets."""
    if not 0 < count <= MAX_OBJECTS:
        raise LocalProtocolError(f"an ASDU carries 1 to {MAX_OBJECTS} objects, not {count}")
    cot_octet = COT_ENCODE.get(cot)
    if cot_octet is None:
        raise LocalProtocolError(f"cause of transmission {cot!r} is not a Cot")
    if test:
        cot_octet |= COT_TEST
    if not 0 <= common_address < 1 << (OCTET_BITS * profile.ca_size):
        raise LocalProtocolError(f"common address {common_address!r} does not fit the profile")
    header = _header(profile)
    if profile.cot_size == COT_SIZE_WITH_ORIGINATOR:
        if not 0 <= originator <= ORIGINATOR_MAX:
            raise LocalProtocolError(f"originator address {originator!r} out of range")
        head = header.pack(type_id, count, cot_octet, originator, common_address)
    else:
        if originator != 0:
            raise LocalProtocolError(
                f"originator address {originator!r} needs a 2-octet cause of transmission")
        head = header.pack(type_id, count, cot_octet, common_address)
    data = head + b"".join(body)
    if len(data) > profile.max_asdu_length:
        raise LocalProtocolError(
            f"{type_id.name} with {count} objects needs {len(data)} octets,"
            f" more than max_asdu_length {profile.max_asdu_length}")
    return data


#: the record class and element encoder of each time-tagged type a point's event is sent as
#: (CP56Time2a; a CP24 profile sends its CP24 equivalent, the same element)
EVENT_ENCODERS: Final[dict[TypeId, tuple[type, Callable[[Any], bytes]]]] = {
    TypeId.M_SP_TB_1: (SinglePoint, enc_single_point),
    TypeId.M_DP_TB_1: (DoublePoint, enc_double_point),
    TypeId.M_ST_TB_1: (StepPosition, enc_step_position),
    TypeId.M_BO_TB_1: (Bitstring32, enc_bitstring),
    TypeId.M_ME_TD_1: (MeasuredNormalized, enc_measured_normalized),
    TypeId.M_ME_TE_1: (MeasuredScaled, enc_measured_scaled),
    TypeId.M_ME_TF_1: (MeasuredFloat, enc_measured_float),
    TypeId.M_IT_TB_1: (IntegratedTotal, enc_integrated_total),
    TypeId.M_EP_TD_1: (ProtectionEvent, enc_protection_event),
    TypeId.M_EP_TE_1: (ProtectionStartEvents, enc_protection_start),
    TypeId.M_EP_TF_1: (ProtectionOutputCircuit, enc_protection_output),
}
#: a single or double point's element octet (SIQ, DIQ) by quality, then by value (0..3): the
#: value ORed with the quality's IV NT SB BL bits, as enc_single_point and enc_double_point
#: encode it. Filled by point_elements; bounded by the quality flags (rtu.points.model.Quality
#: has 11 bits: at most 2048 entries).
POINT_ELEMENTS: Final[dict[int, tuple[bytes, ...]]] = {}
SIQ_QUALITY_BITS: Final = 0xF0  # IV NT SB BL of a SIQ or DIQ octet
_POINT_VALUES: Final = 4  # a DPI's states; a SPI uses the first two
_MAX_QUALITIES: Final = 4096  # a bound all the same, for ints that are no Quality


def point_elements(quality: int) -> tuple[bytes, ...]:
    """The element octets of a single or double point of ``quality`` (an int or a Quality),
    indexed by value; kept in :data:`POINT_ELEMENTS`."""
    q = int(quality) & SIQ_QUALITY_BITS
    found = tuple(OCTET_BYTES[q | value] for value in range(_POINT_VALUES))
    if len(POINT_ELEMENTS) < _MAX_QUALITIES:
        POINT_ELEMENTS[quality] = found
    return found


_NO_TIME: Final = object()
# the element octets of single and double points by (value, quality): a few dozen at most
# (the value's states times the quality flags an element can hold; others raise, uncached)
_ELEMENTS: Final[dict[TypeId, dict[tuple[object, object], bytes]]] = {
    TypeId.M_SP_TB_1: {}, TypeId.M_DP_TB_1: {}}
_MAX_ELEMENTS: Final = 256  # a bound all the same, for values that are not the type's own
# the time tag encoded last, by which encoder, and its octets, as one tuple (replaced whole, so
# a reader never sees the parts of two): the events of one millisecond share one tag record
# (rtu/iec/outstation/timetag.py), often across ASDUs
_last_time: list[tuple[object, object, bytes]] = [(_NO_TIME, None, b"")]


def encode_events(type_id: TypeId, cot: Cot, common_address: int,
                  objects: Sequence[InformationObject], profile: AsduProfile) -> bytes:
    """The ASDU (SQ=0) of the events ``objects``, all of ``type_id``: the same octets as
    :func:`rtu.iec.asdu.codec.encode_asdu` of them (a CP24 profile's CP24 equivalent type
    included), with the octets of a time tag worked out once for the events that share it.
    Types other than the time-tagged monitored ones go to the codec. LocalProtocolError (our
    bug) as the codec raises it."""
    entry = EVENT_ENCODERS.get(type_id)
    if entry is None:
        return encode_asdu(Asdu(type_id, cot, common_address, tuple(objects)), profile)
    cls, encode = entry
    memo = _ELEMENTS.get(type_id)
    encode_time: Callable[[Any, int], bytes] = encode_cp24 if profile.cp24 else encode_cp56
    size = profile.ioa_size
    body: list[bytes] = []
    append = body.append
    last_time, last_encoder, last_octets = _last_time[0]
    if last_encoder is not encode_time:
        last_time = _NO_TIME
    try:
        for obj in objects:
            if type(obj) is not cls:
                raise LocalProtocolError(f"{type_id.name} carries {cls.__name__} records, "
                                         f"not {type(obj).__name__}")
            if memo is None:
                element = encode(obj)
            else:  # single and double points: few elements, each encoded once
                key = (obj.value, obj.quality)  # type: ignore[union-attr]
                found = memo.get(key)
                if found is None:
                    element = encode(obj)
                    if len(memo) < _MAX_ELEMENTS:
                        memo[key] = element
                else:
                    element = found
            time = obj.time  # type: ignore[union-attr]
            if time is not last_time:
                last_octets = encode_time(time, obj.ioa)
                last_time = time
            append(obj.ioa.to_bytes(size, "little") + element + last_octets)
    except ENCODE_ERRORS as exc:
        raise LocalProtocolError(f"{type_id.name}: a value does not fit its field: {exc}") from exc
    _last_time[0] = (last_time, encode_time, last_octets)
    code = CP24_EQUIVALENT[type_id] if profile.cp24 else type_id
    return encode_prebuilt(code, cot, common_address, len(objects), body, profile)
