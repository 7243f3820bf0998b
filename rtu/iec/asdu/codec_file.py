"""The file-transfer ASDUs of IEC 60870-5-101 clause 7.3.6 (types 120-127), whole ASDUs.

Element layouts after the IOA (octets, integers little-endian)::

    120 F_FR_NA_1  NOF(2) LOF(3) FRQ(1: bits0-6 0 default, bit7 1 = select refused)
    121 F_SR_NA_1  NOF(2) NOS(1) LOF(3) SRQ(1: bit7 1 = section not ready)
    122 F_SC_NA_1  NOF(2) NOS(1) SCQ(1: bits0-3 call/select, bits4-7 error)
    123 F_LS_NA_1  NOF(2) NOS(1) LSQ(1) CHS(1: sum of the octets modulo 256)
    124 F_AF_NA_1  NOF(2) NOS(1) AFQ(1: bits0-3 ack, bits4-7 error)
    125 F_SG_NA_1  NOF(2) NOS(1) LOS(1) segment(LOS)
    126 F_DR_TA_1  NOF(2) LOF(3) SOF(1: STATUS bits0-4, LFD bit5, FOR bit6, FA bit7) CP56(7)
    127 F_SC_NB_1  NOF(2) start CP56(7) stop CP56(7)

Only F_SG_NA_1 has a variable length: its segment is as long as LOS says, so it travels as
one object per ASDU. :mod:`rtu.iec.asdu.codec` hands these type ids here (``encode_asdu``,
``decode_asdu``): the data unit identifier is the same as every other type's. Pure functions.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from rtu.iec.asdu.codec_base import (
    CA_SIZE_TWO_OCTETS,
    COT_BY_VALUE,
    COT_CAUSE_MASK,
    COT_ENCODE,
    COT_NEGATIVE,
    COT_SIZE_WITH_ORIGINATOR,
    COT_TEST,
    CP56_OCTETS,
    MAX_OBJECTS,
    ORIGINATOR_MAX,
    VSQ_COUNT_MASK,
    VSQ_SEQUENCE,
    AsduHeader,
    BadTimeTag,
    MalformedAsduError,
    UnknownCauseError,
    decode_cp56,
    encode_cp56,
)
from rtu.iec.asdu.objects import (
    Asdu,
    DirectoryEntry,
    FileAck,
    FileCall,
    FileReady,
    InformationObject,
    LastSegment,
    QueryLog,
    SectionReady,
    Segment,
)
from rtu.iec.asdu.types import TypeId
from rtu.iec.errors import LocalProtocolError

if TYPE_CHECKING:
    from rtu.iec.asdu.codec import AsduProfile

__all__ = ["FILE_TYPES", "LOF_MAX", "NOF_MAX", "SEGMENT_MAX", "checksum", "decode_file_asdu",
           "encode_file_asdu", "file_element_size", "segment_room"]

FILE_TYPES: Final = frozenset(range(TypeId.F_FR_NA_1, TypeId.F_SC_NB_1 + 1))
NOF_MAX: Final = 0xFFFF
LOF_MAX: Final = 0xFF_FFFF  # three octets
NOS_MAX: Final = 0xFF
SEGMENT_MAX: Final = 0xFF  # LOS is one octet
_NIBBLE: Final = 0x0F
_SEVEN_BITS: Final = 0x7F
_BIT7: Final = 0x80
SOF_STATUS_MASK: Final = 0x1F
SOF_LFD: Final = 0x20
SOF_FOR: Final = 0x40
SOF_FA: Final = 0x80
_NOF_LOF: Final = struct.Struct("<HHBB")  # NOF, LOF low 16 bits, LOF high octet, qualifier
_NOF_NOS_Q: Final = struct.Struct("<HBB")
_NOF_NOS_Q_CHS: Final = struct.Struct("<HBBB")
_SR: Final = struct.Struct("<HBHBB")  # NOF, NOS, LOF low, LOF high, SRQ
_SEGMENT_HEAD: Final = 4  # NOF, NOS, LOS


def checksum(data: bytes) -> int:
    """CHS of a section or a file: the arithmetic sum of its octets modulo 256."""
    return sum(data) & 0xFF


def segment_room(profile: AsduProfile) -> int:
    """Octets of segment data one F_SG_NA_1 carries under ``profile`` (at most 255)."""
    room = (profile.max_asdu_length - profile.header_length - profile.ioa_size
            - _SEGMENT_HEAD)
    return min(SEGMENT_MAX, room)


def _check(obj: InformationObject, name: str, value: int, high: int) -> int:
    if type(value) is not int or not 0 <= value <= high:
        raise LocalProtocolError(f"IOA {obj.ioa}: {type(obj).__name__}.{name} out of range:"
                                 f" {value!r}")
    return value


def _lof(obj: InformationObject, length: int) -> tuple[int, int]:
    _check(obj, "length", length, LOF_MAX)
    return length & 0xFFFF, length >> 16


# -- elements (after the IOA) -----------------------------------------------------------------
def _enc_ready(obj: FileReady) -> bytes:
    low, high = _lof(obj, obj.length)
    frq = _check(obj, "frq", obj.frq, _SEVEN_BITS) | (_BIT7 if obj.negative else 0)
    return _NOF_LOF.pack(_check(obj, "nof", obj.nof, NOF_MAX), low, high, frq)


def _dec_ready(data: bytes, off: int, ioa: int, end: int) -> FileReady:
    nof, low, high, frq = _NOF_LOF.unpack_from(data, off)
    return FileReady(ioa, nof, low | high << 16, bool(frq & _BIT7), frq & _SEVEN_BITS)


def _enc_section_ready(obj: SectionReady) -> bytes:
    low, high = _lof(obj, obj.length)
    srq = _check(obj, "srq", obj.srq, _SEVEN_BITS) | (_BIT7 if obj.not_ready else 0)
    return _SR.pack(_check(obj, "nof", obj.nof, NOF_MAX),
                    _check(obj, "section", obj.section, NOS_MAX), low, high, srq)


def _dec_section_ready(data: bytes, off: int, ioa: int, end: int) -> SectionReady:
    nof, nos, low, high, srq = _SR.unpack_from(data, off)
    return SectionReady(ioa, nof, nos, low | high << 16, bool(srq & _BIT7), srq & _SEVEN_BITS)


def _qualifier(obj: FileCall | FileAck, low: int) -> int:
    return _check(obj, "qualifier", low, _NIBBLE) | _check(obj, "error", obj.error, _NIBBLE) << 4


def _enc_call(obj: FileCall) -> bytes:
    return _NOF_NOS_Q.pack(_check(obj, "nof", obj.nof, NOF_MAX),
                           _check(obj, "section", obj.section, NOS_MAX), _qualifier(obj, obj.scq))


def _dec_call(data: bytes, off: int, ioa: int, end: int) -> FileCall:
    nof, nos, scq = _NOF_NOS_Q.unpack_from(data, off)
    return FileCall(ioa, nof, nos, scq & _NIBBLE, scq >> 4)


def _enc_last(obj: LastSegment) -> bytes:
    return _NOF_NOS_Q_CHS.pack(_check(obj, "nof", obj.nof, NOF_MAX),
                               _check(obj, "section", obj.section, NOS_MAX),
                               _check(obj, "lsq", obj.lsq, 0xFF),
                               _check(obj, "checksum", obj.checksum, 0xFF))


def _dec_last(data: bytes, off: int, ioa: int, end: int) -> LastSegment:
    return LastSegment(ioa, *_NOF_NOS_Q_CHS.unpack_from(data, off))


def _enc_ack(obj: FileAck) -> bytes:
    return _NOF_NOS_Q.pack(_check(obj, "nof", obj.nof, NOF_MAX),
                           _check(obj, "section", obj.section, NOS_MAX), _qualifier(obj, obj.afq))


def _dec_ack(data: bytes, off: int, ioa: int, end: int) -> FileAck:
    nof, nos, afq = _NOF_NOS_Q.unpack_from(data, off)
    return FileAck(ioa, nof, nos, afq & _NIBBLE, afq >> 4)


def _enc_segment(obj: Segment) -> bytes:
    if not isinstance(obj.data, bytes) or len(obj.data) > SEGMENT_MAX:
        raise LocalProtocolError(f"IOA {obj.ioa}: a segment carries bytes, at most {SEGMENT_MAX}")
    return _NOF_NOS_Q.pack(_check(obj, "nof", obj.nof, NOF_MAX),
                           _check(obj, "section", obj.section, NOS_MAX), len(obj.data)) + obj.data


def _dec_segment(data: bytes, off: int, ioa: int, end: int) -> Segment:
    nof, nos, los = _NOF_NOS_Q.unpack_from(data, off)
    start = off + _SEGMENT_HEAD
    if start + los != end:
        raise BadTimeTag(f"segment of LOS {los} but {end - start} octets follow")
    return Segment(ioa, nof, nos, bytes(data[start:end]))


def _enc_entry(obj: DirectoryEntry) -> bytes:
    low, high = _lof(obj, obj.length)
    sof = (_check(obj, "status", obj.status, SOF_STATUS_MASK) | (SOF_LFD if obj.last else 0)
           | (SOF_FOR if obj.subdirectory else 0) | (SOF_FA if obj.active else 0))
    return (_NOF_LOF.pack(_check(obj, "nof", obj.nof, NOF_MAX), low, high, sof)
            + encode_cp56(obj.time, obj.ioa))


def _dec_entry(data: bytes, off: int, ioa: int, end: int) -> DirectoryEntry:
    nof, low, high, sof = _NOF_LOF.unpack_from(data, off)
    return DirectoryEntry(ioa, nof, low | high << 16, decode_cp56(data, off + _NOF_LOF.size),
                          sof & SOF_STATUS_MASK, bool(sof & SOF_LFD), bool(sof & SOF_FOR),
                          bool(sof & SOF_FA))


def _enc_query(obj: QueryLog) -> bytes:
    return (_check(obj, "nof", obj.nof, NOF_MAX).to_bytes(2, "little")
            + encode_cp56(obj.start, obj.ioa) + encode_cp56(obj.stop, obj.ioa))


def _dec_query(data: bytes, off: int, ioa: int, end: int) -> QueryLog:
    nof = int.from_bytes(data[off:off + 2], "little")
    return QueryLog(ioa, nof, decode_cp56(data, off + 2), decode_cp56(data, off + 2 + CP56_OCTETS))


_Decoder = Callable[[bytes, int, int, int], InformationObject]
# type id -> (record class, element octets (None: F_SG_NA_1, variable), encoder, decoder)
_FILE_CODECS: Final[dict[int, tuple[type, int | None, Callable[[Any], bytes], _Decoder]]] = {
    TypeId.F_FR_NA_1: (FileReady, 6, _enc_ready, _dec_ready),
    TypeId.F_SR_NA_1: (SectionReady, 7, _enc_section_ready, _dec_section_ready),
    TypeId.F_SC_NA_1: (FileCall, 4, _enc_call, _dec_call),
    TypeId.F_LS_NA_1: (LastSegment, 5, _enc_last, _dec_last),
    TypeId.F_AF_NA_1: (FileAck, 4, _enc_ack, _dec_ack),
    TypeId.F_SG_NA_1: (Segment, None, _enc_segment, _dec_segment),
    TypeId.F_DR_TA_1: (DirectoryEntry, 6 + CP56_OCTETS, _enc_entry, _dec_entry),
    TypeId.F_SC_NB_1: (QueryLog, 2 + 2 * CP56_OCTETS, _enc_query, _dec_query),
}


def file_element_size(type_id: int) -> int:
    """Octets of one object of ``type_id`` after its IOA (F_SG_NA_1: without the segment)."""
    size = _FILE_CODECS[type_id][1]
    return _SEGMENT_HEAD if size is None else size


def _header_struct(profile: AsduProfile) -> struct.Struct:
    return struct.Struct("<BBB" + ("B" if profile.cot_size == COT_SIZE_WITH_ORIGINATOR else "")
                         + ("H" if profile.ca_size == CA_SIZE_TWO_OCTETS else "B"))


# -- whole ASDUs -------------------------------------------------------------------------------
def encode_file_asdu(asdu: Asdu, profile: AsduProfile) -> bytes:
    """The octets of a file-transfer ASDU (LocalProtocolError for what cannot be encoded)."""
    cls, size, enc, _dec = _FILE_CODECS[asdu.type_id]
    objects = asdu.objects
    count = len(objects)
    if not 0 < count <= MAX_OBJECTS or (size is None and count != 1):
        raise LocalProtocolError(f"{TypeId(asdu.type_id).name} cannot carry {count} objects")
    for obj in objects:
        if type(obj) is not cls:
            raise LocalProtocolError(f"{TypeId(asdu.type_id).name} carries {cls.__name__}"
                                     f" records, not {type(obj).__name__}")
    cot = COT_ENCODE.get(asdu.cot)
    if cot is None:
        raise LocalProtocolError(f"cause of transmission {asdu.cot!r} is not a Cot")
    cot |= (COT_NEGATIVE if asdu.negative else 0) | (COT_TEST if asdu.test else 0)
    if not 0 <= asdu.common_address < 1 << 8 * profile.ca_size:
        raise LocalProtocolError(f"common address {asdu.common_address!r} does not fit")
    vsq = count | (VSQ_SEQUENCE if asdu.sequence else 0)
    header = _header_struct(profile)
    if profile.cot_size == COT_SIZE_WITH_ORIGINATOR:
        if not 0 <= asdu.originator <= ORIGINATOR_MAX:
            raise LocalProtocolError(f"originator address {asdu.originator!r} out of range")
        parts = [header.pack(asdu.type_id, vsq, cot, asdu.originator, asdu.common_address)]
    else:
        if asdu.originator:
            raise LocalProtocolError("an originator address needs a 2-octet COT")
        parts = [header.pack(asdu.type_id, vsq, cot, asdu.common_address)]
    ioa_max = (1 << 8 * profile.ioa_size) - 1
    for index, obj in enumerate(objects):
        if asdu.sequence and index:
            if obj.ioa != objects[0].ioa + index:
                raise LocalProtocolError("SQ=1 needs consecutive IOAs")
        elif not 0 <= obj.ioa <= ioa_max:
            raise LocalProtocolError(f"IOA {obj.ioa} does not fit {profile.ioa_size} octets")
        else:
            parts.append(obj.ioa.to_bytes(profile.ioa_size, "little"))
        parts.append(enc(obj))
    raw = b"".join(parts)
    if len(raw) > profile.max_asdu_length:
        raise LocalProtocolError(f"{TypeId(asdu.type_id).name} needs {len(raw)} octets, more"
                                 f" than max_asdu_length {profile.max_asdu_length}")
    return raw


def decode_file_asdu(data: bytes, profile: AsduProfile) -> Asdu:
    """The file-transfer ASDU in ``data`` (its type id is one of :data:`FILE_TYPES`)."""
    header = _header_struct(profile)
    raw = bytes(data)
    if len(raw) < header.size:
        raise MalformedAsduError(f"ASDU of {len(raw)} octets is shorter than its header", raw)
    fields = header.unpack_from(raw)
    if profile.cot_size == COT_SIZE_WITH_ORIGINATOR:
        type_byte, vsq, cot_octet, originator, ca = fields
    else:
        (type_byte, vsq, cot_octet, ca), originator = fields, 0
    head = AsduHeader(type_byte, bool(vsq & VSQ_SEQUENCE), vsq & VSQ_COUNT_MASK,
                      cot_octet & COT_CAUSE_MASK, bool(cot_octet & COT_NEGATIVE),
                      bool(cot_octet & COT_TEST), originator, ca)
    cot = COT_BY_VALUE[cot_octet & COT_CAUSE_MASK]
    if cot is None:
        raise UnknownCauseError(f"unknown cause of transmission {head.cause}", raw, head)
    _cls, size, _enc, dec = _FILE_CODECS[type_byte]
    count, sequence, ioa_size = head.count, head.sequence, profile.ioa_size
    total = len(raw)
    if size is None:  # one segment: its length is in LOS
        expected = header.size + ioa_size + _SEGMENT_HEAD + (
            raw[header.size + ioa_size + 3] if total > header.size + ioa_size + 3 else 0)
        ok = count == 1
    else:
        expected = header.size + (ioa_size + count * size if sequence
                                  else count * (ioa_size + size))
        ok = count > 0
    if not ok or total != expected:
        raise MalformedAsduError(f"{TypeId(type_byte).name} with {count} objects needs"
                                 f" {expected} octets, got {total}", raw, head)
    objects: list[InformationObject] = []
    off = header.size
    first = int.from_bytes(raw[off:off + ioa_size], "little")
    try:
        for index in range(count):
            if sequence:
                ioa = first + index
                if index == 0:
                    off += ioa_size
            else:
                ioa = int.from_bytes(raw[off:off + ioa_size], "little")
                off += ioa_size
            end = total if size is None else off + size
            objects.append(dec(raw, off, ioa, end))
            off = end
    except BadTimeTag as exc:
        raise MalformedAsduError(str(exc), raw, head) from None
    return Asdu(TypeId(type_byte), cot, ca, tuple(objects), sequence, head.negative, head.test,
                originator)
