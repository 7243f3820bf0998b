"""Runs a real Supervisor (the product's composition root) on its own event loop in a thread,
so that a peer in the test thread (c104, a raw socket) talks to it over loopback."""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable
from typing import Any, Self, TypeVar

from rtu.config import AppConfig
from rtu.points.model import PointKind
from rtu.servers.iec101 import Iec101Server
from rtu.supervisor import Supervisor

T = TypeVar("T")


def station_gi_objects(config: AppConfig) -> int:
    """How many information objects a station interrogation of ``config``'s station answers
    with: its monitored points other than counters (counted, not hard-coded, so that the bench
    profile can grow)."""
    ca = config.station.common_address
    return sum(1 for p in config.points
               if not p.kind.is_command and p.kind is not PointKind.COUNTER
               and not p.kind.is_protection and (p.common_address or ca) == ca)


def own_station_only(config: AppConfig) -> AppConfig:
    """``config`` without the points of other logical stations (the bench's station 2 at
    common address 2): for tests of one station's procedures, which count its one end of
    initialisation and what its interrogation answers."""
    ca = config.station.common_address
    return dataclasses.replace(config, points=tuple(
        p for p in config.points if (p.common_address or ca) == ca))


class OutstationThread:
    def __init__(self, config: AppConfig, port: int) -> None:
        assert config.iec104 is not None
        self.config = dataclasses.replace(
            config, iec104=dataclasses.replace(config.iec104, host="127.0.0.1", port=port)
        )
        self.port = port
        self.loop = asyncio.new_event_loop()
        self.supervisor: Supervisor | None = None
        self._serial_task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()

        async def start() -> Supervisor:
            sup = Supervisor(self.config)
            await sup.start()
            line = sup.server(Iec101Server)
            if line is not None:  # the serial server runs as a task, like in run()
                self._serial_task = asyncio.get_running_loop().create_task(line.run())
                await asyncio.wait_for(line.opened.wait(), 5)
            return sup

        self.supervisor = self.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._serial_task is not None:
            self.loop.call_soon_threadsafe(self._serial_task.cancel)
        if self.supervisor is not None:
            self.run(self.supervisor.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def run(self, coro: Any, timeout: float = 10.0) -> Any:
        """Run a coroutine on the outstation's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., T], *args: Any, timeout: float = 10.0) -> T:
        """Call ``fn(*args)`` on the outstation's loop (the database is not thread-safe)."""
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def invoke() -> None:
            try:
                fut.set_result(fn(*args))
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                fut.set_exception(exc)

        self.loop.call_soon_threadsafe(invoke)
        return fut.result(timeout)

    @property
    def sup(self) -> Supervisor:
        assert self.supervisor is not None
        return self.supervisor
