"""The modbus field source: its configuration section (config.py) and its source (source.py)."""
