"""DLMS/COSEM meters.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.dlms.config import DLMS_SOURCE

COMPONENT = Component(
    "dlms", "dlms", lambda config: bool(config.dlms.meters) or config.dlms.push is not None,
    "rtu.sources.dlms.component:build", point_source=DLMS_SOURCE)
