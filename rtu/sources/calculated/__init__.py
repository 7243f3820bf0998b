"""Calculated points: values computed from other points when they change (source = "calc").

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.
COMPONENT = Component(
    "calculated", "calculated", lambda config: config.section("calculated") is not None,
    "rtu.sources.calculated.source:build", point_source="calc",
    schema="rtu.sources.calculated.config:SECTION",
    parse="rtu.sources.calculated.config:parse_calculated")
