"""The outstation's settings and the clock its driver injects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    """Injected by the driver; the cores never read a clock themselves."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


@dataclass(frozen=True, slots=True)
class OutstationConfig:
    common_address: int = 1
    select_timeout: float = 10.0  # seconds between select and execute
    event_queue_size: int = 10_000  # per session and per group backlog
    time_invalid_until_sync: bool = False  # set IV in time tags until the first clock sync
    initialisation_cause: int = 0  # COI of M_EI_NA_1 after start-up: 0 = power on
    # originator addresses whose commands are accepted; empty = any. System commands (GI, clock
    # sync, read, test, reset process) are not restricted. Needs a 2-octet COT (101: cot_size 2).
    command_originators: frozenset[int] = frozenset()
    # periodic data (COT 1): (interrogation group, seconds) for points without their own period
    cyclic_groups: tuple[tuple[int, float], ...] = ()
    background_scan: float = 0.0  # seconds for one round of the background scan (COT 2); 0 = off

    def __post_init__(self) -> None:
        if self.select_timeout <= 0:
            raise ValueError("select_timeout must be > 0 seconds")
        if self.event_queue_size < 1:
            raise ValueError("event_queue_size must be >= 1")
        for group, period in self.cyclic_groups:
            if not 1 <= group <= 16 or period <= 0:
                raise ValueError(f"cyclic_groups: group {group} every {period} s is not a group "
                                 "1..16 with a period > 0")
        if self.background_scan < 0:
            raise ValueError("background_scan must be >= 0 seconds")
        for originator in self.command_originators:
            if not 0 <= originator <= 255:
                raise ValueError(f"command_originators: {originator} is not an address 0..255")
