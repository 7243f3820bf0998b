"""The ``[simulation]`` section: the simulated field of points with ``source = "sim"``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, array, integer, seconds, table
from rtu.frozen import frozen
from rtu.points.model import Point

__all__ = ["SIMULATION", "SimulationConfig", "check_manual", "parse_simulation"]

SIM_SOURCE: Final = "sim"  # the [[points]] source of a simulated point
SECTION: Final = Table("[simulation]", (
    integer("seed"),  # absent: a different simulated field on every run
    seconds("digital_interval", 10.0),  # mean seconds between changes of a digital point
    seconds("analog_interval", 2.0),
    seconds("counter_interval", 5.0),
    # simulated points the simulation leaves alone: only `rtu sim set` changes them
    array("manual", ("string",), [], doc='names of points with source = "sim"'),
))
SIMULATION: Final = table("simulation", SECTION)


@frozen
class SimulationConfig:
    seed: int | None = None  # None: a different simulated field on every run
    digital_interval: float = SECTION.default("digital_interval")  # mean seconds between changes
    analog_interval: float = SECTION.default("analog_interval")
    counter_interval: float = SECTION.default("counter_interval")
    manual: tuple[str, ...] = ()  # set by hand only (`rtu sim set`), never stepped


def parse_simulation(p: Reader, value: object) -> SimulationConfig:
    tbl = SECTION.open(p, value, "simulation")
    seed = SECTION.key("seed").read(p, tbl, "simulation")
    digital, analog, counter = (
        SECTION.key(key).read(p, tbl, "simulation")
        for key in ("digital_interval", "analog_interval", "counter_interval"))
    manual = _manual(p, tbl)
    if digital is None or analog is None or counter is None or manual is None:
        return SimulationConfig()
    return SimulationConfig(seed=None if seed is MISSING else seed, digital_interval=digital,
                            analog_interval=analog, counter_interval=counter, manual=manual)


def _manual(p: Reader, tbl: Mapping[Any, Any]) -> tuple[str, ...] | None:
    """The names in ``manual`` (which points they are is checked against [[points]] by
    :func:`check_manual`, read later)."""
    value = SECTION.key("manual").value(tbl)
    if not isinstance(value, list):
        p.expected("simulation.manual", 'an array of names of points with source = "sim"', value)
        return None
    names: list[str] = []
    for i, item in enumerate(value):
        name = p.string(item, f"simulation.manual[{i}]", "a point name")
        if name is None:
            return None
        names.append(name)
    return tuple(names)


def check_manual(p: Reader, simulation: SimulationConfig, points: Sequence[Point]) -> None:
    """Each name in ``simulation.manual`` is a point with source = "sim"."""
    sim = {point.name for point in points if point.source == SIM_SOURCE}
    for i, name in enumerate(simulation.manual):
        if name not in sim:
            p.expected(f"simulation.manual[{i}]", 'the name of a point with source = "sim"',
                       name)
