"""A field source added the documented way (docs/developing.md), for tests only: this folder
and one line in rtu.components.REGISTRY, nothing else.

``[ticker]`` counts up the counter points with ``source = "ticker"`` every ``interval``.
"""

from rtu.components import Component

COMPONENT = Component("ticker", "ticker", lambda config: config.section("ticker") is not None,
                      "tests.unit.fakesource.source:build", point_source="ticker",
                      schema="tests.unit.fakesource.config:SECTION",
                      parse="tests.unit.fakesource.config:parse_ticker")
