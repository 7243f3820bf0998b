"""Calculated points: values computed from other points when they change (source = "calc").

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.calculated.config import CALC_SOURCE, SECTION, parse_calculated

COMPONENT = Component(
    "calculated", "calculated", lambda config: config.section("calculated") is not None,
    "rtu.sources.calculated.source:build", point_source=CALC_SOURCE, schema=SECTION,
    parse=parse_calculated)
