"""Protection events from protection signals (source = "protection").

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.protection.config import PROTECTION_SOURCE, SECTION, parse_protection

COMPONENT = Component(
    "protection", "protection", lambda config: config.section("protection") is not None,
    "rtu.sources.protection.source:build", point_source=PROTECTION_SOURCE, schema=SECTION,
    parse=parse_protection)
