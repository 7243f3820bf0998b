"""The benchmark's cost figures: CPU per event (net of the load generator), fan-out to several
masters, point-count scaling, and the "Pi budget" CPU quota. See docs/performance.md."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import procstat
from bench.master import Master, decode_events
from bench.plan import expected_objects, write_config

CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
BUDGET_QUOTA_PCT = 25  # of one core: a Pi-class core is roughly 3-5 times slower than this VM's
PERIOD_US = 100_000
# another master's events during a GI: latencies pooled over GIs until this many (about five
# GIs of 50,000 points: a p99 that is not simply the largest), at most this many GIs
GI_OTHER_SAMPLES = 200
GI_OTHER_MOST = 12


@dataclass
class Budget:
    """One cgroup per process under test, each with a CPU quota of ``pct`` % of one core. The
    wrapper puts the child into its group before it execs (``sh -c 'echo $$ > procs; exec'``)."""

    root: Path
    procs_file: str
    pct: int
    groups: list[Path]

    def wrap(self, name: str) -> list[str]:
        group = self.root / f"rtu-bench-{os.getpid()}-{name}"
        if not group.exists():
            group.mkdir()
            self.groups.append(group)
            quota = PERIOD_US * self.pct // 100
            if self.root == CGROUP_V1_CPU:
                (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
            else:
                (group / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
        return ["sh", "-c", f'echo $$ > "{group / self.procs_file}" && exec "$@"', "sh"]

    def close(self) -> None:
        for group in self.groups:
            with suppress(OSError):
                group.rmdir()
        self.groups.clear()


def open_budget(pct: int = BUDGET_QUOTA_PCT) -> tuple[Budget | None, str]:
    """A writable cgroup CPU controller (v1 ``cpu`` or v2 with ``cpu`` enabled), or the reason
    why not. systemd-run --scope needs a session bus; the cgroup filesystem needs none."""
    probe_name = f"rtu-bench-probe-{os.getpid()}"
    candidates: list[tuple[Path, str, str]] = []
    if (CGROUP_V1_CPU / "cpu.cfs_quota_us").exists():
        candidates.append((CGROUP_V1_CPU, "cgroup.procs", "cpu.cfs_quota_us"))
    controllers = CGROUP_V2 / "cgroup.subtree_control"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        candidates.append((CGROUP_V2, "cgroup.procs", "cpu.max"))
    reasons = []
    for root, procs, knob in candidates:
        probe = root / probe_name
        try:
            probe.mkdir()
            try:
                if not (probe / knob).exists():
                    raise OSError(f"{knob} missing")
                (probe / knob).read_text()
            finally:
                probe.rmdir()
        except OSError as exc:
            reasons.append(f"{root}: {exc}")
            continue
        return Budget(root, procs, pct, []), f"cgroup {root} ({knob}), {pct} % of one core"
    if not candidates:
        reasons.append("no cgroup CPU controller (v1 cpu or v2 cpu in subtree_control)")
    return None, "Pi budget mode skipped: " + "; ".join(reasons)


# -- CPU per event -------------------------------------------------------------------------------
#: an unmeasured burst of this many seconds at the same rate before each measured one: the
#: figure is the steady state of a stream, not the refill of caches that the other stack's
#: burst (taken in turn) has just evicted (ours after a c104 burst: about 1 µs an event more)
WARM_S = 0.5


def cpu_per_event(agent: Any, rate: float, seconds: float, wait: Callable[[int, int], int],
                  since: Callable[[], int], warm_s: float = WARM_S) -> dict[str, Any]:
    """One burst and one dry burst (the generator alone) at ``rate``: the agent's CPU per event
    net of the generator, and the generator's own cost beside it; each after an unmeasured
    burst of ``warm_s`` seconds (its events received before the measured burst starts)."""
    if warm_s > 0:
        mark = since()
        warm = agent.request(cmd="burst", rate=rate, duration=warm_s,
                             timeout=warm_s * 20 + 60)
        wait(warm["count"], mark)
    mark = since()
    real = agent.request(cmd="burst", rate=rate, duration=seconds, timeout=seconds * 20 + 60)
    received = wait(real["count"], mark)
    dry = agent.request(cmd="burst", rate=rate, duration=seconds, dry=True,
                        timeout=seconds * 20 + 60)
    n = max(1, real["count"])
    return {"rate": rate, "events": real["count"], "received": received,
            "cpu_us_per_event": (real["cpu_ns"] - dry["cpu_ns"]) / n / 1000,
            "gross_us_per_event": real["cpu_ns"] / n / 1000,
            "generator_us_per_event": dry["cpu_ns"] / max(1, dry["count"]) / 1000}


def latency_under_load(agent: Any, m: Master, rate: float, seconds: float,
                       points: int) -> dict[str, Any]:
    """The latency of every event of a burst at ``rate`` (the agent's pacing: 1 ms ticks), as
    master ``m`` receives it: what send coalescing (``send_delay_ms``) costs beside the CPU it
    saves. None where the agent gives no per-change times (an older checkout)."""
    from bench.runner import match_events, percentile  # runner imports this module

    mark = len(m.events)
    reply = agent.request(cmd="burst", rate=rate, duration=seconds, stamps=True,
                          timeout=seconds * 20 + 60)
    out: dict[str, Any] = {"rate": rate, "events": reply["count"], "p50_ms": None,
                           "p99_ms": None, "max_ms": None, "lost": None}
    m.wait_events(reply["count"], mark, timeout=30, quiet=1.0)
    if "t_ns" not in reply:
        return out
    received = decode_events(m.events[mark:])
    times, _ = match_events(received, expected_objects(reply["first"], reply["count"], points))
    lat = [(tr - tc) / 1e6 for tc, tr in zip(reply["t_ns"], times) if tr is not None]
    out["lost"] = sum(t is None for t in times)
    if lat:
        out.update(p50_ms=percentile(lat, 50), p99_ms=percentile(lat, 99), max_ms=max(lat))
    return out


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def fan_out(agent: Any, port: int, host: str, first: Master, counts: tuple[int, ...],
            rate: float, seconds: float, repeats: int) -> dict[str, Any]:
    """CPU per event of our agent with 1, 4, 8 ... masters started, ``repeats`` passes over
    ``counts`` (1 4 8 1 4 8): extra masters connect before and close after each measurement.
    Every master must receive every event."""
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    for _ in range(repeats):
        for n in counts:
            with ExitStack() as stack:
                masters = [first]
                for _ in range(n - 1):
                    m = stack.enter_context(Master(host, port))
                    m.connect(timeout=30)
                    masters.append(m)
                time.sleep(0.1)
                # each mark: every master's count of events so far (the warm-up's, the burst's)
                marks: list[list[int]] = []

                def since(masters: list[Master] = masters,
                          marks: list[list[int]] = marks) -> int:
                    marks.append([len(m.events) for m in masters])
                    return len(marks) - 1

                def wait(count: int, mark: int, masters: list[Master] = masters,
                         marks: list[list[int]] = marks) -> int:
                    return min(m.wait_events(count, mk, timeout=30, quiet=1.0)
                               for m, mk in zip(masters, marks[mark]))

                r = cpu_per_event(agent, rate, seconds, wait, since)
                r["masters"] = n
                r["all_received"] = r["received"] >= r["events"]
                runs[n].append(r)
    out: dict[str, Any] = {"rate": rate, "runs": {str(n): v for n, v in runs.items()}}
    for n in counts:
        out[f"cpu_us_per_event_{n}"] = median_of(runs[n], "cpu_us_per_event")
        out[f"all_received_{n}"] = all(r["all_received"] for r in runs[n])
    return out


def send_floor(counts: tuple[int, ...], rate: float, seconds: float,
               repeats: int) -> dict[str, Any]:
    """``bench.sendfloor`` with each count of receivers in turn, ``repeats`` passes: CPU per
    event (its CPU per 1 ms tick over the events a tick at ``rate``) of a sender that does
    nothing but send, the floor under the fan-out figure on this machine."""
    from bench.sendfloor import measure

    runs: dict[int, list[float]] = {n: [] for n in counts}
    for _ in range(repeats):
        for n in counts:
            runs[n].append(measure(n, seconds) / (rate / 1000.0))
    out: dict[str, Any] = {"runs": {str(n): v for n, v in runs.items()}}
    for n in counts:
        out[f"us_per_event_{n}"] = median_of([{"v": v} for v in runs[n]], "v")
    return out


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of process ``pid`` on ``cpus`` (a thread that has gone is skipped)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with suppress(OSError):
            os.sched_setaffinity(int(task.name), cpus)


def _p99(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _one_gi_with_events(agent: Any, m: Master, points: int,
                        cores: tuple[set[int], set[int]] | None) -> tuple[list[float], int, dict[str, Any]]:
    """One GI by a master in another process (bench/gi_master.py) while the agent makes a
    change every millisecond: the latencies, as master ``m`` (the other one) receives them, of
    the changes made between that GI's request and its ACT_TERM (what the outstation does
    before its ACT_CON counts too); the changes lost; the GI's figures. ``cores``: (the
    agent's, the masters') CPUs for the GI, or None (shared)."""
    from bench.runner import ROOT, match_events  # runner imports this module

    gm = subprocess.Popen([sys.executable, "-m", "bench.gi_master", "--port", str(agent.port)],
                          cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    rx = m.receiver_tid
    try:
        assert gm.stdin is not None and gm.stdout is not None
        if '"ready"' not in gm.stdout.readline():
            raise RuntimeError("bench.gi_master did not connect")
        if cores is not None:
            _pin(agent.pid, cores[0])
            _pin(gm.pid, cores[1])
            if rx is not None:
                os.sched_setaffinity(rx, cores[1])
        since_e = len(m.events)
        gm.stdin.write("go\n")
        gm.stdin.flush()
        reply = agent.request(cmd="latency", n=100 + points // 200, interval_ms=1.0)
        gi = json.loads(gm.stdout.readline())
    finally:
        if cores is not None:
            everything = os.sched_getaffinity(0)
            _pin(agent.pid, everything)
            if rx is not None:
                with suppress(OSError):
                    os.sched_setaffinity(rx, everything)
        if gm.poll() is None:
            try:
                gm.wait(30)
            except subprocess.TimeoutExpired:
                gm.kill()
                gm.wait(5)
    m.wait_events(reply["count"], since_e, timeout=30, quiet=1.0)
    received = decode_events(m.events[since_e:])
    times, _ = match_events(received, expected_objects(reply["first"], reply["count"], points))
    during = [(tr - tc) / 1e6 for tc, tr in zip(reply["t_ns"], times)
              if tr is not None and gi["sent_ns"] <= tc <= gi["term_ns"]]
    return during, sum(t is None for t in times), gi


def events_during_gi(agent: Any, m: Master, points: int, *, samples: int = GI_OTHER_SAMPLES,
                     most: int = GI_OTHER_MOST) -> dict[str, Any]:
    """Another master's event latency while a GI runs (see ``_one_gi_with_events``), pooled
    over GIs until each of two arrangements has ``samples`` latencies (at most ``most`` GIs
    each), the two taking turns:

    - ``gi_other_*``: the agent on a core of its own, both masters on another, as on a
      board whose masters are other machines. Sharing two cores, a master's receiving
      thread woken by our write can wait for the scheduler's next tick (1 ms) behind the
      busy agent: the masters' own wake-up, not the outstation's latency;
    - ``gi_other_shared_*``: every process on every core, as the scheduler places them.

    Without a second CPU both are the shared arrangement."""
    cpus = sorted(os.sched_getaffinity(0))
    pinned = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else None
    pools: dict[str, list[float]] = {"": [], "_shared": []}
    lost = gis = 0
    durations: list[float] = []
    objects = 0
    while gis < most and min(len(v) for v in pools.values()) < samples:
        gis += 1
        for suffix, cores in (("", pinned), ("_shared", None)):
            during, lost_now, gi = _one_gi_with_events(agent, m, points, cores)
            pools[suffix] += during
            lost += lost_now
            durations.append((gi["term_ns"] - gi["con_ns"]) / 1e9)
            objects = gi["objects"]
    out: dict[str, Any] = {"gi_other_lost": lost, "gi_other_gis": gis,
                           "gi_other_pinned": pinned is not None,
                           "gi_with_events_s": statistics.median(durations),
                           "gi_with_events_objects": objects}
    for suffix, values in pools.items():
        out[f"gi_other{suffix}_events"] = len(values)
        out[f"gi_other{suffix}_p99_ms"] = _p99(values)
        out[f"gi_other{suffix}_max_ms"] = max(values) if values else None
    return out


# -- point-count scaling -------------------------------------------------------------------------
def scaling_row(points: int, logdir: Path, rtu_run: Any, agent_cls: Any, host: str,
                free_port: Callable[[], int], gi: Callable[[Master], dict[str, Any]],
                rate: float, seconds: float, gi_other_most: int = GI_OTHER_MOST) -> dict[str, Any]:
    """Start-up (spawn to READY=1: a first start with a fresh state directory, then the
    restart measured with the validated configuration cached), RSS and GI time of ``rtu
    run`` with ``points`` points, then CPU per event at ``rate`` in an agent with the same
    points."""
    from bench.runner import first_start  # runner imports this module

    config = write_config(logdir / f"scale-{points}.toml", points, 2404)
    state = logdir / f"state-{points}"
    row: dict[str, Any] = {"points": points,
                           "startup_cold_s": first_start(config, logdir, state, rtu_run)}
    port = free_port()
    with rtu_run(config, port, logdir, state) as (proc, notify, t0), Master(host, port) as m:
        t_con = m.connect(timeout=180)
        deadline = time.monotonic() + 5
        while notify.ready_ns is None and time.monotonic() < deadline:
            time.sleep(0.001)
        row["startup_s"] = ((notify.ready_ns if notify.ready_ns is not None else t_con)
                            - t0) / 1e9
        row["startup_to_startdt_con_s"] = (t_con - t0) / 1e9
        row["rss_before_gi_mb"] = procstat.rss_mb(proc.pid)
        g = gi(m)
        row["gi_s"], row["gi_objects"] = g["gi_s"], g["objects"]
        row["rss_mb"] = procstat.rss_mb(proc.pid)
        row["hwm_mb"] = procstat.rss_mb(proc.pid, "VmHWM")
    agent = agent_cls("ours", config, free_port(), points, logdir, name=f"ours-{points}")
    try:
        with Master(host, agent.port) as m:
            m.connect(timeout=180)
            time.sleep(0.2)
            c = cpu_per_event(agent, rate, seconds,
                              lambda count, mark: m.wait_events(count, mark, 30, 1.0),
                              lambda: len(m.events))
            row.update(events_during_gi(agent, m, points, most=gi_other_most))
    finally:
        agent.close()
    row["cpu_us_per_event"] = c["cpu_us_per_event"]
    row["generator_us_per_event"] = c["generator_us_per_event"]
    row["cpu_events_received"] = c["received"] >= c["events"]
    return row
