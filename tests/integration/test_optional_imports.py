"""Start-up imports no optional gateway the configuration does not use (issue 12 item 6).

The bench profile uses no IEC 61850 device, DLMS meter, Modbus bus or TLS: building its
outstation must not import open61850, the DLMS stack, pymodbus or rtu.servers.tls (ssl itself
comes with asyncio and is not checked). Run in a fresh interpreter: this test process has
imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
OPTIONAL = (
    "open61850", "pymodbus", "dlms_cosem", "hal.modbus", "hal.dlms_cosem", "hal.gpio",
    "rtu.servers.tls", "rtu.sources.modbus.source", "rtu.sources.iec61850.source",
    "rtu.sources.dlms.source",
)
SCRIPT = """
import json, sys
import rtu.cli
from rtu.config import bench_config
from rtu.supervisor import Supervisor
config = bench_config()
Supervisor(config)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(script: str) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_bench_profile_imports_no_optional_gateway() -> None:
    modules = loaded_modules(SCRIPT)
    assert "rtu.supervisor" in modules and "rtu.sources.simulated.source" in modules
    assert sorted(m for m in modules if m.startswith(OPTIONAL)) == []


def test_a_configured_gateway_is_imported() -> None:
    """The check above can fail: with a Modbus bus configured, pymodbus is loaded."""
    script = SCRIPT.replace("config = bench_config()", """
import dataclasses
from rtu.config import ModbusBusConfig, ModbusConfig, ModbusDeviceConfig
config = bench_config()
config = dataclasses.replace(config, sections={**config.sections, "modbus": ModbusConfig(
    buses=(ModbusBusConfig(name="b", type="tcp", host="127.0.0.1", port=1),),
    devices=(ModbusDeviceConfig(name="d", bus="b", unit_id=1, polls=()),))})
""")
    modules = loaded_modules(script)
    assert {"pymodbus", "rtu.sources.modbus.source"} <= modules
    assert "open61850" not in modules
