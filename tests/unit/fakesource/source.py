"""The ticker source and its build."""

from __future__ import annotations

import asyncio
import time

from rtu.components import Field, Parts
from rtu.points.database import PointDatabase
from tests.unit.fakesource.config import TickerConfig


class Ticker:
    name = "ticker"

    def __init__(self, db: PointDatabase, config: TickerConfig) -> None:
        self.db = db
        self.config = config
        self.count = 0

    def tick(self) -> None:
        self.count += 1
        for point in self.config.points:
            self.db.update(point, self.count, timestamp=time.time())

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval)
            self.tick()


def build(field: Field) -> Parts:
    config = field.config.section("ticker")
    assert isinstance(config, TickerConfig)
    ticker = Ticker(field.db, config)
    return Parts(sources=[ticker], initialise=[ticker.tick], provides=(ticker,))
