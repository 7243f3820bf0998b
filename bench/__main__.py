"""``python -m bench [--quick] [--json FILE]``: print the table, optionally write JSON."""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.extra import open_budget
from bench.runner import MODES, log, run, table, to_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Our outstation and c104.Server (lib60870-C) measured side by side.")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true",
                       help="shorter runs (fewer events, 1 s rate steps); under two minutes")
    group.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # tests only
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--pi-budget", action="store_true",
                        help="run every process under test (ours and the reference) in its own "
                        "cgroup with a CPU quota of 25 %% of one core")
    args = parser.parse_args(argv)
    try:
        import c104  # noqa: F401
    except ImportError:
        print("bench: the reference needs the c104 package (scripts/setup-test installs it)",
              file=sys.stderr)
        return 2
    mode = MODES["smoke" if args.smoke else "quick" if args.quick else "full"]
    budget = None
    if args.pi_budget:
        budget, why = open_budget()
        log(why)
        if budget is None:
            print(f"bench: {why}", file=sys.stderr)
            return 3
    started = time.monotonic()
    try:
        res = run(mode, budget)
    finally:
        if budget is not None:
            budget.close()
    log(f"{mode.name} run took {time.monotonic() - started:.0f} s")
    print(table(res))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(to_json(res), f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
