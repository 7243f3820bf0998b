"""``python -m bench.report FILE.json``: the Results tables of docs/performance.md, in Markdown,
from one run's JSON (so that the document is regenerated from a run, not typed in)."""

from __future__ import annotations

import json
import sys
from typing import Any

from bench.runner import FIGURES, _fmt


def _cell(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return _fmt(value, unit) + ("" if unit == "n" else " " + unit.replace("us", "µs"))


def markdown(run: dict[str, Any]) -> str:
    meta = run["meta"]
    points = meta["points"]
    lines = ["| figure (JSON key) | ours | reference (c104) |", "|---|---:|---:|"]
    for label, ours, ref, unit in FIGURES:
        label = label.replace("10,000", f"{points:,}").strip()
        key = ours or ref
        o = _cell(run.get(ours), unit) if ours else ""
        r = _cell(run.get(ref), unit) if ref else ""
        lines.append(f"| {label} (`{key}`) | {o} | {r} |")
    lines += ["", ("| points | start-up to READY=1 (first start) | RSS after GI (peak) | GI | CPU per event "
                   "at 10k ev/s, net | another master's events during that GI: p99 (max, n); "
                   "cores shared: p99 (max, n) |"),
              "|---:|---:|---:|---:|---:|---:|"]
    for r in run.get("scaling", []):
        other = " ; ".join(
            "-" if r.get(f"gi_other{s}_p99_ms") is None else
            f"{r[f'gi_other{s}_p99_ms']:.2f} ms ({r[f'gi_other{s}_max_ms']:.2f} ms, "
            f"{r[f'gi_other{s}_events']})" for s in ("", "_shared") if f"gi_other{s}_events" in r)
        cold = r.get("startup_cold_s")
        first = "" if cold is None else f" ({cold:.3f} s)"
        lines.append(f"| {r['points']:,} | {r['startup_s']:.3f} s{first} | {r['rss_mb']:.1f} MiB "
                     f"({r['hwm_mb']:.1f}) | {r['gi_s']:.3f} s | {r['cpu_us_per_event']:.2f} µs "
                     f"| {other} |")
    lines += ["", "Goals: " + ", ".join(f"{k} {'met' if v else 'NOT met' if v is False else 'n/a'}"
                                        for k, v in run["goals"].items()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m bench.report FILE.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        print(markdown(json.load(f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
