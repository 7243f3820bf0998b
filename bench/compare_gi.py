"""``python -m bench.compare_gi ROOT_A ROOT_B POINTS ROUNDS``: the GI time of ``rtu run`` with
POINTS points, two checkouts started in turn (A B A B), two GIs each per round; medians.

Each root is a checkout of the repository (``git worktree add`` or ``git archive | tar -x``);
``python -m rtu`` runs with the root as its working directory, so the root's own ``rtu``
package is the one measured.
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.master import Master
from bench.plan import write_config
from bench.runner import HOST, free_port, measure_gi


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m bench.compare_gi ROOT_A ROOT_B POINTS ROUNDS", file=sys.stderr)
        return 2
    roots = {"A": args[0], "B": args[1]}
    points, rounds = int(args[2]), int(args[3])
    times: dict[str, list[float]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="rtu-compare-gi-") as tmp:
        config = write_config(Path(tmp) / "gi.toml", points, 2404)
        for _ in range(rounds):
            for key, root in roots.items():
                port = free_port()
                proc = subprocess.Popen(
                    [sys.executable, "-m", "rtu", "run", "--config", str(config), "--listen",
                     f"{HOST}:{port}"], cwd=root, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
                try:
                    with Master(HOST, port) as m:
                        m.connect(timeout=300)
                        times[key] += measure_gi(m, 2)["runs_s"]
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(20)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(5)
    for key, values in times.items():
        print(f"{key} {roots[key]}: GI of {points:,} points, median {statistics.median(values):.3f} s"
              f" of {[round(v, 3) for v in values]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
