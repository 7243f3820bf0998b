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
    assert list(field.parts) == ["simulation", "relays"]
    assert [s.name for s in field.sources] == ["simulation"]
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
