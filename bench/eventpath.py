"""``python -m bench.eventpath [--events N] [--chunk C] [--rounds R] [--points P]
[--pause-ms MS] [--profile] [--opcodes]``: CPU per event
of the event path without sockets (issue 21 item 3).

In process, one thread: the in-process harness's points and Outstation (bench/harness.py: 1000
single points) with one 104 session, whose ASDUs go through the
APCI core (rtu.iec.cs104.Connection) into a byte string, as the server's flush does. Every
``--chunk`` changes (the bench agent makes about ten per loop turn at 10,000 events/s) the
output is flushed and the "master" acknowledges every I-frame received (an S-frame fed back to
the core: the acknowledgement path is measured too). The figure is the thread's CPU per event,
net of the generator (the same loop computing the event and reading the clock, but updating
nothing); the socket write, the event loop's turn and the kernel are not in it (compare
``python -m bench.compare_cpu`` for those). Rounds are interleaved real / generator; medians.

``--profile``: one more round under cProfile, the functions with the most own time.

``--opcodes``: no timing; the Python opcodes an event costs, counted with ``sys.settrace``
over ``--chunk`` changes and their flush, repeated for ten flushes, with the wall clock moved
on a millisecond a flush (as the agent's tick does: each flush's events get a new time tag),
by function; the harness (this module and bench/plan.py) is left out. The count is the same
on every machine and run, so it shows a change to the path that a timing cannot resolve.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from bench import harness
from bench.plan import event
from rtu.iec.asdu.codec import PROFILE_104
from rtu.iec.cs104.connection import Acknowledged, ApciParameters, Connection

_STARTDT_ACT = bytes([0x68, 4, 0x07, 0, 0, 0])


def _s_frame(received: int) -> bytes:
    nr = (received % 32768) << 1
    return bytes([0x68, 4, 0x01, 0, nr & 0xFF, nr >> 8])


def _i_frames(data: bytes) -> int:
    """How many I-frames ``data`` (whole APDUs) holds."""
    count = start = 0
    while start < len(data):
        count += not data[start + 2] & 1
        start += 2 + data[start + 1]
    return count


class Path:
    """The outstation side of one master's event path, and a master that acknowledges all."""

    def __init__(self, points: int = harness.POINTS) -> None:
        self.points = points
        self.db, self.outstation = harness.outstation(100_000, points)
        self.outstation.group("iec104")
        self.session = self.outstation.open_session("m", PROFILE_104, "iec104", lambda: None)
        self.conn = Connection(ApciParameters(), time.monotonic())
        self._handle(self.conn.receive_data(_STARTDT_ACT, time.monotonic()))
        self.session.activate()
        self.received = 0  # I-frames the master has had
        self.octets = 0
        self.counter = 0  # events made (each a real change: bench/plan.py event())
        self.dry_counter = 0
        self.names = [f"p{i}" for i in range(points)]  # harness.outstation's points
        self.clock = time.time  # the changes' time stamps (count_opcodes moves it on)
        self.flush()

    def _handle(self, events: Sequence[object]) -> None:
        for ev in events:
            if isinstance(ev, Acknowledged):
                self.session.acknowledged(ev.count)

    def flush(self) -> None:
        """What the 104 server does for a woken link, then the master's acknowledgement."""
        conn, session = self.conn, self.session
        now = time.monotonic()
        while conn.can_send:
            out = session.next_output()
            if out is None:
                break
            conn.send_asdu(out.asdu, now)
        data = conn.data_to_send()
        self.octets += len(data)
        self.received += _i_frames(data)
        self._handle(conn.receive_data(_s_frame(self.received), now))

    def change(self) -> None:
        i, value = event(self.counter, self.points)
        self.db.update(self.names[i], value, timestamp=self.clock())
        self.counter += 1

    def dry(self) -> None:
        i, _ = event(self.dry_counter, self.points)
        _ = self.names[i]
        time.time()
        self.dry_counter += 1


def _run(do: Callable[[], None], flush: Callable[[], None], events: int, chunk: int,
         pause: float = 0.0) -> float:
    """Thread CPU µs per event of ``events`` calls of ``do``, ``flush`` after every ``chunk``
    (then a sleep of ``pause`` seconds, if any: the agent's 1 ms tick)."""
    t0 = time.thread_time()
    for n in range(1, events + 1):
        do()
        if n % chunk == 0:
            flush()
            if pause:
                time.sleep(pause)
    flush()
    return (time.thread_time() - t0) / events * 1e6


#: code of the harness, left out of the opcode count
_HARNESS = (__file__, event.__code__.co_filename)


def count_opcodes(path: Path, chunk: int, flushes: int = 10
                  ) -> tuple[float, list[tuple[str, float, float]]]:
    """Python opcodes per event of ``flushes`` times ``chunk`` changes and a flush, the wall
    clock a millisecond on at each flush: (the total, then (function, opcodes, calls) per
    event, most opcodes first), the harness left out. The clock starts in the middle of the
    present minute, so that no run's milliseconds cross into the next minute (whose first
    tag is made anew): the count does not depend on when it is taken."""
    opcodes: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()

    def trace(frame: FrameType, what: str, arg: Any) -> Any:
        code = frame.f_code
        if code.co_filename in _HARNESS:
            return None  # neither it nor its opcodes
        where = f"{code.co_filename.rsplit('/', 1)[-1]}:{code.co_name}"
        if what == "call":
            frame.f_trace_opcodes = True
            calls[where] += 1
        elif what == "opcode":
            opcodes[where] += 1
        return trace

    now = [time.time() // 60 * 60 + 30.0]
    path.clock = lambda: now[0]
    try:
        for _ in range(chunk):  # the time tag of the first millisecond is made here
            path.change()
        path.flush()
        events = flushes * chunk
        previous = sys.gettrace()  # a debugger's or a coverage tool's, given back after
        sys.settrace(trace)
        try:
            for _ in range(flushes):
                now[0] += 0.001
                for _ in range(chunk):
                    path.change()
                path.flush()
        finally:
            sys.settrace(previous)
    finally:
        path.clock = time.time
    rows = [(where, count / events, calls[where] / events)
            for where, count in opcodes.most_common()]
    return opcodes.total() / events, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eventpath", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--chunk", type=int, default=10, help="changes per flush (loop turn)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--points", type=int, default=harness.POINTS,
                        help="single points, changed in turn (the bench agent has 10,000)")
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="sleep after each flush (the agent's 1 ms tick: caches go cold)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--opcodes", action="store_true",
                        help="count the Python opcodes an event costs instead of timing")
    args = parser.parse_args(argv)
    if args.events < 1 or args.chunk < 1 or args.rounds < 1 or args.points < 1 or \
            args.pause_ms < 0:
        parser.error("--events, --chunk, --rounds and --points must be >= 1, "
                     "--pause-ms >= 0")
    pause = args.pause_ms / 1000
    path = Path(args.points)
    if args.opcodes:
        _run(path.change, path.flush, min(args.events, 20_000), args.chunk)  # warm-up
        total, rows = count_opcodes(path, args.chunk)
        print(f"{total:.1f} Python opcodes per event ({args.chunk} changes a flush, "
              f"{args.points} points; the harness left out)")
        for where, count, calls in rows[:25]:
            print(f"{count:8.1f} {calls:6.2f} calls  {where}")
        return 0
    seq0 = path.outstation.next_seq
    _run(path.change, path.flush, min(args.events, 20_000), args.chunk)  # warm-up
    real, dry = [], []
    for _ in range(args.rounds):
        real.append(_run(path.change, path.flush, args.events, args.chunk, pause))
        dry.append(_run(path.dry, lambda: None, args.events, args.chunk, pause))
    made = path.outstation.next_seq - seq0
    if made != path.counter or path.outstation.queued_events():
        print(f"bench.eventpath: {path.counter} changes made {made} events, "
              f"{path.outstation.queued_events()} still queued (expected all sent)")
        return 1
    print(f"{args.events} events a round, {args.chunk} per flush, {args.rounds} rounds: "
          f"{statistics.median(real) - statistics.median(dry):.2f} µs/event net of the "
          f"generator ({statistics.median(dry):.2f} µs/event), "
          f"{path.received} I-frames, {path.octets} octets")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(_run, path.change, path.flush, args.events, args.chunk, pause)
        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
