"""The protocol-neutral command model: what relays and field sources are asked to do.

A :class:`CommandRequest` is a command in the point database's terms: which command point
(and through its ``target`` which output), which state or value, how long to drive the output
(:class:`Pulse`), and who asked (the master's link and its originator address). The protocol
layer (rtu/iec/outstation/commands.py for IEC 60870-5-101/104) accepts the command, translates
it into a request and hands it to the :class:`CommandExecutor`; the executor calls ``done``
once the command has really been carried out (or has failed).

Values by command kind:

* single command: ``bool`` (on / off);
* double command: :class:`~rtu.points.model.DoublePointValue` ``ON`` or ``OFF``;
* regulating step: :class:`~rtu.points.model.StepDirection`;
* set-points: the value in engineering terms (a normalized set-point as a float in [-1, 1));
* bitstring: the 32-bit ``int``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Protocol, runtime_checkable

from rtu.frozen import frozen
from rtu.points.model import Point, PointKind

# what a relay output can execute: it switches on or off (rtu/sources/relays.py); set-points,
# bitstrings and regulating steps need a target that takes a value (an IEC 61850 control...)
RELAY_COMMAND_KINDS = frozenset({PointKind.SINGLE_COMMAND, PointKind.DOUBLE_COMMAND})


class Pulse(Enum):
    """How an output is driven: the output's own default, a short or long pulse, or latched."""

    DEFAULT = "default"
    SHORT = "short"
    LONG = "long"
    PERSISTENT = "persistent"


@frozen
class CommandRequest:
    """A command the protocol layer has accepted; the executor must carry it out."""

    point: Point  # the command point; ``point.target`` names the output it drives
    value: bool | int | float  # see the module docstring
    pulse: Pulse = Pulse.DEFAULT
    link: str = ""  # the master's association that asked (a 104 connection, a 101 line)
    originator: int = 0  # the master's originator address (0: none given)
    selected: bool = False  # the master selected the point first (select-before-operate)

    @property
    def output(self) -> str:
        """The output this command drives (the point's target; the point itself if none)."""
        return self.point.target or self.point.name


Done = Callable[[bool], None]


class CommandExecutor(Protocol):
    def execute(self, request: CommandRequest, done: Done) -> None:
        """Start the command; call ``done(success)`` when it has really been carried out."""


@runtime_checkable
class ConfirmingExecutor(Protocol):
    """An executor whose confirmations come from elsewhere (a device it forwards commands to).

    For a point it :meth:`confirms`, the protocol layer sends no confirmation of its own:
    ``select`` answers the master's select (``done(True)``: the selection holds), and
    ``operate`` answers an execute twice, ``confirmed`` when the device accepts it (a negative
    one ends the command) and then ``done`` when it has been carried out. ``cancel`` releases a
    selection the master withdrew (or that timed out). Each callback at most once, on the loop.
    """

    def confirms(self, point: Point) -> bool: ...

    def select(self, request: CommandRequest, done: Done) -> None: ...

    def cancel(self, request: CommandRequest) -> None: ...

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None: ...


@runtime_checkable
class CommandGuard(Protocol):
    """An executor that may refuse a command before it is accepted (interlocks, local control).

    The protocol layer asks :meth:`refusal` at select and again at execute, before it confirms
    either; a reason (for the log) refuses the command with a negative confirmation."""

    def refusal(self, request: CommandRequest) -> str | None: ...


class ForwardingExecutor:
    """The base of an executor that wraps the command path built so far (``Parts.commands``):
    everything it does not take itself goes on to ``inner``, including the confirming and
    guarding calls, so wrapping never hides what an inner executor does."""

    def __init__(self, inner: CommandExecutor) -> None:
        self.inner = inner

    def execute(self, request: CommandRequest, done: Done) -> None:
        self.inner.execute(request, done)

    def refusal(self, request: CommandRequest) -> str | None:
        inner = self.inner
        return inner.refusal(request) if isinstance(inner, CommandGuard) else None

    def confirms(self, point: Point) -> bool:
        inner = self.inner
        return isinstance(inner, ConfirmingExecutor) and inner.confirms(point)

    def select(self, request: CommandRequest, done: Done) -> None:
        inner = self.inner
        if not isinstance(inner, ConfirmingExecutor):  # confirms() said no: a caller's bug
            raise TypeError("select on an executor that confirms no point")
        inner.select(request, done)

    def cancel(self, request: CommandRequest) -> None:
        inner = self.inner
        if isinstance(inner, ConfirmingExecutor):
            inner.cancel(request)

    def operate(self, request: CommandRequest, confirmed: Done, done: Done) -> None:
        inner = self.inner
        if not isinstance(inner, ConfirmingExecutor):
            raise TypeError("operate on an executor that confirms no point")
        inner.operate(request, confirmed, done)
