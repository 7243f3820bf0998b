"""The suite fails when the code is not clean: ruff (with the project's rules, including the
ban on asyncio.wait_for in the product) and mypy --strict on rtu/ and hal/ (DESIGN.md rule 8)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    exe = BIN / tool
    if not exe.exists():
        pytest.skip(f"{tool} is not installed in {BIN} (pip install -e '.[test]')")
    return subprocess.run([str(exe), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_ruff() -> None:
    result = _run("ruff", "check", "--no-cache", "rtu", "hal", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run("mypy", "--strict", "--no-incremental", "rtu", "hal")
    assert result.returncode == 0, result.stdout + result.stderr
