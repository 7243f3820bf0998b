"""A Modbus master link (TCP, or RTU on a serial line) behind one small Protocol.

:class:`ModbusLink` is all a source sees: the four read functions, each returning plain
lists or raising :class:`ModbusError` (no answer in time, an exception response with its code,
no connection). :class:`PymodbusLink` implements it with pymodbus's asyncio clients; it is the
only module that imports pymodbus, so pymodbus's renames (``unit`` -> ``slave`` ->
``device_id``, DESIGN.md rule 9) and its log chatter stay in here.

Why the async clients and not the sync ones through ``asyncio.to_thread``: on the pinned
pymodbus (3.16) the async TCP and serial clients run on the outstation's own loop, time out
per request, report a lost connection at once and reconnect on ``connect()``; a thread per
bus would buy nothing but a second place where the link's state lives.

How the link is driven (settled here, not left to pymodbus's defaults):

* ``retries=0``: one request is one try. The poll cycle is the retry; pymodbus's default of
  3 retries would take 4 x timeout to notice a device that stopped answering.
* ``reconnect_delay=0``: pymodbus does not reconnect in the background. A read while the
  link is down connects (bounded by the timeout) or raises ``ModbusError(CONNECTION)``; the
  caller decides how often to try (its backoff).
* The client is created on first use, inside the running event loop (pymodbus creates
  asyncio futures in its constructor). pymodbus itself is imported then too, not with this
  module: an outstation reaches READY=1 before its Modbus sources first run, and the
  protocol-neutral names here (errors, settings, limits) cost no pymodbus to import.
* pymodbus logs every unanswered request at ERROR with the last frames appended, which would
  flood the journal while a device is off; unless its logger was configured, it is limited to
  CRITICAL, and left alone when ``hal.modbus`` logs at DEBUG (then its frame dumps help).

Addresses are 0-based protocol addresses (register "40001" of a device manual is address 0).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
    from pymodbus.pdu import ModbusPDU

log = logging.getLogger(__name__)

MAX_READ_REGISTERS: Final = 125  # registers per read request (Modbus application protocol 6.3)
MAX_READ_BITS: Final = 2000  # coils / discrete inputs per read request (6.1, 6.2)
MAX_WRITE_REGISTERS: Final = 123  # registers per write multiple registers request (6.12)
DEVICE_ID_MAX: Final = 255
ADDRESS_MAX: Final = 0xFFFF

_PYMODBUS_LOGGER: Final = "pymodbus"


class ModbusErrorKind(Enum):
    CONNECTION = "connection"  # cannot connect, or the connection / serial port was lost
    TIMEOUT = "timeout"  # no (valid) answer within the timeout
    EXCEPTION = "exception"  # the device answered with an exception response (see code)
    PROTOCOL = "protocol"  # an answer that does not fit the request


class ExceptionCode(IntEnum):
    """Modbus exception codes (Modbus application protocol v1.1b3, section 7)."""

    ILLEGAL_FUNCTION = 0x01
    ILLEGAL_DATA_ADDRESS = 0x02
    ILLEGAL_DATA_VALUE = 0x03
    SERVER_DEVICE_FAILURE = 0x04
    ACKNOWLEDGE = 0x05
    SERVER_DEVICE_BUSY = 0x06
    MEMORY_PARITY_ERROR = 0x08
    GATEWAY_PATH_UNAVAILABLE = 0x0A
    GATEWAY_TARGET_DEVICE_FAILED_TO_RESPOND = 0x0B


class ModbusError(Exception):
    """A read that produced no data; ``kind`` says why, ``code`` is the exception code."""

    def __init__(self, kind: ModbusErrorKind, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.code = code


class ModbusLink(Protocol):
    """One Modbus master on one bus (a TCP connection or a serial line).

    ``device_id`` is the unit identifier (TCP) or the server address (RTU). Calls on one link
    must not overlap: the caller serialises them (a serial bus carries one request at a time).
    """

    name: str

    async def read_coils(self, address: int, count: int, device_id: int) -> list[bool]: ...

    async def read_discrete_inputs(self, address: int, count: int,
                                   device_id: int) -> list[bool]: ...

    async def read_holding_registers(self, address: int, count: int,
                                     device_id: int) -> list[int]: ...

    async def read_input_registers(self, address: int, count: int,
                                   device_id: int) -> list[int]: ...

    async def write_coil(self, address: int, value: bool, device_id: int) -> None:
        """Write single coil (function 5)."""

    async def write_register(self, address: int, value: int, device_id: int) -> None:
        """Write single register (function 6): ``value`` 0..0xFFFF."""

    async def write_registers(self, address: int, values: Sequence[int],
                              device_id: int) -> None:
        """Write multiple registers (function 16): each 0..0xFFFF."""

    def close(self) -> None:
        """Drop the connection (the next read connects again)."""
        ...


@dataclass(frozen=True, slots=True)
class ModbusTcpSettings:
    host: str
    port: int = 502
    timeout: float = 1.0  # seconds: connecting, and waiting for each answer


@dataclass(frozen=True, slots=True)
class ModbusSerialSettings:
    device: str  # e.g. /dev/ttyUSB0
    baudrate: int = 9600
    parity: str = "E"  # "N", "E" or "O"
    bytesize: int = 8
    stopbits: int = 1
    timeout: float = 1.0  # seconds: waiting for each answer


def _exception_text(code: int) -> str:
    try:
        return f"exception response {code} ({ExceptionCode(code).name})"
    except ValueError:
        return f"exception response {code}"


class PymodbusLink:
    """:class:`ModbusLink` over pymodbus's asyncio TCP or RTU (serial) client."""

    def __init__(self, name: str, settings: ModbusTcpSettings | ModbusSerialSettings) -> None:
        self.name = name
        self.settings = settings
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        if isinstance(settings, ModbusTcpSettings):
            self.where = f"{settings.host}:{settings.port}"
        else:
            self.where = settings.device

    # -- ModbusLink ------------------------------------------------------------------------------
    async def read_coils(self, address: int, count: int, device_id: int) -> list[bool]:
        _check(address, count, device_id, MAX_READ_BITS)
        client = await self._connected()
        pdu = await self._call(
            lambda: client.read_coils(address, count=count, device_id=device_id))
        return _bits(pdu, count)

    async def read_discrete_inputs(self, address: int, count: int,
                                   device_id: int) -> list[bool]:
        _check(address, count, device_id, MAX_READ_BITS)
        client = await self._connected()
        pdu = await self._call(
            lambda: client.read_discrete_inputs(address, count=count, device_id=device_id))
        return _bits(pdu, count)

    async def read_holding_registers(self, address: int, count: int,
                                     device_id: int) -> list[int]:
        _check(address, count, device_id, MAX_READ_REGISTERS)
        client = await self._connected()
        pdu = await self._call(
            lambda: client.read_holding_registers(address, count=count, device_id=device_id))
        return _registers(pdu, count)

    async def read_input_registers(self, address: int, count: int,
                                   device_id: int) -> list[int]:
        _check(address, count, device_id, MAX_READ_REGISTERS)
        client = await self._connected()
        pdu = await self._call(
            lambda: client.read_input_registers(address, count=count, device_id=device_id))
        return _registers(pdu, count)

    async def write_coil(self, address: int, value: bool, device_id: int) -> None:
        _check(address, 1, device_id, 1)
        client = await self._connected()
        await self._call(lambda: client.write_coil(address, value, device_id=device_id))

    async def write_register(self, address: int, value: int, device_id: int) -> None:
        _check(address, 1, device_id, 1)
        _check_words([value])
        client = await self._connected()
        await self._call(lambda: client.write_register(address, value, device_id=device_id))

    async def write_registers(self, address: int, values: Sequence[int],
                              device_id: int) -> None:
        _check(address, len(values), device_id, MAX_WRITE_REGISTERS)
        _check_words(values)
        words = list(values)
        client = await self._connected()
        await self._call(lambda: client.write_registers(address, words, device_id=device_id))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    # -- internals -------------------------------------------------------------------------------
    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

        _quiet_pymodbus()
        s = self.settings
        if isinstance(s, ModbusTcpSettings):
            return AsyncModbusTcpClient(s.host, port=s.port, name=self.name, timeout=s.timeout,
                                        retries=0, reconnect_delay=0)
        return AsyncModbusSerialClient(s.device, baudrate=s.baudrate, parity=s.parity,
                                       bytesize=s.bytesize, stopbits=s.stopbits, name=self.name,
                                       timeout=s.timeout, retries=0, reconnect_delay=0)

    async def _connected(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        if self._client is None:
            self._client = self._make_client()
        client = self._client
        if not client.connected:
            log.debug("%s: connecting to %s", self.name, self.where)
            try:
                ok = await client.connect()
            except Exception as exc:
                # pymodbus lets e.g. termios.error through (a serial port refusing its
                # settings): the port is unusable, we are not broken
                client.close()
                raise ModbusError(ModbusErrorKind.CONNECTION,
                                  f"cannot open {self.where}: {exc!r}") from exc
            if not ok or not client.connected:
                client.close()
                raise ModbusError(ModbusErrorKind.CONNECTION, f"cannot connect to {self.where}")
            log.debug("%s: connected to %s", self.name, self.where)
        return client

    async def _call(self, request: Callable[[], Awaitable[ModbusPDU]]) -> ModbusPDU:
        """Make one pymodbus request and turn every failure into a ModbusError (pymodbus
        raises "not connected" when the call is made, a timeout when it is awaited)."""
        # imported by _make_client already: a look-up in sys.modules
        from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
        from pymodbus.pdu import ExceptionResponse, ModbusPDU

        try:
            pdu = await request()
        except ConnectionException as exc:
            self.close()
            raise ModbusError(ModbusErrorKind.CONNECTION,
                              f"connection to {self.where} lost") from exc
        except ModbusIOException as exc:  # no answer, or one for another device/transaction
            timeout = self.settings.timeout
            raise ModbusError(ModbusErrorKind.TIMEOUT,
                              f"no valid answer from {self.where} within {timeout:g} s") from exc
        except ModbusException as exc:
            raise ModbusError(ModbusErrorKind.PROTOCOL, f"{self.where}: {exc}") from exc
        except OSError as exc:  # the socket or serial port failed under us
            self.close()
            raise ModbusError(ModbusErrorKind.CONNECTION, f"{self.where}: {exc}") from exc
        if not isinstance(pdu, ModbusPDU):
            raise ModbusError(ModbusErrorKind.PROTOCOL, f"{self.where}: no answer PDU")
        if isinstance(pdu, ExceptionResponse) or pdu.isError():
            code = int(getattr(pdu, "exception_code", 0))
            raise ModbusError(ModbusErrorKind.EXCEPTION, f"{self.where}: {_exception_text(code)}",
                              code)
        return pdu


def _check(address: int, count: int, device_id: int, most: int) -> None:
    """Our own misuse raises (DESIGN.md rule 4); the source only plans valid requests."""
    if not 0 <= device_id <= DEVICE_ID_MAX:
        raise ValueError(f"device id must be 0..{DEVICE_ID_MAX}, got {device_id}")
    if not 1 <= count <= most:
        raise ValueError(f"count must be 1..{most}, got {count}")
    if not 0 <= address or address + count - 1 > ADDRESS_MAX:
        raise ValueError(f"addresses {address}..{address + count - 1} outside 0..{ADDRESS_MAX}")


def _check_words(values: Sequence[int]) -> None:
    if any(not 0 <= v <= 0xFFFF for v in values):
        raise ValueError(f"register values must be 0..0xFFFF, got {list(values)}")


def _bits(pdu: ModbusPDU, count: int) -> list[bool]:
    bits = list(pdu.bits)  # pymodbus pads to whole bytes
    if len(bits) < count:
        raise ModbusError(ModbusErrorKind.PROTOCOL,
                          f"asked for {count} bits, the answer has {len(bits)}")
    return [bool(b) for b in bits[:count]]


def _registers(pdu: ModbusPDU, count: int) -> list[int]:
    registers = list(pdu.registers)
    if len(registers) != count:
        raise ModbusError(ModbusErrorKind.PROTOCOL,
                          f"asked for {count} registers, the answer has {len(registers)}")
    return [int(r) & 0xFFFF for r in registers]


def _quiet_pymodbus() -> None:
    logger = logging.getLogger(_PYMODBUS_LOGGER)
    if logger.level == logging.NOTSET and not log.isEnabledFor(logging.DEBUG):
        logger.setLevel(logging.CRITICAL)
