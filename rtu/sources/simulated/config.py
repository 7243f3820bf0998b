"""The ``[simulation]`` section: the simulated field of points with ``source = "sim"``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from rtu.config.reader import MISSING, Reader
from rtu.config.schema import Table, integer, seconds, table

__all__ = ["SIMULATION", "SimulationConfig", "parse_simulation"]

SIM_SOURCE: Final = "sim"  # the [[points]] source of a simulated point
SECTION: Final = Table("[simulation]", (
    integer("seed"),  # absent: a different simulated field on every run
    seconds("digital_interval", 10.0),  # mean seconds between changes of a digital point
    seconds("analog_interval", 2.0),
    seconds("counter_interval", 5.0),
))
SIMULATION: Final = table("simulation", SECTION)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    seed: int | None = None  # None: a different simulated field on every run
    digital_interval: float = SECTION.default("digital_interval")  # mean seconds between changes
    analog_interval: float = SECTION.default("analog_interval")
    counter_interval: float = SECTION.default("counter_interval")


def parse_simulation(p: Reader, value: object) -> SimulationConfig:
    tbl = SECTION.open(p, value, "simulation")
    seed = SECTION.key("seed").read(p, tbl, "simulation")
    digital, analog, counter = (
        SECTION.key(key).read(p, tbl, "simulation")
        for key in ("digital_interval", "analog_interval", "counter_interval"))
    if digital is None or analog is None or counter is None:
        return SimulationConfig()
    return SimulationConfig(seed=None if seed is MISSING else seed, digital_interval=digital,
                            analog_interval=analog, counter_interval=counter)
