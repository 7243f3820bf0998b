"""``python -m bench.compare_startup ROOT_A ROOT_B POINTS[,POINTS...] ROUNDS``: start-up (spawn of
``python -m rtu run`` to READY=1) and RSS (at READY=1 and after one GI) of two checkouts
started in turn (A B A B) with the benchmark's configuration; medians per point count. A count
given as ``bench`` stands for the bench profile, each root's own ``rtu/examples/bench.toml``
(what the benchmark's ``startup_bench_profile_s`` starts, bench/runner.py).

Each root is a checkout of the repository (``git worktree add --detach DIR main``);
``python -m rtu`` runs with the root as its working directory, so the root's own ``rtu``
package is the one measured. Each root's state directory is fresh for every start unless
``--warm`` is given (then a start is measured after one unmeasured start with the same state
directory, which is what a restart after the first boot sees: a validated-config cache, if
the checkout has one, is warm).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procstat
from bench.master import Master
from bench.plan import write_config
from bench.runner import HOST, NotifyListener, free_port, measure_gi

BENCH = -1  # the count standing for the bench profile
BENCH_PROFILE = Path("rtu", "examples", "bench.toml")  # in each root


def start_once(root: str, config: Path, tmp: Path, state: Path, gi: bool,
               linger: float = 0.0) -> dict[str, Any]:
    port = free_port()
    notify = NotifyListener(tmp / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "PATH": "/usr/bin:/bin",
           "STATE_DIRECTORY": str(state)}
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(config),
                             "--listen", f"{HOST}:{port}"], cwd=root, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    row: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + 300
        while notify.ready_ns is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.0005)
        if notify.ready_ns is None:
            raise RuntimeError(f"{root}: no READY=1 (exit {proc.poll()})")
        row["startup_s"] = (notify.ready_ns - t0) / 1e9
        cpu = procstat.cpu_ns(proc.pid)  # CPU time to READY=1 (and a little after): less
        if cpu is not None:  # sensitive than wall time to the load of a shared machine
            row["cpu_s"] = cpu / 1e9
        row["rss_ready_mb"] = procstat.rss_mb(proc.pid)
        if gi:
            with Master(HOST, port) as m:
                m.connect(timeout=60)
                row["gi_s"] = measure_gi(m, 1)["gi_s"]
            row["rss_gi_mb"] = procstat.rss_mb(proc.pid)
            row["hwm_mb"] = procstat.rss_mb(proc.pid, "VmHWM")
        time.sleep(linger)  # what the process does after READY=1 (a cache written)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        notify.close()
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.compare_startup")
    p.add_argument("roots", nargs=2, metavar="ROOT")
    p.add_argument("points", help="point counts, comma-separated")
    p.add_argument("rounds", type=int)
    p.add_argument("--warm", action="store_true",
                   help="measure the second start with the same state directory")
    p.add_argument("--no-gi", action="store_true", help="skip the GI and the RSS after it")
    args = p.parse_args(argv)
    counts = [BENCH if x == "bench" else int(x) for x in args.points.split(",")]
    rows: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="rtu-compare-startup-") as tmpname:
        tmp = Path(tmpname)
        for n in counts:
            config = None if n == BENCH else write_config(tmp / f"s{n}.toml", n, 2404,
                                                          log_level="WARNING")
            for r in range(args.rounds):
                for key, root in zip("AB", args.roots):
                    state = tmp / f"state-{key}-{n}-{r}"
                    state.mkdir()
                    used = Path(root, BENCH_PROFILE) if config is None else config
                    if args.warm:
                        start_once(root, used, tmp, state, gi=False,
                                   linger=1.0 + max(n, 0) / 20_000)
                    rows.setdefault((key, n), []).append(
                        start_once(root, used, tmp, state, gi=not args.no_gi))
    for n in counts:
        for key, root in zip("AB", args.roots):
            rs = rows[(key, n)]
            med = {k: statistics.median(r[k] for r in rs) for k in rs[0]}
            what = "bench profile" if n == BENCH else f"{n:>7,} points"
            print(f"{key} {what}: " + ", ".join(
                f"{k} {v:.3f}" for k, v in med.items()) + f"  ({root}; {len(rs)} starts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
