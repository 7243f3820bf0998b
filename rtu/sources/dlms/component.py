"""How the registry builds the DLMS/COSEM meters (kept apart from source.py, which the
DLMS client core replaces)."""

from __future__ import annotations

from rtu.components import Field, Parts
from rtu.sources.base import Source
from rtu.sources.dlms.config import dlms_config
from rtu.sources.dlms.source import dlms_sources


def build(field: Field) -> Parts:
    config = dlms_config(field.config)
    sources: list[Source] = list(dlms_sources(config, field.db, field.state_dir))
    if config.push is not None:
        from rtu.sources.dlms.push import PushListener  # needs cryptography: when configured
        sources.append(PushListener(config.push, field.db, field.state_dir))
    return Parts(sources=sources)
