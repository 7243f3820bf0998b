"""rtu.decode: captured 104 APDUs and 101 FT1.2 frames as text, through the project's codecs."""

from __future__ import annotations

import pytest

from rtu.cli import main
from rtu.decode import (
    DecodeError,
    Options,
    Protocol,
    decode,
    describe_asdu,
    guess_protocol,
    parse_hex,
)
from rtu.iec.asdu.codec import PROFILE_104, AsduProfile, encode_asdu
from rtu.iec.asdu.objects import (
    Asdu,
    Cp56Time2a,
    DoublePoint,
    MeasuredFloat,
    SingleCommand,
    SinglePoint,
)
from rtu.iec.asdu.types import Cot, Qds, TypeId
from rtu.iec.cs101.ft12 import encode_fixed, encode_variable
from rtu.iec.cs104.apci import IFrame, encode_frame

GOLDEN_104 = "68 15 06 00 0a 00 1e 01 03 00 01 00 e9 03 00 81 9b 4e 0d 16 0e 0b 17"


def test_golden_i_frame_with_a_time_tag() -> None:
    assert decode(parse_hex(GOLDEN_104)) == [
        "APDU 1: I-frame N(S)=3 N(R)=5, ASDU 17 octets",
        "  M_SP_TB_1 (30), COT 3 SPONTANEOUS, originator 0, CA 1, 1 object(s)",
        "    IOA 1001: value=True quality=IV time=2023-11-14 22:13:20.123 UTC",
    ]


def test_the_golden_bytes_are_what_the_codec_sends() -> None:
    t = Cp56Time2a.from_timestamp(1700000000.123)
    asdu = Asdu(TypeId.M_SP_TB_1, Cot.SPONTANEOUS, 1, (SinglePoint(1001, True, Qds.IV, t),))
    assert encode_frame(IFrame(3, 5, encode_asdu(asdu, PROFILE_104))) == parse_hex(GOLDEN_104)


def test_u_and_s_frames_and_several_in_a_row() -> None:
    assert decode(parse_hex("680407000000 68040100 0a00")) == [
        "APDU 1: U-frame STARTDT_ACT", "APDU 2: S-frame N(R)=5"]


def test_negative_confirmation_and_values() -> None:
    objects = (DoublePoint(2001, 2, Qds(0)), DoublePoint(2002, 3, Qds.NT))
    asdu = Asdu(TypeId.M_DP_NA_1, Cot.INTERROGATED_BY_STATION, 1, objects)
    lines = decode(encode_frame(IFrame(0, 0, encode_asdu(asdu, PROFILE_104))))
    assert lines[1] == "  M_DP_NA_1 (3), COT 20 INTERROGATED_BY_STATION, originator 0, CA 1, " \
                       "2 object(s)"
    assert lines[2:] == ["    IOA 2001: value=ON quality=ok",
                         "    IOA 2002: value=INDETERMINATE_OR_FAULTY quality=NT"]
    neg = decode(parse_hex("68 0e 0a 00 04 00 2d 01 47 00 01 00 c8 00 00 01"))
    assert "COT 7 ACTIVATION_CON negative (P/N=1)" in neg[1]
    assert neg[2] == "    IOA 200: state=True qu=0 (no further definition) select=execute"


def test_float_with_originator() -> None:
    asdu = Asdu(TypeId.M_ME_NC_1, Cot.SPONTANEOUS, 3, (MeasuredFloat(3001, 42.5, Qds.OV),),
                originator=9, test=True)
    lines = decode(encode_frame(IFrame(1, 1, encode_asdu(asdu, PROFILE_104))))
    assert "TEST (T=1), originator 9, CA 3" in lines[1]
    assert lines[2] == "    IOA 3001: value=42.5 quality=OV"


def test_101_frames_with_other_field_sizes() -> None:
    profile = AsduProfile(1, 1, 2, max_asdu_length=252)
    command = Asdu(TypeId.C_SC_NA_1, Cot.ACTIVATION, 7, (SingleCommand(5001, True, 1, True),))
    frames = encode_fixed(0x49, 1, 1) + encode_variable(0x73, 1, 1, encode_asdu(command, profile)) \
        + b"\xe5"
    assert guess_protocol(frames) is Protocol.IEC101
    assert decode(frames, Options(cot_size=1, ca_size=1, ioa_size=2)) == [
        ("frame 1: fixed length, C=0x49 primary (PRM=1) REQUEST_LINK_STATUS FCB=0 FCV=0, "
        "link address 1"),
        ("frame 2: variable length, C=0x73 primary (PRM=1) USER_DATA_CONFIRMED FCB=1 FCV=1, "
        "link address 1, ASDU 7 octets"),
        "  C_SC_NA_1 (45), COT 6 ACTIVATION, originator 0, CA 7, 1 object(s)",
        "    IOA 5001: state=True qu=1 (short pulse) select=select",
        "frame 3: single character E5 (ACK / no data)",
    ]


def test_101_secondary_frame_and_a_bad_checksum() -> None:
    lines = decode(parse_hex("10 20 01 21 16"))  # secondary ACK with ACD
    assert lines == [("frame 1: fixed length, C=0x20 secondary (PRM=0) ACK ACD=1 DFC=0, "
                     "link address 1")]
    bad = decode(parse_hex("10 49 01 00 16"), Options(protocol=Protocol.IEC101))
    assert bad[-1].startswith("discarded 5 octet(s)")


def test_wrong_field_sizes_show_the_raw_asdu() -> None:
    profile = AsduProfile(2, 2, 3, max_asdu_length=252)
    asdu = encode_asdu(Asdu(TypeId.C_SC_NA_1, Cot.ACTIVATION, 7, (SingleCommand(1, True),)),
                       profile)
    lines = decode(encode_variable(0x73, 1, 1, asdu), Options(cot_size=1, ca_size=1, ioa_size=1))
    assert lines[1].startswith("  ASDU not decoded:")
    assert lines[-1].startswith("  octets: 2d 01 06 00")


def test_errors_and_incomplete_input() -> None:
    assert decode(parse_hex("68 04 07 00")) == ["incomplete: 4 octet(s) left over"]
    assert decode(parse_hex("68 04 0f 00 00 00"))[0].startswith("error: U-frame control octet")
    with pytest.raises(DecodeError, match="odd number"):
        parse_hex("68 0")
    with pytest.raises(DecodeError, match="not hex"):
        parse_hex("zz")
    with pytest.raises(DecodeError, match="first octet 0x42"):
        decode(b"\x42")
    assert parse_hex(["0x68,0x04", "07:00-00.00"]) == bytes.fromhex("680407000000")


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", *GOLDEN_104.split()]) == 0
    assert "IOA 1001: value=True" in capsys.readouterr().out
    assert main(["decode", "--protocol", "101", "--link-address-size", "1", "10 49 01 4a 16"]) == 0
    assert "REQUEST_LINK_STATUS" in capsys.readouterr().out
    assert main(["decode", "68 04 07"]) == 1
    assert main(["decode", "6"]) == 2
    assert "odd number" in capsys.readouterr().err


_T = "9b 4e 0d 16 0e 0b 17"  # 2023-11-14 22:13:20.123 UTC (the time tag of GOLDEN_104)


@pytest.mark.parametrize(("octets", "expected"), [
    ("70 01 06 00 01 00 b9 0b 00 00 00 00 3f 01", [
        "P_ME_NC_1 (112), COT 6 ACTIVATION, originator 0, CA 1, 1 object(s)",
        "  IOA 3001: value=0.5 kpa=1 (threshold) lpc=False pop=False"]),
    ("6e 01 07 00 01 00 b9 0b 00 00 40 41", [  # QPM 0x41: KPA 1, LPC set
        "P_ME_NA_1 (110), COT 7 ACTIVATION_CON, originator 0, CA 1, 1 object(s)",
        "  IOA 3001: value=16384 (0.50000) kpa=1 (threshold) lpc=True pop=False"]),
    ("71 01 08 00 01 00 b9 0b 00 02", [
        "P_AC_NA_1 (113), COT 8 DEACTIVATION, originator 0, CA 1, 1 object(s)",
        "  IOA 3001: qpa=2 (parameter of this object)"]),
    (f"26 01 03 00 01 00 fd 08 00 0a 96 00 {_T}", [  # SEP: ES 2 (on) + EI
        "M_EP_TD_1 (38), COT 3 SPONTANEOUS, originator 0, CA 1, 1 object(s)",
        "  IOA 2301: state=2 (ON) elapsed_ms=150 ms quality=EI time=2023-11-14 22:13:20.123 UTC"]),
    (f"27 01 03 00 01 00 fd 08 00 03 00 20 00 {_T}", [
        "M_EP_TE_1 (39), COT 3 SPONTANEOUS, originator 0, CA 1, 1 object(s)",
        ("  IOA 2301: spe=0x03 (GS|SL1) duration_ms=32 ms quality=ok "
         "time=2023-11-14 22:13:20.123 UTC")]),
    (f"28 01 03 00 01 00 fd 08 00 01 00 2c 01 {_T}", [
        "M_EP_TF_1 (40), COT 3 SPONTANEOUS, originator 0, CA 1, 1 object(s)",
        ("  IOA 2301: oci=0x01 (GC) operating_ms=300 ms quality=ok "
         "time=2023-11-14 22:13:20.123 UTC")]),
])
def test_parameter_and_protection_types(octets: str, expected: list[str]) -> None:
    """Golden ASDUs of the parameter loading and protection event types, field by field."""
    assert describe_asdu(parse_hex(octets), PROFILE_104) == expected


def test_file_transfer_types_are_decoded_with_their_qualifiers() -> None:
    ack = decode(parse_hex("68 11 00 00 00 00 7c 01 0d 00 01 00 00 00 00 03 00 01 24"))
    assert ack[1:] == [
        "  F_AF_NA_1 (124), COT 13 FILE_TRANSFER, originator 0, CA 1, 1 object(s)",
        "    IOA 0: nof=3 section=1 afq=4 (section not received) error=2 (checksum failed)",
    ]
    segment = decode(parse_hex("68 14 00 00 00 00 7d 01 0d 00 01 00 00 00 00 03 00 01 03"
                               " 61 62 63"))
    assert segment[-1] == "    IOA 0: nof=3 section=1 data=3 octets [61 62 63]"
    call = decode(parse_hex("68 11 00 00 00 00 7a 01 05 00 01 00 00 00 00 00 00 00 00"))
    assert call[-1] == "    IOA 0: nof=0 section=0 scq=0 (default/call directory) error=0 (none)"


_P101 = AsduProfile(1, 1, 2, max_asdu_length=252)
_CP24 = "(CP24, hour of the last clock sync)"


@pytest.mark.parametrize(("octets", "line"), [
    ("02 01 03 05 02 01 01 5f ea 3b", "M_SP_TA_1 (2)"),
    ("04 01 03 05 10 00 82 39 30 9e", "M_DP_TA_1 (4)"),
    ("06 01 03 05 11 00 ff 01 5f ea 3b", "M_ST_TA_1 (6)"),
    ("08 01 03 05 12 00 78 56 34 12 00 e8 03 01", "M_BO_TA_1 (8)"),
    ("0a 01 03 05 13 00 00 40 40 5f ea 3b", "M_ME_TA_1 (10)"),
    ("0c 01 03 05 14 00 d4 fe 00 5f ea 3b", "M_ME_TB_1 (12)"),
    ("0e 01 03 05 15 00 00 00 c0 3f 00 5f ea 3b", "M_ME_TC_1 (14)"),
    ("10 01 03 05 16 00 a0 86 01 00 23 5f ea 3b", "M_IT_TA_1 (16)"),
    ("11 01 03 05 17 00 0a 96 00 5f ea 3b", "M_EP_TA_1 (17)"),
    ("12 01 03 05 18 00 03 00 fa 00 5f ea 3b", "M_EP_TB_1 (18)"),
    ("13 01 03 05 19 00 01 80 28 00 39 30 9e", "M_EP_TC_1 (19)"),
])
def test_cp24_types_are_named_with_their_time(octets: str, line: str) -> None:
    """Every 101 CP24Time2a type: its name, and the minute and seconds of its time tag."""
    lines = describe_asdu(parse_hex(octets), _P101)
    assert lines[0].startswith(f"{line}, COT 3 SPONTANEOUS, originator 0, CA 5, 1 object(s)")
    assert lines[1].endswith((f"time=hh:59:59.999 {_CP24}", f"time=hh:30:12.345 {_CP24} [IV]",
                              f"time=hh:01:01.000 {_CP24}"))


@pytest.mark.parametrize(("octets", "expected"), [
    ("04 01 03 05 10 00 82 39 30 9e",
     f"  IOA 16: value=ON quality=IV time=hh:30:12.345 {_CP24} [IV]"),
    ("11 01 03 05 17 00 0a 96 00 5f ea 3b",
     f"  IOA 23: state=2 (ON) elapsed_ms=150 ms quality=EI time=hh:59:59.999 {_CP24}"),
    ("13 01 03 05 19 00 01 80 28 00 39 30 9e",
     f"  IOA 25: oci=0x01 (GC) operating_ms=40 ms quality=IV time=hh:30:12.345 {_CP24} [IV]"),
    ("6a 01 06 05 00 00 39 30", "  IOA 0: milliseconds=12345 ms"),
])
def test_cp24_and_delay_acquisition_fields(octets: str, expected: str) -> None:
    assert describe_asdu(parse_hex(octets), _P101)[1] == expected


def test_cli_decodes_a_cp24_frame(capsys: pytest.CaptureFixture[str]) -> None:
    frame = encode_variable(0x08, 1, 1, parse_hex("02 01 03 05 02 01 01 5f ea 3b"))
    assert main(["decode", "--protocol", "101", "--cot-size", "1", "--ca-size", "1",
                 "--ioa-size", "2", frame.hex(" ")]) == 0
    out = capsys.readouterr().out
    assert "M_SP_TA_1 (2), COT 3 SPONTANEOUS" in out and "time=hh:59:59.999" in out
