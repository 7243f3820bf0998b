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

from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.codec_base import (
    CA_SIZE_TWO_OCTETS,
    COT_ENCODE,
    COT_SIZE_WITH_ORIGINATOR,
    COT_TEST,
    ENCODE_ERRORS,
    MAX_OBJECTS,
    OCTET_BITS,
    ORIGINATOR_MAX,
)
from rtu.iec.asdu.codec_monitor import (
    enc_bitstring,
    enc_double_point,
    enc_measured_float,
    enc_measured_normalized,
    enc_measured_scaled,
    enc_normalized_no_quality,
    enc_single_point,
    enc_step_position,
)
from rtu.iec.asdu.objects import InformationObject
from rtu.iec.asdu.types import Cot, TypeId
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
