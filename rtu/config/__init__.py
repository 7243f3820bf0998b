"""The station configuration: a TOML file turned into frozen dataclasses.

:func:`load_config` reads a file, :func:`parse_config` validates an already-parsed TOML
document, :func:`bench_config` loads the built-in bench profile (``rtu/examples/bench.toml``)
and :func:`config_schema` gives the JSON Schema of the file (``rtu config-schema``). The
annotated ``rtu/examples/example.toml`` documents every key.

This package holds the shared machinery only: :mod:`rtu.config.reader` (error collection,
typed readers, hints), :mod:`rtu.config.locate` (line numbers), :mod:`rtu.config.schema`
(section declarations, JSON Schema) and :mod:`rtu.config.document` (the sections in order).
Each section is declared and checked beside the component it configures (e.g.
``rtu/sources/modbus/config.py``). Key names are public promises (DESIGN.md rule 9): rename
one only with a deprecation path.

The names below are re-exported for ``from rtu.config import X``. They are loaded on first
use: a section module imports :mod:`rtu.config.reader`, which runs this file first, so it
must not import the sections itself.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from rtu.config.document import (
        AppConfig,
        bench_config,
        config_schema,
        load_config,
        parse_config,
    )
    from rtu.config.reader import ConfigError, parse_listen, point_table_index
    from rtu.config.service import JournalConfig, LoggingConfig, ServiceConfig
    from rtu.config.station import FieldSizes
    from rtu.sources.adc.config import AdcChannelConfig, AdcConfig, AdcDeviceConfig
    from rtu.sources.gpio.config import GpioConfig, GpioDoubleConfig, GpioInputConfig
    from rtu.sources.modbus.config import (
        Endian,
        ModbusBusConfig,
        ModbusConfig,
        ModbusDeviceConfig,
        ModbusPoll,
        ModbusRead,
        ModbusTable,
        ModbusType,
    )
    from rtu.sources.relays.config import CommandConfig, RelayConfig
    from rtu.sources.simulated.config import SimulationConfig

__all__ = [
    "AdcChannelConfig",
    "AdcConfig",
    "AdcDeviceConfig",
    "AppConfig",
    "CommandConfig",
    "ConfigError",
    "Endian",
    "FieldSizes",
    "GpioConfig",
    "GpioDoubleConfig",
    "GpioInputConfig",
    "JournalConfig",
    "LoggingConfig",
    "ModbusBusConfig",
    "ModbusConfig",
    "ModbusDeviceConfig",
    "ModbusPoll",
    "ModbusRead",
    "ModbusTable",
    "ModbusType",
    "RelayConfig",
    "ServiceConfig",
    "SimulationConfig",
    "bench_config",
    "config_schema",
    "load_config",
    "parse_config",
    "parse_listen",
    "point_table_index",
]

_HOME: Final = {  # name -> the module that defines it
    **dict.fromkeys(("AppConfig", "bench_config", "config_schema", "load_config",
                     "parse_config"), "rtu.config.document"),
    **dict.fromkeys(("ConfigError", "parse_listen", "point_table_index"), "rtu.config.reader"),
    **dict.fromkeys(("JournalConfig", "LoggingConfig", "ServiceConfig"), "rtu.config.service"),
    "FieldSizes": "rtu.config.station",
    **dict.fromkeys(("AdcChannelConfig", "AdcConfig", "AdcDeviceConfig"),
                    "rtu.sources.adc.config"),
    **dict.fromkeys(("GpioConfig", "GpioDoubleConfig", "GpioInputConfig"),
                    "rtu.sources.gpio.config"),
    **dict.fromkeys(("Endian", "ModbusBusConfig", "ModbusConfig", "ModbusDeviceConfig",
                     "ModbusPoll", "ModbusRead", "ModbusTable", "ModbusType"),
                    "rtu.sources.modbus.config"),
    **dict.fromkeys(("CommandConfig", "RelayConfig"), "rtu.sources.relays.config"),
    "SimulationConfig": "rtu.sources.simulated.config",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
