"""One stack under test in its own process, driven over stdin/stdout (one JSON object a line).

    python -m bench.agent --impl ours|ref --config FILE --port PORT

``ours`` runs the product's composition root (:class:`rtu.supervisor.Supervisor`) on an asyncio
loop in the main thread, exactly as ``rtu run`` builds and runs it. ``ref`` runs a ``c104.Server``
(lib60870-C) with the same points (read from the same TOML file). Both print
``{"ready": true, ...}`` once built (ours may still be opening its port: the bench's master
connects with retries), then answer commands:

* ``{"cmd": "latency", "n": N, "interval_ms": MS}``: N point changes spaced MS apart; replies
  ``{"first": E, "count": N, "t_ns": [...]}`` with the ``time.monotonic_ns()`` read just before
  each change was handed to the stack (``db.update`` / ``point.value = ...; transmit``).
* ``{"cmd": "burst", "rate": R, "duration": S}``: R changes a second for S seconds, paced in
  1 ms ticks (each tick makes up what is due, yielding after every 2 ms worth); replies first, count, and the monotonic times of
  the first and last change. ``ref`` only: ``"batch": true`` hands each tick's changes to c104
  as ``c104.Batch`` objects (up to 22 points, one ASDU each) instead of one transmit per point.
  Every burst reply also has ``cpu_ns``: the CPU time of every thread of the agent over the burst
  (``/proc/self/task/*/schedstat``, ns resolution). ``"dry": true`` runs the same pacing loop
  with a change that computes the event and reads the clock but hands nothing to the stack: its
  ``cpu_ns`` is the generator's own cost, which the bench subtracts for CPU per event.
  ``"stamps": true`` (ours only) adds ``t_ns``: the monotonic time of every change, for the
  latency under load.
* ``{"cmd": "stats"}``, ``{"cmd": "quit"}``.

CLOCK_MONOTONIC is one clock for every process of the machine, so these times compare directly
with the master's receive times in the bench process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from typing import Any

from bench.plan import COMMON_ADDRESS, event, point_name

#: pacing of a burst: a tick every TICK_S makes up what is due, at most CHUNK_S worth of changes
#: at a time (a stack that falls behind is not flooded with one huge batch it cannot interleave
#: with its output)
TICK_S = 0.001
CHUNK_S = 0.002
#: M_SP_TB_1 objects that fit one ASDU of 249 octets with COT 2, CA 2, IOA 3: (249 - 6) // 11
BATCH_MAX = 22


def _cpu_ns() -> int:
    """CPU time of every thread of this process in ns (schedstat; 0 where unreadable)."""
    total = 0
    try:
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/schedstat", encoding="ascii") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return total


def _dry_change_factory(points: int) -> Callable[[], int]:
    """The generator's work without the stack: event arithmetic and the clock reads."""
    counter = 0

    def dry_change() -> int:
        nonlocal counter
        event(counter, points)
        t = time.monotonic_ns()
        time.time()
        counter += 1
        return t

    return dry_change


def _reply(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- ours --------------------------------------------------------------------------------------
async def _run_ours(config_path: str, port: int, points: int) -> None:
    import dataclasses

    from rtu.config import load_config
    from rtu.supervisor import Supervisor

    config = load_config(config_path)
    assert config.iec104 is not None
    config = dataclasses.replace(
        config, iec104=dataclasses.replace(config.iec104, host="127.0.0.1", port=port))
    logging.basicConfig(level=config.logging.level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sup = Supervisor(config)
    # run() as `rtu run` does: start the servers, READY=1, and the sources (the 101 server is one)
    running = asyncio.create_task(sup.run())
    loop = asyncio.get_running_loop()
    db = sup.db
    names = [point_name(i) for i in range(points)]
    counter = 0

    def change() -> int:
        nonlocal counter
        i, value = event(counter, points)
        t = time.monotonic_ns()
        db.update(names[i], value, timestamp=time.time())
        counter += 1
        return t

    async def latency(n: int, interval: float) -> dict[str, Any]:
        first, stamps = counter, []
        start = loop.time()
        for k in range(n):
            delay = start + k * interval - loop.time()
            await asyncio.sleep(max(0.0, delay))
            stamps.append(change())
        return {"first": first, "count": n, "t_ns": stamps}

    async def burst(rate: float, duration: float, dry: bool = False,
                    stamps: bool = False) -> dict[str, Any]:
        do = _dry_change_factory(points) if dry else change
        cpu0 = _cpu_ns()
        first, total, sent = counter, int(rate * duration), 0
        t_first = t_last = time.monotonic_ns()
        t_ns: list[int] = []
        keep = t_ns.append if stamps else None
        chunk = max(1, int(rate * CHUNK_S))
        start = time.perf_counter()
        while sent < total:
            due = min(total, int(rate * (time.perf_counter() - start)) + 1)
            end = min(due, sent + chunk)
            while sent < end:
                t_last = do()
                if keep is not None:
                    keep(t_last)
                if sent == 0:
                    t_first = t_last
                sent += 1
            if sent < due:
                await asyncio.sleep(0)  # behind: let the output go out, then catch up
            elif sent < total:
                await asyncio.sleep(TICK_S)
        await asyncio.sleep(0.05)  # the last ASDUs leave (their CPU belongs to the burst)
        reply = {"first": first, "count": sent, "t_first_ns": t_first, "t_last_ns": t_last,
                 "cpu_ns": _cpu_ns() - cpu0, "dry": dry}
        if stamps:
            reply["t_ns"] = t_ns
        return reply

    def stats() -> dict[str, Any]:
        out = sup.outstation
        overflowed = sum(g.backlog.overflowed + sum(s.events.overflowed for s in g.sessions)
                         for g in out.groups.values())
        return {"queued": out.queued_events(), "overflowed": overflowed}

    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read_stdin() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(lines.put_nowait, line)
        loop.call_soon_threadsafe(lines.put_nowait, None)

    threading.Thread(target=read_stdin, name="control", daemon=True).start()
    apci = config.iec104.apci if config.iec104 is not None else None
    assert apci is not None
    _reply({"ready": True, "impl": "ours", "pid": os.getpid(), "k": apci.k, "w": apci.w,
            "event_queue_size": config.station.event_queue_size})
    try:
        while (line := await lines.get()) is not None:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "quit":
                break
            if cmd == "latency":
                _reply(await latency(int(msg["n"]), float(msg["interval_ms"]) / 1000))
            elif cmd == "burst":
                _reply(await burst(float(msg["rate"]), float(msg["duration"]),
                                   bool(msg.get("dry")), bool(msg.get("stamps"))))
            elif cmd == "stats":
                _reply(stats())
            else:
                _reply({"error": f"unknown command {cmd!r}"})
    finally:
        sup.stop()
        await running


# -- the reference: c104 ------------------------------------------------------------------------
def _run_ref(config_path: str, port: int, points: int, tick_rate_ms: int) -> None:
    import c104

    with open(config_path, "rb") as f:
        doc = tomllib.load(f)
    server = c104.Server(ip="127.0.0.1", port=port, tick_rate_ms=tick_rate_ms)
    station = server.add_station(common_address=COMMON_ADDRESS)
    assert station is not None
    by_name: dict[str, Any] = {}
    for p in doc["points"]:
        if p["kind"] == "single":
            by_name[p["name"]] = station.add_point(io_address=p["ioa"], type=c104.Type.M_SP_TB_1)
    for p in doc["points"]:
        if p["kind"] != "single_command":
            continue
        feedback = by_name[p["feedback"]]
        cmd = station.add_point(io_address=p["ioa"], type=c104.Type.C_SC_NA_1,
                                related_io_address=feedback.io_address,
                                related_io_autoreturn=True)
        assert cmd is not None

        def on_command(point: c104.Point, previous_info: c104.Information,
                       message: c104.IncomingMessage, feedback: Any = feedback
                       ) -> c104.ResponseState:
            feedback.value = bool(point.value)  # "the relay": its position is the feedback
            return c104.ResponseState.SUCCESS

        # c104 checks the callback's signature: bind the extra argument away
        cmd.on_receive(callable=_bind_command(on_command, c104))
    pts = [by_name[point_name(i)] for i in range(points)]
    spontaneous = c104.Cot.SPONTANEOUS
    counter = 0
    failed = 0

    def change() -> int:
        nonlocal counter, failed
        i, value = event(counter, points)
        t = time.monotonic_ns()
        p = pts[i]
        p.value = value
        if not p.transmit(cause=spontaneous):
            failed += 1
        counter += 1
        return t

    def change_batch(n: int) -> int:
        """``n`` changes handed over as c104.Batch objects of up to BATCH_MAX points each."""
        nonlocal counter, failed
        t = time.monotonic_ns()
        while n > 0:
            chunk = []
            for _ in range(min(n, BATCH_MAX)):
                i, value = event(counter, points)
                pts[i].value = value
                chunk.append(pts[i])
                counter += 1
                if i == points - 1:
                    break  # c104 sends a batch in IOA order: never wrap round inside one
            n -= len(chunk)
            if not server.transmit_batch(c104.Batch(cause=spontaneous, points=chunk)):
                failed += len(chunk)
        return t

    server.start()
    deadline = time.monotonic() + 10
    while not server.is_running and time.monotonic() < deadline:
        time.sleep(0.001)
    pp = server.protocol_parameters
    _reply({"ready": True, "impl": "ref", "pid": os.getpid(), "k": pp.send_window_size,
            "w": pp.receive_window_size, "tick_rate_ms": tick_rate_ms,
            "c104": getattr(c104, "__version__", "2.2.1")})
    try:
        for line in sys.stdin:
            msg = json.loads(line)
            cmd = msg["cmd"]
            if cmd == "quit":
                break
            if cmd == "latency":
                n, interval = int(msg["n"]), float(msg["interval_ms"]) / 1000
                first, stamps = counter, []
                start = time.perf_counter()
                for k in range(n):
                    delay = start + k * interval - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    stamps.append(change())
                _reply({"first": first, "count": n, "t_ns": stamps})
            elif cmd == "burst":
                rate, duration = float(msg["rate"]), float(msg["duration"])
                batch = bool(msg.get("batch"))
                dry = bool(msg.get("dry"))
                do = _dry_change_factory(points) if dry else change
                cpu0 = _cpu_ns()
                first, total, sent = counter, int(rate * duration), 0
                t_first = t_last = time.monotonic_ns()
                chunk = max(1, int(rate * CHUNK_S))
                start = time.perf_counter()
                while sent < total:
                    due = min(total, int(rate * (time.perf_counter() - start)) + 1)
                    end = min(due, sent + chunk)
                    if batch and not dry and end > sent:
                        t_last = change_batch(end - sent)
                        if sent == 0:
                            t_first = t_last
                        sent = end
                    while sent < end:
                        t_last = do()
                        if sent == 0:
                            t_first = t_last
                        sent += 1
                    if sent < due:
                        time.sleep(0)  # behind: give the GIL away, then catch up
                    elif sent < total:
                        time.sleep(TICK_S)
                time.sleep(0.05)  # the last ASDUs leave (their CPU belongs to the burst)
                _reply({"first": first, "count": sent, "t_first_ns": t_first,
                        "t_last_ns": t_last, "cpu_ns": _cpu_ns() - cpu0, "dry": dry})
            elif cmd == "stats":
                _reply({"transmit_failed": failed})
            else:
                _reply({"error": f"unknown command {cmd!r}"})
    finally:
        server.stop()


def _bind_command(fn: Callable[..., Any], c104: Any) -> Callable[..., Any]:
    def on_receive(point: c104.Point, previous_info: c104.Information,
                   message: c104.IncomingMessage) -> c104.ResponseState:
        return fn(point, previous_info, message)

    # c104 compares annotations as objects, not strings
    on_receive.__annotations__ = {"point": c104.Point, "previous_info": c104.Information,
                                  "message": c104.IncomingMessage,
                                  "return": c104.ResponseState}
    return on_receive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent")
    parser.add_argument("--impl", choices=("ours", "ref"), required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--points", type=int, required=True)
    parser.add_argument("--tick-rate-ms", type=int, default=100)
    args = parser.parse_args(argv)
    if args.impl == "ours":
        from rtu.servers.loop import run  # the loop `rtu run` runs on

        run(_run_ours(args.config, args.port, args.points))
    else:
        _run_ref(args.config, args.port, args.points, args.tick_rate_ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())
