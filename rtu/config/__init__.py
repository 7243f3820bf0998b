"""rtu/config: the configuration file (see parser.py)."""

from rtu.config.parser import *  # noqa: F403
