"""IEC 61850 devices read over MMS, and their control objects.

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
    from rtu.sources.iec61850.config import iec61850_config

    return bool(iec61850_config(config).devices)


COMPONENT = Component(
    "iec61850", "iec61850", _enabled,
    "rtu.sources.iec61850.component:build", point_source="iec61850",
    command_target=("iec61850", "a control object of an [[iec61850.devices]] entry"),
    schema="rtu.sources.iec61850.config:IEC61850_SECTION",
    parse="rtu.sources.iec61850.config:parse_iec61850", listed_after="journal")
