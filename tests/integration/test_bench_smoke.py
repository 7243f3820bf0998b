"""The benchmark (bench/, not shipped) still runs end to end: its smoke mode with tiny sizes.

It starts our outstation (``rtu run`` and the bench agent) and c104's server as subprocesses on
loopback, and our 101 server on a pty, and checks that the JSON has every figure as a number
(null only where the reason is documented in ``notes``). It checks no performance goal: the
figures of a smoke run mean nothing.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("c104")

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


_NET_PREFIXES = ("cpu_us_per_event", "fan_out_cpu_us_")


def test_bench_smoke_writes_every_figure(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.runner import NULLABLE_KEYS, REQUIRED_KEYS
    finally:
        sys.path.remove(str(ROOT))
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    for key in REQUIRED_KEYS:
        value = result[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
        # a figure net of the load generator (burst minus dry burst) is a difference of two CPU
        # readings: in a smoke run's tiny bursts the noise can make it negative; the others not
        assert value >= 0 or key.startswith(_NET_PREFIXES), (key, value)
    for key in NULLABLE_KEYS:
        value = result[key]
        if value is None:
            assert result["notes"].get(key), f"{key} is null without a note"
        else:
            assert isinstance(value, int | float) and math.isfinite(value), (key, value)
    assert result["meta"]["mode"] == "smoke"
    assert set(result["goals"]) == {"latency_p99_below_5ms", "throughput_4x_reference",
                                    "gi_no_slower_than_reference", "rss_below_60mb",
                                    "idle_cpu_below_1pct", "cpu_per_event_at_most_8us",
                                    "fan_out_8_masters_at_most_1_5x_of_1",
                                    "bench_profile_startup_below_0_2s", "startup_10k_below_0_35s",
                                    "rss_10k_below_35mb"}
    assert result["scaling"] and all(
        isinstance(row["startup_s"], float) and isinstance(row["cpu_us_per_event"], float)
        for row in result["scaling"])
    # the table went to stdout with both columns
    assert "reference (c104)" in proc.stdout
