"""The simulated field: points with source = "sim" (always built: `rtu sim set`).

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component
from rtu.sources.simulated.config import SIM_SOURCE

COMPONENT = Component("simulation", "simulation", lambda config: True, "rtu.sources.simulated.source:build",
                      point_source=SIM_SOURCE)
