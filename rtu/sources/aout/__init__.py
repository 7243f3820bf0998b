"""Analogue outputs on the board (PWM, DAC) driven by set-points.

config.py declares and checks its section, executor.py holds the command executor and its
``build``; this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.aout.config import ANALOG_OUTPUT, SECTION, SECTION_NAME, parse_analog_outputs

COMPONENT = Component(
    "analog_outputs", SECTION_NAME, lambda config: config.section(SECTION_NAME) is not None,
    "rtu.sources.aout.executor:build",
    command_target=(ANALOG_OUTPUT, "an [[analog_outputs.channels]] entry's PWM or DAC output"),
    schema=SECTION, parse=parse_analog_outputs)
