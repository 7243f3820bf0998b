"""Analog inputs read from ADCs.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.adc.config import ADC_PREFIX, adc_source

COMPONENT = Component("adc", "adc", lambda config: bool(config.adc.devices), "rtu.sources.adc.source:build",
                      point_source=ADC_PREFIX, check_source=adc_source)
