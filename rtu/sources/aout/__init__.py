"""Analogue outputs on the board (PWM, DAC) driven by set-points.

config.py declares and checks its section, executor.py holds the command executor and its
``build``; this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

# The registration imports nothing of its folder: config.py only when the file has the
# section or a point names the component (rtu/components.py), the rest when enabled.
COMPONENT = Component(
    "analog_outputs", "analog_outputs",
    lambda config: config.section("analog_outputs") is not None,
    "rtu.sources.aout.executor:build",
    command_target=("analog_output", "an [[analog_outputs.channels]] entry's PWM or DAC output"),
    schema="rtu.sources.aout.config:SECTION",
    parse="rtu.sources.aout.config:parse_analog_outputs")
