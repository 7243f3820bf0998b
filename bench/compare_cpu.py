"""``python -m bench.compare_cpu ROOT_A ROOT_B ROUNDS [--fan-out 1,4,8]``: CPU per event of two
checkouts' outstations measured in turn (A B A B), with the bench's own agent and master.

Per round and checkout: one agent started from that checkout (``python -m bench.agent``, so
the checkout's ``rtu`` package is the one measured), CPU per event at 10,000 ev/s with one
master (net of the generator, sequence-of-events log off), then the fan-out figure at 2,000
ev/s with each count of masters, then the latency of every event of a burst at 2,000 and at
10,000 ev/s with one master (``load_latency_*``; only from a checkout whose agent gives the
times of its changes). Medians over the rounds are printed, with the median of the B - A
differences of CPU per event within each round (A and B run in turn), and with ``--json FILE``
every run is written. Each root is a checkout (``git worktree add --detach DIR main``).
``--send-delay-ms MS`` sets ``[iec104] send_delay_ms`` in B's configuration only (A keeps the
defaults: an older checkout does not know the key), so that one run shows what the setting saves
and what it costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.extra import cpu_per_event, fan_out, latency_under_load
from bench.master import Master
from bench.plan import write_config
from bench.runner import HOST, Agent, free_port

POINTS = 10_000
LOAD_RATES = (2000, 10_000)


class _RootAgent(Agent):
    """The bench agent started from another checkout (its ``rtu`` and ``bench`` are used)."""

    def __init__(self, root: str, config: Path, port: int, logdir: Path, name: str) -> None:
        from bench import runner

        saved = runner.ROOT
        runner.ROOT = Path(root)
        try:
            super().__init__("ours", config, port, POINTS, logdir, name=name)
        finally:
            runner.ROOT = saved


def _one(root: str, config: Path, logdir: Path, name: str, counts: tuple[int, ...],
         seconds: float) -> dict[str, Any]:
    port = free_port()
    agent = _RootAgent(root, config, port, logdir, name)
    try:
        with Master(HOST, port) as m:
            m.connect(timeout=60)
            time.sleep(0.3)  # end of initialisation and the first ack settle
            c = cpu_per_event(agent, 10_000, seconds,
                              lambda count, mark: m.wait_events(count, mark, 30, 1.0),
                              lambda: len(m.events))
            fo = fan_out(agent, port, HOST, m, counts, 2000, seconds, 1)
            loads = {rate: latency_under_load(agent, m, rate, seconds, POINTS)
                     for rate in LOAD_RATES}
    finally:
        agent.close()
    out: dict[str, Any] = {"cpu_us_per_event": c["cpu_us_per_event"],
                           "generator_us_per_event": c["generator_us_per_event"],
                           "cpu_received_all": c["received"] >= c["events"]}
    for n in counts:
        out[f"fan_out_{n}"] = fo[f"cpu_us_per_event_{n}"]
        out[f"fan_out_all_received_{n}"] = fo[f"all_received_{n}"]
    for rate, load in loads.items():
        out[f"load_latency_p50_ms_{rate}"] = load["p50_ms"]
        out[f"load_latency_p99_ms_{rate}"] = load["p99_ms"]
        out[f"load_lost_{rate}"] = load["lost"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare_cpu")
    parser.add_argument("root_a")
    parser.add_argument("root_b")
    parser.add_argument("rounds", type=int)
    parser.add_argument("--fan-out", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--json")
    parser.add_argument("--send-delay-ms", type=float, default=None,
                        help="[iec104] send_delay_ms in B's configuration only")
    args = parser.parse_args(argv)
    counts = tuple(int(n) for n in args.fan_out.split(","))
    roots = {"A": args.root_a, "B": args.root_b}
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    with tempfile.TemporaryDirectory(prefix="rtu-compare-cpu-") as tmp:
        logdir = Path(tmp)
        config = write_config(logdir / "cpu.toml", POINTS, 2404)
        configs = {"A": config, "B": config}
        if args.send_delay_ms is not None:
            configs["B"] = logdir / "cpu-b.toml"
            configs["B"].write_text(config.read_text().replace(
                "[iec104]\n", f"[iec104]\nsend_delay_ms = {args.send_delay_ms:g}\n", 1))
        for r in range(args.rounds):
            for key, root in roots.items():
                res = _one(root, configs[key], logdir, f"{key}{r}", counts, args.seconds)
                runs[key].append(res)
                print(f"round {r} {key}: " + ", ".join(
                    f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                    for k, v in res.items()), file=sys.stderr, flush=True)
    for key, root in roots.items():
        keys = ["cpu_us_per_event", "generator_us_per_event", *(f"fan_out_{n}" for n in counts)]
        med = {k: statistics.median(r[k] for r in runs[key]) for k in keys}
        ratio = med[f"fan_out_{counts[-1]}"] / med[f"fan_out_{counts[0]}"]
        lat = []
        for rate in LOAD_RATES:
            for q in ("p50", "p99"):
                xs = [r[f"load_latency_{q}_ms_{rate}"] for r in runs[key]]
                if all(x is not None for x in xs):
                    lat.append(f"{q} {statistics.median(xs):.2f} ms at {rate} ev/s")
        delay = (f" (send_delay_ms {args.send_delay_ms:g})"
                 if key == "B" and args.send_delay_ms is not None else "")
        print(f"{key} {root}{delay}: " + ", ".join(f"{k} {v:.2f} us" for k, v in med.items())
              + f"; fan-out {counts[-1]}/{counts[0]} = {ratio:.2f}x"
              + (f"; latency under load: {', '.join(lat)}" if lat else "")
              + f" (medians of {args.rounds})")
    # the rounds ran in turn, A then B: the difference within each pair is what this machine's
    # drift between rounds does not blur
    diffs = [b["cpu_us_per_event"] - a["cpu_us_per_event"] for a, b in zip(runs["A"], runs["B"])]
    print(f"B - A, CPU per event at 10k ev/s, per round: median {statistics.median(diffs):+.2f} us "
          f"({min(diffs):+.2f} .. {max(diffs):+.2f}), B below A in {sum(d < 0 for d in diffs)} "
          f"of {len(diffs)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"roots": roots, "runs": runs}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
