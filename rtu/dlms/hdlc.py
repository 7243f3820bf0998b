"""HDLC for DLMS/COSEM (IEC 62056-46, Green Book 8.4): frame format type 3 and the client link.

A frame is ``7E | format (2) | destination | source | control | [HCS (2) | information] |
FCS (2) | 7E``: format is 0b1010, the segmentation bit and an 11-bit length (everything but
the flags); HCS and FCS are CRC-16/X.25, least significant octet first. Addresses are 1, 2 or
4 octets, 7 bits each, the last octet's low bit set: the client's is its SAP; the server's is
its upper (logical device) address and, when given, its lower (physical) address.

:class:`HdlcClientLink` is the client side of one link, sans-I/O: SNRM / UA (parameters
negotiated: the longest information field each way; window 1), I-frames carrying APDUs behind
the LLC header, segmentation both ways (RR asks for / acknowledges the next segment), RNR
(answered with an RR poll, a bounded number of times), DISC / UA or DM. Bytes go in through
:meth:`receive_data`, events come out, bytes to send are taken with :meth:`data_to_send`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Final

from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

FLAG: Final = 0x7E
FORMAT_TYPE_3: Final = 0xA000
SEGMENTED: Final = 0x0800
LENGTH_MASK: Final = 0x07FF
DEFAULT_MAX_INFO: Final = 128
MAX_INFO: Final = 2030  # the largest information field the standard allows
LLC_REQUEST: Final = b"\xe6\xe6\x00"
LLC_RESPONSE: Final = b"\xe6\xe7\x00"
MAX_BUSY_POLLS: Final = 50  # RNR answers in a row before the link is given up

# U-frame commands and responses (the P/F bit, 0x10, cleared)
SNRM: Final = 0x83
DISC: Final = 0x43
UA: Final = 0x63
DM: Final = 0x0F
FRMR: Final = 0x87
UI: Final = 0x03
# S-frames (low two bits 01), type in bits 2-3
RR: Final = 0x01
RNR: Final = 0x05
PF: Final = 0x10


# -- CRC-16/X.25 -----------------------------------------------------------------------------
def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE: Final = _crc_table()


def fcs16(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFF


def _check(data: bytes) -> bytes:
    return fcs16(data).to_bytes(2, "little")


# -- addresses ---------------------------------------------------------------------------------
def encode_address(upper: int, lower: int | None = None) -> bytes:
    """A one-octet address (``lower`` None), or a two- or four-octet server address."""
    if lower is None:
        if not 0 <= upper <= 0x7F:
            raise LocalProtocolError(f"one-octet HDLC address {upper} is outside 0..127")
        return bytes([(upper << 1) | 1])
    if not (0 <= upper <= 0x3FFF and 0 <= lower <= 0x3FFF):
        raise LocalProtocolError(f"HDLC server address {upper}/{lower} is outside 0..16383")
    if upper <= 0x7F and lower <= 0x7F:
        return bytes([upper << 1, (lower << 1) | 1])
    return bytes([(upper >> 7) << 1, (upper & 0x7F) << 1, (lower >> 7) << 1,
                  ((lower & 0x7F) << 1) | 1])


def _address_end(buf: bytes, pos: int) -> int:
    for end in range(pos, min(pos + 4, len(buf))):
        if buf[end] & 1:
            return end + 1
    raise RemoteProtocolError("an HDLC address without its last octet")


# -- frames ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Frame:
    destination: bytes  # the encoded address octets
    source: bytes
    control: int
    information: bytes = b""
    segmented: bool = False


def encode_frame(frame: Frame) -> bytes:
    header_size = 2 + len(frame.destination) + len(frame.source) + 1
    length = header_size + (2 + len(frame.information) if frame.information else 0) + 2
    if length > LENGTH_MASK:
        raise LocalProtocolError(f"an HDLC frame of {length} octets")
    fmt = FORMAT_TYPE_3 | (SEGMENTED if frame.segmented else 0) | length
    header = fmt.to_bytes(2, "big") + frame.destination + frame.source + bytes([frame.control])
    body = header + (_check(header) + frame.information if frame.information else b"")
    return bytes([FLAG]) + body + _check(body) + bytes([FLAG])


def decode_frame(body: bytes) -> Frame:
    """A frame between its flags (format .. FCS)."""
    if len(body) < 7:
        raise RemoteProtocolError(f"an HDLC frame of {len(body)} octets")
    fmt = int.from_bytes(body[:2], "big")
    if fmt & 0xF000 != FORMAT_TYPE_3 or fmt & LENGTH_MASK != len(body):
        raise RemoteProtocolError(f"HDLC format field 0x{fmt:04X} for {len(body)} octets")
    if _check(body[:-2]) != body[-2:]:
        raise RemoteProtocolError("HDLC frame check sequence is wrong")
    dest_end = _address_end(body, 2)
    src_end = _address_end(body, dest_end)
    if src_end >= len(body) - 2:
        raise RemoteProtocolError("an HDLC frame without its control field")
    control = body[src_end]
    info_start = src_end + 1
    information = b""
    if info_start < len(body) - 2:
        if info_start + 2 > len(body) - 2 or _check(body[:info_start]) != \
                body[info_start:info_start + 2]:
            raise RemoteProtocolError("HDLC header check sequence is wrong")
        information = body[info_start + 2:-2]
    return Frame(body[2:dest_end], body[dest_end:src_end], control, information,
                 bool(fmt & SEGMENTED))


class FrameReader:
    """Splits a line's bytes into frame bodies. Bytes that are not a frame (line noise, the tail
    of a frame whose start was lost) are skipped up to the next flag; a frame whose check
    sequence is wrong is dropped and counted. The buffer is bounded by the longest frame."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.dropped = 0  # frames (or runs of octets) thrown away

    def receive_data(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        buf = self._buffer
        while True:
            start = buf.find(FLAG)
            if start < 0:
                if buf:
                    self.dropped += 1
                buf.clear()
                break
            if start:
                self.dropped += 1
                del buf[:start]
            if len(buf) < 3:
                break
            fmt = int.from_bytes(buf[1:3], "big")
            length = fmt & LENGTH_MASK
            if fmt & 0xF000 != FORMAT_TYPE_3 or length < 7:
                del buf[:1]  # not a frame's start (a closing flag, or noise)
                continue
            if len(buf) < length + 2:
                break  # more to come (at most LENGTH_MASK + 2 octets are held)
            if buf[length + 1] != FLAG:
                self.dropped += 1
                del buf[:1]
                continue
            body = bytes(buf[1:length + 1])
            del buf[:length + 1]  # the closing flag may open the next frame
            try:
                frames.append(decode_frame(body))
            except RemoteProtocolError:
                self.dropped += 1
        return frames


# -- parameters ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LinkParameters:
    """What the server said in its UA, from its side: it transmits at most ``max_info_tx``
    octets of information per frame and receives at most ``max_info_rx``."""

    max_info_tx: int = DEFAULT_MAX_INFO
    max_info_rx: int = DEFAULT_MAX_INFO
    window_tx: int = 1
    window_rx: int = 1


def encode_parameters(p: LinkParameters) -> bytes:
    size = 2 if max(p.max_info_tx, p.max_info_rx) > 0xFF else 1
    items = (bytes([0x05, size]) + p.max_info_tx.to_bytes(size, "big")
             + bytes([0x06, size]) + p.max_info_rx.to_bytes(size, "big")
             + bytes([0x07, 4]) + p.window_tx.to_bytes(4, "big")
             + bytes([0x08, 4]) + p.window_rx.to_bytes(4, "big"))
    return bytes([0x81, 0x80, len(items)]) + items


def decode_parameters(info: bytes) -> LinkParameters:
    """A UA's information field (empty: the defaults). Lengths outside 32..2030 and windows
    outside 1..7 are a RemoteProtocolError."""
    if not info:
        return LinkParameters()
    if len(info) < 3 or info[0] != 0x81 or info[1] != 0x80 or info[2] != len(info) - 3:
        raise RemoteProtocolError(f"HDLC parameter field {info.hex()}")
    values = {0x05: DEFAULT_MAX_INFO, 0x06: DEFAULT_MAX_INFO, 0x07: 1, 0x08: 1}
    pos = 3
    while pos < len(info):
        if pos + 2 > len(info) or pos + 2 + info[pos + 1] > len(info) or info[pos + 1] > 4:
            raise RemoteProtocolError(f"HDLC parameter field {info.hex()}")
        ident, size = info[pos], info[pos + 1]
        value = int.from_bytes(info[pos + 2:pos + 2 + size], "big")
        if ident in values:
            values[ident] = value
        pos += 2 + size
    p = LinkParameters(values[0x05], values[0x06], values[0x07], values[0x08])
    if not (32 <= p.max_info_tx <= MAX_INFO and 32 <= p.max_info_rx <= MAX_INFO
            and 1 <= p.window_tx <= 7 and 1 <= p.window_rx <= 7):
        raise RemoteProtocolError(f"HDLC parameters out of range: {p}")
    return p


# -- the client link --------------------------------------------------------------------------------
class LinkState(Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"  # SNRM sent
    CONNECTED = "connected"
    DISCONNECTING = "disconnecting"  # DISC sent


@dataclass(frozen=True, slots=True)
class LinkConnected:
    parameters: LinkParameters


@dataclass(frozen=True, slots=True)
class LinkRefused:
    """DM to our SNRM: the server is there but will not set the link up."""


@dataclass(frozen=True, slots=True)
class LinkDisconnected:
    """UA or DM to our DISC (or a DM at any time)."""


@dataclass(frozen=True, slots=True)
class ApduReceived:
    apdu: bytes


LinkEvent = LinkConnected | LinkRefused | LinkDisconnected | ApduReceived


class HdlcClientLink:
    """One HDLC link from ``client`` to a server, modulo 8, window 1 each way. ``max_apdu``
    bounds a segmented APDU being reassembled."""

    def __init__(self, client: int, server_logical: int, server_physical: int | None = None,
                 max_apdu: int = 0xFFFF, proposal: LinkParameters | None = None) -> None:
        """``proposal``: what our SNRM offers, from our side (None: no parameters, so the
        defaults: 128 octets each way, window 1). Windows above 1 are not supported here."""
        if proposal is not None and (proposal.window_tx != 1 or proposal.window_rx != 1 or not (
                32 <= proposal.max_info_tx <= MAX_INFO and 32 <= proposal.max_info_rx
                <= MAX_INFO)):
            raise LocalProtocolError(f"HDLC proposal {proposal}: information fields of "
                                     f"32..{MAX_INFO} octets, windows of 1")
        self.proposal = proposal
        self.client_address = encode_address(client)
        self.server_address = encode_address(server_logical, server_physical)
        self.max_apdu = max_apdu
        self.state = LinkState.DISCONNECTED
        self.parameters = LinkParameters()
        self.reader = FrameReader()
        self._out = bytearray()
        self._vs = 0  # our next N(S)
        self._vr = 0  # the next N(S) we expect from the server
        self._segments: list[bytes] = []  # our APDU's segments not sent yet
        self._rx = bytearray()  # a segmented APDU being received
        self._busy = 0

    # -- what we send -----------------------------------------------------------------------
    def _frame(self, control: int, information: bytes = b"", segmented: bool = False) -> None:
        self._out += encode_frame(Frame(self.server_address, self.client_address, control,
                                        information, segmented))

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def connect(self) -> None:
        if self.state is not LinkState.DISCONNECTED:
            raise LocalProtocolError(f"SNRM in state {self.state.value}")
        self.state = LinkState.CONNECTING
        self._frame(SNRM | PF, encode_parameters(self.proposal) if self.proposal else b"")

    def disconnect(self) -> None:
        if self.state is LinkState.DISCONNECTED:
            return
        self.state = LinkState.DISCONNECTING
        self._frame(DISC | PF)

    def send_apdu(self, apdu: bytes) -> None:
        if self.state is not LinkState.CONNECTED or self._segments:
            raise LocalProtocolError(f"an APDU in state {self.state.value}"
                                     + (" while one is still going out" if self._segments
                                        else ""))
        data = LLC_REQUEST + apdu
        size = self.parameters.max_info_rx  # what the server receives per frame
        self._segments = [data[i:i + size] for i in range(0, len(data), size)]
        self._send_segment()

    def _send_segment(self) -> None:
        segment = self._segments.pop(0)
        control = (self._vr << 5) | PF | (self._vs << 1)
        self._frame(control, segment, segmented=bool(self._segments))
        self._vs = (self._vs + 1) % 8

    # -- what we receive ----------------------------------------------------------------------
    def receive_data(self, data: bytes) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        for frame in self.reader.receive_data(data):
            if frame.destination != self.client_address or frame.source != self.server_address:
                continue  # another station's frame on a shared line, or a stale one
            event = self._handle(frame)
            if event is not None:
                events.append(event)
        return events

    def _handle(self, frame: Frame) -> LinkEvent | None:
        control = frame.control
        if control & 0x03 == 0x03:  # U-frame
            return self._unnumbered(control & ~PF & 0xFF, frame)
        if self.state is not LinkState.CONNECTED:
            return None  # a late I- or S-frame of a link that is gone
        if control & 0x01 == 0:  # I-frame
            return self._information(control, frame)
        kind = control & 0x0F
        if kind == RR:
            self._busy = 0
            if self._segments and (control >> 5) == self._vs:
                self._send_segment()
            return None
        if kind == RNR:
            self._busy += 1
            if self._busy > MAX_BUSY_POLLS:
                raise RemoteProtocolError(f"the server stayed busy (RNR) {MAX_BUSY_POLLS} times")
            self._frame((self._vr << 5) | PF | RR)
            return None
        raise RemoteProtocolError(f"HDLC control 0x{control:02X} (REJ/SREJ are not used here)")

    def _unnumbered(self, command: int, frame: Frame) -> LinkEvent | None:
        if command == UA and self.state is LinkState.CONNECTING:
            self.parameters = decode_parameters(frame.information)
            if self.proposal is not None and (
                    self.parameters.max_info_tx > self.proposal.max_info_rx):
                raise RemoteProtocolError(f"the server would send {self.parameters.max_info_tx}"
                                          f"-octet fields; we offered to receive "
                                          f"{self.proposal.max_info_rx}")
            self.state = LinkState.CONNECTED
            self._vs = self._vr = 0
            return LinkConnected(self.parameters)
        if command in (UA, DM) and self.state is LinkState.DISCONNECTING:
            self.state = LinkState.DISCONNECTED
            return LinkDisconnected()
        if command == DM:
            was = self.state
            self.state = LinkState.DISCONNECTED
            return LinkRefused() if was is LinkState.CONNECTING else LinkDisconnected()
        if command == FRMR:
            raise RemoteProtocolError(f"the server rejected our frame (FRMR "
                                      f"{frame.information.hex()})")
        return None  # UI or a stray UA: nothing for us

    def _information(self, control: int, frame: Frame) -> LinkEvent | None:
        ns, nr = (control >> 1) & 0x07, control >> 5
        if ns != self._vr:
            # a repeated frame (our RR was lost): acknowledge again, keep nothing
            self._frame((self._vr << 5) | PF | RR)
            return None
        if nr != self._vs:
            raise RemoteProtocolError(f"the server acknowledged N(R)={nr}, we sent up to "
                                      f"{(self._vs - 1) % 8}")
        self._segments.clear()  # an answer means the request went through
        self._vr = (self._vr + 1) % 8
        if len(self._rx) + len(frame.information) > self.max_apdu + len(LLC_RESPONSE):
            raise RemoteProtocolError(f"a segmented APDU longer than {self.max_apdu} octets")
        self._rx += frame.information
        if frame.segmented:
            self._frame((self._vr << 5) | PF | RR)  # the next segment, please
            return None
        data = bytes(self._rx)
        self._rx.clear()
        if not data.startswith(LLC_RESPONSE):
            raise RemoteProtocolError(f"an I-frame without the LLC header: {data[:3].hex()}")
        return ApduReceived(data[len(LLC_RESPONSE):])
