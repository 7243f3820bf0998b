"""Switching devices with two coils (breakers, disconnectors) and their double commands.

config.py declares and checks its section, source.py holds the executor and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.switchgear.config import SECTION, SWITCHGEAR, parse_switchgear

COMPONENT = Component(
    "switchgear", SWITCHGEAR, lambda config: config.section(SWITCHGEAR) is not None,
    "rtu.sources.switchgear.source:build", point_source=SWITCHGEAR,
    command_target=(SWITCHGEAR, "a breaker's double command or a tap changer's step"),
    schema=SECTION, parse=parse_switchgear)
