"""The architecture rules of DESIGN.md (rule 11) as tests: import rules, no cycles, file size."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rtu", "hal")
MAX_LINES = 800
# Below these packages no module may do I/O or read a clock: they are sans-I/O cores and models.
SANS_IO = ("rtu.iec", "rtu.points", "rtu.dlms")
IO_MODULES = ("asyncio", "socket", "serial", "time", "selectors", "ssl", "threading")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every module imported at run time (anywhere, functions included; not under
    ``if TYPE_CHECKING:``), with its line."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                if not is_package:
                    base = base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, node.lineno
            for alias in node.names:  # `from pkg import submodule`
                sub = f"{target}.{alias.name}"
                if sub in MODULES:
                    yield sub, node.lineno
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, dict[str, int]]:
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        edges: dict[str, int] = {}
        for target, line in _imports(tree, name, path.name == "__init__.py"):
            edges.setdefault(target, line)
        graph[name] = edges
    return graph


GRAPH = _graph()


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_sans_io_layers_import_no_io_or_clock() -> None:
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
           for m, edges in GRAPH.items() if _within(m, SANS_IO)
           for target, line in edges.items() if _within(target, IO_MODULES)]
    assert not bad, "sans-I/O modules must not do I/O or read a clock:\n" + "\n".join(bad)


def test_hal_imports_nothing_from_rtu() -> None:
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
           for m, edges in GRAPH.items() if _within(m, ("hal",))
           for target, line in edges.items() if _within(target, ("rtu",))]
    assert not bad, "hal/ must not import rtu:\n" + "\n".join(bad)


def test_field_sources_do_not_import_the_protocol_layer() -> None:
    bad = [f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
           for m, edges in GRAPH.items() if _within(m, ("rtu.sources", "hal"))
           for target, line in edges.items() if _within(target, ("rtu.iec",))]
    assert not bad, "field sources receive protocol-neutral requests:\n" + "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    edges = {m: [t for t in targets if t in MODULES and t != m] for m, targets in GRAPH.items()}
    # importing a package's submodule runs the package first: `a.b` depends on `a` only when
    # `a` is imported explicitly, so the edges above are exactly the import statements
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return out


def test_no_import_cycles() -> None:
    cycles = _cycles()
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_over_800_lines(module: str) -> None:
    path = MODULES[module]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT)} has {lines} lines (at most {MAX_LINES})"


def test_no_module_imports_another_modules_private_names() -> None:
    bad = []
    for path in MODULES.values():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").split(
                    ".")[0] in PACKAGES):
                bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports {alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not bad, "private names stay in their module:\n" + "\n".join(bad)
