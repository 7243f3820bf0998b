"""Blocking byte I/O to a meter with hard timeouts: TCP, UDP and a serial line.

Each :meth:`recv_some` returns what has arrived (at least one octet; over UDP one whole
datagram) or raises :class:`hal.dlms.DlmsError`: TIMEOUT when nothing came within the
timeout, CONNECTION on EOF, a lost port or a refused datagram. So a worker thread running a
session always ends within a timeout per exchange, and :meth:`disconnect` from another thread
makes a blocked call fail at once.
"""

from __future__ import annotations

import socket
import threading
from typing import Final, Protocol

import serial

from hal.dlms import DlmsError, DlmsErrorKind

RECV_SIZE: Final = 4096
UDP_DATAGRAM_MAX: Final = 65535


class ByteIO(Protocol):
    def connect(self) -> None: ...
    def disconnect(self) -> None: ...
    def send(self, data: bytes) -> None: ...
    def recv_some(self) -> bytes: ...


class _SocketIO:
    kind = socket.SOCK_STREAM

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()

    def connect(self) -> None:
        try:
            if self.kind == socket.SOCK_STREAM:
                sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
            else:
                info = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
                sock = socket.socket(info[0], socket.SOCK_DGRAM)
                sock.settimeout(self.timeout)
                sock.connect(info[4])
        except TimeoutError:
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"connecting to {self.host}:{self.port} "
                                                   f"timed out") from None
        except OSError as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"cannot connect to {self.host}:"
                                                      f"{self.port}: {exc.strerror or exc}") \
                from None
        with self.lock:
            self.sock = sock

    def disconnect(self) -> None:
        with self.lock:
            sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def _sock(self) -> socket.socket:
        sock = self.sock
        if sock is None:
            raise DlmsError(DlmsErrorKind.CONNECTION, "the connection is closed")
        return sock

    def send(self, data: bytes) -> None:
        try:
            self._sock().sendall(data)
        except TimeoutError:
            raise DlmsError(DlmsErrorKind.TIMEOUT, "sending timed out") from None
        except OSError as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"connection lost: {exc}") from None

    def recv_some(self) -> bytes:
        try:
            data = self._sock().recv(RECV_SIZE if self.kind == socket.SOCK_STREAM
                                     else UDP_DATAGRAM_MAX)
        except TimeoutError:
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s") \
                from None
        except OSError as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"connection lost: {exc}") from None
        if not data and self.kind == socket.SOCK_STREAM:
            raise DlmsError(DlmsErrorKind.CONNECTION, "the meter closed the connection")
        return data


class TcpIO(_SocketIO):
    """The TCP wrapper's byte stream."""


class UdpIO(_SocketIO):
    """One datagram per recv_some; an ICMP port unreachable is CONNECTION."""

    kind = socket.SOCK_DGRAM


class SerialIO:
    """A serial port (HDLC): input that arrived while the port was closed is discarded."""

    def __init__(self, device: str, baudrate: int, timeout: float) -> None:
        self.device, self.baudrate, self.timeout = device, baudrate, timeout
        self.port: serial.Serial | None = None

    def connect(self) -> None:
        try:
            self.port = serial.Serial(self.device, self.baudrate, timeout=self.timeout,
                                      write_timeout=self.timeout)
            # what arrived while the port was closed (a late answer to a session that timed
            # out, line noise) is not an answer to this session
            self.port.reset_input_buffer()
        except (serial.SerialException, OSError) as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"cannot open {self.device}: {exc}") \
                from None

    def disconnect(self) -> None:
        port, self.port = self.port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _port(self) -> serial.Serial:
        port = self.port
        if port is None or not port.is_open:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"{self.device} is closed")
        return port

    def send(self, data: bytes) -> None:
        try:
            self._port().write(data)
        except serial.SerialTimeoutException:
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"writing to {self.device} timed out") \
                from None
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            # pyserial raises TypeError/AttributeError when the port is closed under it
            raise DlmsError(DlmsErrorKind.CONNECTION, f"{self.device}: {exc}") from None

    def recv_some(self) -> bytes:
        try:
            port = self._port()
            data = bytes(port.read(1))
            if data:
                data += bytes(port.read(min(port.in_waiting, RECV_SIZE)))
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"{self.device}: {exc}") from None
        if not data:
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s")
        return data
