"""Start-up imports no optional gateway the configuration does not use (issue 12 item 6).

The bench profile uses no IEC 61850 device, DLMS meter or TLS: building its outstation must
not import open61850, the DLMS stack or rtu.servers.tls (ssl itself comes with asyncio and is
not checked). Its one Modbus bus (the device it serves itself, 5301/3301) loads pymodbus; the
bench without that bus must not. Run in a fresh interpreter: this test process has
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
import dataclasses, json, sys
import rtu.cli
from rtu.config import bench_config
from rtu.supervisor import Supervisor
config = bench_config()
config = dataclasses.replace(config, sections={
    k: v for k, v in config.sections.items() if k != "modbus"})
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
    """The check above can fail: with the bench's Modbus bus (a device it serves itself),
    pymodbus is loaded."""
    script = SCRIPT.replace("""config = dataclasses.replace(config, sections={
    k: v for k, v in config.sections.items() if k != "modbus"})""", "")
    modules = loaded_modules(script)
    assert {"pymodbus", "rtu.sources.modbus.source", "hal.modbus_served"} <= modules
    assert "open61850" not in modules
