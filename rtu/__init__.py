"""IEC 60870-5-101/104 RTU outstation."""
