"""DLMS/COSEM meters.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtu.components import Component

if TYPE_CHECKING:
    from rtu.config import AppConfig

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.


def _enabled(config: AppConfig) -> bool:
    from rtu.sources.dlms.config import dlms_config

    dlms = dlms_config(config)
    return bool(dlms.meters) or dlms.push is not None


COMPONENT = Component(
    "dlms", "dlms", _enabled,
    "rtu.sources.dlms.component:build", point_source="dlms",
    schema="rtu.sources.dlms.config:DLMS", parse="rtu.sources.dlms.config:parse_dlms",
    listed_after="iec61850", serial_ports="rtu.sources.dlms.config:dlms_serial_ports")
