"""rtu.sources.modbus.source, the pure parts: register decoding and request batching."""

from __future__ import annotations

import itertools
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rtu.config import Endian, ModbusRead, ModbusTable, ModbusType
from rtu.points.model import PointKind
from rtu.sources.modbus.source import (
    MAX_BITS,
    MAX_REGISTERS,
    Request,
    decode_read,
    decode_registers,
    plan_requests,
    registers_to_bytes,
)

BIG, LITTLE = Endian.BIG, Endian.LITTLE
H, IR = ModbusTable.HOLDING, ModbusTable.INPUT
COIL, DISCRETE = ModbusTable.COIL, ModbusTable.DISCRETE


def reg(point: str, address: int, kind: ModbusType = ModbusType.UINT16,
        table: ModbusTable = H, **kw: object) -> ModbusRead:
    return ModbusRead(point, table, address, kind, **kw)  # type: ignore[arg-type]


# -- decoding (golden values) ----------------------------------------------------------------
class TestDecodeRegisters:
    @pytest.mark.parametrize(("words", "kind", "expected"), [
        ([0x0000], ModbusType.INT16, 0),
        ([0x7FFF], ModbusType.INT16, 32767),
        ([0x8000], ModbusType.INT16, -32768),
        ([0xFFFF], ModbusType.INT16, -1),
        ([0xFFFF], ModbusType.UINT16, 65535),
        ([0x1234, 0x5678], ModbusType.UINT32, 0x12345678),
        ([0xFFFF, 0xFFFE], ModbusType.INT32, -2),
        ([0x8000, 0x0000], ModbusType.INT32, -(2**31)),
        ([0xFFFF, 0xFFFF], ModbusType.UINT32, 2**32 - 1),
        ([0x3FC0, 0x0000], ModbusType.FLOAT32, 1.5),
        ([0xC2F6, 0xE979], ModbusType.FLOAT32, struct.unpack(">f", bytes.fromhex("c2f6e979"))[0]),
    ])
    def test_big_endian(self, words: list[int], kind: ModbusType, expected: float) -> None:
        assert decode_registers(words, kind) == expected

    def test_word_swap(self) -> None:
        # the low word first: "little" word order (a word-swapped device)
        assert decode_registers([0x5678, 0x1234], ModbusType.UINT32, LITTLE) == 0x12345678
        assert decode_registers([0x0000, 0x3FC0], ModbusType.FLOAT32, LITTLE) == 1.5
        assert decode_registers([0xFFFE, 0xFFFF], ModbusType.INT32, LITTLE) == -2

    def test_byte_swap(self) -> None:
        assert decode_registers([0x3412], ModbusType.UINT16, BIG, LITTLE) == 0x1234
        assert decode_registers([0x3412, 0x7856], ModbusType.UINT32, BIG, LITTLE) == 0x12345678
        assert decode_registers([0xC03F, 0x0000], ModbusType.FLOAT32, BIG, LITTLE) == 1.5

    def test_both_swapped(self) -> None:
        # fully little-endian: bytes 78 56 34 12 on the wire
        assert decode_registers([0x7856, 0x3412], ModbusType.UINT32, LITTLE, LITTLE) == 0x12345678
        assert decode_registers([0x0000, 0xC03F], ModbusType.FLOAT32, LITTLE, LITTLE) == 1.5

    def test_bytes(self) -> None:
        assert registers_to_bytes([0x1234, 0x5678]) == bytes.fromhex("12345678")
        assert registers_to_bytes([0x1234, 0x5678], LITTLE) == bytes.fromhex("56781234")
        assert registers_to_bytes([0x1234, 0x5678], BIG, LITTLE) == bytes.fromhex("34127856")

    def test_wrong_register_count_is_a_bug(self) -> None:
        with pytest.raises(ValueError, match="float32 takes 2 registers, got 1"):
            decode_registers([1], ModbusType.FLOAT32)

    @given(st.integers(-(2**31), 2**31 - 1), st.sampled_from(list(Endian)),
           st.sampled_from(list(Endian)))
    def test_int32_round_trip(self, value: int, words: Endian, byte_order: Endian) -> None:
        assert decode_registers(encode(">i", value, words, byte_order), ModbusType.INT32,
                                words, byte_order) == value

    @given(st.floats(width=32, allow_nan=False), st.sampled_from(list(Endian)),
           st.sampled_from(list(Endian)))
    def test_float32_round_trip(self, value: float, words: Endian, byte_order: Endian) -> None:
        assert decode_registers(encode(">f", value, words, byte_order), ModbusType.FLOAT32,
                                words, byte_order) == value

    @given(st.integers(0, 0xFFFF), st.sampled_from(list(Endian)))
    def test_uint16_and_int16(self, value: int, byte_order: Endian) -> None:
        words = encode(">H", value, BIG, byte_order)
        assert decode_registers(words, ModbusType.UINT16, BIG, byte_order) == value
        signed = value - 0x10000 if value >= 0x8000 else value
        assert decode_registers(words, ModbusType.INT16, BIG, byte_order) == signed


def encode(fmt: str, value: float, words: Endian, byte_order: Endian) -> list[int]:
    """Independent of the code under test: how a device with those orders puts it on the wire."""
    raw = struct.pack(fmt, value)
    regs = [raw[i:i + 2] for i in range(0, len(raw), 2)]
    if words is LITTLE:
        regs.reverse()
    if byte_order is LITTLE:
        regs = [r[::-1] for r in regs]
    return [int.from_bytes(r, "big") for r in regs]


class TestDecodeRead:
    def test_bits(self) -> None:
        read = ModbusRead("p", COIL, 12)
        assert decode_read(read, PointKind.SINGLE, 10, [False, False, True, False]) is True
        assert decode_read(read, PointKind.SINGLE, 12, [False, True]) is False

    def test_bit_of_a_register(self) -> None:
        data = [0x0000, 0x8001]
        assert decode_read(reg("p", 11, bit=15), PointKind.SINGLE, 10, data) is True
        assert decode_read(reg("p", 11, bit=0), PointKind.SINGLE, 10, data) is True
        assert decode_read(reg("p", 11, bit=1), PointKind.SINGLE, 10, data) is False
        # a signed type does not change the bits; nor does a byte swap the bit numbering
        assert decode_read(reg("p", 11, ModbusType.INT16, bit=15), PointKind.SINGLE, 10,
                           data) is True
        assert decode_read(reg("p", 11, bit=7, byte_order=LITTLE), PointKind.SINGLE, 10,
                           data) is True
        # 32-bit: bit 31 is the top bit of the high word
        assert decode_read(reg("p", 10, ModbusType.UINT32, bit=31), PointKind.SINGLE, 10,
                           [0x8000, 0x0000]) is True
        assert decode_read(reg("p", 10, ModbusType.UINT32, bit=31, word_order=LITTLE),
                           PointKind.SINGLE, 10, [0x8000, 0x0000]) is False

    def test_bitstring_is_unsigned(self) -> None:
        assert decode_read(reg("p", 0, ModbusType.INT16), PointKind.BITSTRING, 0, [0xFFFF]) == \
            0xFFFF
        assert decode_read(reg("p", 0, ModbusType.INT32), PointKind.BITSTRING, 0,
                           [0x8000, 0x0001]) == 0x80000001

    def test_scale_and_offset(self) -> None:
        read = reg("t", 5, ModbusType.INT16, scale=0.1, offset=-40.0)
        assert decode_read(read, PointKind.FLOAT, 5, [0xFFF6]) == pytest.approx(-41.0)
        assert decode_read(read, PointKind.SCALED, 5, [650]) == pytest.approx(25.0)
        # no scale or offset: the raw integer, exactly
        raw = decode_read(reg("c", 0, ModbusType.UINT32), PointKind.COUNTER, 0, [0xFFFF, 0xFFFF])
        assert raw == 2**32 - 1 and isinstance(raw, int)

    def test_normalized(self) -> None:
        read = reg("n", 0, ModbusType.INT16, scale=1 / 32768)
        assert decode_read(read, PointKind.NORMALIZED, 0, [0xC000]) == -0.5

    def test_counter_is_rounded(self) -> None:
        value = decode_read(reg("c", 0, ModbusType.FLOAT32), PointKind.COUNTER, 0,
                            encode(">f", 1234.6, BIG, BIG))
        assert value == 1235 and isinstance(value, int)
        value = decode_read(reg("c", 0, ModbusType.UINT16, scale=0.5), PointKind.COUNTER, 0, [7])
        assert value == 4 and isinstance(value, int)

    def test_nan_is_left_to_the_caller(self) -> None:
        nan = decode_read(reg("f", 0, ModbusType.FLOAT32), PointKind.FLOAT, 0, [0x7FC0, 0])
        assert isinstance(nan, float) and math.isnan(nan)
        counter = decode_read(reg("c", 0, ModbusType.FLOAT32), PointKind.COUNTER, 0, [0x7F80, 0])
        assert counter == math.inf


# -- batching ---------------------------------------------------------------------------------
class TestPlanRequests:
    def test_contiguous_reads_are_one_request(self) -> None:
        reads = [reg("a", 10), reg("b", 11, ModbusType.FLOAT32), reg("c", 13)]
        assert plan_requests(reads) == (Request(H, 10, 4, tuple(reads)),)

    def test_a_gap_splits(self) -> None:
        a, b = reg("a", 10), reg("b", 12)
        assert plan_requests([b, a]) == (Request(H, 10, 1, (a,)), Request(H, 12, 1, (b,)))

    def test_tables_are_separate(self) -> None:
        h, i, c, d = reg("h", 0), reg("i", 0, table=IR), ModbusRead("c", COIL, 0), \
            ModbusRead("d", DISCRETE, 1)
        assert plan_requests([h, i, c, d]) == (
            Request(COIL, 0, 1, (c,)), Request(DISCRETE, 1, 1, (d,)), Request(H, 0, 1, (h,)),
            Request(IR, 0, 1, (i,)),
        )

    def test_bits_of_one_register_share_it(self) -> None:
        reads = [reg("x", 7, bit=3), reg("y", 7, bit=0), reg("z", 7)]
        (request,) = plan_requests(reads)
        assert (request.address, request.count, len(request.reads)) == (7, 1, 3)

    def test_registers_split_at_125(self) -> None:
        reads = [reg(f"r{i}", i) for i in range(300)]
        requests = plan_requests(reads)
        assert [(r.address, r.count) for r in requests] == [(0, 125), (125, 125), (250, 50)]

    def test_a_32_bit_value_is_never_split(self) -> None:
        reads = [reg(f"f{i}", 2 * i, ModbusType.FLOAT32) for i in range(126)]
        requests = plan_requests(reads)
        assert [(r.address, r.count) for r in requests] == [(0, 124), (124, 124), (248, 4)]

    def test_bits_split_at_2000(self) -> None:
        reads = [ModbusRead(f"c{i}", COIL, i) for i in range(2500)]
        assert [(r.address, r.count) for r in plan_requests(reads)] == [(0, 2000), (2000, 500)]

    def test_device_limits(self) -> None:
        reads = [reg(f"r{i}", i) for i in range(10)] + \
            [ModbusRead(f"c{i}", DISCRETE, i) for i in range(10)]
        requests = plan_requests(reads, max_registers=4, max_bits=8)
        assert [(r.table, r.address, r.count) for r in requests] == [
            (DISCRETE, 0, 8), (DISCRETE, 8, 2), (H, 0, 4), (H, 4, 4), (H, 8, 2)]

    def test_a_value_wider_than_the_limit_is_a_bug(self) -> None:
        with pytest.raises(ValueError, match="exceed"):
            plan_requests([reg("f", 0, ModbusType.FLOAT32)], max_registers=1)

    @given(st.lists(st.tuples(st.integers(0, 400), st.sampled_from(list(ModbusType)),
                              st.sampled_from([H, IR, COIL])), max_size=60),
           st.integers(2, MAX_REGISTERS), st.integers(1, MAX_BITS))
    def test_properties(self, specs: list[tuple[int, ModbusType, ModbusTable]], max_registers: int,
                        max_bits: int) -> None:
        reads = [ModbusRead(f"p{n}", table, address) if table.is_bits
                 else reg(f"p{n}", address, kind, table)
                 for n, (address, kind, table) in enumerate(specs)]
        requests = plan_requests(reads, max_registers=max_registers, max_bits=max_bits)
        # every read in exactly one request, inside it
        placed = [r for request in requests for r in request.reads]
        assert sorted(r.point for r in placed) == sorted(r.point for r in reads)
        for request in requests:
            limit = max_bits if request.table.is_bits else max_registers
            assert 1 <= request.count <= limit
            covered: set[int] = set()
            for read in request.reads:
                span = 1 if read.table.is_bits else read.type.words
                assert read.table is request.table
                assert request.address <= read.address
                assert read.address + span <= request.address + request.count
                covered.update(range(read.address, read.address + span))
            # nothing is asked for that no read maps
            assert covered == set(range(request.address, request.address + request.count))
        # as few as the limits allow: two neighbours could not have been one request
        for a, b in itertools.pairwise(requests):
            if a.table is b.table:
                limit = max_bits if a.table.is_bits else max_registers
                gap = b.address > a.address + a.count
                assert gap or b.address + b.count - a.address > limit
