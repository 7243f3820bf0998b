"""The dlms field source: its configuration section (config.py) and its source (source.py)."""
