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

``--netns`` (root, Linux, two CPUs or more) puts the receivers where a master on another host
would be, as far as one machine allows: in a network namespace of their own, reached through
a veth pair, with receive packet steering (RPS) sending each side's incoming packets to the
other side's CPU (sender pinned to the first CPU, receivers to the second). The receivers'
TCP path then runs on their CPU, not in the sender's write. The namespace (and with it the
veth pair) is deleted afterwards. ``--pin`` pins the same way over loopback, for comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from bench import procstat

#: the --netns arrangement: a link-local /30 that is never routed
NS_SENDER, NS_RECEIVER, NS_PREFIX = "169.254.231.1", "169.254.231.2", 30
FRAME = bytes([0x68, 38, 0, 0, 0, 0, 30, 2, 3, 0, 1, 0]) + bytes(28)  # 6 APCI + 34 ASDU octets
S_FRAME = bytes([0x68, 4, 1, 0, 0, 0])
W = 8  # the receiver sends an S-frame every W I-frames


def _cpu_ns() -> int:
    """This process's CPU time in ns, every thread (bench.procstat)."""
    found = procstat.cpu_ns(os.getpid())
    if found is None:
        raise RuntimeError("cannot read this process's schedstat")
    return found


def receiver(port: int, count: int, host: str = "127.0.0.1") -> None:
    """Connect ``count`` sockets to the sender at ``host`` and serve each with a thread."""
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
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(s)
        threading.Thread(target=serve, args=(s,), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.readline()  # the sender closes our stdin when done


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def veth_namespace() -> Iterator[str]:
    """A network namespace reached from here through a veth pair, RPS steering each side's
    incoming packets to the other side's CPU (CPU 0 here, CPU 1 there); yields its name."""
    if os.geteuid() != 0 or (os.cpu_count() or 1) < 2:
        raise SystemExit("--netns needs root and two CPUs")
    tag = os.getpid() % 100_000
    name, here, there = f"rtu-floor-{tag}", f"rtf{tag}a", f"rtf{tag}b"
    _ip("netns", "add", name)
    try:
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", name)
        _ip("addr", "add", f"{NS_SENDER}/{NS_PREFIX}", "dev", here)
        _ip("link", "set", here, "up")
        _ip("-n", name, "addr", "add", f"{NS_RECEIVER}/{NS_PREFIX}", "dev", there)
        _ip("-n", name, "link", "set", there, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        # packets the receivers send arrive here: to the sender's CPU (0); packets the sender
        # sends arrive there: to the receivers' CPU (1)
        with open(f"/sys/class/net/{here}/queues/rx-0/rps_cpus", "w", encoding="ascii") as f:
            f.write("1\n")
        subprocess.run(["ip", "netns", "exec", name, "sh", "-c",
                        f"echo 2 > /sys/class/net/{there}/queues/rx-0/rps_cpus"],
                       check=True, timeout=10)
        yield name
    finally:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _ip("link", "del", here)  # gone with the namespace too, if this fails
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _ip("netns", "del", name)


def measure(count: int, seconds: float, netns: str | None = None, pin: bool = False) -> float:
    """Sender CPU per 1 ms tick (µs) with ``count`` receivers (``netns``: in that namespace,
    see :func:`veth_namespace`; ``pin``: sender on CPU 0, receivers on CPU 1)."""
    host = NS_SENDER if netns else "127.0.0.1"
    wrap = ["ip", "netns", "exec", netns] if netns else []
    if netns or pin:
        wrap += ["taskset", "-c", "1"]
    saved = os.sched_getaffinity(0)
    if netns or pin:
        os.sched_setaffinity(0, {0})
    listener = socket.socket()
    listener.bind((host, 0))
    listener.listen(count)
    port = listener.getsockname()[1]
    peer = subprocess.Popen([*wrap, sys.executable, "-m", "bench.sendfloor", "--serve", str(port),
                             str(count), host], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
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
        os.sched_setaffinity(0, saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sendfloor")
    parser.add_argument("--masters", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--netns", action="store_true",
                        help="receivers in a network namespace behind a veth pair with RPS "
                             "(root; see the module's docstring)")
    parser.add_argument("--pin", action="store_true",
                        help="sender on CPU 0, receivers on CPU 1, over loopback")
    parser.add_argument("--serve", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        receiver(int(args.serve[0]), int(args.serve[1]), args.serve[2])
        return 0
    counts = [int(n) for n in args.masters.split(",")]
    runs: dict[int, list[float]] = {n: [] for n in counts}
    with contextlib.ExitStack() as stack:
        netns = stack.enter_context(veth_namespace()) if args.netns else None
        for _ in range(args.rounds):
            for n in counts:
                runs[n].append(measure(n, args.seconds, netns, args.pin))
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
