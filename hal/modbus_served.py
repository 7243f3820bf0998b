"""A Modbus TCP device the outstation serves itself (the bench: a device without hardware).

:class:`ServedModbusDevice` is pymodbus's TCP server on 127.0.0.1 at a port the kernel chooses
free when it starts (port 0), holding for each unit id :data:`TABLE_SIZE` coils, discrete
inputs, holding and input registers (addresses 0..TABLE_SIZE-1, all zero at start; an address
beyond is answered with exception 2, illegal data address). :class:`ServedLink` is a
:class:`~hal.modbus.ModbusLink` to it: its first request starts the server and then talks to
it through the ordinary TCP client (:class:`~hal.modbus.PymodbusLink`), so what is written and
read back crosses a real Modbus TCP connection.

Like hal/modbus.py this imports pymodbus: only a configuration with a served bus loads it.
pymodbus's server package also loads its simulator's web server (aiohttp): it is imported
when the device first starts (after the outstation is ready), on a worker thread.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from hal.modbus import ModbusError, ModbusErrorKind, ModbusTcpSettings, PymodbusLink

if TYPE_CHECKING:
    from pymodbus.server import ModbusTcpServer

log = logging.getLogger(__name__)

TABLE_SIZE: Final = 1000  # coils, discrete inputs, holding and input registers per unit id
HOST: Final = "127.0.0.1"

__all__ = ["HOST", "TABLE_SIZE", "ServedLink", "ServedModbusDevice"]


class ServedModbusDevice:
    """pymodbus's TCP server on a free loopback port, answering for ``unit_ids``."""

    def __init__(self, name: str, unit_ids: Sequence[int]) -> None:
        if not unit_ids:
            raise ValueError("a served Modbus device needs at least one unit id")
        self.name = name
        self.unit_ids = tuple(dict.fromkeys(unit_ids))
        self.port: int | None = None  # known once started
        self._server: ModbusTcpServer | None = None
        self._lock: asyncio.Lock | None = None

    async def start(self) -> int:
        """Serve (once; later calls return at once); the port it listens on."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._server is not None and self.port is not None:
                return self.port
            server_module, simulator = await asyncio.to_thread(_pymodbus_server)
            bits, words = simulator.DataType.BITS, simulator.DataType.REGISTERS
            block = simulator.SimData
            devices = [simulator.SimDevice(id=unit, simdata=(
                [block(0, count=TABLE_SIZE, values=False, datatype=bits)],
                [block(0, count=TABLE_SIZE, values=False, datatype=bits)],
                [block(0, count=TABLE_SIZE, values=0, datatype=words)],
                [block(0, count=TABLE_SIZE, values=0, datatype=words)],
            )) for unit in self.unit_ids]
            server: ModbusTcpServer = server_module.ModbusTcpServer(devices, address=(HOST, 0))
            try:
                await server.serve_forever(background=True)
                sockets: list[socket.socket] = list(getattr(server.transport, "sockets", ()))
                port = int(sockets[0].getsockname()[1])
            except (OSError, RuntimeError, IndexError) as exc:
                server.close()
                raise ModbusError(ModbusErrorKind.CONNECTION,
                                  f"cannot serve Modbus device {self.name} on {HOST}: "
                                  f"{exc}") from exc
            self._server, self.port = server, port
            log.info("modbus: serving device %s (unit %s) on %s:%d", self.name,
                     ", ".join(map(str, self.unit_ids)), HOST, port)
            return port

    def close(self) -> None:
        """Stop serving (its clients see the connection drop)."""
        server, self._server = self._server, None
        if server is not None:
            if not server.serving.done():
                server.serving.set_result(True)
            server.close()
            self.port = None


def _pymodbus_server() -> tuple[Any, Any]:
    """pymodbus's server and simulator modules (a slow import: aiohttp comes with them)."""
    return (importlib.import_module("pymodbus.server"),
            importlib.import_module("pymodbus.simulator"))


class ServedLink:
    """A :class:`~hal.modbus.ModbusLink` to a :class:`ServedModbusDevice` (started on first
    use, reached over TCP like any other device)."""

    def __init__(self, name: str, device: ServedModbusDevice, timeout: float = 1.0) -> None:
        self.name = name
        self.device = device
        self.timeout = timeout
        self._link: PymodbusLink | None = None

    async def _linked(self) -> PymodbusLink:
        port = await self.device.start()
        if self._link is None or self._link.settings != ModbusTcpSettings(HOST, port,
                                                                          self.timeout):
            if self._link is not None:
                self._link.close()
            self._link = PymodbusLink(self.name, ModbusTcpSettings(HOST, port, self.timeout))
        return self._link

    async def read_coils(self, address: int, count: int, device_id: int) -> list[bool]:
        return await (await self._linked()).read_coils(address, count, device_id)

    async def read_discrete_inputs(self, address: int, count: int,
                                   device_id: int) -> list[bool]:
        return await (await self._linked()).read_discrete_inputs(address, count, device_id)

    async def read_holding_registers(self, address: int, count: int,
                                     device_id: int) -> list[int]:
        return await (await self._linked()).read_holding_registers(address, count, device_id)

    async def read_input_registers(self, address: int, count: int,
                                   device_id: int) -> list[int]:
        return await (await self._linked()).read_input_registers(address, count, device_id)

    async def write_coil(self, address: int, value: bool, device_id: int) -> None:
        await (await self._linked()).write_coil(address, value, device_id)

    async def write_register(self, address: int, value: int, device_id: int) -> None:
        await (await self._linked()).write_register(address, value, device_id)

    async def write_registers(self, address: int, values: Sequence[int],
                              device_id: int) -> None:
        await (await self._linked()).write_registers(address, values, device_id)

    def close(self) -> None:
        """Drop the client connection (the next request connects again); the device keeps
        serving until it is closed itself."""
        if self._link is not None:
            self._link.close()
