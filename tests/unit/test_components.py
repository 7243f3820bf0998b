"""rtu/components.py: the registry of field sources, and the supervisor built from it."""

from __future__ import annotations

import ast
import asyncio
import dataclasses
import importlib
from pathlib import Path

import pytest

from rtu.components import (
    REGISTRY,
    Component,
    Parts,
    ServerComponent,
    build_field,
    components,
    server_components,
)
from rtu.config import AppConfig, bench_config, parse_config
from rtu.config.document import DOCUMENT
from rtu.iec.asdu.codec import PROFILE_104, AsduProfile
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
    assert list(field.parts) == ["simulation", "relays", "modbus", "switchgear", "calculated",
                                 "protection", "interlocks", "files"]
    assert [s.name for s in field.sources] == ["simulation", "modbus:bench", "calculated"]
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


def test_the_supervisor_imports_no_source_or_server_module() -> None:
    """The composition loop is the registry's: rtu/supervisor.py imports no source and no
    server (only the Source protocol), and names no kind."""
    text = (ROOT / "rtu" / "supervisor.py").read_text(encoding="utf-8")
    tree = ast.parse(text)
    imported = {node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert {m for m in imported if m.startswith(("rtu.sources.", "rtu.servers."))} == {
        "rtu.sources.base"}
    docstrings = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    used |= {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and id(node) not in docstrings}
    for kind in ("iec104", "iec101", "Iec104Server", "Iec101Server", "SimulatedField",
                 "Relays", "Board", "modbus", "iec61850", "dlms", "sim", "relays"):
        assert not any(kind in name for name in used), kind


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


# -- protocol servers --------------------------------------------------------------------------
def test_the_servers_are_registered_and_built_when_enabled() -> None:
    from rtu.control import status_snapshot
    from rtu.servers.iec101 import Iec101Server
    from rtu.servers.iec104 import Iec104Server
    from rtu.supervisor import Supervisor

    assert [c.name for c in server_components()] == ["iec104", "iec101"]
    assert all(isinstance(c, ServerComponent) for c in server_components())
    sup = Supervisor(bench_config())  # 104 on, no 101
    assert list(sup.servers) == ["iec104"]
    assert sup.server(Iec104Server) is sup.servers["iec104"].driver
    assert sup.server(Iec101Server) is None
    status = status_snapshot(sup)
    assert status["iec101"] is None and status["iec104"]["listening"] is False
    assert sup.servers["iec104"].check() == "the 104 listening socket is closed"
    off = Supervisor(dataclasses.replace(bench_config(), iec104=None))
    assert off.servers == {} and status_snapshot(off)["iec104"] is None


class FakeServer:
    """A server the test registers: it records what the supervisor asks of it."""

    def __init__(self, address: int, log: list[str], fail_start: bool) -> None:
        self.address, self.log, self.fail_start = address, log, fail_start
        self.driver = self
        self.sources: list[object] = []

    def event_groups(self) -> tuple[str, ...]:
        return (f"fake{self.address}",)

    def asdu_profiles(self) -> tuple[AsduProfile, ...]:
        return (PROFILE_104,)

    async def start(self) -> None:
        self.log.append(f"start {self.address}")
        if self.fail_start:
            raise OSError(98, "Address already in use")

    def start_failed(self, exc: OSError) -> str:
        return f"fake: cannot open {self.address}: {exc.strerror}"

    async def ready(self, grace: float) -> None:
        self.log.append(f"ready {self.address}")

    def take_groups(self, old: object) -> None:
        self.log.append(f"take {old.address} -> {self.address}")  # type: ignore[attr-defined]

    def refresh(self) -> None:
        self.log.append(f"refresh {self.address}")

    def check(self) -> str | None:
        return f"fake {self.address} unhealthy"

    def status(self) -> dict[str, object]:
        return {"address": self.address}

    def masters(self) -> list[dict[str, object]]:
        return [{"name": f"m{self.address}"}]

    def summary(self) -> list[str]:
        return [f"fake {self.address} up"]

    def links(self) -> dict[str, bool]:
        return {f"link:fake:{self.address}": True}

    def waiting(self) -> bool:
        return False

    def frame_profile(self) -> dict[str, object] | None:
        return None

    async def close(self) -> None:
        self.log.append(f"close {self.address}")


def test_a_registered_server_is_run_replaced_and_reported_by_the_supervisor(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything the supervisor does with a server goes through the registry: a fake server
    enabled by the configuration is started, reported, replaced on a live reload (its event
    groups handed over), and restored when its successor cannot start."""
    import rtu.control
    import rtu.supervisor
    from rtu.control import status_line, status_snapshot
    from rtu.health import link_states
    from rtu.reload import ReloadError
    from rtu.supervisor import Supervisor

    log: list[str] = []
    refuse: set[int] = set()

    def build(outstation: object, config: AppConfig) -> FakeServer:
        address = config.station.common_address
        return FakeServer(address, log, fail_start=address in refuse)

    fake = ServerComponent("fake", "fake", ("station",), build)
    monkeypatch.setattr(rtu.supervisor, "_SERVERS", [fake])
    monkeypatch.setattr(rtu.components, "server_components", lambda: [fake])
    monkeypatch.setattr(rtu.control, "server_components", lambda: [fake])
    base = dataclasses.replace(bench_config(), iec104=None)

    def with_address(address: int) -> AppConfig:
        return dataclasses.replace(base, station=dataclasses.replace(
            base.station, common_address=address))

    async def main() -> None:
        sup = Supervisor(with_address(1))
        await sup.start()
        assert log == ["start 1"] and sup.server(FakeServer) is sup.servers["fake"]
        status = status_snapshot(sup)
        assert status["fake"] == {"address": 1} and status["masters"] == [{"name": "m1"}]
        assert status_line(sup).startswith("1 master connected, ")
        assert status_line(sup).split(", ")[3] == "fake 1 up"
        assert link_states(sup) == {"link:fake:1": True}
        assert sup._server_check("fake")() == "fake 1 unhealthy"

        log.clear()
        assert await sup.reload(with_address(2)) == "station changed"
        assert log == ["close 1", "start 2", "take 1 -> 2"]  # not running: no ready wait
        assert sup.servers["fake"].address == 2  # type: ignore[attr-defined]

        log.clear()
        refuse.add(3)
        with pytest.raises(ReloadError, match="fake: cannot open 3: Address already in use"):
            await sup.reload(with_address(3))
        assert log == ["close 2", "start 3", "start 2"]  # the running one opened again
        assert sup.servers["fake"].address == 2  # type: ignore[attr-defined]

        log.clear()
        await sup.reload(dataclasses.replace(with_address(2), logging=dataclasses.replace(
            base.logging, level="DEBUG")))
        assert log == ["refresh 2"]  # not replaced: its files are read again
        await sup.close()

    asyncio.run(main())


def test_a_registered_section_is_named_by_the_reload_plan() -> None:
    """[modbus] lives in AppConfig.sections (its component's parser), and a reload still
    says "modbus changed" and rebuilds the field side."""
    from rtu.reload import plan_reload
    from rtu.sources.modbus.config import ModbusConfig, modbus_config

    def config(host: str) -> AppConfig:
        return parse_config({
            "points": [{"name": "p", "ioa": 1, "kind": "float", "source": "modbus"}],
            "modbus": {"buses": [{"name": "b", "type": "tcp", "host": host}],
                       "devices": [{"name": "d", "bus": "b", "unit_id": 1, "polls": [
                           {"interval": 1.0, "reads": [
                               {"point": "p", "table": "holding", "address": 0,
                                "type": "float32"}]}]}]},
        }, "t.toml")

    old, new = config("127.0.0.1"), config("127.0.0.2")
    assert modbus_config(old).buses[0].host == "127.0.0.1"
    assert modbus_config(parse_config({}, "t.toml")) == ModbusConfig()  # no [modbus]: empty
    plan = plan_reload(old, new)
    assert plan.changed == ("modbus",) and plan.rebuild
    assert plan.describe() == "modbus changed; rebuilding the field side"
    assert plan_reload(old, config("127.0.0.1")).changed == ()
