"""The interlock guard: refuses a command whose rules do not hold against the point database.

The outstation asks :meth:`Interlocks.refusal` at select and again at execute (a
:class:`~rtu.points.commands.CommandGuard`); a refusal is a negative ACT_CON and a log line
naming the rule and the part of its condition that failed, with the values it saw. A
condition on a calculated point (source = "calc") reads its current value and quality, as the
calculator last computed them; the log line then also shows the inputs it was computed from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rtu.components import Field, Parts
from rtu.points.commands import CommandExecutor, CommandRequest, ForwardingExecutor
from rtu.points.database import PointDatabase
from rtu.points.expression import failure, names, shown
from rtu.points.model import DoublePointValue, PointKind, PointValue
from rtu.sources.calculated.source import Calculator
from rtu.sources.interlocks.config import InterlockRule, InterlocksConfig


def direction(request: CommandRequest) -> str | None:
    """The direction of a single or double command ("on" or "off"); None for other kinds."""
    kind = request.point.kind
    if kind is PointKind.SINGLE_COMMAND:
        return "on" if request.value else "off"
    if kind is PointKind.DOUBLE_COMMAND:
        if request.value == DoublePointValue.ON:
            return "on"
        if request.value == DoublePointValue.OFF:
            return "off"
    return None


class Interlocks(ForwardingExecutor):
    """Guards the command path ``inner``: every command runs only if its rules hold."""

    def __init__(self, inner: CommandExecutor, db: PointDatabase,
                 rules: Sequence[InterlockRule],
                 calculated: Mapping[str, frozenset[str]] | None = None) -> None:
        super().__init__(inner)
        self.db = db
        self.calculated = dict(calculated or {})  # calculated point -> the points it reads
        self.rules: dict[str, list[InterlockRule]] = {}
        for rule in rules:
            self.rules.setdefault(rule.command, []).append(rule)

    def _lookup(self, name: str) -> tuple[PointKind, PointValue]:
        return self.db.point(name).kind, self.db.value(name)

    def refusal(self, request: CommandRequest) -> str | None:
        towards = direction(request)
        for rule in self.rules.get(request.point.name, ()):
            if rule.when != "any" and rule.when != towards:
                continue
            failed = failure(rule.condition, self._lookup)
            if failed is not None:
                return f"interlock {rule.text!r} not met: {failed}" + self._inputs(rule)
        return super().refusal(request)

    def _inputs(self, rule: InterlockRule) -> str:
        """The inputs of the calculated points ``rule`` reads, with their values (for the log)."""
        parts = []
        for name in sorted(names(rule.condition)):
            inputs = self.calculated.get(name)
            if inputs:
                parts.append(f"{name} is calculated from " + ", ".join(
                    f"{i} = {shown(*self._lookup(i))}" for i in sorted(inputs)))
        return "".join(f"; {part}" for part in parts)


def build(field: Field) -> Parts:
    config = field.config.section("interlocks")
    assert isinstance(config, InterlocksConfig)

    calculator = field.get(Calculator)
    calculated = ({name: f.inputs() for name, f in calculator.formulas.items()}
                  if calculator is not None else {})

    def commands(executor: CommandExecutor) -> CommandExecutor:
        return Interlocks(executor, field.db, config.rules, calculated)

    return Parts(commands=commands)
