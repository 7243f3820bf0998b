"""``python -m bench.soe [--events N] [--dir DIR]``: what the sequence-of-events log costs.

In process, no sockets: one Outstation with one master that takes and acknowledges everything
after each loop turn (so every event is logged with its master), PointDatabase updates as fast
as one loop can make them (a loop turn every 100 events), with the log off and on (written once
a second from a worker thread, as in the outstation). Prints, per event:

* ``loop µs/ev``: CPU time of the event-loop thread (time.thread_time) while the events are
  made, with the writer idle: what the event path itself pays. The log's share is the
  difference between "on" and "off"; the goal is <= 5 µs.
* ``writer µs/ev``: CPU time of writing them afterwards, as the writer thread does once a
  second (decoding the events into rows, SQLite), on the other core of a two-core board; it
  holds the GIL for its Python part, so under a burst it also competes with the loop.

(Measuring the loop with the writer running at the same time mixes the two: under the load of
other processes that showed +5 µs/event of loop CPU, with or without the hook's own cost.)

``--dir`` puts the file on the disk to be measured (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.harness import CHUNK, make_events, outstation, take_all
from rtu.iec.asdu.codec import PROFILE_104
from rtu.soe import SoeLog

GOAL_US = 5.0


async def run_case(events: int, directory: Path | None) -> dict[str, float]:
    """One run; ``directory`` None: the log off."""
    db, station = outstation(events)
    soe: SoeLog | None = None
    if directory is not None:
        soe = SoeLog(directory / f"soe-{time.monotonic_ns()}.sqlite3", max_events=events + 10,
                     max_pending=events + 10)
        soe.attach(station)
    session = station.open_session("m", PROFILE_104, "iec104", lambda: None)
    session.activate()

    async def take_and_acknowledge() -> None:
        session.acknowledged(take_all(session))

    loop0, wall0 = time.thread_time(), time.perf_counter()
    await make_events(db, events, take_and_acknowledge)
    loop = time.thread_time() - loop0
    wall = time.perf_counter() - wall0
    writer = 0.0
    if soe is not None:
        cpu0 = time.process_time()
        await soe.close()  # the write (in its thread), as run() does once a second
        writer = time.process_time() - cpu0
    return {"eps": events / wall, "loop_us": loop / events * 1e6,
            "writer_us": writer / events * 1e6,
            "logged": soe.logged if soe is not None else 0}


def measure(events: int, directory: Path, rounds: int = 3) -> dict[str, float]:
    """Loop µs/ev and events/s with the log off and on, writer µs/ev: the best of ``rounds``."""
    off = [asyncio.run(run_case(events, None)) for _ in range(rounds)]
    on = [asyncio.run(run_case(events, directory)) for _ in range(rounds)]
    return {"off_us": min(r["loop_us"] for r in off), "on_us": min(r["loop_us"] for r in on),
            "writer_us": min(r["writer_us"] for r in on),
            "off_eps": max(r["eps"] for r in off), "on_eps": max(r["eps"] for r in on),
            "logged": min(r["logged"] for r in on)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soe", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.events} events, {CHUNK} per loop turn, best of {args.rounds}, file in {tmp}")
        r = measure(args.events, Path(tmp), args.rounds)
    if r["logged"] != args.events:
        print(f"the log holds {r['logged']:.0f} of {args.events} events")
        return 1
    cost = r["on_us"] - r["off_us"]
    print(f"{'soe log':<8} {'loop µs/ev':>10} {'writer µs/ev':>12} {'events/s':>9}")
    print(f"{'off':<8} {r['off_us']:>10.2f} {'-':>12} {r['off_eps']:>9,.0f}")
    print(f"{'on':<8} {r['on_us']:>10.2f} {r['writer_us']:>12.2f} {r['on_eps']:>9,.0f}")
    verdict = "met" if cost <= GOAL_US else "NOT MET"
    print(f"event path cost of the log: {cost:+.2f} µs/event (goal <= {GOAL_US:g} µs: {verdict})")
    return 0 if cost <= GOAL_US else 1


if __name__ == "__main__":
    raise SystemExit(main())
