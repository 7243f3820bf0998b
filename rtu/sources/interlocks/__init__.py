"""Interlocking: conditions on points that a command must meet, checked at select and execute.

config.py declares and checks its section, guard.py holds the guard and its ``build``; this
line registers it (rtu/components.py lists the folder). It feeds no point: it guards the
command path built by the components before it.
"""

from rtu.components import Component
from rtu.sources.interlocks.config import INTERLOCKS, SECTION, parse_interlocks

COMPONENT = Component(
    "interlocks", INTERLOCKS, lambda config: config.section(INTERLOCKS) is not None,
    "rtu.sources.interlocks.guard:build", schema=SECTION, parse=parse_interlocks)
