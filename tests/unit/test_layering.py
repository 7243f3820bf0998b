"""Layering promised by issue 12 items 3 and 4: field sources and hal speak the point
database's language (no rtu.iec import), the outstation package stays sans-I/O and no module of
it is over 800 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NO_IO = ("asyncio", "socket", "serial", "time", "selectors")


def imported(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def files(*folders: str) -> list[Path]:
    found = [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]
    assert found, folders
    return found


def test_sources_and_hal_import_nothing_from_rtu_iec() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imported(p)
                                                  if m == "rtu.iec" or m.startswith("rtu.iec."))
                 for p in files("rtu/sources", "hal")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_outstation_and_points_import_no_io() -> None:
    offenders = {str(p.relative_to(ROOT)): sorted(m for m in imported(p)
                                                  if m.split(".")[0] in NO_IO)
                 for p in files("rtu/iec/outstation", "rtu/points")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_outstation_module_over_800_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines())
             for p in files("rtu/iec/outstation")}
    assert {k: v for k, v in sizes.items() if v > 800} == {}
