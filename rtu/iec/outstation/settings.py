"""The outstation's settings and the clock its driver injects."""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from rtu.frozen import frozen


class Clock(Protocol):
    """Injected by the driver; the cores never read a clock themselves."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...


class ClockSyncMode(Enum):
    """What a clock synchronisation command (C_CS_NA_1) changes."""

    OFFSET = "offset"  # an offset applied to the time tags this outstation creates
    SYSTEM = "system"  # the system clock itself (needs CAP_SYS_TIME: systemd/clock-sync.conf)


class CommandAgeAction(Enum):
    """What happens to a time-tagged command older (or newer) than max_command_age."""

    REFUSE = "refuse"  # negative ACT_CON (P/N 1)
    DROP = "drop"  # no answer at all


@frozen
class OutstationConfig:
    common_address: int = 1
    select_timeout: float = 10.0  # seconds between select and execute
    event_queue_size: int = 10_000  # per session and per group backlog
    # set IV in every time tag this outstation creates while neither the system clock is
    # synchronised (NTP) nor a master has synchronised it ([station] invalid_time_until_synced;
    # time_invalid_until_sync is its older name)
    invalid_time_until_synced: bool = True
    local_time: bool = False  # time tags in the system time zone with SU, not UTC
    clock_sync: ClockSyncMode = ClockSyncMode.OFFSET
    clock_offset_lifetime: float = 0.0  # seconds a master's clock offset is kept; 0 = forever
    # time-tagged commands (C_xx_TA_1) whose tag is further than this from station time are
    # not executed; 0 = no check
    max_command_age: float = 10.0
    command_age_action: CommandAgeAction = CommandAgeAction.REFUSE
    # check command age also while our own clock is not synchronised (it is logged then)
    check_age_unsynchronised: bool = True
    events_lost_ioa: int = 0  # the "events lost" point (health:events_lost); 0 = none
    # the other logical stations' own "events lost" points (health:events_lost points at their
    # common address), each telling its station's masters; a station without one is told by
    # events_lost_ioa's (not a key of its own: [[points]] with that source at that CA)
    station_events_lost_ioas: tuple[int, ...] = ()
    initialisation_cause: int = 0  # COI of M_EI_NA_1 after start-up: 0 = power on
    # originator addresses whose commands are accepted; empty = any. System commands (GI, clock
    # sync, read, test, reset process) are not restricted. Needs a 2-octet COT (101: cot_size 2).
    command_originators: frozenset[int] = frozenset()
    # periodic data (COT 1): (interrogation group, seconds) for points without their own period
    cyclic_groups: tuple[tuple[int, float], ...] = ()
    background_scan: float = 0.0  # seconds for one round of the background scan (COT 2); 0 = off
    # interrogations also answer the parameters of measured values (P_ME, COT 20-36): off by
    # default, they share the measured value's IOA with another type
    parameters_in_gi: bool = False

    def __post_init__(self) -> None:
        if self.select_timeout <= 0:
            raise ValueError("select_timeout must be > 0 seconds")
        if self.event_queue_size < 1:
            raise ValueError("event_queue_size must be >= 1")
        if self.max_command_age < 0:
            raise ValueError("max_command_age must be >= 0 seconds (0 = no check)")
        if self.clock_offset_lifetime < 0:
            raise ValueError("clock_offset_lifetime must be >= 0 seconds (0 = forever)")
        if self.clock_sync is ClockSyncMode.SYSTEM and not self.command_originators:
            raise ValueError('clock_sync = "system" steps the system clock: it needs '
                             "command_originators, the masters allowed to do so")
        for group, period in self.cyclic_groups:
            if not 1 <= group <= 16 or period <= 0:
                raise ValueError(f"cyclic_groups: group {group} every {period} s is not a group "
                                 "1..16 with a period > 0")
        if self.background_scan < 0:
            raise ValueError("background_scan must be >= 0 seconds")
        for originator in self.command_originators:
            if not 0 <= originator <= 255:
                raise ValueError(f"command_originators: {originator} is not an address 0..255")
