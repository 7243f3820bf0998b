"""Executes accepted commands on relay outputs and reports their positions back.

ACT_TERM is only sent once ``done`` is called here, i.e. after the relay has really been set
(and, for a pulse, released again). A driver error gives a negative ACT_TERM, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from hal.interfaces import RelayOutput
from rtu.iec.asdu.types import DoublePointValue, Qu
from rtu.iec.outstation import CommandRequest, Done
from rtu.points.database import PointDatabase
from rtu.points.model import ChangeOrigin, PointKind

log = logging.getLogger(__name__)

_DCS_ON = 2
_QU_NAMES = {"persistent": Qu.PERSISTENT, "short": Qu.SHORT_PULSE, "long": Qu.LONG_PULSE}


class RelayExecutor:
    def __init__(
        self,
        db: PointDatabase,
        relays: Mapping[str, RelayOutput],
        *,
        short_pulse: float,
        long_pulse: float,
        default_qu: str = "persistent",
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.relays = dict(relays)
        self.durations = {Qu.SHORT_PULSE: short_pulse, Qu.LONG_PULSE: long_pulse}
        self.default_qu = _QU_NAMES[default_qu]
        self.wall = wall
        self._tasks: set[asyncio.Task[None]] = set()

    def execute(self, request: CommandRequest, done: Done) -> None:
        task = asyncio.get_running_loop().create_task(self._run(request, done))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def report_all(self) -> None:
        """Report every relay's position on its feedback points (at start-up)."""
        for point in self.db:
            if point.kind.is_command and point.target in self.relays and point.feedback:
                self._report(point.feedback, self.relays[point.target].get(), ChangeOrigin.FIELD)

    async def _run(self, request: CommandRequest, done: Done) -> None:
        point = request.point
        relay = self.relays.get(point.target or "")
        if relay is None:
            log.error("command %s: no relay %r", point.name, point.target)
            done(False)
            return
        if point.kind is PointKind.SINGLE_COMMAND:
            on = bool(request.value)
        elif point.kind is PointKind.DOUBLE_COMMAND:
            on = request.value == _DCS_ON
        else:
            log.error("command %s: a relay cannot execute %s", point.name, point.kind.value)
            done(False)
            return
        qu = Qu(request.qu) if request.qu else self.default_qu
        try:
            await asyncio.to_thread(relay.set, on)
            self._report_point(point.feedback, relay)
            if qu in self.durations:
                await asyncio.sleep(self.durations[qu])
                await asyncio.to_thread(relay.set, not on)
                self._report_point(point.feedback, relay)
        except Exception as exc:  # a driver fault is a failed command, not a crash
            log.error("command %s on relay %s failed: %s", point.name, relay.name, exc)
            done(False)
            return
        done(True)

    def _report_point(self, feedback: str | None, relay: RelayOutput) -> None:
        if feedback:
            self._report(feedback, relay.get(), ChangeOrigin.REMOTE_COMMAND)

    def _report(self, feedback: str, on: bool, origin: ChangeOrigin) -> None:
        kind = self.db.point(feedback).kind
        value: bool | int = on
        if kind is PointKind.DOUBLE:
            value = int(DoublePointValue.ON if on else DoublePointValue.OFF)
        self.db.update(feedback, value, timestamp=self.wall(), origin=origin)
