"""The outstation application layer shared by IEC 60870-5-101 and -104.

Modules: :mod:`.events` (the one owner of event state: queues, groups, hand-over),
:mod:`.session` (one master association), :mod:`.commands` (select-before-operate, execution,
termination), :mod:`.mapping` (points <-> information objects), :mod:`.outstation` (the ASDU
handlers and the API the rest of the program uses), :mod:`.settings`.
"""

from __future__ import annotations

from rtu.iec.outstation.commands import PULSE_OF_QU, command_request
from rtu.iec.outstation.events import (
    EventGroup,
    EventJournal,
    EventQueue,
    EventRecord,
    EventStreams,
    Output,
)
from rtu.iec.outstation.mapping import COMMAND_KINDS, MONITOR_TYPES, counter_object, monitor_object
from rtu.iec.outstation.outstation import HANDLERS, Outstation
from rtu.iec.outstation.session import Session
from rtu.iec.outstation.settings import Clock, OutstationConfig
from rtu.points.commands import CommandExecutor, CommandRequest, ConfirmingExecutor, Done

__all__ = [
    "COMMAND_KINDS",
    "HANDLERS",
    "MONITOR_TYPES",
    "PULSE_OF_QU",
    "Clock",
    "CommandExecutor",
    "CommandRequest",
    "ConfirmingExecutor",
    "Done",
    "EventGroup",
    "EventJournal",
    "EventQueue",
    "EventRecord",
    "EventStreams",
    "Output",
    "Outstation",
    "OutstationConfig",
    "Session",
    "command_request",
    "counter_object",
    "monitor_object",
]
