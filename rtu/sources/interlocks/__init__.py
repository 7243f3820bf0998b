"""Interlocking: conditions on points that a command must meet, checked at select and execute.

config.py declares and checks its section, guard.py holds the guard and its ``build``; this
line registers it (rtu/components.py lists the folder). It feeds no point: it guards the
command path built by the components before it.
"""

from rtu.components import Component

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.
COMPONENT = Component(
    "interlocks", "interlocks", lambda config: config.section("interlocks") is not None,
    "rtu.sources.interlocks.guard:build",
    schema="rtu.sources.interlocks.config:SECTION",
    parse="rtu.sources.interlocks.config:parse_interlocks")
