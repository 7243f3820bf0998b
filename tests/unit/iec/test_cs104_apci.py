"""IEC 60870-5-104 APCI frames: golden bytes, round trips, stream reassembly, framing errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.iec.cs104.apci import (
    MAX_ASDU_LENGTH,
    SEQ_MODULO,
    ApciError,
    Frame,
    FrameFormat,
    FrameParser,
    IFrame,
    SFrame,
    UFrame,
    UFunction,
    encode_frame,
)
from rtu.iec.errors import LocalProtocolError, RemoteProtocolError

# C_IC_NA_1 station interrogation, COT activation, CA 1, IOA 0, QOI 20
INTERROGATION_ASDU = bytes.fromhex("64 01 06 00 01 00 00 00 00 14")

GOLDEN: list[tuple[Frame, str]] = [
    (UFrame(UFunction.STARTDT_ACT), "68 04 07 00 00 00"),
    (UFrame(UFunction.STARTDT_CON), "68 04 0B 00 00 00"),
    (UFrame(UFunction.STOPDT_ACT), "68 04 13 00 00 00"),
    (UFrame(UFunction.STOPDT_CON), "68 04 23 00 00 00"),
    (UFrame(UFunction.TESTFR_ACT), "68 04 43 00 00 00"),
    (UFrame(UFunction.TESTFR_CON), "68 04 83 00 00 00"),
    (SFrame(5), "68 04 01 00 0A 00"),
    (SFrame(0), "68 04 01 00 00 00"),
    (SFrame(32767), "68 04 01 00 FE FF"),
    (IFrame(1, 2, INTERROGATION_ASDU), "68 0E 02 00 04 00 64 01 06 00 01 00 00 00 00 14"),
    (IFrame(32767, 256, b"\x01"), "68 05 FE FF 00 02 01"),
]


@pytest.mark.parametrize(("frame", "wire"), GOLDEN, ids=[w for _, w in GOLDEN])
def test_golden_encode(frame: Frame, wire: str) -> None:
    assert encode_frame(frame) == bytes.fromhex(wire)


@pytest.mark.parametrize(("frame", "wire"), GOLDEN, ids=[w for _, w in GOLDEN])
def test_golden_decode(frame: Frame, wire: str) -> None:
    assert FrameParser().feed(bytes.fromhex(wire)) == [frame]


def test_u_function_values_are_the_control_octet() -> None:
    assert [f.value for f in UFunction] == [0x07, 0x0B, 0x13, 0x23, 0x43, 0x83]


def test_longest_i_frame() -> None:
    asdu = bytes(range(MAX_ASDU_LENGTH))
    wire = encode_frame(IFrame(0, 0, asdu))
    assert wire[:2] == b"\x68\xfd"
    assert len(wire) == 255
    assert FrameParser().feed(wire) == [IFrame(0, 0, asdu)]


@pytest.mark.parametrize(
    "frame",
    [
        IFrame(SEQ_MODULO, 0, b"\x01"),
        IFrame(0, SEQ_MODULO, b"\x01"),
        IFrame(-1, 0, b"\x01"),
        IFrame(0, 0, b""),
        IFrame(0, 0, bytes(MAX_ASDU_LENGTH + 1)),
        SFrame(SEQ_MODULO),
        SFrame(-1),
    ],
)
def test_encode_rejects_our_own_misuse(frame: Frame) -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(frame)


def test_reserved_bits_are_ignored() -> None:
    # N(R) low bit set (reserved), S-frame octet 2 non-zero, U-frame octets 2-4 non-zero
    assert FrameParser().feed(bytes.fromhex("68 04 01 FF 0B 00")) == [SFrame(5)]
    assert FrameParser().feed(bytes.fromhex("68 04 43 01 02 03")) == [UFrame(UFunction.TESTFR_ACT)]


# ------------------------------------------------------------------ strategies

seqs = st.integers(min_value=0, max_value=SEQ_MODULO - 1)
i_frames = st.builds(IFrame, seqs, seqs, st.binary(min_size=1, max_size=MAX_ASDU_LENGTH))
s_frames = st.builds(SFrame, seqs)
u_frames = st.builds(UFrame, st.sampled_from(UFunction))
frames = st.one_of(i_frames, s_frames, u_frames)


@given(frames)
def test_round_trip(frame: Frame) -> None:
    assert FrameParser().feed(encode_frame(frame)) == [frame]


@given(st.lists(frames, min_size=1, max_size=8), st.data())
def test_any_split_positions(stream: list[Frame], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(f) for f in stream)
    cuts = sorted(data.draw(st.sets(st.integers(min_value=0, max_value=len(wire)), max_size=12)))
    parser = FrameParser()
    out: list[Frame] = []
    start = 0
    for cut in [*cuts, len(wire)]:
        out += parser.feed(wire[start:cut])
        start = cut
    assert out == stream
    assert parser.buffered == 0


def test_every_single_split_position() -> None:
    stream: list[Frame] = [
        UFrame(UFunction.STARTDT_ACT),
        IFrame(0, 0, INTERROGATION_ASDU),
        SFrame(1),
        IFrame(1, 1, b"\xaa" * 40),
    ]
    wire = b"".join(encode_frame(f) for f in stream)
    for cut in range(len(wire) + 1):
        parser = FrameParser()
        first = parser.feed(wire[:cut])
        assert first == stream[: len(first)]
        assert first + parser.feed(wire[cut:]) == stream


def test_byte_at_a_time() -> None:
    frame = IFrame(7, 9, INTERROGATION_ASDU)
    wire = encode_frame(frame) * 3
    parser = FrameParser()
    got: list[Frame] = []
    for i in range(len(wire)):
        got += parser.feed(wire[i : i + 1])
    assert got == [frame] * 3


def test_next_frame_one_at_a_time() -> None:
    parser = FrameParser()
    parser.receive_data(bytes.fromhex("68 04 07 00 00 00 68 04 01 00 0A 00 68 04"))
    assert parser.next_frame() == UFrame(UFunction.STARTDT_ACT)
    assert parser.next_frame() == SFrame(5)
    assert parser.next_frame() is None
    assert parser.buffered == 2
    parser.receive_data(bytes.fromhex("43 00 00 00"))
    assert parser.next_frame() == UFrame(UFunction.TESTFR_ACT)
    assert parser.next_frame() is None


def test_next_raw_reports_the_format_without_frame_objects() -> None:
    parser = FrameParser()
    wire = encode_frame(IFrame(3, 4, b"\x01\x02")) + bytes.fromhex("68 04 01 00 0A 00")
    parser.receive_data(wire + encode_frame(UFrame(UFunction.STOPDT_ACT)))
    assert parser.next_raw() == (FrameFormat.I, 3, 4, b"\x01\x02")
    assert parser.next_raw() == (FrameFormat.S, 0, 5, b"")
    assert parser.next_raw() == (FrameFormat.U, UFunction.STOPDT_ACT, 0, b"")
    assert parser.next_raw() is None


@given(frames)
def test_asdu_is_bytes(frame: Frame) -> None:
    (decoded,) = FrameParser().feed(bytearray(encode_frame(frame)))  # type: ignore[arg-type]
    if isinstance(decoded, IFrame):
        assert type(decoded.asdu) is bytes


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("wire", "problem", "offending"),
    [
        ("45 04 07 00 00 00", "start octet 0x45", "45 04 07 00 00 00"),
        ("68 03 07 00 00", "APDU length 3", "68 03"),
        ("68 00", "APDU length 0", "68 00"),
        ("68 FE", "APDU length 254", "68 fe"),
        ("68 FF", "APDU length 255", "68 ff"),
        ("68 05 01 00 0A 00 00", "S-frame with length 5", "68 05 01 00 0a 00 00"),
        ("68 05 07 00 00 00 00", "U-frame with length 5", "68 05 07 00 00 00 00"),
        ("68 04 00 00 00 00", "I-frame without an ASDU", "68 04 00 00 00 00"),
        ("68 04 03 00 00 00", "sets no function bit", "68 04 03 00 00 00"),
        ("68 04 0F 00 00 00", "sets more than one function bit", "68 04 0f 00 00 00"),
        ("68 04 C3 00 00 00", "sets more than one function bit", "68 04 c3 00 00 00"),
    ],
)
def test_framing_errors(wire: str, problem: str, offending: str) -> None:
    parser = FrameParser()
    with pytest.raises(ApciError) as info:
        parser.feed(bytes.fromhex(wire))
    assert isinstance(info.value, RemoteProtocolError)
    assert problem in info.value.problem
    assert info.value.data == bytes.fromhex(offending)
    assert str(info.value) == f"{info.value.problem} [{offending}]"
    # the stream cannot be resynchronised: the parser stays broken
    with pytest.raises(ApciError):
        parser.feed(bytes.fromhex("68 04 07 00 00 00"))


def test_errors_are_detected_as_early_as_possible() -> None:
    parser = FrameParser()
    with pytest.raises(ApciError, match="start octet"):
        parser.feed(b"\x00")
    parser = FrameParser()
    assert parser.feed(b"\x68") == []
    with pytest.raises(ApciError, match="APDU length 2"):
        parser.feed(b"\x02")


def test_error_after_good_frames_keeps_the_good_ones_available() -> None:
    parser = FrameParser()
    parser.receive_data(bytes.fromhex("68 04 43 00 00 00 99"))
    assert parser.next_frame() == UFrame(UFunction.TESTFR_ACT)
    with pytest.raises(ApciError, match="start octet 0x99"):
        parser.next_frame()


@given(st.binary(max_size=600))
def test_random_bytes_give_frames_or_apci_error(data: bytes) -> None:
    parser = FrameParser()
    try:
        result = parser.feed(data)
    except ApciError:
        return
    assert all(isinstance(f, IFrame | SFrame | UFrame) for f in result)
    assert sum(len(encode_frame(f)) for f in result) + parser.buffered == len(data)
