"""Start-up imports no optional gateway the configuration does not use (issue 12 item 6).

The bench profile uses no IEC 61850 device, DLMS meter or TLS: building its outstation must
not import open61850, the DLMS stack or rtu.servers.tls. Its one Modbus bus (the device it
serves itself, 5301/3301) loads the Modbus source, and pymodbus once that source first runs;
the bench without that bus must load neither. tests/integration/test_startup_imports.py checks
the whole list at READY=1. Run in a fresh interpreter: this test process has
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
    its source and link are loaded; pymodbus itself only once the source first runs (after
    READY=1, rtu/supervisor.py), which the link's first request stands for here."""
    script = SCRIPT.replace("""config = dataclasses.replace(config, sections={
    k: v for k, v in config.sections.items() if k != "modbus"})""", "")
    modules = loaded_modules(script)
    assert {"rtu.sources.modbus.source", "hal.modbus_served", "hal.modbus"} <= modules
    assert not {m for m in modules if m.startswith(("pymodbus", "open61850"))}
    first_request = script.replace("Supervisor(config)\n", """Supervisor(config)
import asyncio
from hal.modbus import ModbusError, ModbusTcpSettings, PymodbusLink
async def request():
    link = PymodbusLink("probe", ModbusTcpSettings("127.0.0.1", 9, 0.2))
    try:
        await link.read_coils(0, 1, 1)
    except ModbusError:
        pass
    link.close()
asyncio.run(request())
""")
    assert "pymodbus.client" in loaded_modules(first_request)


# what reading a file imports of the registered sections (issue 21 item 1): their config
# modules only when the file has the section or a point names the component
SECTION_MODULES = tuple(f"rtu.sources.{name}.config" for name in (
    "modbus", "iec61850", "dlms", "switchgear", "calculated", "interlocks"))
PLAIN = """
[iec104]
listen = "127.0.0.1:2404"
[[relays]]
name = "k1"
driver = "sim"
[[points]]
name = "p1"
ioa = 1
kind = "single"
source = "sim"
"""
READ = """
import json, sys
from rtu.config import ConfigError, load_config
try:
    load_config(sys.argv[1])
except ConfigError as exc:
    print(json.dumps(exc.errors))
import rtu.cli, rtu.supervisor
print(json.dumps(sorted(sys.modules)))
"""


def read_modules(tmp_path: Path, text: str) -> tuple[set[str], list[str]]:
    """The modules loaded after reading ``text`` as a file, and its errors."""
    path = tmp_path / "rtu.toml"
    path.write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60, check=True)
    lines = done.stdout.splitlines()
    return set(json.loads(lines[-1])), json.loads(lines[0]) if len(lines) > 1 else []


def test_reading_a_file_imports_no_section_module_it_does_not_use(tmp_path: Path) -> None:
    modules, errors = read_modules(tmp_path, PLAIN)
    assert errors == []
    assert "rtu.config.document" in modules and "rtu.sources.relays.config" in modules
    assert sorted(m for m in modules if m.startswith(SECTION_MODULES)) == []
    assert "tomllib" in modules  # the file was read (no cache involved here)
    # no [iec101]: neither the 101 server nor its link layer (the registry's line is light)
    assert "rtu.servers.iec101_service" in modules
    assert not {"rtu.servers.iec101", "rtu.servers.iec101_config", "rtu.iec.cs101.link"} & modules


def test_a_section_or_a_point_naming_its_component_imports_its_module(tmp_path: Path) -> None:
    modules, errors = read_modules(tmp_path, PLAIN + '[interlocks]\n[[interlocks.rules]]\n'
                           'command = "p9"\ncondition = "p1 == 1"\n'
                           '[[points]]\nname = "p9"\nioa = 9\nkind = "single_command"\n'
                           'target = "k1"\n'
                           '[[points]]\nname = "m1"\nioa = 2\nkind = "float"\n'
                           'source = "modbus"\n')
    # the Modbus parser ran although the file has no [modbus]: it says what is missing
    assert any("modbus" in e for e in errors), errors
    found = {m for m in modules if m.startswith(SECTION_MODULES)}
    assert {"rtu.sources.interlocks.config", "rtu.sources.modbus.config"} <= found
    assert "rtu.sources.iec61850.config" not in found and "rtu.sources.dlms.config" not in found
