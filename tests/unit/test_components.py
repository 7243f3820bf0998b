"""rtu/components.py: the registry of field sources, and the supervisor built from it."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from rtu.components import REGISTRY, Component, Parts, build_field, components
from rtu.config import bench_config, parse_config
from rtu.config.document import DOCUMENT
from rtu.points.database import PointDatabase

ROOT = Path(__file__).parents[2]


def test_every_registered_folder_has_one_component_for_a_section_of_the_file() -> None:
    found = components()
    assert [c.name for c in found] == [c.name for c in found if isinstance(c, Component)]
    assert len({c.name for c in found}) == len(REGISTRY)
    sections = set(DOCUMENT.names)
    assert all(c.section in sections for c in found), [c.section for c in found]
    for name, component in zip(REGISTRY, found, strict=True):
        assert component.build.startswith(f"{name}."), component.build


def test_the_bench_profile_builds_only_what_it_enables() -> None:
    config = bench_config()
    field = build_field(config, PointDatabase(config.points), lambda: Path("/nonexistent"))
    assert list(field.parts) == ["simulation", "relays", "switchgear", "calculated", "interlocks"]
    assert [s.name for s in field.sources] == ["simulation", "calculated"]
    assert field.live_sections() == {"commands"}


def test_a_registry_mistake_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    module = importlib.import_module("rtu.sources.modbus.source")
    monkeypatch.setattr(module, "build", lambda field: [])
    config = parse_config({
        "points": [{"name": "p", "ioa": 1, "kind": "float", "source": "modbus"}],
        "modbus": {"buses": [{"name": "b", "type": "tcp", "host": "127.0.0.1"}],
                   "devices": [{"name": "d", "bus": "b", "unit_id": 1, "polls": [
                       {"interval": 1.0, "reads": [
                           {"point": "p", "table": "holding", "address": 0,
                            "type": "float32"}]}]}]},
    }, "t.toml")
    with pytest.raises(TypeError, match="returned list, not Parts"):
        build_field(config, PointDatabase(config.points), lambda: Path("/nonexistent"))
    assert Parts().sources == []


def test_the_supervisor_imports_no_source_module_to_compose() -> None:
    """The composition loop is the registry's: rtu/supervisor.py imports no source's build
    (only the classes its compatibility accessors name)."""
    tree = ast.parse((ROOT / "rtu" / "supervisor.py").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    for module in imported:
        if module.startswith("rtu.sources."):
            names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                     and node.module == module for alias in node.names}
            assert not names & {"build", "modbus_sources", "dlms_sources", "iec61850_sources",
                                "build_adc_sources", "build_digital_source", "open_field_gpio",
                                "RelayExecutor"}, (module, names)


ADDED_SOURCE = """
import json, sys
import rtu.components
rtu.components.REGISTRY = (*rtu.components.REGISTRY, "tests.unit.fakesource")
from rtu.config import ConfigError, config_schema, parse_config
from rtu.supervisor import Supervisor
from tests.unit.fakesource.source import Ticker

points = [{"name": "n", "ioa": 1, "kind": "counter", "source": "ticker"}]
config = parse_config({"iec104": {"enabled": False}, "points": points,
                       "ticker": {"interval": 0.5, "points": ["n"]}}, "t.toml")
sup = Supervisor(config)
out = {"sources": [s.name for s in sup.sources], "value": sup.db.value("n").value,
       "ticks": sup.provided(Ticker).count,
       "schema": json.loads(config_schema())["properties"]["ticker"]["properties"]["interval"]}
try:
    parse_config({"points": points, "ticker": {"intervall": 1}}, "t.toml")
except ConfigError as exc:
    out["errors"] = exc.errors
print(json.dumps(out))
"""


def test_a_source_added_as_a_folder_and_one_registry_line_works() -> None:
    """docs/developing.md's recipe, followed by tests/unit/fakesource: the configuration
    reads its section, rtu config-schema shows it, the supervisor builds and runs it."""
    import json
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", ADDED_SOURCE], capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60,
                          check=True)
    out = json.loads(done.stdout.splitlines()[-1])
    assert out["sources"] == ["simulation", "ticker"]
    assert out["value"] == 1 and out["ticks"] == 1  # read at start-up
    assert out["schema"] == {"type": "number", "exclusiveMinimum": 0.0, "default": 1.0}
    assert out["errors"] == [
        ("t.toml: ticker.intervall: unknown key (did you mean 'interval'?); expected one of "
         "interval, points"),
        "t.toml: points[0].source: expected ticker.points to list 'n', got no such entry",
    ]
