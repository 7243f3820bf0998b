"""``python -m bench.sendfloor [--masters 1,4,8] [--seconds S] [--rounds N]``: what one more
master costs a sender that does nothing but send, on this machine.

The fan-out goal of issue 21 (8 masters at most 1.5 times the CPU per event of 1 master at
2,000 events/s) asks each extra master to cost little beside the rest of an event's work.
This measures the floor of that cost with no outstation at all: a process that, every
millisecond (the bench agent's tick, two events a tick at 2,000 events/s), writes one 104
I-frame of two time-tagged single points (40 octets) to each of N loopback TCP connections
and reads their S-frames, with one epoll loop, as the outstation does. The receivers are the
threads of another process that read everything and send an S-frame every 8 I-frames (the
bench master's w). Reported: the sender's CPU per tick (``/proc/self/task/*/schedstat``) for
each N, in rounds that take turns (1 4 8 1 4 8 ...), medians; and the extra CPU of one more
master per tick. With loopback the kernel runs the receiving socket's TCP path and the wake-up
of its reader in the sender's context, so this floor holds on this machine only for masters
on the same host.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time

from bench import procstat

FRAME = bytes([0x68, 38, 0, 0, 0, 0, 30, 2, 3, 0, 1, 0]) + bytes(28)  # 6 APCI + 34 ASDU octets
S_FRAME = bytes([0x68, 4, 1, 0, 0, 0])
W = 8  # the receiver sends an S-frame every W I-frames


def _cpu_ns() -> int:
    """This process's CPU time in ns, every thread (bench.procstat)."""
    found = procstat.cpu_ns(os.getpid())
    if found is None:
        raise RuntimeError("cannot read this process's schedstat")
    return found


def receiver(port: int, count: int) -> None:
    """Connect ``count`` sockets to the sender and serve each with a thread."""
    def serve(sock: socket.socket) -> None:
        frames = 0
        try:
            while data := sock.recv(65536):
                frames += len(data) // len(FRAME)
                if frames >= W:
                    frames -= W
                    sock.sendall(S_FRAME)
        except OSError:
            pass  # the sender closed its end

    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()  # the sender closes our stdin when done


def measure(count: int, seconds: float) -> float:
    """Sender CPU per 1 ms tick (µs) with ``count`` receivers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(count)
    port = listener.getsockname()[1]
    peer = subprocess.Popen([sys.executable, "-m", "bench.sendfloor", "--serve", str(port),
                             str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    conns = []
    try:
        for _ in range(count):
            c, _ = listener.accept()
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c.setblocking(False)
            conns.append(c)
        assert peer.stdout is not None and peer.stdout.readline().strip() == "ready"
        ep = select.epoll()
        by_fd = {c.fileno(): c for c in conns}
        for fd in by_fd:
            ep.register(fd, select.EPOLLIN)
        ticks = int(seconds * 1000)
        cpu0 = _cpu_ns()
        start = time.monotonic()
        for k in range(ticks):
            while (wait := start + k / 1000 - time.monotonic()) > 0:
                for fd, _ev in ep.poll(wait):
                    by_fd[fd].recv(4096)
            for c in conns:
                c.send(FRAME)
        cpu = _cpu_ns() - cpu0
        ep.close()
        return cpu / ticks / 1000
    finally:
        for c in conns:
            c.close()
        listener.close()
        if peer.stdin is not None:
            peer.stdin.close()
        peer.wait(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sendfloor")
    parser.add_argument("--masters", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--serve", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        receiver(*args.serve)
        return 0
    counts = [int(n) for n in args.masters.split(",")]
    runs: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(args.rounds):
        for n in counts:
            runs[n].append(measure(n, args.seconds))
    med = {n: statistics.median(v) for n, v in runs.items()}
    lo, hi = min(counts), max(counts)
    extra = (med[hi] - med[lo]) / (hi - lo) if hi > lo else 0.0
    for n in counts:
        print(f"{n} receivers: {med[n]:6.2f} us of sender CPU per 1 ms tick "
              f"(runs {' '.join(f'{v:.2f}' for v in runs[n])})")
    print(f"one more receiver: {extra:.2f} us per tick")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"runs": runs, "median_us_per_tick": med, "extra_us_per_tick": extra}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
