"""Modbus devices polled over TCP or a serial line.

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
    from rtu.sources.modbus.config import modbus_config

    return bool(modbus_config(config).devices)


COMPONENT = Component("modbus", "modbus", _enabled,
                      "rtu.sources.modbus.source:build", point_source="modbus",
                      schema="rtu.sources.modbus.config:MODBUS",
                      parse="rtu.sources.modbus.config:parse_modbus", listed_after="points",
                      serial_ports="rtu.sources.modbus.config:modbus_serial_ports",
                      command_target=("modbus",
                                      "a [[modbus.writes]] entry's register or coil"))
