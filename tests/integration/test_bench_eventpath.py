"""bench/eventpath.py: the in-process event path it measures delivers every change.

The figure itself depends on the machine and its load and is not asserted; what is checked is
that the path measured is the real one: every change became an event, went out in an I-frame
through the APCI core and was acknowledged (main() returns 1 otherwise)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType

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


def test_eventpath_counts_the_opcodes_of_the_path_not_the_harness(
        capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.eventpath import Path, count_opcodes, main
    finally:
        sys.path.remove(str(ROOT))
    total, rows = count_opcodes(Path(200), chunk=5, flushes=4)
    by_function = {where: (count, calls) for where, count, calls in rows}
    # every change goes through the database, the outstation (its single points' handler,
    # and the general one for each flush's first: a new millisecond's time tag) and the event
    # streams once
    assert by_function["database.py:update"][1] == 1.0
    assert by_function["outstation.py:_on_single_changed"][1] == 1.0
    assert by_function["outstation.py:_on_point_changed"][1] == pytest.approx(0.2)
    assert by_function["events.py:publish"][1] == 1.0
    # a flush of five changes: its calls count a fifth an event
    assert by_function["connection.py:send_asdu"][1] == pytest.approx(0.2)
    # the harness's own functions (bench/eventpath.py, bench/plan.py) are not counted
    assert not any(where.startswith(("eventpath.py:", "plan.py:")) for where in by_function)
    assert total == pytest.approx(sum(count for _, count, _ in rows))
    # the same path counts the same opcodes each time: that is what the figure is for; a
    # tracer in force before (a debugger's, a coverage tool's) is given back after
    def tracer(frame: FrameType, what: str, arg: object) -> None:
        return None

    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        again = count_opcodes(Path(200), chunk=5, flushes=4)[0]
        assert sys.gettrace() is tracer
    finally:
        sys.settrace(before)
    assert again == total
    assert main(["--opcodes", "--points", "200", "--events", "1000"]) == 0
    assert "Python opcodes per event" in capsys.readouterr().out
