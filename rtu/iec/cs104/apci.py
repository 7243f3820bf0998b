"""IEC 60870-5-104 APCI: the three frame formats, their encoder and a stream parser.

An APDU on the wire is ``0x68, length, c1, c2, c3, c4[, ASDU]`` where *length* counts
the octets after the length octet (4..253).  The control field selects the format:

* I format (``c1`` bit 0 = 0): ``N(S) = (c1 | c2 << 8) >> 1``, ``N(R) = (c3 | c4 << 8) >> 1``,
  followed by the ASDU;
* S format (``c1 & 0x03 == 0x01``): ``N(R)`` in ``c3``/``c4``, no ASDU;
* U format (``c1 & 0x03 == 0x03``): exactly one function bit in ``c1`` bits 2..7, no ASDU.

This module is pure: no I/O, no clock.  A peer's malformed stream raises
:class:`ApciError` (a :class:`~rtu.iec.errors.RemoteProtocolError`); our own misuse of
:func:`encode_frame` raises :class:`~rtu.iec.errors.LocalProtocolError`.

Reserved bits (bit 0 of ``c3`` in I/S frames, ``c2`` of an S frame, ``c2..c4`` of a U
frame) are ignored on receipt and sent as zero, like the reference stacks do.
"""

from __future__ import annotations

import logging
import struct
from enum import IntEnum
from typing import Final, NoReturn

from rtu.frozen import frozen
from rtu.iec.errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "APCI_HEADER",
    "CONTROL_FIELD_LENGTH",
    "HEADER_LENGTH",
    "MAX_APDU_LENGTH",
    "MAX_ASDU_LENGTH",
    "MIN_APDU_LENGTH",
    "SEQ_MODULO",
    "START_OCTET",
    "ApciError",
    "Frame",
    "FrameFormat",
    "FrameParser",
    "IFrame",
    "RawFrame",
    "SFrame",
    "UFrame",
    "UFunction",
    "encode_frame",
    "encode_i_frame_header",
    "encode_s_frame",
    "encode_u_frame",
]

logger = logging.getLogger(__name__)

START_OCTET: Final = 0x68
"""First octet of every APDU."""
HEADER_LENGTH: Final = 2
"""Start octet plus length octet."""
CONTROL_FIELD_LENGTH: Final = 4
MIN_APDU_LENGTH: Final = CONTROL_FIELD_LENGTH
"""Smallest legal value of the length octet (an S or U frame)."""
MAX_APDU_LENGTH: Final = 253
"""Largest legal value of the length octet."""
MAX_ASDU_LENGTH: Final = MAX_APDU_LENGTH - CONTROL_FIELD_LENGTH
SEQ_MODULO: Final = 32768
"""N(S) and N(R) are 15-bit counters."""

APCI_HEADER: Final = struct.Struct("<BBHH")
"""start, length, control octets 1-2 and 3-4 as little-endian 16-bit words."""
_CONTROL_WORD: Final = struct.Struct("<H")

_FORMAT_I_MASK: Final = 0x01
"""c1 bit 0 clear: I format."""
_FORMAT_MASK: Final = 0x03
_FORMAT_S: Final = 0x01
_SEQ_SHIFT: Final = 1
"""Sequence numbers occupy bits 1..15 of their 16-bit control word."""
_U_FUNCTION_BITS: Final = 0xFC
_ERROR_CONTEXT_OCTETS: Final = 16
"""How many octets a start-octet error quotes."""


class UFunction(IntEnum):
    """The six U-format functions; the value is the whole first control octet."""

    STARTDT_ACT = 0x07
    STARTDT_CON = 0x0B
    STOPDT_ACT = 0x13
    STOPDT_CON = 0x23
    TESTFR_ACT = 0x43
    TESTFR_CON = 0x83


@frozen
class IFrame:
    """Numbered information transfer: carries one ASDU."""

    send_seq: int
    recv_seq: int
    asdu: bytes


@frozen
class SFrame:
    """Numbered supervisory function: acknowledges every I-frame with N(S) < recv_seq."""

    recv_seq: int


@frozen
class UFrame:
    """Unnumbered control function (STARTDT, STOPDT, TESTFR)."""

    function: UFunction


Frame = IFrame | SFrame | UFrame


class FrameFormat(IntEnum):
    """The three APDU formats, as reported by :meth:`FrameParser.next_raw`."""

    I = 0
    S = 1
    U = 2


RawFrame = tuple[FrameFormat, int, int, bytes]
"""(format, N(S) or U function, N(R), ASDU): see :meth:`FrameParser.next_raw`."""
_I: Final = FrameFormat.I
_S: Final = FrameFormat.S
_U: Final = FrameFormat.U

_U_FRAMES: Final[dict[int, UFrame]] = {f.value: UFrame(f) for f in UFunction}
_U_BYTES: Final[dict[UFunction, bytes]] = {
    f: bytes((START_OCTET, CONTROL_FIELD_LENGTH, f.value, 0, 0, 0)) for f in UFunction
}
_S_CONTROL_WORD: Final = _FORMAT_S


class ApciError(RemoteProtocolError):
    """The peer sent an APDU stream that violates the APCI framing rules.

    ``problem`` says what was wrong, ``data`` holds the offending octets; ``str()`` gives both,
    the octets in hex.  The stream cannot be resynchronised: close the connection.
    """

    def __init__(self, problem: str, data: bytes) -> None:
        self.problem = problem
        self.data = data
        super().__init__(f"{problem} [{data.hex(' ')}]")


def _check_seq(name: str, value: int) -> None:
    if not 0 <= value < SEQ_MODULO:
        raise LocalProtocolError(f"{name}={value} outside 0..{SEQ_MODULO - 1}")


def encode_frame(frame: Frame) -> bytes:
    """The wire octets of *frame*.

    Raises LocalProtocolError for a sequence number outside 0..32767, an empty ASDU or one
    longer than 249 octets.
    """
    if isinstance(frame, IFrame):
        _check_seq("N(S)", frame.send_seq)
        _check_seq("N(R)", frame.recv_seq)
        size = len(frame.asdu)
        if not 1 <= size <= MAX_ASDU_LENGTH:
            raise LocalProtocolError(f"ASDU of {size} octets: must be 1..{MAX_ASDU_LENGTH}")
        return (
            APCI_HEADER.pack(
                START_OCTET,
                CONTROL_FIELD_LENGTH + size,
                frame.send_seq << _SEQ_SHIFT,
                frame.recv_seq << _SEQ_SHIFT,
            )
            + frame.asdu
        )
    if isinstance(frame, SFrame):
        _check_seq("N(R)", frame.recv_seq)
        return APCI_HEADER.pack(
            START_OCTET, CONTROL_FIELD_LENGTH, _S_CONTROL_WORD, frame.recv_seq << _SEQ_SHIFT
        )
    return _U_BYTES[UFunction(frame.function)]


def encode_i_frame_header(send_seq: int, recv_seq: int, asdu_length: int) -> bytes:
    """The six APCI octets in front of an ASDU; unchecked, for the connection's hot path."""
    return APCI_HEADER.pack(
        START_OCTET,
        CONTROL_FIELD_LENGTH + asdu_length,
        send_seq << _SEQ_SHIFT,
        recv_seq << _SEQ_SHIFT,
    )


def encode_s_frame(recv_seq: int) -> bytes:
    """An S-frame acknowledging up to *recv_seq* (unchecked, hot path)."""
    return APCI_HEADER.pack(
        START_OCTET, CONTROL_FIELD_LENGTH, _S_CONTROL_WORD, recv_seq << _SEQ_SHIFT
    )


def encode_u_frame(function: UFunction) -> bytes:
    """The six octets of a U-frame."""
    return _U_BYTES[function]


class FrameParser:
    """Reassembles APDUs from a byte stream split at arbitrary positions.

    Use :meth:`feed` for a list of frames, or :meth:`receive_data` plus :meth:`next_frame`
    (or :meth:`next_raw`) to take frames one at a time (so a caller can stop at the first frame that fails its
    connection and still has processed everything before it).  Once an :class:`ApciError`
    has been raised the parser is broken for good and raises the same error again.
    """

    __slots__ = ("_buffer", "_error", "_pos")

    def __init__(self) -> None:
        self._buffer = b""
        self._pos = 0
        self._error: ApciError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        """Append *data* and return every frame now complete, in order."""
        self.receive_data(data)
        frames: list[Frame] = []
        while (frame := self.next_frame()) is not None:
            frames.append(frame)
        return frames

    def receive_data(self, data: bytes) -> None:
        """Append *data* to the reassembly buffer without parsing."""
        if self._error is not None:
            raise self._error
        pos = self._pos
        if pos >= len(self._buffer):
            self._buffer = bytes(data)
        elif data:
            self._buffer = self._buffer[pos:] + data
        else:
            return
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete frame."""
        return len(self._buffer) - self._pos

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more data is needed.  Raises ApciError."""
        raw = self.next_raw()
        if raw is None:
            return None
        kind, first, second, asdu = raw
        if kind is FrameFormat.I:
            return IFrame(first, second, asdu)
        if kind is FrameFormat.S:
            return SFrame(second)
        return _U_FRAMES[first]

    def next_raw(self) -> RawFrame | None:
        """Like :meth:`next_frame`, without building a frame object (the connection's hot path).

        Returns ``(FrameFormat.I, N(S), N(R), asdu)``, ``(FrameFormat.S, 0, N(R), b"")`` or
        ``(FrameFormat.U, function, 0, b"")`` with *function* a :class:`UFunction` value.
        """
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        pos = self._pos
        available = len(buffer) - pos
        if available < 1:
            return None
        if buffer[pos] != START_OCTET:
            self._raise(
                f"start octet 0x{buffer[pos]:02X}, expected 0x{START_OCTET:02X}",
                buffer[pos : pos + _ERROR_CONTEXT_OCTETS],
            )
        if available < HEADER_LENGTH:
            return None
        length = buffer[pos + 1]
        if length < MIN_APDU_LENGTH or length > MAX_APDU_LENGTH:
            self._raise(
                f"APDU length {length} outside {MIN_APDU_LENGTH}..{MAX_APDU_LENGTH}",
                buffer[pos : pos + HEADER_LENGTH],
            )
        end = pos + HEADER_LENGTH + length
        if len(buffer) < end:
            return None
        control1 = buffer[pos + HEADER_LENGTH]
        raw: RawFrame
        if not control1 & _FORMAT_I_MASK:
            if length == CONTROL_FIELD_LENGTH:
                self._raise("I-frame without an ASDU", buffer[pos:end])
            _, _, word1, word2 = APCI_HEADER.unpack_from(buffer, pos)
            raw = (
                _I,
                word1 >> _SEQ_SHIFT,
                word2 >> _SEQ_SHIFT,
                buffer[pos + HEADER_LENGTH + CONTROL_FIELD_LENGTH : end],
            )
        elif control1 & _FORMAT_MASK == _FORMAT_S:
            if length != CONTROL_FIELD_LENGTH:
                self._raise(
                    f"S-frame with length {length}, expected {CONTROL_FIELD_LENGTH}",
                    buffer[pos:end],
                )
            (word2,) = _CONTROL_WORD.unpack_from(buffer, pos + HEADER_LENGTH + 2)
            raw = (_S, 0, word2 >> _SEQ_SHIFT, b"")
        else:
            if length != CONTROL_FIELD_LENGTH:
                self._raise(
                    f"U-frame with length {length}, expected {CONTROL_FIELD_LENGTH}",
                    buffer[pos:end],
                )
            if control1 not in _U_FRAMES:
                which = "more than one" if control1 & _U_FUNCTION_BITS else "no"
                problem = f"U-frame control octet 0x{control1:02X} sets {which} function bit"
                self._raise(problem, buffer[pos:end])
            raw = (_U, control1, 0, b"")
        self._pos = end
        return raw

    def _raise(self, problem: str, data: bytes) -> NoReturn:
        error = ApciError(problem, bytes(data))
        self._error = error
        logger.debug("APCI framing error: %s", error)
        raise error
