"""A-XDR Data: golden bytes from the Green Book's examples, round trips, hostile input."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtu.dlms.axdr import (
    MAX_DEPTH,
    Data,
    DataType,
    decode_data,
    decode_data_all,
    decode_length,
    encode_data,
    encode_length,
    to_python,
)
from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

T = DataType


@pytest.mark.parametrize(("data", "golden"), [
    (Data(T.DOUBLE_LONG_UNSIGNED, 12345678), "0600bc614e"),
    (Data(T.LONG_UNSIGNED, 2301), "1208fd"),
    # scaler_unit of an energy register: {-2, Wh (30)}
    (Data(T.STRUCTURE, (Data(T.INTEGER, -2), Data(T.ENUM, 30))), "02020ffe161e"),
    # the clock's logical name 0.0.1.0.0.255 as an octet-string
    (Data(T.OCTET_STRING, bytes([0, 0, 1, 0, 0, 255])), "0906000001000 0ff".replace(" ", "")),
    (Data(T.VISIBLE_STRING, "ABC"), "0a03414243"),
    (Data(T.BOOLEAN, True), "0301"),
    (Data(T.LONG, -1), "10ffff"),
    (Data(T.DOUBLE_LONG, -2), "05fffffffe"),
    (Data(T.LONG64_UNSIGNED, 1), "150000000000000001"),
    (Data(T.FLOAT32, 1.5), "173fc00000"),
    (Data(T.FLOAT64, -2.0), "18c000000000000000"),
    (Data(T.NULL_DATA), "00"),
    (Data(T.BIT_STRING, "1010"), "0404a0"),
    (Data(T.ARRAY, ()), "0100"),
    # a COSEM date-time as its own type (25): 2014-11-14 12:30:00, deviation -60, status 0
    (Data(T.DATE_TIME, bytes.fromhex("07de0b0e050c1e0000ffc400")),
     "1907de0b0e050c1e0000ffc400"),
])
def test_golden_bytes(data: Data, golden: str) -> None:
    assert encode_data(data).hex() == golden
    assert decode_data_all(bytes.fromhex(golden)) == data


def test_plain_values_keep_the_shapes_the_sources_use() -> None:
    raw = bytes.fromhex("0203" "0600bc614e" "02020ffe161e" "090c07de0b0e050c1e0000ffc400")
    assert to_python(decode_data_all(raw)) == [
        12345678, [-2, 30], bytes.fromhex("07de0b0e050c1e0000ffc400")]


@pytest.mark.parametrize(("length", "golden"), [(0, "00"), (0x7F, "7f"), (0x80, "8180"),
                                                (0x1234, "821234"), (0x10000, "83010000")])
def test_lengths(length: int, golden: str) -> None:
    assert encode_length(length).hex() == golden
    assert decode_length(bytes.fromhex(golden), 0) == (length, len(golden) // 2)


def _leaves() -> st.SearchStrategy[Data]:
    ints = [st.builds(Data, st.just(t), st.integers(lo, hi)) for t, lo, hi in (
        (T.INTEGER, -128, 127), (T.LONG, -0x8000, 0x7FFF), (T.UNSIGNED, 0, 255),
        (T.LONG_UNSIGNED, 0, 0xFFFF), (T.DOUBLE_LONG, -2**31, 2**31 - 1),
        (T.DOUBLE_LONG_UNSIGNED, 0, 2**32 - 1), (T.LONG64, -2**63, 2**63 - 1),
        (T.LONG64_UNSIGNED, 0, 2**64 - 1), (T.ENUM, 0, 255))]
    return st.one_of(
        *ints,
        st.builds(Data, st.just(T.NULL_DATA)),
        st.builds(Data, st.just(T.BOOLEAN), st.booleans()),
        st.builds(Data, st.just(T.OCTET_STRING), st.binary(max_size=300)),
        st.builds(Data, st.just(T.VISIBLE_STRING),
                  st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
        st.builds(Data, st.just(T.UTF8_STRING), st.text(max_size=20)),
        st.builds(Data, st.just(T.BIT_STRING), st.text("01", max_size=40)),
        st.builds(Data, st.just(T.DATE_TIME), st.binary(min_size=12, max_size=12)),
        st.builds(Data, st.just(T.FLOAT64),
                  st.floats(allow_nan=False)),
        st.builds(Data, st.just(T.FLOAT32),
                  st.floats(width=32, allow_nan=False)),
    )


DATA = st.recursive(_leaves(), lambda children: st.one_of(
    st.builds(Data, st.just(T.ARRAY), st.lists(children, max_size=5).map(tuple)),
    st.builds(Data, st.just(T.STRUCTURE), st.lists(children, max_size=5).map(tuple))),
    max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(DATA)
def test_round_trip(data: Data) -> None:
    assert decode_data_all(encode_data(data)) == data


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_length_round_trip(length: int) -> None:
    raw = encode_length(length)
    assert decode_length(raw, 0) == (length, len(raw))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=64))
def test_random_octets_decode_or_fail_cleanly(raw: bytes) -> None:
    try:
        decode_data(raw, 0)
    except RemoteProtocolError:
        pass


@settings(max_examples=300, deadline=None)
@given(DATA, st.data())
def test_every_truncation_is_a_remote_error(data: Data, draw: st.DataObject) -> None:
    raw = encode_data(data)
    cut = draw.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(RemoteProtocolError):
        decode_data_all(raw[:cut])


def test_bounds_on_what_a_peer_announces() -> None:
    with pytest.raises(RemoteProtocolError, match="elements"):
        decode_data(bytes.fromhex("0184ffffffff00"), 0)  # 4 billion elements in 1 octet
    with pytest.raises(RemoteProtocolError, match="octets announced"):
        decode_data(bytes.fromhex("0984ffffffff00"), 0)
    nested = bytes([1, 1]) * (MAX_DEPTH + 2) + b"\x00"
    with pytest.raises(RemoteProtocolError, match="nested"):
        decode_data(nested, 0)
    with pytest.raises(RemoteProtocolError, match="unknown data type"):
        decode_data(b"\x07", 0)


def test_values_out_of_range_are_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        encode_data(Data(T.UNSIGNED, 256))
    with pytest.raises(LocalProtocolError):
        encode_data(Data(T.DATE_TIME, b"\x00" * 11))
    assert struct.unpack(">f", encode_data(Data(T.FLOAT32, 0.1))[1:])[0] == pytest.approx(0.1)
