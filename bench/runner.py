"""The benchmark: our outstation and the reference (c104.Server) measured in the same run, by
the same master code, one figure next to the other. See docs/performance.md for the method."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import procstat
from bench.master import (
    C_IC_NA_1,
    C_SC_NA_1,
    COT_ACTIVATION_CON,
    COT_ACTIVATION_TERMINATION,
    COT_INTERROGATED,
    COT_RETURN_REMOTE,
    M_SP_TB_1,
    Asdu,
    Master,
    MasterError,
    decode_events,
    interrogation_asdu,
    single_command_asdu,
)
from bench.plan import COMMAND_IOA, COMMON_ADDRESS, FEEDBACK_IOA, expected_objects, write_config

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"

#: the table: (label, our key, the reference's key, unit)
FIGURES: tuple[tuple[str, str | None, str | None, str], ...] = (
    ("event latency p50", "latency_p50_ms", "latency_p50_ms_ref", "ms"),
    ("event latency p99", "latency_p99_ms", "latency_p99_ms_ref", "ms"),
    ("lossless event rate", "throughput_eps", "throughput_eps_ref", "ev/s"),
    ("  same, ref fed through c104.Batch", None, "throughput_eps_ref_batch", "ev/s"),
    ("GI of 10,000 points, ACT_CON->ACT_TERM", "gi_10k_s", "gi_10k_s_ref", "s"),
    ("  objects delivered in that GI", "gi_10k_objects", "gi_10k_objects_ref", "n"),
    ("C_SC_NA_1 act -> ACT_CON", "command_con_ms", "command_con_ms_ref", "ms"),
    ("C_SC_NA_1 act -> ACT_TERM", "command_ms", "command_ms_ref", "ms"),
    ("  act -> return information (COT 11)", "command_rinfo_ms", "command_rinfo_ms_ref", "ms"),
    ("RSS with 10,000 points", "rss_10k_mb", "rss_10k_mb_ref", "MiB"),
    ("idle CPU, 10,000 points, 1 master", "idle_cpu_pct", "idle_cpu_pct_ref", "%"),
    ("start-up to ready (10,000 points)", "startup_s", "startup_s_ref", "s"),
    ("101 line use at 9600 8E1", "line_use_pct", "line_use_pct_ref", "%"),
)
#: keys that must be numbers in every run (the smoke test checks them)
REQUIRED_KEYS = ("latency_p50_ms", "latency_p99_ms", "latency_p50_ms_ref", "latency_p99_ms_ref",
                 "throughput_eps", "throughput_eps_ref", "gi_10k_s", "gi_10k_s_ref",
                 "command_ms", "command_con_ms", "rss_10k_mb", "idle_cpu_pct", "startup_s")
#: keys that may be null, each with the reason in ``notes``
NULLABLE_KEYS = ("line_use_pct", "line_use_pct_ref", "command_ms_ref")


@dataclass(frozen=True)
class Mode:
    name: str
    points: int
    latency_events: int
    latency_interval_ms: float
    rates: tuple[int, ...]
    step_s: float
    refine: int  # bisection steps between the last passing and the first failing rate
    gi_runs: int
    commands: int
    idle_s: float
    ref_batch: bool  # also run the ladder with the reference fed through c104.Batch
    line_s: float  # 101: seconds of class 1 polling at 9600 8E1 with events waiting


MODES = {
    "full": Mode("full", 10_000, 1000, 2.0, (1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000),
                 3.0, 3, 3, 50, 5.0, True, 15.0),
    "quick": Mode("quick", 10_000, 200, 2.0, (1000, 2000, 5000, 10_000, 20_000, 50_000),
                  1.0, 1, 1, 20, 3.0, True, 4.0),
    "smoke": Mode("smoke", 50, 20, 2.0, (200, 400), 0.5, 0, 1, 3, 0.5, False, 1.0),
}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    s = sorted(values)
    if not s:
        raise ValueError("no values")
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


# -- processes -----------------------------------------------------------------------------------
class Agent:
    """``python -m bench.agent`` in a subprocess, driven line by line."""

    def __init__(self, impl: str, config: Path, port: int, points: int, logdir: Path,
                 name: str = "", wrap: list[str] | None = None) -> None:
        self.impl, self.port = impl, port
        self._err = open(logdir / f"agent-{name or impl}.log", "wb")  # noqa: SIM115 (closed in close)
        self.t_spawn_ns = time.monotonic_ns()
        self.proc = subprocess.Popen(
            [*(wrap or []), sys.executable, "-m", "bench.agent", "--impl", impl, "--config", str(config),
             "--port", str(port), "--points", str(points)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            text=True, bufsize=1)
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        self.info = self._get(60.0)

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            self._lines.put(line)
        self._lines.put(None)

    def _get(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise RuntimeError(
                    f"agent {self.impl} did not answer within {timeout:.0f} s") from None
            if line is None:
                raise RuntimeError(f"agent {self.impl} exited (see {self._err.name})")
            if line.startswith("{"):  # a profiler wrapped round the agent may print too
                break
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"agent {self.impl}: {reply['error']}")
        return reply

    def request(self, timeout: float = 120.0, **msg: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._get(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            with suppress(OSError, RuntimeError):
                assert self.proc.stdin is not None
                self.proc.stdin.write('{"cmd": "quit"}\n')
                self.proc.stdin.flush()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._err.close()


class NotifyListener:
    """A unix datagram socket for NOTIFY_SOCKET; stamps the arrival of READY=1."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.ready_ns: int | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.ready_ns is None and b"READY=1" in data.split(b"\n"):
                self.ready_ns = time.monotonic_ns()

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


# -- measurements --------------------------------------------------------------------------------
def measure_gi(m: Master, runs: int) -> dict[str, Any]:
    times, send_to_term, objects, asdus, types = [], [], 0, 0, set()
    for _ in range(runs):
        since = len(m.asdus)
        t_send = m.send_asdu(interrogation_asdu(COMMON_ADDRESS))
        con = m.wait_asdu(lambda a: a.type_id == C_IC_NA_1 and a.cot == COT_ACTIVATION_CON,
                          since, 60)
        term = m.wait_asdu(lambda a: a.type_id == C_IC_NA_1
                           and a.cot == COT_ACTIVATION_TERMINATION, since, 120)
        data = [a for a in m.asdus[since:] if a.cot == COT_INTERROGATED]
        objects, asdus = sum(a.count for a in data), len(data)
        types |= {a.type_id for a in data}
        times.append((term.t_ns - con.t_ns) / 1e9)
        send_to_term.append((term.t_ns - t_send) / 1e9)
        time.sleep(0.1)
    return {"gi_s": statistics.median(times), "runs_s": times,
            "send_to_term_s": statistics.median(send_to_term), "objects": objects,
            "asdus": asdus, "type_ids": sorted(types)}


def measure_idle(pid: int, seconds: float) -> dict[str, Any]:
    t0, ticks0, ns0 = time.monotonic(), procstat.cpu_ticks(pid), procstat.cpu_ns(pid)
    time.sleep(seconds)
    t1, ticks1, ns1 = time.monotonic(), procstat.cpu_ticks(pid), procstat.cpu_ns(pid)
    wall = t1 - t0
    out: dict[str, Any] = {
        "cpu_pct": (ticks1 - ticks0) / procstat.CLK_TCK / wall * 100,
        "window_s": wall, "ticks": ticks1 - ticks0, "clk_tck": procstat.CLK_TCK,
        "threads": procstat.threads(pid)}
    if ns0 is not None and ns1 is not None:
        out["cpu_pct_schedstat"] = (ns1 - ns0) / 1e9 / wall * 100
    return out


def process_figures(m: Master, pid: int, mode: Mode) -> dict[str, Any]:
    """GI (median of runs), then idle CPU with the master connected, then resident memory."""
    gi = measure_gi(m, mode.gi_runs)
    idle = measure_idle(pid, mode.idle_s)
    return {"gi": gi, "idle": idle, "rss_mb": procstat.rss_mb(pid),
            "hwm_mb": procstat.rss_mb(pid, "VmHWM")}


def measure_commands(m: Master, n: int) -> dict[str, Any]:
    con_ms: list[float] = []
    term_ms: list[float] = []
    rinfo_ms: list[float] = []
    term_seen = True
    for j in range(n + 1):  # the first one warms up (thread pools, caches) and is not counted
        since = len(m.asdus)
        on = j % 2 == 0
        t0 = m.send_asdu(single_command_asdu(COMMON_ADDRESS, COMMAND_IOA, on, qu=3))
        con = m.wait_asdu(lambda a: a.type_id == C_SC_NA_1 and a.cot == COT_ACTIVATION_CON,
                          since, 10)
        if con.negative:
            raise RuntimeError("negative ACT_CON for the benchmark command")
        term: Asdu | None = None
        if term_seen:
            try:
                term = m.wait_asdu(lambda a: a.type_id == C_SC_NA_1
                                   and a.cot == COT_ACTIVATION_TERMINATION, since, 2.0)
            except MasterError:
                term_seen = False
        try:
            rinfo: Asdu | None = m.wait_asdu(
                lambda a: a.type_id == M_SP_TB_1 and a.cot == COT_RETURN_REMOTE
                and a.ioa == FEEDBACK_IOA, since, 2.0)
        except MasterError:
            rinfo = None
        if j:
            con_ms.append((con.t_ns - t0) / 1e6)
            if term is not None:
                term_ms.append((term.t_ns - t0) / 1e6)
            if rinfo is not None:
                rinfo_ms.append((rinfo.t_ns - t0) / 1e6)
        time.sleep(0.02)
    return {
        "con_ms": statistics.median(con_ms),
        "term_ms": statistics.median(term_ms) if term_ms and term_seen else None,
        "return_info_ms": statistics.median(rinfo_ms) if rinfo_ms else None,
        "con_p99_ms": percentile(con_ms, 99),
        "term_p99_ms": percentile(term_ms, 99) if term_ms and term_seen else None,
        "n": n,
    }


def match_events(received: list[tuple[int, bool, int]],
                 expected: list[tuple[int, bool]]) -> tuple[list[int | None], int]:
    """Walk both streams in order: the receive time of each expected event (None: missing) and
    the number of received objects that did not match in that order (extra or reordered)."""
    times: list[int | None] = []
    j = 0
    for ioa, value in expected:
        k = j
        while k < len(received) and (received[k][0], received[k][1]) != (ioa, value):
            k += 1
        if k < len(received):
            times.append(received[k][2])
            j = k + 1
        else:
            times.append(None)
    return times, len(received) - sum(t is not None for t in times)


def measure_latency(m: Master, agent: Agent, mode: Mode, points: int) -> dict[str, Any]:
    since = len(m.events)
    reply = agent.request(cmd="latency", n=mode.latency_events,
                          interval_ms=mode.latency_interval_ms)
    m.wait_events(reply["count"], since, timeout=10, quiet=2.0)
    received = decode_events(m.events[since:])
    times, extra = match_events(received, expected_objects(reply["first"], reply["count"],
                                                           points))
    lat = [(tr - tc) / 1e6 for tc, tr in zip(reply["t_ns"], times) if tr is not None]
    if not lat:
        raise RuntimeError(f"{agent.impl}: no event arrived in the latency test")
    return {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "max_ms": max(lat), "mean_ms": statistics.fmean(lat), "events": reply["count"],
            "received": len(lat), "lost": reply["count"] - len(lat), "unmatched": extra,
            "interval_ms": mode.latency_interval_ms}


def burst_step(m: Master, agent: Agent, rate: float, step_s: float, points: int,
               batch: bool = False) -> dict[str, Any]:
    since = len(m.events)
    reply = agent.request(cmd="burst", rate=rate, duration=step_s, batch=batch,
                          timeout=step_s * 20 + 60)
    count = reply["count"]
    got = m.wait_events(count, since, timeout=30.0, quiet=1.0)
    received = decode_events(m.events[since:])
    ordered = [(ioa, v) for ioa, v, _ in received] == expected_objects(reply["first"], count,
                                                                          points)
    span = max(1, reply["t_last_ns"] - reply["t_first_ns"]) / 1e9
    achieved = (count - 1) / span if count > 1 else 0.0
    lag = (received[-1][2] - reply["t_last_ns"]) / 1e9 if received else None
    lag_limit = 0.1 * step_s + 0.05
    ok = (ordered and got == count and lag is not None and lag <= lag_limit
          and achieved >= 0.95 * rate)
    return {"rate": rate, "sent": count, "received": got, "in_order": ordered,
            "offered_eps": round(achieved), "lag_s": lag, "lag_limit_s": lag_limit, "ok": ok}


def throughput_ladder(run_step: Callable[[float], dict[str, Any]], mode: Mode
                      ) -> dict[str, Any]:
    """Step the offered rate up; a failed step is tried once more before the ladder stops."""
    steps: list[dict[str, Any]] = []
    best: float | None = None
    failed: float | None = None

    def attempt(rate: float) -> bool:
        for _ in range(2):
            step = run_step(rate)
            steps.append(step)
            if step["ok"]:
                return True
        return False

    for rate in mode.rates:
        if attempt(rate):
            best = rate
        else:
            failed = rate
            break
    lo = best if best is not None else 0.0
    hi = failed
    for _ in range(mode.refine if lo > 0 else 0):
        if hi is None:
            break
        mid = round((lo * hi) ** 0.5, -2)
        if mid <= lo or mid >= hi:
            break
        if attempt(mid):
            lo = best = mid
        else:
            hi = mid
    return {"eps": best, "steps": steps, "first_failed": hi}


# -- the run -------------------------------------------------------------------------------------
@dataclass
class Results:
    mode: Mode
    figures: dict[str, float | None] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@contextmanager
def rtu_run(config: Path, port: int, logdir: Path) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                     NotifyListener, int]]:
    notify = NotifyListener(logdir / "notify.sock")
    env = dict(os.environ, NOTIFY_SOCKET=str(notify.path))
    err = open(logdir / "rtu-run.log", "wb")  # noqa: SIM115 (closed in finally)
    t0 = time.monotonic_ns()
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(config),
                             "--listen", f"{HOST}:{port}"], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    try:
        yield proc, notify, t0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        err.close()
        notify.close()


LINE_POINTS = 1000  # points of the 101 run (no GI there: only the event stream matters)


def measure_line_use(mode: Mode, logdir: Path) -> tuple[dict[str, Any] | None, str]:
    """101 at 9600 8E1: our outstation on a pty, a class 1 polling master that emulates the
    line's character time, events always waiting; the share of time the line carries octets."""
    if importlib.util.find_spec("rtu.servers.iec101") is None:
        return None, "not built yet: rtu.servers.iec101 does not exist (the 101 server)"
    import tty

    from bench.ft12 import REQUEST_CLASS_1, REQUEST_CLASS_2, Ft12Master

    points = min(mode.points, LINE_POINTS)
    master_fd, slave_fd = os.openpty()
    tty.setraw(master_fd)
    agent: Agent | None = None
    try:
        config = write_config(logdir / "bench101.toml", points, 2404,
                              serial_device=os.ttyname(slave_fd))
        agent = Agent("ours", config, free_port(), points, logdir, name="ours-101")
        m = Ft12Master(master_fd, 1)
        m.start_link()
        char_time = m.char_time
        # more events than the window can carry (22 M_SP_TB_1 per frame of 261 octets)
        backlog = int(mode.line_s / (266 * char_time) * 22 * 1.5) + 100
        agent.request(cmd="burst", rate=20_000, duration=backlog / 20_000)
        time.sleep(0.2)
        m.busy_s, m.turnaround_s = 0.0, []
        objects = frames = polls = 0
        acd = True
        t0 = time.monotonic()
        while time.monotonic() - t0 < mode.line_s:
            a = m.request(REQUEST_CLASS_1 if acd else REQUEST_CLASS_2, fcv=True)
            polls += 1
            if a.kind == "variable" and a.asdu:
                frames += 1
                objects += a.asdu[1] & 0x7F
            acd = a.acd
        elapsed = time.monotonic() - t0
    finally:
        if agent is not None:
            agent.close()
        os.close(master_fd)
        os.close(slave_fd)
    turn = m.turnaround_s
    return {
        "line_use_pct": m.busy_s / elapsed * 100, "window_s": elapsed, "busy_s": m.busy_s,
        "polls": polls, "data_frames": frames, "objects": objects,
        "events_per_s": objects / elapsed, "char_time_ms": char_time * 1000,
        "turnaround_p50_ms": percentile(turn, 50) * 1000,
        "turnaround_p99_ms": percentile(turn, 99) * 1000, "points": points,
    }, ("9600 8E1 emulated on a pty by the master (bench/ft12.py): class 1 polls with events "
        "always waiting; line time of all octets over elapsed time (the rest is our turnaround)")


def run(mode: Mode) -> Results:
    res = Results(mode)
    f, d = res.figures, res.details
    with tempfile.TemporaryDirectory(prefix="rtu-bench-") as tmp:
        logdir = Path(tmp)
        config = write_config(logdir / "bench.toml", mode.points, 2404)

        # 1. our product process: `python -m rtu run`, READY=1 / STARTDT con, GI, idle, RSS
        log(f"ours: rtu run with {mode.points} points")
        port = free_port()
        with rtu_run(config, port, logdir) as (proc, notify, t0), Master(HOST, port) as m:
            t_con = m.connect(timeout=120)
            deadline = time.monotonic() + 5  # READY=1 follows the listening socket
            while notify.ready_ns is None and time.monotonic() < deadline:
                time.sleep(0.001)
            if notify.ready_ns is not None:
                f["startup_s"] = (notify.ready_ns - t0) / 1e9
                res.notes["startup_s"] = "spawn of `python -m rtu run` to READY=1 on NOTIFY_SOCKET"
            else:
                f["startup_s"] = (t_con - t0) / 1e9
                res.notes["startup_s"] = (
                    "spawn of `python -m rtu run` to STARTDT con on a fresh connection: "
                    "no READY=1 arrived on NOTIFY_SOCKET (rtu/notify.py sends it only "
                    "through the `systemd` module, not importable here)")
            d["startup_to_startdt_con_s"] = (t_con - t0) / 1e9
            pf = process_figures(m, proc.pid, mode)
        d["process"] = {"ours": pf}
        f["gi_10k_s"] = pf["gi"]["gi_s"]
        f["gi_10k_objects"] = pf["gi"]["objects"]
        f["rss_10k_mb"] = pf["rss_mb"]
        f["idle_cpu_pct"] = pf["idle"]["cpu_pct"]

        # 2. the reference process: c104.Server with the same points
        log(f"ref: c104.Server with {mode.points} points")
        agents: dict[str, Agent] = {}
        masters: dict[str, Master] = {}
        try:
            port = free_port()
            ref = agents["ref"] = Agent("ref", config, port, mode.points, logdir)
            mr = masters["ref"] = Master(HOST, port)
            t_con = mr.connect(timeout=60)
            f["startup_s_ref"] = (t_con - ref.t_spawn_ns) / 1e9
            pf = process_figures(mr, ref.pid, mode)
            d["process"]["ref"] = pf
            f["gi_10k_s_ref"] = pf["gi"]["gi_s"]
            f["gi_10k_objects_ref"] = pf["gi"]["objects"]
            if pf["gi"]["objects"] < mode.points + 1:
                res.notes["gi_10k_s_ref"] = (
                    f"c104 ended its GI (ACT_TERM) after {pf['gi']['objects']} of "
                    f"{mode.points + 1} points, the rest never sent: c104 creates its "
                    "lib60870 server with CS104_Slave_create(100, 100), queues of 100 ASDUs; "
                    "the goal compares objects per second")
            f["rss_10k_mb_ref"] = pf["rss_mb"]
            f["idle_cpu_pct_ref"] = pf["idle"]["cpu_pct"]

            # 3. our outstation in the agent (same Supervisor, plus a way to change points)
            log("ours: agent")
            port = free_port()
            agents["ours"] = Agent("ours", config, port, mode.points, logdir)
            masters["ours"] = Master(HOST, port)
            masters["ours"].connect(timeout=60)
            d["agents"] = {k: a.info for k, a in agents.items()}
            time.sleep(0.3)  # end of initialisation and the first ack settle

            # 4. the same measurements on both, one after the other
            d["commands"] = {}
            for impl in ("ours", "ref"):
                log(f"{impl}: commands")
                d["commands"][impl] = measure_commands(masters[impl], mode.commands)
            f["command_con_ms"] = d["commands"]["ours"]["con_ms"]
            f["command_ms"] = d["commands"]["ours"]["term_ms"]
            f["command_con_ms_ref"] = d["commands"]["ref"]["con_ms"]
            f["command_ms_ref"] = d["commands"]["ref"]["term_ms"]
            f["command_rinfo_ms"] = d["commands"]["ours"]["return_info_ms"]
            f["command_rinfo_ms_ref"] = d["commands"]["ref"]["return_info_ms"]
            if f["command_ms_ref"] is None:
                res.notes["command_ms_ref"] = (
                    "c104 2.2.1 sends no ACT_TERM for a direct command (iec104-python issue "
                    "#65); command_con_ms_ref and details.commands.ref.return_info_ms compare")

            d["latency"] = {}
            for impl in ("ours", "ref"):
                log(f"{impl}: latency, {mode.latency_events} events")
                d["latency"][impl] = measure_latency(masters[impl], agents[impl], mode,
                                                     mode.points)
            for impl, suffix in (("ours", ""), ("ref", "_ref")):
                f[f"latency_p50_ms{suffix}"] = d["latency"][impl]["p50_ms"]
                f[f"latency_p99_ms{suffix}"] = d["latency"][impl]["p99_ms"]

            d["throughput"] = {}
            ladders = [("ours", "", False), ("ref", "_ref", False)]
            if mode.ref_batch:
                ladders.append(("ref", "_ref_batch", True))
            for impl, suffix, batch in ladders:
                name = impl + (" (c104.Batch)" if batch else "")
                log(f"{name}: throughput ladder {mode.rates}")
                m, a = masters[impl], agents[impl]

                def step(rate: float, m: Master = m, a: Agent = a, name: str = name,
                         batch: bool = batch) -> dict[str, Any]:
                    s = burst_step(m, a, rate, mode.step_s, mode.points, batch)
                    s["agent"] = a.request(cmd="stats")
                    log(f"  {name} {rate:>8.0f} ev/s: {'ok' if s['ok'] else 'FAIL'} "
                        f"(sent {s['sent']}, received {s['received']}, in order "
                        f"{s['in_order']}, offered {s['offered_eps']}/s, lag "
                        f"{s['lag_s'] if s['lag_s'] is None else round(s['lag_s'], 4)} s)")
                    time.sleep(0.2)
                    return s

                d["throughput"][impl + suffix.removeprefix("_ref")] = ladder = \
                    throughput_ladder(step, mode)
                f[f"throughput_eps{suffix}"] = ladder["eps"] or 0.0
                if ladder["eps"] is None:
                    res.notes[f"throughput_eps{suffix}"] = (
                        f"no rate was lossless, not even {mode.rates[0]} ev/s")
            d["sequence_errors"] = {k: m.sequence_errors for k, m in masters.items()}
        finally:
            for m in masters.values():
                m.close()
            for a in agents.values():
                a.close()

        log("ours: 101 at 9600 8E1 on a pty")
        try:
            line, note = measure_line_use(mode, logdir)
        except (OSError, RuntimeError, ValueError) as exc:  # Ft12Error is a RuntimeError
            line, note = None, f"101 measurement failed: {type(exc).__name__}: {exc}"
            log(note)
    d["line_101"] = line
    f["line_use_pct"] = None if line is None else line["line_use_pct"]
    f["line_use_pct_ref"] = None
    res.notes["line_use_pct"] = note
    res.notes["line_use_pct_ref"] = "c104 has no 101 server"
    return res


# -- output --------------------------------------------------------------------------------------
def goals(f: dict[str, float | None]) -> dict[str, bool | None]:
    def known(*keys: str) -> bool:
        return all(isinstance(f.get(k), int | float) for k in keys)

    def num(key: str) -> float:
        v = f[key]
        assert v is not None
        return float(v)

    gi: bool | None = None
    if known("gi_10k_s", "gi_10k_s_ref", "gi_10k_objects", "gi_10k_objects_ref"):
        if num("gi_10k_objects_ref") >= num("gi_10k_objects"):
            gi = num("gi_10k_s") <= num("gi_10k_s_ref")
        else:  # the reference answered only part of the points: compare objects per second
            gi = (num("gi_10k_objects") / max(num("gi_10k_s"), 1e-6)
                  >= num("gi_10k_objects_ref") / max(num("gi_10k_s_ref"), 1e-6))
    return {
        "latency_p99_below_5ms": num("latency_p99_ms") < 5 if known("latency_p99_ms") else None,
        "throughput_4x_reference": (num("throughput_eps") >= 4 * num("throughput_eps_ref")
                                    if known("throughput_eps", "throughput_eps_ref") else None),
        "gi_no_slower_than_reference": gi,
        "rss_below_60mb": num("rss_10k_mb") < 60 if known("rss_10k_mb") else None,
        "idle_cpu_below_1pct": num("idle_cpu_pct") < 1 if known("idle_cpu_pct") else None,
    }


def to_json(res: Results) -> dict[str, Any]:
    out: dict[str, Any] = dict(res.figures)
    out["goals"] = goals(res.figures)
    out["notes"] = res.notes
    out["meta"] = {
        "mode": res.mode.name, "points": res.mode.points,
        "latency_events": res.mode.latency_events,
        "latency_interval_ms": res.mode.latency_interval_ms,
        "throughput_rates": list(res.mode.rates), "throughput_step_s": res.mode.step_s,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
        "machine": platform.machine(), "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "reference": "c104 2.2.1 (lib60870-C) c104.Server, tick_rate_ms=100",
    }
    out["details"] = res.details
    return out


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "n/a"
    if unit in ("ev/s", "n"):
        return f"{v:,.0f}"
    if unit == "MiB":
        return f"{v:.1f}"
    if unit == "%":
        return f"{v:.2f}"
    if unit == "s":
        return f"{v:.3f}"
    return f"{v:.2f}"


def table(res: Results) -> str:
    f = res.figures
    rows = [("figure", "ours", "reference (c104)", "unit")]
    for label, ours, ref, unit in FIGURES:
        label = label.replace("10,000", f"{res.mode.points:,}")  # the smoke run has fewer
        rows.append((label, _fmt(f.get(ours), unit) if ours else "",
                     _fmt(f.get(ref), unit) if ref else "", unit))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, r in enumerate(rows):
        lines.append("  ".join([r[0].ljust(widths[0]), r[1].rjust(widths[1]),
                                r[2].rjust(widths[2]), r[3]]))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    for name, ok in goals(f).items():
        lines.append(f"goal {name}: {'met' if ok else 'NOT met' if ok is False else 'n/a'}")
    for key, note in res.notes.items():
        lines.append(f"note {key}: {note}")
    return "\n".join(lines)
