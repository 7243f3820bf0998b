"""A-XDR encoding of COSEM ``Data`` (IEC 61334-6, Green Book 9.5): the types meters use.

A value on the wire is a one-octet type tag and its content; arrays and structures carry an
element count and nest. :class:`Data` is the typed value (what goes back on the wire byte for
byte); :func:`to_python` gives the plain Python value the sources work with (the same shapes
as before: int, float, bool, bytes, str, list, None; date-time, date and time stay their raw
octets, which ``decode_cosem_datetime`` reads).

Bounds (a peer controls every length here): nesting at most :data:`MAX_DEPTH` deep, every
count and length checked against the octets actually present before anything is allocated.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

MAX_DEPTH: Final = 16


class DataType(IntEnum):
    NULL_DATA = 0
    ARRAY = 1
    STRUCTURE = 2
    BOOLEAN = 3
    BIT_STRING = 4
    DOUBLE_LONG = 5  # int32
    DOUBLE_LONG_UNSIGNED = 6  # uint32
    OCTET_STRING = 9
    VISIBLE_STRING = 10
    UTF8_STRING = 12
    BCD = 13
    INTEGER = 15  # int8
    LONG = 16  # int16
    UNSIGNED = 17  # uint8
    LONG_UNSIGNED = 18  # uint16
    LONG64 = 20
    LONG64_UNSIGNED = 21
    ENUM = 22
    FLOAT32 = 23
    FLOAT64 = 24
    DATE_TIME = 25  # 12 octets
    DATE = 26  # 5 octets
    TIME = 27  # 4 octets
    DONT_CARE = 255


_INTEGERS: Final[dict[DataType, tuple[str, int, int]]] = {  # struct code, min, max
    DataType.INTEGER: (">b", -0x80, 0x7F),
    DataType.LONG: (">h", -0x8000, 0x7FFF),
    DataType.DOUBLE_LONG: (">i", -0x8000_0000, 0x7FFF_FFFF),
    DataType.LONG64: (">q", -0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF),
    DataType.UNSIGNED: (">B", 0, 0xFF),
    DataType.ENUM: (">B", 0, 0xFF),
    DataType.BCD: (">B", 0, 0xFF),
    DataType.LONG_UNSIGNED: (">H", 0, 0xFFFF),
    DataType.DOUBLE_LONG_UNSIGNED: (">I", 0, 0xFFFF_FFFF),
    DataType.LONG64_UNSIGNED: (">Q", 0, 0xFFFF_FFFF_FFFF_FFFF),
}
_FLOATS: Final = {DataType.FLOAT32: ">f", DataType.FLOAT64: ">d"}
_FIXED_OCTETS: Final = {DataType.DATE_TIME: 12, DataType.DATE: 5, DataType.TIME: 4}
_STRINGS: Final = {DataType.VISIBLE_STRING: "ascii", DataType.UTF8_STRING: "utf-8"}


@dataclass(frozen=True, slots=True)
class Data:
    """One typed value. ``value``: int (integers, enum, bcd), bool, float, bytes (octet-string,
    date-time, date, time), str (visible/utf8 strings; a bit-string as '0'/'1' characters),
    tuple of Data (array, structure), None (null-data, dont-care)."""

    type: DataType
    value: Any = None


# -- lengths ---------------------------------------------------------------------------------
def encode_length(length: int) -> bytes:
    """A-XDR length: one octet below 0x80, else 0x80|n and n octets big-endian."""
    if length < 0:
        raise LocalProtocolError(f"negative length {length}")
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def decode_length(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise RemoteProtocolError("a length is missing")
    first = buf[pos]
    if first < 0x80:
        return first, pos + 1
    size = first & 0x7F
    if size == 0 or size > 4 or pos + 1 + size > len(buf):
        raise RemoteProtocolError(f"a bad length field at offset {pos}")
    return int.from_bytes(buf[pos + 1:pos + 1 + size], "big"), pos + 1 + size


def take(buf: bytes, pos: int, size: int, what: str) -> tuple[bytes, int]:
    """``size`` octets at ``pos``; RemoteProtocolError when the buffer is shorter."""
    if size < 0 or pos + size > len(buf):
        raise RemoteProtocolError(f"{what}: {size} octets announced, "
                                  f"{max(0, len(buf) - pos)} present")
    return buf[pos:pos + size], pos + size


# -- Data ------------------------------------------------------------------------------------
def encode_data(data: Data) -> bytes:
    t = data.type
    head = bytes([t])
    if t in (DataType.NULL_DATA, DataType.DONT_CARE):
        return head
    if t in (DataType.ARRAY, DataType.STRUCTURE):
        items: tuple[Data, ...] = tuple(data.value)
        return head + encode_length(len(items)) + b"".join(encode_data(i) for i in items)
    if t is DataType.BOOLEAN:
        return head + (b"\x01" if data.value else b"\x00")
    if t in _INTEGERS:
        code, low, high = _INTEGERS[t]
        value = data.value
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise LocalProtocolError(f"{t.name}: {value!r} is out of range")
        return head + struct.pack(code, value)
    if t in _FLOATS:
        return head + struct.pack(_FLOATS[t], float(data.value))
    if t in _FIXED_OCTETS:
        raw = bytes(data.value)
        if len(raw) != _FIXED_OCTETS[t]:
            raise LocalProtocolError(f"{t.name} is {_FIXED_OCTETS[t]} octets, not {len(raw)}")
        return head + raw
    if t is DataType.OCTET_STRING:
        raw = bytes(data.value)
        return head + encode_length(len(raw)) + raw
    if t in _STRINGS:
        raw = str(data.value).encode(_STRINGS[t])
        return head + encode_length(len(raw)) + raw
    if t is DataType.BIT_STRING:
        bits = str(data.value)
        if set(bits) - {"0", "1"}:
            raise LocalProtocolError(f"bit-string {bits!r}")
        padded = bits + "0" * (-len(bits) % 8)
        raw = bytes(int(padded[i:i + 8], 2) for i in range(0, len(padded), 8))
        return head + encode_length(len(bits)) + raw
    raise LocalProtocolError(f"cannot encode {t!r}")


def decode_data(buf: bytes, pos: int = 0, depth: int = 0) -> tuple[Data, int]:
    """One Data at ``pos``; returns it and the offset after it."""
    if depth > MAX_DEPTH:
        raise RemoteProtocolError(f"data nested deeper than {MAX_DEPTH}")
    if pos >= len(buf):
        raise RemoteProtocolError("a data type tag is missing")
    try:
        t = DataType(buf[pos])
    except ValueError:
        raise RemoteProtocolError(f"unknown data type {buf[pos]} at offset {pos}") from None
    pos += 1
    if t in (DataType.NULL_DATA, DataType.DONT_CARE):
        return Data(t), pos
    if t in (DataType.ARRAY, DataType.STRUCTURE):
        count, pos = decode_length(buf, pos)
        if count > len(buf) - pos:  # every element is at least one octet
            raise RemoteProtocolError(f"{t.name.lower()} of {count} elements in "
                                      f"{len(buf) - pos} octets")
        items = []
        for _ in range(count):
            item, pos = decode_data(buf, pos, depth + 1)
            items.append(item)
        return Data(t, tuple(items)), pos
    if t is DataType.BOOLEAN:
        raw, pos = take(buf, pos, 1, "boolean")
        return Data(t, raw[0] != 0), pos
    if t in _INTEGERS:
        code = _INTEGERS[t][0]
        raw, pos = take(buf, pos, struct.calcsize(code), t.name.lower())
        return Data(t, struct.unpack(code, raw)[0]), pos
    if t in _FLOATS:
        code = _FLOATS[t]
        raw, pos = take(buf, pos, struct.calcsize(code), t.name.lower())
        return Data(t, struct.unpack(code, raw)[0]), pos
    if t in _FIXED_OCTETS:
        raw, pos = take(buf, pos, _FIXED_OCTETS[t], t.name.lower())
        return Data(t, raw), pos
    if t in (DataType.OCTET_STRING, *_STRINGS):
        size, pos = decode_length(buf, pos)
        raw, pos = take(buf, pos, size, t.name.lower())
        if t is DataType.OCTET_STRING:
            return Data(t, raw), pos
        try:
            return Data(t, raw.decode(_STRINGS[t])), pos
        except UnicodeDecodeError:
            raise RemoteProtocolError(f"{t.name.lower()} is not {_STRINGS[t]}") from None
    if t is DataType.BIT_STRING:
        bits, pos = decode_length(buf, pos)
        raw, pos = take(buf, pos, (bits + 7) // 8, "bit-string")
        text = "".join(f"{octet:08b}" for octet in raw)[:bits]
        return Data(t, text), pos
    raise RemoteProtocolError(f"data type {t.name} is not supported")  # compact-array


def decode_data_all(buf: bytes) -> Data:
    """Exactly one Data filling ``buf``."""
    data, pos = decode_data(buf, 0)
    if pos != len(buf):
        raise RemoteProtocolError(f"{len(buf) - pos} octets after the data")
    return data


def to_python(data: Data) -> Any:
    """The plain value: arrays and structures as lists, everything else as its value."""
    if data.type in (DataType.ARRAY, DataType.STRUCTURE):
        return [to_python(item) for item in data.value]
    return data.value


# -- constructors for what the client sends ----------------------------------------------------
def octet_string(raw: bytes) -> Data:
    return Data(DataType.OCTET_STRING, bytes(raw))


def structure(*items: Data) -> Data:
    return Data(DataType.STRUCTURE, items)


def array(*items: Data) -> Data:
    return Data(DataType.ARRAY, items)


def long_unsigned(value: int) -> Data:
    return Data(DataType.LONG_UNSIGNED, value)


def double_long_unsigned(value: int) -> Data:
    return Data(DataType.DOUBLE_LONG_UNSIGNED, value)


def integer(value: int) -> Data:
    return Data(DataType.INTEGER, value)
