"""Where our outstation spends its time under the throughput test, sampled with py-spy.

    .venv/bin/pip install py-spy        # for your own use; not a project dependency
    .venv/bin/python -m bench.profile [--rate 12000] [--seconds 20] [--raw FILE]

Runs the bench agent (our Supervisor, 10,000 points) under ``py-spy record`` while one master
takes a steady burst at ``--rate`` events/s, then prints the functions with the most samples
(self and inclusive) among the samples of the event path (start-up and imports left out).
Sampling slows the process down: pick a rate it still sustains under the profiler (the step
reports whether it did).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.master import Master
from bench.plan import write_config
from bench.runner import HOST, Agent, burst_step, free_port

#: a sample belongs to the event path if its stack holds one of these frames
EVENT_PATH = ("burst (", "_Link.", "_SelectorSocketTransport.")


def summarise(raw: Path, top: int) -> str:
    self_n: collections.Counter[str] = collections.Counter()
    incl_n: collections.Counter[str] = collections.Counter()
    total = kept = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        if not any(k in stack for k in EVENT_PATH):
            continue
        kept += n
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        self_n[frames[-1]] += n
        for f in set(frames):
            incl_n[f] += n
    out = [f"{kept} of {total} samples in the event path", "", "self:"]
    out += [f"  {100 * n / kept:5.1f}%  {f}" for f, n in self_n.most_common(top)]
    out += ["", "inclusive:"]
    out += [f"  {100 * n / kept:5.1f}%  {f}" for f, n in incl_n.most_common(top + 10)
            if not f.startswith(("<module>", "_run_", "run (", "Runner.", "BaseEventLoop.",
                                 "main (", "Handle._run"))]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("--rate", type=float, default=12_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--raw", metavar="FILE", help="keep py-spy's raw (collapsed) stacks")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("bench.profile: py-spy not found (.venv/bin/pip install py-spy)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="rtu-profile-") as tmp:
        logdir = Path(tmp)
        raw = Path(args.raw) if args.raw else logdir / "stacks.txt"
        config = write_config(logdir / "bench.toml", args.points, 2404)
        port = free_port()
        agent = Agent("ours", config, port, args.points, logdir,
                      wrap=[spy, "record", "-r", "100", "-f", "raw", "-o", str(raw),
                            "--nonblocking", "--"])
        try:
            with Master(HOST, port) as m:
                m.connect(timeout=60)
                time.sleep(0.3)
                step = burst_step(m, agent, args.rate, args.seconds, args.points)
        finally:
            agent.close()
        deadline = time.monotonic() + 10
        while not raw.exists() and time.monotonic() < deadline:
            time.sleep(0.1)  # py-spy writes its file once the agent has exited
        print(f"burst at {args.rate:.0f} ev/s for {args.seconds:.0f} s under py-spy: "
              f"{'sustained' if step['ok'] else 'NOT sustained'} (offered "
              f"{step['offered_eps']}/s, received {step['received']} of {step['sent']})\n")
        print(summarise(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
