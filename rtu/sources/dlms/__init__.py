"""DLMS/COSEM meters.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.dlms.config import DLMS, DLMS_SOURCE, dlms_config, parse_dlms

COMPONENT = Component(
    "dlms", "dlms",
    lambda config: bool(dlms_config(config).meters) or dlms_config(config).push is not None,
    "rtu.sources.dlms.component:build", point_source=DLMS_SOURCE, schema=DLMS, parse=parse_dlms,
    listed_after="iec61850")
