"""[ticker]: its keys declared once, its points checked against [[points]]."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rtu.config.reader import MISSING, Reader, point_table_index
from rtu.config.schema import Table, array, seconds, table
from rtu.points.model import Point, PointKind

TICKER_SOURCE = "ticker"
TABLE = Table("[ticker]", (seconds("interval", 1.0), array("points", ("string",), [])))
SECTION = table("ticker", TABLE)


@dataclass(frozen=True, slots=True)
class TickerConfig:
    interval: float = TABLE.default("interval")
    points: tuple[str, ...] = ()


def parse_ticker(p: Reader, value: object, points: Sequence[Point],
                 raw_points: object) -> TickerConfig | None:
    if value is MISSING:
        return None
    tbl = TABLE.open(p, value, "ticker")
    interval = TABLE.key("interval").read(p, tbl, "ticker")
    names = TABLE.key("points").value(tbl)
    by_name = {point.name: point for point in points}
    fed: list[str] = []
    for i, name in enumerate(names if isinstance(names, list) else []):
        point = by_name.get(name) if isinstance(name, str) else None
        if point is None or point.kind is not PointKind.COUNTER or point.source != TICKER_SOURCE:
            p.expected(f"ticker.points[{i}]", 'a counter point with source = "ticker"', name)
        else:
            fed.append(name)
    index = point_table_index(raw_points)
    for point in points:
        if point.source == TICKER_SOURCE and point.name not in fed:
            p.error(f"points[{index.get(point.name, '?')}].source",
                    f"expected ticker.points to list {point.name!r}, got no such entry")
    return None if interval is None else TickerConfig(interval=interval, points=tuple(fed))
