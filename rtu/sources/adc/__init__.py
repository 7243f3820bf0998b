"""Analog inputs read from ADCs.

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rtu.components import Component

if TYPE_CHECKING:
    from rtu.config.reader import Reader
    from rtu.points.model import PointKind

ADC_PREFIX = "adc:"  # [[points]] source = "adc:NAME"


def _check_source(p: Reader, value: str, path: str, kind: PointKind | None) -> str | None:
    """A point's "adc:NAME" source (the config module is imported for such a point only)."""
    from rtu.sources.adc.config import adc_source

    return adc_source(p, value, path, kind)


COMPONENT = Component("adc", "adc", lambda config: config.adc_section is not None
                      and bool(config.adc_section.devices), "rtu.sources.adc.source:build",
                      point_source=ADC_PREFIX, check_source=_check_source)
