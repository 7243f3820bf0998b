"""Analog inputs read from ADCs.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

COMPONENT = Component("adc", "adc", lambda config: bool(config.adc.devices), "rtu.sources.adc.source:build")
