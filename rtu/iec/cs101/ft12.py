"""IEC 60870-5-1 frame format FT1.2 as used by IEC 60870-5-101: encoders and a stream parser.

Three frame kinds travel on the line:

* fixed length:    ``0x10, C, A.., CS, 0x16``
* variable length: ``0x68, L, L, 0x68, C, A.., user data (the ASDU), CS, 0x16`` where
  ``L`` counts the octets of C, A and the ASDU (at most 255);
* single character ``0xE5`` (an ACK, or a NACK "no data", without address).

The link address A has 0, 1 or 2 octets (little-endian, fixed by configuration); the
checksum CS is the sum of C, A and the ASDU modulo 256.

:class:`Ft12Parser` never raises on received octets: a bad candidate frame (checksum, end
octet, length fields) costs one octet, after which the parser scans for the next start octet,
so it resynchronises after line noise.  Every discard is counted in :attr:`Ft12Parser.errors`
and logged at DEBUG with the octets in hex.  With ``idle_timeout`` set it also applies the
FT1.2 inter-character rule: a pause longer than the timeout in the middle of a frame breaks
that frame.  Pure code: no I/O, no clock (time comes in as ``now``).
"""

from __future__ import annotations

import logging
import math
from typing import Final

from rtu.frozen import frozen
from rtu.iec.errors import LocalProtocolError

__all__ = [
    "ADDRESS_SIZES",
    "END_OCTET",
    "MAX_FRAME_LENGTH",
    "MAX_LENGTH",
    "SINGLE_CHAR_ACK",
    "START_FIXED",
    "START_VARIABLE",
    "FixedFrame",
    "Ft12Frame",
    "Ft12Parser",
    "SingleChar",
    "VariableFrame",
    "encode_fixed",
    "encode_frame",
    "encode_variable",
]

logger = logging.getLogger(__name__)

START_FIXED: Final = 0x10
"""First octet of a fixed-length frame."""
START_VARIABLE: Final = 0x68
"""First (and fourth) octet of a variable-length frame."""
END_OCTET: Final = 0x16
"""Last octet of fixed- and variable-length frames."""
SINGLE_CHAR_ACK: Final = 0xE5
"""The single-character frame."""
MAX_LENGTH: Final = 255
"""Largest L: octets of control field, address field and ASDU."""
ADDRESS_SIZES: Final = (0, 1, 2)
"""Allowed sizes of the link address field, in octets."""

_VARIABLE_HEADER: Final = 4
"""0x68 L L 0x68."""
_TRAILER: Final = 2
"""CS and the end octet."""
_CONTROL_SIZE: Final = 1
MAX_FRAME_LENGTH: Final = _VARIABLE_HEADER + MAX_LENGTH + _TRAILER
"""Longest frame on the line (261 octets)."""

_OCTET: Final = 0xFF
_BITS_PER_OCTET: Final = 8
_BYTE_ORDER: Final = "little"
_START_OCTETS: Final = (START_FIXED, START_VARIABLE, SINGLE_CHAR_ACK)
# offsets inside a variable-length frame
_L1: Final = 1
_L2: Final = 2
_START2: Final = 3


@frozen
class FixedFrame:
    """A fixed-length frame: control field and link address (0 when the address size is 0)."""

    control: int
    address: int


@frozen
class VariableFrame:
    """A variable-length frame: control field, link address and the ASDU (link user data)."""

    control: int
    address: int
    asdu: bytes


@frozen
class SingleChar:
    """The single-character frame 0xE5."""


Ft12Frame = FixedFrame | VariableFrame | SingleChar

_SINGLE_CHAR: Final = SingleChar()
_SINGLE_CHAR_BYTES: Final = bytes((SINGLE_CHAR_ACK,))


def _check_address_size(address_size: int) -> None:
    if isinstance(address_size, bool) or address_size not in ADDRESS_SIZES:
        raise LocalProtocolError(f"address_size={address_size!r}: must be 0, 1 or 2")


def _address_octets(address: int, address_size: int) -> bytes:
    _check_address_size(address_size)
    limit = 1 << (_BITS_PER_OCTET * address_size)
    if not 0 <= address < limit:
        raise LocalProtocolError(
            f"link address {address} does not fit in {address_size} octet(s) (0..{limit - 1})"
        )
    return address.to_bytes(address_size, _BYTE_ORDER)


def _check_control(control: int) -> None:
    if not 0 <= control <= _OCTET:
        raise LocalProtocolError(f"control field {control}: must be 0..255")


def encode_fixed(control: int, address: int, address_size: int) -> bytes:
    """``0x10 C A.. CS 0x16``.  LocalProtocolError if a field does not fit its octets."""
    _check_control(control)
    body = bytes((control,)) + _address_octets(address, address_size)
    return bytes((START_FIXED, *body, sum(body) & _OCTET, END_OCTET))


def encode_variable(control: int, address: int, address_size: int, asdu: bytes) -> bytes:
    """``0x68 L L 0x68 C A.. ASDU CS 0x16`` with ``L = 1 + address_size + len(asdu) <= 255``.

    LocalProtocolError if a field does not fit or the frame would be too long.
    """
    _check_control(control)
    body = bytes((control,)) + _address_octets(address, address_size) + bytes(asdu)
    length = len(body)
    if length > MAX_LENGTH:
        raise LocalProtocolError(
            f"ASDU of {len(asdu)} octets too long: L={length} exceeds {MAX_LENGTH} "
            f"(at most {MAX_LENGTH - _CONTROL_SIZE - address_size} ASDU octets)"
        )
    header = bytes((START_VARIABLE, length, length, START_VARIABLE))
    return header + body + bytes((sum(body) & _OCTET, END_OCTET))


def encode_frame(frame: Ft12Frame, address_size: int) -> bytes:
    """The wire octets of any FT1.2 frame (dispatches to the encoders above)."""
    if isinstance(frame, FixedFrame):
        return encode_fixed(frame.control, frame.address, address_size)
    if isinstance(frame, VariableFrame):
        return encode_variable(frame.control, frame.address, address_size, frame.asdu)
    return _SINGLE_CHAR_BYTES


_Scan = tuple[Ft12Frame, int] | str | None
"""(frame, end offset) when complete, a reason string when invalid, None when incomplete."""


class Ft12Parser:
    """Reassembles FT1.2 frames from octets split at arbitrary positions; never raises.

    ``idle_timeout`` (seconds, e.g. 33 bit times at the baud rate; None = off): when the
    octets of :meth:`feed` arrive this long or longer after the previous ones while a frame is
    incomplete, the incomplete frame is broken and discarded before the new octets are
    parsed (the octets after its start octet are rescanned for complete frames first).
    Each such break counts once in :attr:`fragments` (and its discards in :attr:`errors`).
    """

    __slots__ = (
        "_address_size",
        "_buffer",
        "_fixed_length",
        "_idle_timeout",
        "_last_receive",
        "discarded_octets",
        "errors",
        "fragments",
    )

    def __init__(self, address_size: int, *, idle_timeout: float | None = None) -> None:
        _check_address_size(address_size)
        if idle_timeout is not None and not (idle_timeout > 0 and math.isfinite(idle_timeout)):
            raise LocalProtocolError(f"idle_timeout={idle_timeout!r}: must be None or > 0 s")
        self._address_size = address_size
        self._fixed_length = 1 + _CONTROL_SIZE + address_size + _TRAILER
        self._idle_timeout = idle_timeout
        self._buffer = bytearray()
        self._last_receive: float | None = None
        self.errors = 0
        """Discards: each rejected candidate frame or run of garbage octets counts once."""
        self.discarded_octets = 0
        """Octets thrown away by those discards."""
        self.fragments = 0
        """Partial frames broken by the idle rule."""

    @property
    def address_size(self) -> int:
        return self._address_size

    @property
    def idle_timeout(self) -> float | None:
        return self._idle_timeout

    @property
    def idle_deadline(self) -> float | None:
        """When the partial frame in the buffer is broken if no octet arrives (None: no partial
        frame, or no idle rule); ``feed(b"", now)`` at that time drops it."""
        timeout = self._idle_timeout
        if not self._buffer or timeout is None or self._last_receive is None:
            return None
        return self._last_receive + timeout

    @property
    def buffered(self) -> int:
        """Octets received but not yet part of a complete frame."""
        return len(self._buffer)

    def feed(self, data: bytes, now: float) -> list[Ft12Frame]:
        """Append *data* (received at monotonic time *now*); every frame now complete, in order.

        ``feed(b"", now)`` only applies the idle rule: call it when the line has been quiet to
        drop a broken partial frame early.
        """
        frames: list[Ft12Frame] = []
        timeout = self._idle_timeout
        if (
            self._buffer
            and timeout is not None
            and self._last_receive is not None
            and now >= self._last_receive + timeout  # the same sum as idle_deadline
        ):
            self.fragments += 1
            logger.debug(
                "FT1.2: line idle for %.6f s inside a frame (limit %.6f s)",
                now - self._last_receive,
                timeout,
            )
            self._parse(frames, final=True)
        if data:
            self._buffer += data
            self._last_receive = now
            self._parse(frames, final=False)
        return frames

    # ----------------------------------------------------------------- internals

    def _parse(self, frames: list[Ft12Frame], *, final: bool) -> None:
        """Take every complete frame off the buffer; *final*: no more octets will complete one."""
        buffer = self._buffer
        size = len(buffer)
        pos = 0
        while pos < size:
            octet = buffer[pos]
            if octet == SINGLE_CHAR_ACK:
                frames.append(_SINGLE_CHAR)
                pos += 1
                continue
            if octet == START_FIXED:
                scan = self._scan_fixed(buffer, pos)
            elif octet == START_VARIABLE:
                scan = self._scan_variable(buffer, pos)
            else:
                scan = "no start octet"
            if isinstance(scan, tuple):
                frame, pos = scan
                frames.append(frame)
                continue
            if scan is None:
                if not final:
                    break
                scan = "incomplete frame broken by an idle line"
            pos = self._discard(buffer, pos, scan)
        del buffer[:pos]

    def _discard(self, buffer: bytearray, pos: int, reason: str) -> int:
        """Drop the octet at *pos* and any non-start octets after it; the next scan position."""
        end = pos + 1
        size = len(buffer)
        while end < size and buffer[end] not in _START_OCTETS:
            end += 1
        self.errors += 1
        self.discarded_octets += end - pos
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "FT1.2: discarded %d octet(s), %s: %s",
                end - pos,
                reason,
                bytes(buffer[pos:end]).hex(" "),
            )
        return end

    def _scan_fixed(self, buffer: bytearray, pos: int) -> _Scan:
        end = pos + self._fixed_length
        if len(buffer) < end:
            return None
        if buffer[end - 1] != END_OCTET:
            return f"fixed frame: end octet 0x{buffer[end - 1]:02X}, expected 0x{END_OCTET:02X}"
        body_end = end - _TRAILER
        checksum = sum(buffer[pos + 1 : body_end]) & _OCTET
        if checksum != buffer[body_end]:
            return f"fixed frame: checksum 0x{buffer[body_end]:02X}, computed 0x{checksum:02X}"
        address = int.from_bytes(buffer[pos + 1 + _CONTROL_SIZE : body_end], _BYTE_ORDER)
        return FixedFrame(buffer[pos + 1], address), end

    def _scan_variable(self, buffer: bytearray, pos: int) -> _Scan:
        available = len(buffer) - pos
        minimum = _CONTROL_SIZE + self._address_size
        if available > _L1:
            length = buffer[pos + _L1]
            if length < minimum:
                return f"variable frame: L={length} below {minimum} (control and address)"
        if available > _L2 and buffer[pos + _L2] != buffer[pos + _L1]:
            return f"variable frame: L fields differ ({buffer[pos + _L1]} / {buffer[pos + _L2]})"
        if available > _START2 and buffer[pos + _START2] != START_VARIABLE:
            return f"variable frame: second start octet 0x{buffer[pos + _START2]:02X}"
        if available < _VARIABLE_HEADER:
            return None
        length = buffer[pos + _L1]
        body = pos + _VARIABLE_HEADER
        body_end = body + length
        end = body_end + _TRAILER
        if len(buffer) < end:
            return None
        if buffer[end - 1] != END_OCTET:
            return f"variable frame: end octet 0x{buffer[end - 1]:02X}, expected 0x{END_OCTET:02X}"
        checksum = sum(buffer[body:body_end]) & _OCTET
        if checksum != buffer[body_end]:
            return f"variable frame: checksum 0x{buffer[body_end]:02X}, computed 0x{checksum:02X}"
        asdu_start = body + _CONTROL_SIZE + self._address_size
        address = int.from_bytes(buffer[body + _CONTROL_SIZE : asdu_start], _BYTE_ORDER)
        return VariableFrame(buffer[body], address, bytes(buffer[asdu_start:body_end])), end
