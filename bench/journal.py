"""``python -m bench.journal [--events N] [--dir DIR]``: what the event journal costs.

In process, no sockets: one Outstation with its group, PointDatabase updates as fast as one
loop can make them (a loop turn every 100 events), with the journal off, batched (1 s), and
eager (0 s), and a "master" that either is absent (every event must be written) or takes and
acknowledges everything after each loop turn (nothing needs to be written). Prints events/s
(wall clock), CPU µs per event (process time, threads included) and commits per second;
every commit is one fsync of the WAL (fsync = "commit"). ``--dir`` puts the file on the disk
to be measured (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from bench.harness import CHUNK, make_events, outstation, take_all
from rtu.config import JournalConfig
from rtu.eventstore import JournalWriter, open_journal
from rtu.iec.asdu.codec import PROFILE_104


async def _run(events: int, interval: float | None, master: bool, directory: Path,
               name: str) -> dict[str, float]:
    db, station = outstation(events)
    station.group("iec104")
    writer: JournalWriter | None = None
    task: asyncio.Task[None] | None = None
    if interval is not None:
        path = directory / f"{name}.sqlite3"
        store = open_journal(path, max_events=events + 10, fsync="commit")
        writer = JournalWriter(store, JournalConfig(True, str(path), interval, events + 10))
        writer.attach(station)
        task = asyncio.create_task(writer.run())
        await asyncio.sleep(0)
    session = None
    if master:
        session = station.open_session("m", PROFILE_104, "iec104", lambda: None)
        session.activate()

    async def take_then_acknowledge() -> None:
        # as in the 104 server: the eager commit was scheduled (call_soon) by the first
        # event of the turn, before the session's flush; the acknowledgement comes later
        if session is not None:
            sent = take_all(session)
            await asyncio.sleep(0)
            session.acknowledged(sent)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await make_events(db, events, take_then_acknowledge)
    if writer is not None:
        assert task is not None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await writer.close()  # the last commit is part of the cost
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    commits = writer.store.commits if writer is not None else 0
    written = writer.store.written if writer is not None else 0
    return {"eps": events / wall, "cpu_us": cpu / events * 1e6, "commits_per_s": commits / wall,
            "written": written}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.journal", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args(argv)
    cases = [("off", None), ("batched 1 s", 1.0), ("eager 0 s", 0.0)]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.events} events, {CHUNK} per loop turn, file in {tmp}")
        print(f"{'journal':<12} {'master':<13} {'events/s':>9} {'CPU µs/ev':>9} "
              f"{'commits/s':>9} {'written':>8}")
        for master in (False, True):
            for name, interval in cases:
                tag = f"{name.split()[0]}-{int(master)}"
                r = asyncio.run(_run(args.events, interval, master, Path(tmp), tag))
                print(f"{name:<12} {'acknowledging' if master else 'none':<13} "
                      f"{r['eps']:>9,.0f} {r['cpu_us']:>9.1f} {r['commits_per_s']:>9.1f} "
                      f"{r['written']:>8,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
