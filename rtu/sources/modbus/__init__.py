"""Modbus devices polled over TCP or a serial line.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.modbus.config import MODBUS, MODBUS_SOURCE, modbus_config, parse_modbus

COMPONENT = Component("modbus", "modbus", lambda config: bool(modbus_config(config).devices),
                      "rtu.sources.modbus.source:build", point_source=MODBUS_SOURCE,
                      schema=MODBUS, parse=parse_modbus, listed_after="points",
                      command_target=(MODBUS_SOURCE,
                                      "a [[modbus.writes]] entry's register or coil"))
