"""Golden bytes and round trips of the file-transfer ASDUs (types 120-127).

The golden octets are written by hand from the element layouts of IEC 60870-5-101 clause
7.3.6 (listed in rtu/iec/asdu/codec_file.py); tshark's iec60870_104 dissector names these
types and causes the same way (tests/integration/test_file_transfer.py decodes a capture).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.iec.asdu.codec import (
    PROFILE_104,
    AsduProfile,
    MalformedAsduError,
    UnknownCauseError,
    decode_asdu,
    encode_asdu,
    object_size,
)
from rtu.iec.asdu.codec_file import FILE_TYPES, checksum, segment_room
from rtu.iec.asdu.objects import (
    Asdu,
    Cp56Time2a,
    DirectoryEntry,
    FileAck,
    FileCall,
    FileReady,
    InformationObject,
    LastSegment,
    QueryLog,
    SectionReady,
    Segment,
    SinglePoint,
)
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.errors import LocalProtocolError

T = TypeId
PROFILE_101 = AsduProfile(cot_size=1, ca_size=1, ioa_size=2, max_asdu_length=253)
# 2026-05-04 03:02:01.000 (Monday): 0x03e8 ms, minute 2, hour 3, day 4 | weekday 1 << 5
TIME = Cp56Time2a(1000, 2, 3, 4, 5, 26, weekday=1)
TIME_OCTETS = "e8 03 02 03 24 05 1a"


def _asdu(type_id: TypeId, cot: Cot, *objects: InformationObject, **kw: object) -> Asdu:
    return Asdu(type_id, cot, 1, tuple(objects), **kw)  # type: ignore[arg-type]


GOLDEN_104: list[tuple[str, Asdu, str]] = [
    ("F_FR_NA_1 file ready, LOF 70000 (0x011170)",
     _asdu(T.F_FR_NA_1, Cot.FILE_TRANSFER, FileReady(0, 3, 70000)),
     # 78 type 120, 01 count, 0d COT 13, 00 OA, 01 00 CA | 00 00 00 IOA | 03 00 NOF | 70 11 01 LOF
     # | 00 FRQ positive
     "78 01 0d 00 01 00  00 00 00  03 00  70 11 01  00"),
    ("F_FR_NA_1 select refused (FRQ bit 7)",
     _asdu(T.F_FR_NA_1, Cot.FILE_TRANSFER, FileReady(0, 9, 0, negative=True)),
     "78 01 0d 00 01 00  00 00 00  09 00  00 00 00  80"),
    ("F_SR_NA_1 section 2 ready, 4112 octets",
     _asdu(T.F_SR_NA_1, Cot.FILE_TRANSFER, SectionReady(0, 3, 2, 4112)),
     # NOF 3, NOS 2, LOF 0x001010, SRQ 0
     "79 01 0d 00 01 00  00 00 00  03 00  02  10 10 00  00"),
    ("F_SC_NA_1 call directory (COT 5, IOA 0, NOF 0, SCQ 0)",
     _asdu(T.F_SC_NA_1, Cot.REQUEST, FileCall(0, 0, 0, 0)),
     "7a 01 05 00 01 00  00 00 00  00 00  00  00"),
    ("F_SC_NA_1 call section 1, negative: unexpected name of section (error 5)",
     _asdu(T.F_SC_NA_1, Cot.FILE_TRANSFER, FileCall(0, 3, 1, 6, error=5), negative=True),
     "7a 01 4d 00 01 00  00 00 00  03 00  01  56"),
    ("F_LS_NA_1 last segment of section 1 (LSQ 3), CHS 0x26",
     _asdu(T.F_LS_NA_1, Cot.FILE_TRANSFER, LastSegment(0, 3, 1, 3, 0x26)),
     "7b 01 0d 00 01 00  00 00 00  03 00  01  03  26"),
    ("F_AF_NA_1 negative section ack (AFQ 4), checksum failed (error 2)",
     _asdu(T.F_AF_NA_1, Cot.FILE_TRANSFER, FileAck(0, 3, 1, 4, error=2)),
     "7c 01 0d 00 01 00  00 00 00  03 00  01  24"),
    ("F_SG_NA_1 segment of three octets (LOS 3)",
     _asdu(T.F_SG_NA_1, Cot.FILE_TRANSFER, Segment(0, 3, 1, b"abc")),
     "7d 01 0d 00 01 00  00 00 00  03 00  01  03  61 62 63"),
    ("F_DR_TA_1 directory of two files, LFD on the last, FA on the first, SQ=0",
     _asdu(T.F_DR_TA_1, Cot.REQUEST, DirectoryEntry(0, 3, 70000, TIME, active=True),
           DirectoryEntry(0, 0x8123, 1, TIME, last=True)),
     # NOF 3, LOF 70000, SOF 80 (FA) + CP56 | NOF 0x8123, LOF 1, SOF 20 (LFD) + CP56
     (f"7e 02 05 00 01 00  00 00 00  03 00  70 11 01  80  {TIME_OCTETS}"
      f"  00 00 00  23 81  01 00 00  20  {TIME_OCTETS}")),
    ("F_SC_NB_1 query log NOF 3 from TIME to TIME",
     _asdu(T.F_SC_NB_1, Cot.FILE_TRANSFER, QueryLog(0, 3, TIME, TIME)),
     f"7f 01 0d 00 01 00  00 00 00  03 00  {TIME_OCTETS}  {TIME_OCTETS}"),
]

GOLDEN_101: list[tuple[str, Asdu, str]] = [
    ("101 F_FR_NA_1 (COT 1, CA 1, IOA 2 octets)",
     _asdu(T.F_FR_NA_1, Cot.FILE_TRANSFER, FileReady(0x0102, 3, 10)),
     "78 01 0d 01  02 01  03 00  0a 00 00  00"),
    ("101 F_SG_NA_1",
     _asdu(T.F_SG_NA_1, Cot.FILE_TRANSFER, Segment(0, 3, 1, b"\x00\xff")),
     "7d 01 0d 01  00 00  03 00  01  02  00 ff"),
    ("101 F_DR_TA_1 SQ=1 (consecutive IOAs 5, 6)",
     _asdu(T.F_DR_TA_1, Cot.REQUEST, DirectoryEntry(5, 1, 2, TIME),
           DirectoryEntry(6, 2, 3, TIME, last=True), sequence=True),
     f"7e 82 05 01  05 00  01 00  02 00 00  00  {TIME_OCTETS}  02 00  03 00 00  20  {TIME_OCTETS}"),
]

ALL = ([pytest.param(PROFILE_104, a, h, id=n) for n, a, h in GOLDEN_104]
       + [pytest.param(PROFILE_101, a, h, id=n) for n, a, h in GOLDEN_101])


def test_every_file_type_has_a_golden_vector() -> None:
    assert {a.type_id for _, a, _ in GOLDEN_104} == FILE_TYPES


@pytest.mark.parametrize(("profile", "asdu", "hex_bytes"), ALL)
def test_encode_golden(profile: AsduProfile, asdu: Asdu, hex_bytes: str) -> None:
    assert encode_asdu(asdu, profile).hex(" ") == bytes.fromhex(hex_bytes).hex(" ")


@pytest.mark.parametrize(("profile", "asdu", "hex_bytes"), ALL)
def test_decode_golden(profile: AsduProfile, asdu: Asdu, hex_bytes: str) -> None:
    assert decode_asdu(bytes.fromhex(hex_bytes), profile) == asdu


def test_checksum_is_the_sum_of_the_octets_modulo_256() -> None:
    assert checksum(b"abc") == (0x61 + 0x62 + 0x63) % 256 == 0x26
    assert checksum(b"\xff" * 3) == (3 * 255) % 256
    assert checksum(b"") == 0


def test_segment_room_fills_the_longest_asdu() -> None:
    room = segment_room(PROFILE_104)
    assert room == 249 - 6 - 3 - 4
    raw = encode_asdu(_asdu(T.F_SG_NA_1, Cot.FILE_TRANSFER, Segment(0, 3, 1, bytes(room))),
                      PROFILE_104)
    assert len(raw) == PROFILE_104.max_asdu_length
    with pytest.raises(LocalProtocolError):
        encode_asdu(_asdu(T.F_SG_NA_1, Cot.FILE_TRANSFER, Segment(0, 3, 1, bytes(room + 1))),
                    PROFILE_104)
    assert segment_room(AsduProfile(2, 2, 3, 254)) == 254 - 6 - 3 - 4
    assert object_size(T.F_SG_NA_1, PROFILE_104) == 3 + 4
    assert object_size(T.F_DR_TA_1, PROFILE_104) == 3 + 13


@pytest.mark.parametrize("bad", [
    FileReady(0, 70000, 1),  # NOF over 16 bits
    FileReady(0, 1, 1 << 24),  # LOF over 24 bits
    SectionReady(0, 1, 256, 1),  # NOS over one octet
    FileCall(0, 1, 1, 16),  # SCQ over four bits
    FileAck(0, 1, 1, 1, error=16),
    LastSegment(0, 1, 1, 1, 256),
])
def test_values_that_do_not_fit_are_our_bug(bad: InformationObject) -> None:
    type_id = {FileReady: T.F_FR_NA_1, SectionReady: T.F_SR_NA_1, FileCall: T.F_SC_NA_1,
               FileAck: T.F_AF_NA_1, LastSegment: T.F_LS_NA_1}[type(bad)]
    with pytest.raises(LocalProtocolError):
        encode_asdu(_asdu(type_id, Cot.FILE_TRANSFER, bad), PROFILE_104)


def test_wrong_records_and_two_segments_are_refused() -> None:
    with pytest.raises(LocalProtocolError):
        encode_asdu(_asdu(T.F_FR_NA_1, Cot.FILE_TRANSFER, SinglePoint(0, True)), PROFILE_104)
    with pytest.raises(LocalProtocolError):
        encode_asdu(_asdu(T.F_SG_NA_1, Cot.FILE_TRANSFER, Segment(0, 1, 1, b"a"),
                          Segment(0, 1, 1, b"b")), PROFILE_104)


@pytest.mark.parametrize("hex_bytes", [
    "7d 01 0d 00 01 00  00 00 00  03 00  01  04  61 62 63",  # LOS 4, three octets follow
    "7d 01 0d 00 01 00  00 00 00  03 00  01  02  61 62 63",  # LOS 2, three octets follow
    "7d 02 0d 00 01 00  00 00 00  03 00  01  01  61",  # two segments announced
    "7d 01 0d 00 01 00  00 00 00  03",  # cut short
    "78 01 0d 00 01 00  00 00 00  03 00  70 11 01",  # F_FR_NA_1 without FRQ
    "7a 00 0d 00 01 00",  # no object
    f"7f 01 0d 00 01 00  00 00 00  03 00  {TIME_OCTETS}  e8 03 02 03 24 0d 1a",  # month 13
])
def test_malformed_file_asdus_are_remote_errors(hex_bytes: str) -> None:
    with pytest.raises(MalformedAsduError):
        decode_asdu(bytes.fromhex(hex_bytes), PROFILE_104)


def test_an_unknown_cause_is_reported_as_such() -> None:
    with pytest.raises(UnknownCauseError):
        decode_asdu(bytes.fromhex("7a 01 3f 00 01 00  00 00 00  03 00  00  01"), PROFILE_104)


cp56 = st.builds(Cp56Time2a, st.integers(0, 59_999), st.integers(0, 59), st.integers(0, 23),
                 st.integers(1, 31), st.integers(1, 12), st.integers(0, 99), st.integers(0, 7),
                 st.booleans(), st.booleans())
u16, nos, lof = st.integers(0, 0xFFFF), st.integers(0, 255), st.integers(0, 0xFF_FFFF)
RECORDS: dict[TypeId, st.SearchStrategy[InformationObject]] = {
    T.F_FR_NA_1: st.builds(FileReady, st.just(0), u16, lof, st.booleans(), st.integers(0, 127)),
    T.F_SR_NA_1: st.builds(SectionReady, st.just(0), u16, nos, lof, st.booleans(),
                           st.integers(0, 127)),
    T.F_SC_NA_1: st.builds(FileCall, st.just(0), u16, nos, st.integers(0, 15),
                           st.integers(0, 15)),
    T.F_LS_NA_1: st.builds(LastSegment, st.just(0), u16, nos, nos, nos),
    T.F_AF_NA_1: st.builds(FileAck, st.just(0), u16, nos, st.integers(0, 15), st.integers(0, 15)),
    T.F_SG_NA_1: st.builds(Segment, st.just(0), u16, nos, st.binary(max_size=200)),
    T.F_DR_TA_1: st.builds(DirectoryEntry, st.just(0), u16, lof, cp56, st.integers(0, 31),
                           st.booleans(), st.booleans(), st.booleans()),
    T.F_SC_NB_1: st.builds(QueryLog, st.just(0), u16, cp56, cp56),
}


@settings(max_examples=300, deadline=None)
@given(st.data(), st.sampled_from([PROFILE_104, PROFILE_101, AsduProfile(1, 2, 3, 249)]),
       st.sampled_from(sorted(FILE_TYPES)))
def test_round_trip(data: st.DataObject, profile: AsduProfile, type_id: int) -> None:
    obj: InformationObject = data.draw(RECORDS[TypeId(type_id)])
    ioa = data.draw(st.integers(0, (1 << 8 * profile.ioa_size) - 1))
    originator = data.draw(st.integers(0, 255)) if profile.cot_size == 2 else 0
    asdu = Asdu(TypeId(type_id), Cot.FILE_TRANSFER, 1, (dataclasses.replace(obj, ioa=ioa),),
                negative=data.draw(st.booleans()), test=data.draw(st.booleans()),
                originator=originator)
    raw = encode_asdu(asdu, profile)
    assert decode_asdu(raw, profile) == asdu


@settings(max_examples=300, deadline=None)
@given(st.integers(120, 127), st.binary(max_size=60))
def test_random_octets_decode_or_raise_a_remote_error(type_id: int, body: bytes) -> None:
    raw = bytes([type_id]) + body
    try:
        decoded = decode_asdu(raw, PROFILE_104)
    except (MalformedAsduError, UnknownCauseError):
        return
    assert decode_asdu(encode_asdu(decoded, PROFILE_104), PROFILE_104) == decoded
