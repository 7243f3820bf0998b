"""bench/eventpath.py: the in-process event path it measures delivers every change.

The figure itself depends on the machine and its load and is not asserted; what is checked is
that the path measured is the real one: every change became an event, went out in an I-frame
through the APCI core and was acknowledged (main() returns 1 otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def test_eventpath_sends_every_change(capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.eventpath import main
    finally:
        sys.path.remove(str(ROOT))
    assert main(["--events", "3000", "--chunk", "7", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "µs/event net of the generator" in out
    # 3000 changes of the warm-up and 3000 measured, 7 a flush: at least one I-frame a flush
    frames = int(out.split(" I-frames")[0].rsplit(" ", 1)[1])
    assert frames >= 2 * 3000 // 7


def test_eventpath_refuses_a_zero_chunk() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.eventpath import main
    finally:
        sys.path.remove(str(ROOT))
    with pytest.raises(SystemExit):
        main(["--chunk", "0"])
