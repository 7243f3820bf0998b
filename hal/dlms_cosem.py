"""The :class:`hal.dlms.DlmsLink` on dlms-cosem 25.1: the only module importing it.

See hal/dlms.py for how the link is driven (blocking, one session per read, suite 0,
invocation counters). Here: dlms-cosem's logging, byte I/O with hard timeouts (its own TCP
reader spins for ever on a closed connection, its serial reader waits again after a timeout),
and the session itself.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
from collections.abc import Sequence
from typing import Any, Final

import serial
import structlog
from dlms_cosem import cosem, enumerations, exceptions, security, utils
from dlms_cosem.client import DataResultError, DlmsClient, HLSError
from dlms_cosem.cosem.selective_access import CaptureObject, RangeDescriptor
from dlms_cosem.io import HdlcTransport, TcpTransport
from dlms_cosem.protocol import acse, xdlms

from hal.dlms import (
    AttributeRef,
    AttributeResult,
    Authentication,
    DlmsError,
    DlmsErrorKind,
    DlmsLinkSettings,
    DlmsTcpSettings,
    RangeSelection,
)

log = logging.getLogger(__name__)

_LIBRARY_LOGGER: Final = "dlms_cosem"
_structlog_routed = False


def _utc(seconds: float) -> dt.datetime:
    """Whole-second UTC datetime of POSIX ``seconds`` by arithmetic (no 32-bit ``time_t``)."""
    return dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=int(seconds))


def route_library_logs() -> None:
    """Send dlms-cosem's structlog output to ``logging`` (logger ``dlms_cosem``), quiet."""
    global _structlog_routed
    if _structlog_routed:
        return
    _structlog_routed = True
    library = logging.getLogger(_LIBRARY_LOGGER)
    if library.level == logging.NOTSET and not logging.getLogger(__name__).isEnabledFor(
            logging.DEBUG):
        library.setLevel(logging.WARNING)
    if structlog.is_configured():
        return  # someone configured structlog on purpose: theirs
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level,
                    structlog.processors.KeyValueRenderer(key_order=["event"])],
        logger_factory=lambda *args: logging.getLogger(_LIBRARY_LOGGER),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


# -- byte I/O with hard timeouts ----------------------------------------------------------------
class _TcpIO:
    """dlms-cosem's IoImplementation over a TCP socket: EOF and timeouts raise DlmsError."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.lock = threading.Lock()

    def connect(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
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

    def recv(self, amount: int = 1) -> bytes:
        data = bytearray()
        while len(data) < amount:
            try:
                chunk = self._sock().recv(amount - len(data))
            except TimeoutError:
                raise DlmsError(DlmsErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s") \
                    from None
            except OSError as exc:
                raise DlmsError(DlmsErrorKind.CONNECTION, f"connection lost: {exc}") from None
            if not chunk:
                raise DlmsError(DlmsErrorKind.CONNECTION, "the meter closed the connection")
            data += chunk
        return bytes(data)

    def recv_until(self, end: bytes) -> bytes:
        data = bytearray()
        while not data.endswith(end):
            data += self.recv(1)
        return bytes(data)


class _SerialIO:
    """dlms-cosem's IoImplementation over a serial port: timeouts and a lost port raise."""

    def __init__(self, device: str, baudrate: int, timeout: float) -> None:
        self.device, self.baudrate, self.timeout = device, baudrate, timeout
        self.port: serial.Serial | None = None

    def connect(self) -> None:
        try:
            self.port = serial.Serial(self.device, self.baudrate, timeout=self.timeout,
                                      write_timeout=self.timeout)
            # what arrived while the port was closed (a late answer to a session that timed
            # out, line noise) is not an answer to this session: a frame read from it would
            # throw the new session out of step, and every one after it
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

    def _read(self, call: str, arg: Any) -> bytes:
        try:
            data = bytes(getattr(self._port(), call)(arg))
        except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
            raise DlmsError(DlmsErrorKind.CONNECTION, f"{self.device}: {exc}") from None
        return data

    def recv(self, amount: int = 1) -> bytes:
        data = self._read("read", amount)
        if len(data) < amount:
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s")
        return data

    def recv_until(self, end: bytes) -> bytes:
        data = self._read("read_until", end)
        if not data.endswith(end):
            raise DlmsError(DlmsErrorKind.TIMEOUT, f"no answer within {self.timeout:g} s")
        return data


# -- the link -------------------------------------------------------------------------------------
class CosemLink:
    """:class:`DlmsLink` with dlms-cosem 25.1 (TCP wrapper or HDLC on a serial line)."""

    def __init__(self, settings: DlmsLinkSettings) -> None:
        route_library_logs()
        self.settings = settings
        self._io: _TcpIO | _SerialIO | None = None
        self._lock = threading.Lock()

    def abort(self) -> None:
        with self._lock:
            io = self._io
        if io is not None:
            io.disconnect()

    def _client(self, invocation_counter: int) -> tuple[DlmsClient, _TcpIO | _SerialIO]:
        s = self.settings
        transport: TcpTransport | HdlcTransport
        io: _TcpIO | _SerialIO
        if isinstance(s.transport, DlmsTcpSettings):
            io = _TcpIO(s.transport.host, s.transport.port, s.timeout)
            transport = TcpTransport(client_logical_address=s.client_address,
                                     server_logical_address=s.server_address, io=io,
                                     timeout=s.timeout)
        else:
            io = _SerialIO(s.transport.device, s.transport.baudrate, s.timeout)
            transport = HdlcTransport(client_logical_address=s.client_address,
                                      server_logical_address=s.server_address, io=io,
                                      server_physical_address=s.transport.server_physical_address,
                                      timeout=s.timeout)
        auth: Any
        keys: dict[str, Any] = {}
        if s.authentication is Authentication.LLS:
            auth = security.LowLevelSecurityAuthentication(secret=s.password)
        elif s.authentication is Authentication.HLS_GMAC:
            auth = security.HighLevelSecurityGmacAuthentication(challenge_length=32)
            keys = {"encryption_key": s.encryption_key,
                    "authentication_key": s.authentication_key,
                    "security_suite": 0,
                    "client_system_title": s.system_title,
                    "client_initial_invocation_counter": invocation_counter,
                    "meter_initial_invocation_counter": -1}
        else:
            auth = security.NoSecurityAuthentication()
        client = DlmsClient(transport=transport, authentication=auth, **keys)
        return client, io

    def read(self, refs: Sequence[AttributeRef],
             invocation_counter: int) -> tuple[list[AttributeResult], int]:
        client, io = self._client(invocation_counter)
        with self._lock:
            self._io = io
        ciphered = self.settings.authentication is Authentication.HLS_GMAC
        # from the AARQ on, counters may reach the meter: never hand one back
        used = invocation_counter

        def counter() -> int:
            return max(used, int(client.client_invocation_counter)) if ciphered else used

        connected = False
        try:
            client.connect()
            connected = True
            self._associate(client)
            results = [self._get(client, ref) for ref in refs]
            try:
                client.release_association()
            except (DlmsError, exceptions.DlmsClientException, ValueError, KeyError):
                pass  # the values are in; a meter that drops the line on RLRQ is fine
            return results, counter()
        except DlmsError as exc:
            if exc.next_counter is not None:
                raise
            raise DlmsError(exc.kind, str(exc), counter()) from None
        except HLSError as exc:
            raise DlmsError(DlmsErrorKind.REFUSED, f"HLS authentication failed: {exc}",
                                counter()) from None
        except exceptions.DlmsClientException as exc:
            raise DlmsError(DlmsErrorKind.REFUSED, str(exc), counter()) from None
        except Exception as exc:  # a malformed answer deep inside the library
            log.debug("dlms %s: %r", self.settings.name, exc, exc_info=True)
            raise DlmsError(DlmsErrorKind.PROTOCOL,
                                f"cannot understand the meter: {type(exc).__name__}: {exc}",
                                counter()) from None
        finally:
            with self._lock:
                self._io = None
            if connected:
                try:
                    client.disconnect()  # HDLC: DISC / UA, then the port closes
                except Exception as exc:  # noqa: BLE001 - whatever the line does now, close it
                    log.debug("dlms %s: disconnect: %r", self.settings.name, exc)
            io.disconnect()

    def _associate(self, client: DlmsClient) -> None:
        """AARQ / AARE (and the HLS pass); a counter refused by the meter is reported with the
        meter's last one, so the caller can go on above it."""
        client.send(client.dlms_connection.get_aarq())
        response = client.next_event()
        if isinstance(response, xdlms.ExceptionResponse):
            last = response.invocation_counter_data
            if (response.service_error is enumerations.ServiceException.INVOCATION_COUNTER_ERROR
                    and last is not None):
                raise DlmsError(DlmsErrorKind.REFUSED,
                                    f"the meter refused invocation counter "
                                    f"{client.client_invocation_counter - 1}: it has seen {last}",
                                    max(int(client.client_invocation_counter), last + 1))
            raise DlmsError(DlmsErrorKind.REFUSED, f"association refused: "
                                                   f"{response.state_error.name}, "
                                                   f"{response.service_error.name}")
        if not isinstance(response, acse.ApplicationAssociationResponse):
            raise DlmsError(DlmsErrorKind.PROTOCOL,
                            f"expected an AARE, got {type(response).__name__}")
        if response.result is not enumerations.AssociationResult.ACCEPTED:
            raise DlmsError(DlmsErrorKind.REFUSED,
                            f"association rejected: {response.result.name}, "
                            f"{response.result_source_diagnostics!r}")
        if client.should_send_hls_reply():
            reply = client.send_hls_reply()
            data = utils.parse_as_dlms_data(reply) if reply else None
            if not data or not client.dlms_connection.authentication.hls_meter_data_is_valid(
                    data, client.dlms_connection):
                raise DlmsError(DlmsErrorKind.REFUSED,
                                "HLS: the meter's answer to our challenge is wrong")

    def _get(self, client: DlmsClient, ref: AttributeRef) -> AttributeResult:
        attribute = cosem.CosemAttribute(interface=ref.class_id, instance=cosem.Obis(*ref.obis),
                                         attribute=ref.attribute)
        selected = True
        try:
            if ref.selection is None:
                raw = client.get(attribute)
            else:
                try:
                    raw = client.get(attribute, access_descriptor=_range(ref.selection))
                except DataResultError as exc:
                    # a meter without selective access by range: the whole buffer
                    log.debug("dlms %s: %s: range selection refused (%s); reading it all",
                              self.settings.name, ref, exc)
                    selected = False
                    raw = client.get(attribute)
        except DataResultError as exc:
            return AttributeResult(ref, error=str(exc))
        try:
            value = utils.parse_as_dlms_data(raw)
        except Exception as exc:  # noqa: BLE001 - a value we cannot decode: this read only
            return AttributeResult(ref, error=f"cannot decode {raw.hex()}: {exc}")
        return AttributeResult(ref, value=value, selected=selected)


def _range(selection: RangeSelection) -> RangeDescriptor:
    """Access selector 1 (range_descriptor): restricting object, from, to (date-times sent as
    UTC, deviation 0), every column."""
    restricting = CaptureObject(
        cosem_attribute=cosem.CosemAttribute(
            interface=enumerations.CosemInterface(selection.restricting_class),
            instance=cosem.Obis(*selection.restricting_obis),
            attribute=selection.restricting_attribute),
        data_index=0)
    return RangeDescriptor(
        restricting_object=restricting,
        from_value=_utc(selection.start),
        to_value=_utc(selection.end))
