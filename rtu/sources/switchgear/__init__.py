"""Switching devices with two coils (breakers, disconnectors) and their double commands.

config.py declares and checks its section, source.py holds the executor and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.
COMPONENT = Component(
    "switchgear", "switchgear", lambda config: config.section("switchgear") is not None,
    "rtu.sources.switchgear.source:build", point_source="switchgear",
    command_target=("switchgear", "a breaker's double command or a tap changer's step"),
    schema="rtu.sources.switchgear.config:SECTION",
    parse="rtu.sources.switchgear.config:parse_switchgear")
