"""The composition root: builds the database, sources, outstation and servers, and runs them."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from contextlib import suppress

from hal.fake import FakeRelay
from rtu.config import AppConfig
from rtu.iec.outstation import Outstation
from rtu.notify import notify
from rtu.points.database import PointDatabase
from rtu.servers.iec101 import Iec101Server
from rtu.servers.iec104 import Iec104Server
from rtu.sources.base import Source
from rtu.sources.relays import RelayExecutor
from rtu.sources.simulated import SimulatedField

log = logging.getLogger(__name__)

RESTART_BACKOFF_FIRST = 1.0  # seconds before a failed source is restarted; doubles each time
RESTART_BACKOFF_MAX = 30.0


class SystemClock:
    """Monotonic time for protocol timers, system time for time tags."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class Supervisor:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.db = PointDatabase(config.points)
        self.relays = {r.name: FakeRelay(r.name, r.initial) for r in config.relays}
        c = config.commands
        self.executor = RelayExecutor(self.db, self.relays, short_pulse=c.short_pulse,
                                      long_pulse=c.long_pulse, default_qu=c.default_qu)
        s = config.simulation
        self.sim = SimulatedField(self.db, seed=s.seed, digital_interval=s.digital_interval,
                                  analog_interval=s.analog_interval,
                                  counter_interval=s.counter_interval)
        # The state read at start-up is what GI reports after end of initialisation; it is
        # not a stream of spontaneous changes, so it is read before the outstation subscribes.
        self.sim.initialise()
        self.executor.report_all()
        self.outstation = Outstation(self.db, config.station, SystemClock(), self.executor,
                                     on_reset_process=self._reset_process)
        self.iec104 = Iec104Server(self.outstation, config.iec104) if config.iec104 else None
        self.iec101 = Iec101Server(self.outstation, config.iec101) if config.iec101 else None
        # field sources and serial servers, each run under _supervise (restart with backoff)
        self.sources: list[Source] = [self.sim]
        if self.iec101 is not None:
            self.sources.append(self.iec101)
        self._stop = asyncio.Event()

    async def start(self) -> None:
        """Open every server; returns once all are listening."""
        if self.iec104 is not None:
            await self.iec104.start()

    async def run(self) -> None:
        """Start, tell systemd we are ready, and run until stop() or SIGTERM/SIGINT."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        await self.start()
        notify("READY=1")
        log.info("outstation ready: %d points, common address %d (%s)", len(self.db),
                 self.config.station.common_address, self.config.source)
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(self._supervise(source)) for source in self.sources]
                await self._stop.wait()
                for task in tasks:
                    task.cancel()
        finally:
            notify("STOPPING=1")
            await self.close()

    async def _supervise(self, source: Source) -> None:
        """Run a source for ever: a failure is logged and the source restarted with backoff."""
        delay = RESTART_BACKOFF_FIRST
        while True:
            started = asyncio.get_running_loop().time()
            try:
                await source.run()
                log.warning("source %s stopped by itself; restarting in %.0f s", source.name, delay)
            except Exception:
                log.exception("source %s failed; restarting in %.0f s", source.name, delay)
            if asyncio.get_running_loop().time() - started > RESTART_BACKOFF_MAX:
                delay = RESTART_BACKOFF_FIRST  # it ran fine for a while: start the backoff again
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_BACKOFF_MAX)

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self.iec104 is not None:
            await self.iec104.close()
        self.outstation.close()

    def _reset_process(self, qrp: int) -> None:
        log.warning("reset of process (QRP %d) requested by a master: restarting", qrp)
        self.stop()
