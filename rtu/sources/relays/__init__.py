"""Relay outputs: what commands switch (always built: the command path ends here).

config.py declares and checks its section, source.py holds the source and its ``build``;
this line registers it (rtu/components.py lists the folder).
"""

from rtu.components import Component

COMPONENT = Component("relays", "relays", lambda config: True, "rtu.sources.relays.component:build")
