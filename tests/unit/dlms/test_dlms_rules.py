"""DESIGN.md rule 11 for the DLMS core: rtu/dlms is sans-I/O (no asyncio, socket, serial,
clock or thread imports), imports nothing of the rest of rtu but itself, and no module of it is
over 800 lines; hal/dlms*.py imports no rtu."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FORBIDDEN = {"asyncio", "socket", "serial", "time", "threading", "selectors", "os",
             "subprocess", "random"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


CORE = sorted((ROOT / "rtu" / "dlms").glob("*.py"))


@pytest.mark.parametrize("path", CORE, ids=lambda p: p.name)
def test_core_is_sans_io(path: Path) -> None:
    imported = _imports(path)
    bad = {name for name in imported if name.split(".")[0] in FORBIDDEN}
    assert not bad, f"{path.name} imports {bad}"
    outside = {name for name in imported
               if name.startswith("rtu.") and not name.startswith("rtu.dlms")}
    assert not outside, f"{path.name} imports {outside}"


@pytest.mark.parametrize("path", [*CORE, *sorted((ROOT / "hal").glob("dlms*.py")),
                                  ROOT / "rtu" / "sources" / "dlms" / "link.py"],
                         ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 800


def test_hal_does_not_import_rtu() -> None:
    for path in sorted((ROOT / "hal").glob("dlms*.py")):
        assert not {n for n in _imports(path) if n.split(".")[0] == "rtu"}, path.name


def test_the_core_is_there() -> None:
    assert {p.name for p in CORE} >= {"axdr.py", "apdu.py", "client.py", "hdlc.py",
                                       "security.py", "wrapper.py"}
