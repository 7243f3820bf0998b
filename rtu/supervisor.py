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
from rtu.servers.iec104 import Iec104Server
from rtu.sources.relays import RelayExecutor
from rtu.sources.simulated import SimulatedField

log = logging.getLogger(__name__)


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
                sim = tg.create_task(self.sim.run())
                await self._stop.wait()
                sim.cancel()
        finally:
            notify("STOPPING=1")
            await self.close()

    def stop(self) -> None:
        self._stop.set()

    async def close(self) -> None:
        if self.iec104 is not None:
            await self.iec104.close()
        self.outstation.close()

    def _reset_process(self, qrp: int) -> None:
        log.warning("reset of process (QRP %d) requested by a master: restarting", qrp)
        self.stop()
