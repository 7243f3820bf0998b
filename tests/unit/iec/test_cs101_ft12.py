"""IEC 60870-5-101 FT1.2 frames: golden bytes, stream reassembly, resynchronisation, idle gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.iec.cs101.ft12 import (
    MAX_FRAME_LENGTH,
    SINGLE_CHAR_ACK,
    FixedFrame,
    Ft12Frame,
    Ft12Parser,
    SingleChar,
    VariableFrame,
    encode_fixed,
    encode_frame,
    encode_variable,
)
from rtu.iec.errors import LocalProtocolError

# C_IC_NA_1 station interrogation in the 101 profile (COT 1, CA 1, IOA 2 octets), QOI 20
GI_ASDU = bytes.fromhex("64 01 06 01 00 00 14")

GOLDEN: list[tuple[Ft12Frame, int, str]] = [
    (FixedFrame(0x49, 1), 1, "10 49 01 4A 16"),  # request status of link
    (FixedFrame(0x40, 1), 1, "10 40 01 41 16"),  # reset of remote link
    (FixedFrame(0x00, 1), 1, "10 00 01 01 16"),  # ACK from station 1
    (FixedFrame(0x0B, 1), 1, "10 0B 01 0C 16"),  # status of link
    (FixedFrame(0x7B, 1), 1, "10 7B 01 7C 16"),  # request class 2, FCB=1 FCV=1
    (FixedFrame(0x5A, 1), 1, "10 5A 01 5B 16"),  # request class 1, FCB=0 FCV=1
    (FixedFrame(0x49, 0x1234), 2, "10 49 34 12 8F 16"),  # two address octets, little-endian
    (FixedFrame(0xC9, 0), 0, "10 C9 C9 16"),  # balanced, no address field
    # confirmed user data (FCB=1, FCV=1) carrying a station interrogation
    (VariableFrame(0x73, 1, GI_ASDU), 1, "68 09 09 68 73 01 64 01 06 01 00 00 14 F4 16"),
    (VariableFrame(0x08, 0x0102, b"\xaa"), 2, "68 04 04 68 08 02 01 AA B5 16"),
    (SingleChar(), 1, "E5"),
]


@pytest.mark.parametrize(("frame", "size", "wire"), GOLDEN, ids=[w for _, _, w in GOLDEN])
def test_golden_encode(frame: Ft12Frame, size: int, wire: str) -> None:
    assert encode_frame(frame, size) == bytes.fromhex(wire)


@pytest.mark.parametrize(("frame", "size", "wire"), GOLDEN, ids=[w for _, _, w in GOLDEN])
def test_golden_decode(frame: Ft12Frame, size: int, wire: str) -> None:
    parser = Ft12Parser(size)
    assert parser.feed(bytes.fromhex(wire), 0.0) == [frame]
    assert parser.errors == 0
    assert parser.buffered == 0


def test_encoders_directly() -> None:
    assert encode_fixed(0x49, 1, 1) == bytes.fromhex("10 49 01 4A 16")
    assert encode_variable(0x73, 1, 1, GI_ASDU) == bytes.fromhex(
        "68 09 09 68 73 01 64 01 06 01 00 00 14 F4 16"
    )
    assert SINGLE_CHAR_ACK == 0xE5


def test_longest_variable_frame() -> None:
    asdu = bytes(range(253))
    wire = encode_variable(0x08, 7, 1, asdu)
    assert len(wire) == MAX_FRAME_LENGTH == 261
    assert wire[:4] == b"\x68\xff\xff\x68"
    assert Ft12Parser(1).feed(wire, 0.0) == [VariableFrame(0x08, 7, asdu)]


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (encode_fixed, (0x100, 1, 1)),
        (encode_fixed, (-1, 1, 1)),
        (encode_fixed, (0x49, 256, 1)),
        (encode_fixed, (0x49, 65536, 2)),
        (encode_fixed, (0x49, 1, 0)),
        (encode_fixed, (0x49, 1, 3)),
        (encode_variable, (0x08, 1, 1, bytes(254))),
        (encode_variable, (0x08, 1, 2, bytes(253))),
    ],
)
def test_encoder_misuse_raises(call: object, args: tuple[object, ...]) -> None:
    assert callable(call)
    with pytest.raises(LocalProtocolError):
        call(*args)


@pytest.mark.parametrize("size", [-1, 3, True])
def test_parser_rejects_bad_address_size(size: int) -> None:
    with pytest.raises(LocalProtocolError):
        Ft12Parser(size)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("inf"), float("nan")])
def test_parser_rejects_bad_idle_timeout(timeout: float) -> None:
    with pytest.raises(LocalProtocolError):
        Ft12Parser(1, idle_timeout=timeout)


# ------------------------------------------------------------------ bad frames, resync

GOOD = bytes.fromhex("10 49 01 4A 16")
GOOD_FRAME = FixedFrame(0x49, 1)


@pytest.mark.parametrize(
    ("noise", "errors"),
    [
        ("", 0),
        ("00", 1),  # garbage octet
        ("10", 1),  # a stray start octet: its candidate fails on the good frame's octets
        ("10 10", 2),  # two stray start octets: two candidates
        ("10 49 01 4B 16", 1),  # bad checksum
        ("10 49 01 4A 17", 1),  # bad end octet
        ("68 05 06 68", 2),  # L fields differ; then its second 0x68 is a candidate
        ("68 00 00 68", 2),  # L below control + address; likewise
        ("68 05 05 69", 1),  # second start octet wrong
        ("68 03 03 68 08 01 AA B4 16", 2),  # variable frame, bad checksum
        ("68 03 03 68 08 01 AA B3 17", 2),  # variable frame, bad end octet
        ("FF FF FF", 1),  # one run of garbage is one discard
    ],
)
def test_resynchronises_on_the_next_frame(noise: str, errors: int) -> None:
    parser = Ft12Parser(1)
    frames = parser.feed(bytes.fromhex(noise) + GOOD + GOOD, 0.0)
    assert frames == [GOOD_FRAME, GOOD_FRAME]
    assert parser.buffered == 0
    assert parser.errors == errors  # a rejected candidate and the garbage after it count once


def test_stray_single_char_in_noise_is_a_frame() -> None:
    # 0xE5 is a complete frame by itself: noise cannot be told from an ACK.
    assert Ft12Parser(1).feed(b"\x00\xe5\x00" + GOOD, 0.0) == [SingleChar(), GOOD_FRAME]


def test_long_candidate_swallowing_a_frame_is_rescanned() -> None:
    # A noise header announcing 10 octets covers the good frame; once complete its checksum
    # fails, one octet goes and the good frame inside is found.
    parser = Ft12Parser(1)
    assert parser.feed(bytes.fromhex("68 0A 0A 68") + GOOD, 0.0) == []
    assert parser.feed(bytes(7), 0.0) == [GOOD_FRAME]
    # the noise candidate, its second 0x68 (L fields differ), the zeros after the good frame
    assert parser.errors == 3
    assert parser.buffered == 0


def test_discarded_octets_are_logged_in_hex(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="rtu.iec.cs101.ft12")
    Ft12Parser(1).feed(bytes.fromhex("10 49 01 4B 16") + GOOD, 0.0)
    assert "10 49 01 4b 16" in caplog.text
    assert "checksum" in caplog.text


# -------------------------------------------------------------------------- idle rule


def test_idle_gap_inside_a_frame_discards_it() -> None:
    parser = Ft12Parser(1, idle_timeout=0.01)
    assert parser.feed(GOOD[:3], 0.0) == []
    assert parser.feed(GOOD[3:], 0.5) == []  # the tail alone is garbage
    assert parser.errors == 2  # the broken frame and the orphaned tail
    assert parser.feed(GOOD, 0.6) == [GOOD_FRAME]


def test_short_gap_inside_a_frame_is_fine() -> None:
    parser = Ft12Parser(1, idle_timeout=0.01)
    assert parser.feed(GOOD[:3], 0.0) == []
    assert parser.feed(GOOD[3:], 0.005) == [GOOD_FRAME]
    assert parser.errors == 0


def test_gap_without_a_partial_frame_is_fine() -> None:
    parser = Ft12Parser(1, idle_timeout=0.01)
    assert parser.feed(GOOD, 0.0) == [GOOD_FRAME]
    assert parser.feed(GOOD, 10.0) == [GOOD_FRAME]
    assert parser.errors == 0


def test_empty_feed_after_a_gap_drops_the_partial_frame() -> None:
    parser = Ft12Parser(1, idle_timeout=0.01)
    parser.feed(GOOD[:4], 0.0)
    assert parser.feed(b"", 0.005) == []
    assert parser.buffered == 4
    assert parser.feed(b"", 0.02) == []
    assert parser.buffered == 0
    assert parser.errors == 1


def test_gap_flush_still_finds_a_frame_behind_a_broken_start() -> None:
    parser = Ft12Parser(1, idle_timeout=0.01)
    # A noise header waits for 16 more octets; the good frame is behind it.
    assert parser.feed(bytes.fromhex("68 20 20 68") + GOOD, 0.0) == []
    assert parser.feed(b"", 1.0) == [GOOD_FRAME]
    assert parser.buffered == 0


def test_without_idle_timeout_a_gap_changes_nothing() -> None:
    parser = Ft12Parser(1)
    parser.feed(GOOD[:2], 0.0)
    assert parser.feed(GOOD[2:], 1000.0) == [GOOD_FRAME]


# ------------------------------------------------------------------- property tests


@st.composite
def frames_for(draw: st.DrawFn, size: int, max_asdu: int = 253) -> Ft12Frame:
    limit = (1 << (8 * size)) - 1
    kind = draw(st.sampled_from(["fixed", "variable", "single"]))
    if kind == "single":
        return SingleChar()
    control = draw(st.integers(0, 255))
    address = draw(st.integers(0, limit))
    if kind == "fixed":
        return FixedFrame(control, address)
    asdu = draw(st.binary(min_size=0, max_size=min(max_asdu, 254 - size)))
    return VariableFrame(control, address, asdu)


@st.composite
def sized_frames(
    draw: st.DrawFn, max_frames: int = 5, max_asdu: int = 253
) -> tuple[int, list[Ft12Frame]]:
    size = draw(st.sampled_from([0, 1, 2]))
    frames = draw(st.lists(frames_for(size, max_asdu), min_size=1, max_size=max_frames))
    return size, frames


def wire_of(frames: list[Ft12Frame], size: int) -> bytes:
    return b"".join(encode_frame(frame, size) for frame in frames)


@given(sized_frames())
def test_round_trip(case: tuple[int, list[Ft12Frame]]) -> None:
    size, frames = case
    parser = Ft12Parser(size)
    assert parser.feed(wire_of(frames, size), 0.0) == frames
    assert parser.errors == 0
    assert parser.buffered == 0


@given(sized_frames(max_frames=4, max_asdu=40))
def test_split_at_every_position(case: tuple[int, list[Ft12Frame]]) -> None:
    size, frames = case
    wire = wire_of(frames, size)
    for split in range(len(wire) + 1):
        parser = Ft12Parser(size, idle_timeout=1.0)
        got = parser.feed(wire[:split], 0.0) + parser.feed(wire[split:], 0.5)
        assert got == frames, split
        assert parser.errors == 0


@given(sized_frames(max_frames=3, max_asdu=30))
def test_octet_by_octet(case: tuple[int, list[Ft12Frame]]) -> None:
    size, frames = case
    parser = Ft12Parser(size)
    got: list[Ft12Frame] = []
    for octet in wire_of(frames, size):
        got += parser.feed(bytes((octet,)), 0.0)
    assert got == frames


NOISE_WITHOUT_START = st.binary(max_size=30).map(
    lambda data: bytes(b for b in data if b not in (0x10, 0x68, 0xE5))
)


@given(sized_frames(), st.lists(NOISE_WITHOUT_START, min_size=6, max_size=6))
def test_frames_surrounded_by_noise_are_recovered(
    case: tuple[int, list[Ft12Frame]], noises: list[bytes]
) -> None:
    size, frames = case
    wire = noises[0]
    for index, frame in enumerate(frames):
        wire += encode_frame(frame, size) + noises[index + 1]
    parser = Ft12Parser(size)
    assert parser.feed(wire, 0.0) == frames
    assert parser.errors == sum(1 for noise in noises[: len(frames) + 1] if noise)


@given(sized_frames(), st.binary(max_size=300), st.binary(max_size=300))
def test_idle_gaps_isolate_frames_from_any_noise(
    case: tuple[int, list[Ft12Frame]], before: bytes, after: bytes
) -> None:
    # Whatever the noise (start octets included), a pause resets the parser: the frames sent
    # between two pauses are recovered exactly.
    size, frames = case

    def alone(noise: bytes) -> list[Ft12Frame]:
        reference = Ft12Parser(size, idle_timeout=0.1)
        return reference.feed(noise, 0.0) + reference.feed(b"", 1.0)

    parser = Ft12Parser(size, idle_timeout=0.1)
    got = parser.feed(before, 0.0)
    got += parser.feed(wire_of(frames, size), 1.0)
    got += parser.feed(after, 2.0)
    got += parser.feed(b"", 3.0)
    assert got == alone(before) + frames + alone(after)
    assert parser.buffered == 0


@given(
    st.sampled_from([0, 1, 2]),
    st.lists(st.tuples(st.binary(max_size=80), st.floats(0.0, 0.05)), max_size=20),
)
def test_random_octets_never_raise(size: int, chunks: list[tuple[bytes, float]]) -> None:
    parser = Ft12Parser(size, idle_timeout=0.01)
    now = 0.0
    for data, delay in chunks:
        now += delay
        for frame in parser.feed(data, now):
            assert isinstance(frame, FixedFrame | VariableFrame | SingleChar)
        assert parser.buffered < MAX_FRAME_LENGTH


@given(st.binary(max_size=600))
def test_random_octets_leave_a_bounded_buffer(data: bytes) -> None:
    parser = Ft12Parser(1)
    parser.feed(data, 0.0)
    assert parser.buffered < MAX_FRAME_LENGTH
