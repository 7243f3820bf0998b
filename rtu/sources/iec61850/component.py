"""How the registry builds the IEC 61850 devices (source.py is long enough already)."""

from __future__ import annotations

from rtu.components import Field, Parts
from rtu.points.commands import CommandExecutor
from rtu.sources.iec61850.config import iec61850_config
from rtu.sources.iec61850.source import Iec61850Commands, iec61850_sources


def build(field: Field) -> Parts:
    """One source per device; the commands mapped to their control objects go to them
    (ACT_CON/ACT_TERM follow the device), every other command on down the path."""
    sources = iec61850_sources(iec61850_config(field.config), field.db)

    def commands(executor: CommandExecutor) -> CommandExecutor:
        return Iec61850Commands(sources, executor)

    return Parts(sources=list(sources), commands=commands, provides=tuple(sources))
