"""The board's digital inputs (and the GPIO lines relays drive).

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.gpio.config import GPIO_PREFIX, gpio_source

COMPONENT = Component(
    "gpio", "gpio",
    lambda config: bool(config.gpio.inputs) or any(r.driver == "gpio" for r in config.relays),
    "rtu.sources.gpio.source:build", point_source=GPIO_PREFIX, check_source=gpio_source)
