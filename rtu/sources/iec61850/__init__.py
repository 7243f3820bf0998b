"""IEC 61850 devices read over MMS, and their control objects.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.iec61850.config import (
    IEC61850,
    IEC61850_SECTION,
    iec61850_config,
    parse_iec61850,
)

COMPONENT = Component(
    "iec61850", IEC61850, lambda config: bool(iec61850_config(config).devices),
    "rtu.sources.iec61850.component:build", point_source=IEC61850,
    command_target=(IEC61850, "a control object of an [[iec61850.devices]] entry"),
    schema=IEC61850_SECTION, parse=parse_iec61850, listed_after="journal")
