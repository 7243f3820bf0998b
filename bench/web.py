"""``python -m bench.web``: what the web page costs (docs/web.md, "Cost").

1. RSS and idle CPU of the real ``rtu run`` process on the bench profile, without the page and
   with it (``--web``) while nobody views it; then with the page, one point-table view open
   (one live stream), and after every page has been fetched once.
2. The event path: CPU per ``PointDatabase.update`` with the outstation subscribed (as in
   ``rtu run``), without and with the page's recent-events ring subscribed, in process.

Processes run one after the other, 127.0.0.1 only; every figure is printed with how it was
measured. Run it on a quiet machine: other load shows up in the idle CPU figures.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from importlib import resources
from pathlib import Path

from bench.procstat import cpu_ns, cpu_ticks, rss_mb

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site(directory: Path) -> tuple[Path, Path]:
    text = resources.files("rtu.examples").joinpath("bench.toml").read_text()
    text = text.replace('listen = "127.0.0.1:2404"', f'listen = "127.0.0.1:{_free_port()}"')
    sock = directory / "control.sock"
    text += f'\n[service]\ncontrol_socket = "{sock}"\n'
    site = directory / "site.toml"
    site.write_text(text)
    return site, sock


def _wait_ready(sock: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("rtu run did not start")
        time.sleep(0.05)


def _idle(pid: int, seconds: float) -> tuple[float, float]:
    """CPU % over ``seconds`` from clock ticks and from schedstat."""
    ticks, ns = cpu_ticks(pid), cpu_ns(pid) or 0
    time.sleep(seconds)
    ticks_after, ns_after = cpu_ticks(pid), cpu_ns(pid) or 0
    tick = os.sysconf("SC_CLK_TCK")
    return (100.0 * (ticks_after - ticks) / tick / seconds,
            100.0 * (ns_after - ns) / 1e9 / seconds)


def run_process(web: bool, settle: float, idle: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        site, sock = _site(Path(tmp))
        args = [sys.executable, "-m", "rtu", "run", "--config", str(site)]
        web_port = _free_port()
        if web:
            args += ["--web", f"127.0.0.1:{web_port}"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            _wait_ready(sock, proc)
            time.sleep(settle)
            figures = {"rss_mb": rss_mb(proc.pid)}
            figures["idle_cpu_pct"], figures["idle_cpu_sched_pct"] = _idle(proc.pid, idle)
            if web:
                url = f"http://127.0.0.1:{web_port}"
                for path in ("/", "/points", "/links", "/events", "/frames", "/static/app.js",
                             "/static/app.css", "/api/status"):
                    with urllib.request.urlopen(url + path, timeout=10) as answer:
                        answer.read()
                conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=10)
                conn.request("GET", "/api/stream/points")
                response = conn.getresponse()
                response.readline()
                time.sleep(settle)
                figures["viewing_cpu_pct"], figures["viewing_cpu_sched_pct"] = _idle(proc.pid,
                                                                                   idle)
                figures["rss_viewed_mb"] = rss_mb(proc.pid)
                conn.close()
            return figures
        finally:
            proc.terminate()
            proc.wait(10)


def event_path(rounds: int, number: int) -> dict[str, float]:
    """µs per reportable update, outstation subscribed; without and with RecentEvents."""
    sys.path.insert(0, str(ROOT))
    from rtu.config import bench_config
    from rtu.supervisor import Supervisor
    from rtu.web.feeds import RecentEvents

    sup = Supervisor(bench_config())
    db = sup.db
    state = {"v": False}

    def change() -> None:
        state["v"] = not state["v"]
        db.update("di01", state["v"], timestamp=time.time())
        # keep the queues from overflowing (no master takes the events here)
        for group in sup.outstation.groups.values():
            group.backlog.take_all()

    def per_event() -> float:
        return min(timeit.repeat(change, number=number, repeat=3)) / number * 1e6

    # pairs measured back to back, the order swapped each time: drift and other processes'
    # load hit both sides of a pair alike, and the median of the differences is what is left
    without: list[float] = []
    with_ring: list[float] = []
    for i in range(rounds):
        for on in ((True, False) if i % 2 == 0 else (False, True)):
            ring = RecentEvents(db) if on else None
            (with_ring if on else without).append(per_event())
            if ring is not None:
                ring.close()
    differences = [w - o for w, o in zip(with_ring, without, strict=True)]
    return {"update_us": statistics.median(without),
            "update_with_web_us": statistics.median(with_ring),
            "difference_us": statistics.median(differences),
            "spread_us": statistics.median(abs(d) for d in differences)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of each idle window")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds after start-up before measuring")
    args = parser.parse_args(argv)
    off = run_process(False, args.settle, args.idle)
    on = run_process(True, args.settle, args.idle)
    path = event_path(rounds=41, number=5_000)
    print(f"RSS, bench profile, page off: {off['rss_mb']:.1f} MiB")
    print(f"RSS, page on, nobody viewing: {on['rss_mb']:.1f} MiB "
          f"(+{on['rss_mb'] - off['rss_mb']:.1f} MiB)")
    print(f"RSS, page on, after every page and with one live view: {on['rss_viewed_mb']:.1f} "
          f"MiB (+{on['rss_viewed_mb'] - off['rss_mb']:.1f} MiB)")
    print(f"idle CPU over {args.idle:g} s, page off: {off['idle_cpu_pct']:.2f} % "
          f"(schedstat {off['idle_cpu_sched_pct']:.3f} %)")
    print(f"idle CPU, page on, nobody viewing: {on['idle_cpu_pct']:.2f} % "
          f"(schedstat {on['idle_cpu_sched_pct']:.3f} %)")
    print(f"CPU with one point-table view open (nothing changing but the simulation): "
          f"{on['viewing_cpu_pct']:.2f} % (schedstat {on['viewing_cpu_sched_pct']:.3f} %)")
    print(f"event path, PointDatabase.update + outstation (median of 41): "
          f"{path['update_us']:.2f} µs; with the page's recent-events ring: "
          f"{path['update_with_web_us']:.2f} µs; median paired difference "
          f"{path['difference_us']:+.2f} µs (median |difference| {path['spread_us']:.2f} µs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
