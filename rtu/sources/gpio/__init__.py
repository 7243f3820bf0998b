"""The board's digital inputs (and the GPIO lines relays drive).

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtu.components import Component

if TYPE_CHECKING:
    from rtu.config.reader import Reader
    from rtu.points.model import PointKind

GPIO_PREFIX = "gpio:"  # [[points]] source = "gpio:NAME"


def _check_source(p: Reader, value: str, path: str, kind: PointKind | None) -> str | None:
    """A point's "gpio:NAME" source (the config module is imported for such a point only)."""
    from rtu.sources.gpio.config import gpio_source

    return gpio_source(p, value, path, kind)


COMPONENT = Component(
    "gpio", "gpio",
    lambda config: (config.gpio_section is not None and bool(config.gpio_section.inputs))
    or any(r.driver == "gpio" for r in config.relays),
    "rtu.sources.gpio.source:build", point_source=GPIO_PREFIX, check_source=_check_source)
