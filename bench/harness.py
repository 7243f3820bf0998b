"""The in-process harness of the event-path benchmarks (bench/soe.py, bench/journal.py): an
Outstation over POINTS single points, no sockets, and events made as fast as one loop can
make them, a loop turn every CHUNK events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from rtu.iec.outstation import CommandRequest, Done, Outstation, OutstationConfig, Session
from rtu.points.database import PointDatabase
from rtu.points.model import Point, PointKind
from rtu.supervisor import SystemClock

CHUNK = 100  # events per loop turn
POINTS = 1000


class _NoExecutor:
    def execute(self, request: CommandRequest, done: Done) -> None:
        done(False)


def outstation(events: int, points: int = POINTS) -> tuple[PointDatabase, Outstation]:
    """``points`` single points p0.., all off, and an Outstation whose queues hold ``events``."""
    db = PointDatabase([Point(f"p{i}", 1 + i, PointKind.SINGLE) for i in range(points)])
    for i in range(points):
        db.update(f"p{i}", False, timestamp=time.time())
    return db, Outstation(db, OutstationConfig(event_queue_size=events + 10), SystemClock(),
                          _NoExecutor())


def take_all(session: Session) -> int:
    """Take every output the session has (as a master that reads them all); how many."""
    sent = 0
    while session.next_output() is not None:
        sent += 1
    return sent


async def make_events(db: PointDatabase, events: int,
                      after_turn: Callable[[], Awaitable[None]]) -> None:
    """Toggle the points in turn, ``events`` times; after every CHUNK a loop turn
    (``asyncio.sleep(0)``), then ``after_turn()``."""
    values = [False] * POINTS
    for n in range(events):
        i = n % POINTS
        values[i] = not values[i]
        db.update(f"p{i}", values[i], timestamp=time.time())
        if n % CHUNK == CHUNK - 1:
            await asyncio.sleep(0)
            await after_turn()
