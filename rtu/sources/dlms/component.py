"""How the registry builds the DLMS/COSEM meters (kept apart from source.py, which the
DLMS client core replaces)."""

from __future__ import annotations

from rtu.components import Field, Parts
from rtu.sources.dlms.source import dlms_sources


def build(field: Field) -> Parts:
    return Parts(sources=list(dlms_sources(field.config.dlms, field.db, field.state_dir)))
