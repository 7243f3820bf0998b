"""Protection events from protection signals (source = "protection").

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.
COMPONENT = Component(
    "protection", "protection", lambda config: config.section("protection") is not None,
    "rtu.sources.protection.source:build", point_source="protection",
    schema="rtu.sources.protection.config:SECTION",
    parse="rtu.sources.protection.config:parse_protection")
