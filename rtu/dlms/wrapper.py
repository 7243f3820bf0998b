"""The DLMS/COSEM wrapper (IEC 62056-47, Green Book 7.3.3): TCP and UDP.

A wrapper PDU is an 8-octet header - version (0x0001), source wPort, destination wPort,
length of the APDU - and the APDU, all big-endian. Over TCP the header frames APDUs in the
byte stream (:class:`WrapperStream`); over UDP one datagram carries exactly one wrapper PDU
(:func:`decode_datagram`), so an APDU is at most the datagram size minus 8.

wPorts are the client and server SAPs: a public client is 16, a management client 1; the
server's is its logical device address (1: the management logical device; a data
concentrator addresses its meters' logical devices by their own wPorts).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

from rtu.dlms.errors import LocalProtocolError, RemoteProtocolError

VERSION: Final = 0x0001
HEADER_SIZE: Final = 8
MAX_APDU: Final = 0xFFFF  # the length field's range
UDP_MAX_DATAGRAM: Final = 65507  # IPv4 payload of one datagram


@dataclass(frozen=True, slots=True)
class WrapperPdu:
    source: int  # the sender's wPort
    destination: int  # the receiver's wPort
    apdu: bytes


def encode_wrapper(pdu: WrapperPdu) -> bytes:
    for name in ("source", "destination"):
        port = getattr(pdu, name)
        if not 0 <= port <= 0xFFFF:
            raise LocalProtocolError(f"wPort {name} {port} is outside 0..65535")
    if len(pdu.apdu) > MAX_APDU:
        raise LocalProtocolError(f"APDU of {len(pdu.apdu)} octets: the wrapper carries at most "
                                 f"{MAX_APDU}")
    return struct.pack(">HHHH", VERSION, pdu.source, pdu.destination, len(pdu.apdu)) + pdu.apdu


def decode_header(header: bytes) -> tuple[int, int, int]:
    """(source, destination, length) of a wrapper header; RemoteProtocolError on a wrong
    version."""
    version, source, destination, length = struct.unpack(">HHHH", header)
    if version != VERSION:
        raise RemoteProtocolError(f"wrapper version 0x{version:04X} (expected 0x0001)")
    return source, destination, length


def decode_datagram(datagram: bytes) -> WrapperPdu:
    """One UDP datagram: exactly one wrapper PDU."""
    if len(datagram) < HEADER_SIZE:
        raise RemoteProtocolError(f"a datagram of {len(datagram)} octets is shorter than the "
                                  f"wrapper header")
    source, destination, length = decode_header(datagram[:HEADER_SIZE])
    if length != len(datagram) - HEADER_SIZE:
        raise RemoteProtocolError(f"the wrapper announces {length} octets, the datagram "
                                  f"carries {len(datagram) - HEADER_SIZE}")
    return WrapperPdu(source, destination, datagram[HEADER_SIZE:])


class WrapperStream:
    """Reassembles wrapper PDUs from a TCP byte stream. ``max_apdu`` bounds what a peer may
    announce (a longer one is a RemoteProtocolError before anything is buffered for it)."""

    def __init__(self, max_apdu: int = MAX_APDU) -> None:
        self.max_apdu = max_apdu
        self._buffer = bytearray()

    def receive_data(self, data: bytes) -> list[WrapperPdu]:
        self._buffer += data
        pdus: list[WrapperPdu] = []
        while len(self._buffer) >= HEADER_SIZE:
            source, destination, length = decode_header(bytes(self._buffer[:HEADER_SIZE]))
            if length > self.max_apdu:
                raise RemoteProtocolError(f"the wrapper announces an APDU of {length} octets "
                                          f"(at most {self.max_apdu} accepted)")
            if len(self._buffer) < HEADER_SIZE + length:
                break
            apdu = bytes(self._buffer[HEADER_SIZE:HEADER_SIZE + length])
            del self._buffer[:HEADER_SIZE + length]
            pdus.append(WrapperPdu(source, destination, apdu))
        return pdus

    @property
    def pending(self) -> int:
        """Octets received that do not make a whole PDU yet."""
        return len(self._buffer)
