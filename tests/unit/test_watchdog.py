"""rtu.watchdog: pings only while healthy, latches a failure, keeps STATUS= current. A fake
notifier and a fake clock, no systemd (the datagrams themselves: tests/integration/
test_operator_cli.py)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from rtu import notify as notify_module
from rtu.watchdog import STATUS_PERIOD, Watchdog, task_alive, watchdog_interval


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Notes(list[str]):
    def __call__(self, state: str) -> bool:
        self.append(state)
        return True


def make(checks: dict[str, object] | None = None, timeout: float | None = 10.0,
         status: str = "2 masters connected") -> tuple[Watchdog, Notes, FakeClock]:
    notes, clock = Notes(), FakeClock()
    dog = Watchdog(notes, timeout=timeout, checks=checks or {},  # type: ignore[arg-type]
                   status=lambda: status, clock=clock)
    return dog, notes, clock


def test_interval_from_the_environment() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "10000000"}) == 10.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "42"}, pid=42) == 3.0
    assert watchdog_interval({"WATCHDOG_USEC": "3000000", "WATCHDOG_PID": "41"}, pid=42) is None
    assert watchdog_interval({"WATCHDOG_USEC": "x"}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "0"}) is None


def test_pings_at_half_the_timeout_while_healthy() -> None:
    dog, notes, clock = make()
    assert dog.period == 5.0
    for _ in range(3):
        assert dog.tick()
        clock.now += dog.period
    assert notes.count("WATCHDOG=1") == 3
    assert notes[0] == "STATUS=2 masters connected"  # the first status goes out at once
    assert notes.count("STATUS=2 masters connected") == 1  # unchanged: not repeated


def test_a_failed_check_stops_the_pings_for_good(caplog: pytest.LogCaptureFixture) -> None:
    healthy = {"ok": True}
    dog, notes, clock = make({"iec104": lambda: None if healthy["ok"] else "socket closed"})
    assert dog.tick()
    healthy["ok"] = False
    clock.now += 5
    assert not dog.tick()
    assert dog.failure == "iec104: socket closed"
    assert notes[-1] == "STATUS=UNHEALTHY: iec104: socket closed; 2 masters connected"
    healthy["ok"] = True  # latched: a restart by systemd is what brings it back
    for _ in range(3):
        clock.now += 5
        assert not dog.tick()
    assert notes.count("WATCHDOG=1") == 1
    assert caplog.text.count("unhealthy: iec104: socket closed") == 1


def test_a_check_that_raises_is_a_failure() -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    dog, notes, _ = make({"tasks": broken})
    assert not dog.tick()
    assert dog.failure == "tasks: health check raised RuntimeError: boom"
    assert "WATCHDOG=1" not in notes


def test_a_stalled_loop_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    dog, _, clock = make()
    dog.tick()
    clock.now += 5.1  # on time
    dog.tick()
    assert "stalled" not in caplog.text
    clock.now += 30.0  # 25 s late
    with caplog.at_level(logging.WARNING):
        dog.tick()
    assert "event loop stalled: tick 25.0 s late" in caplog.text


def test_without_a_watchdog_only_status_is_sent() -> None:
    state = {"line": "0 masters connected"}
    notes, clock = Notes(), FakeClock()
    dog = Watchdog(notes, timeout=None, status=lambda: state["line"], clock=clock)
    assert dog.period == STATUS_PERIOD and not dog.enabled
    assert not dog.tick()
    state["line"] = "1 master connected"
    clock.now += 1.0
    dog.tick()  # changed, but rate-limited
    clock.now += STATUS_PERIOD
    dog.tick()
    assert notes == ["STATUS=0 masters connected", "STATUS=1 master connected"]


def test_status_is_one_line() -> None:
    dog, notes, _ = make(status="a\nb   c")
    dog.tick()
    assert notes[0] == "STATUS=a b c"


def test_task_alive_check() -> None:
    async def main() -> list[str | None]:
        async def quick() -> None:
            return None

        async def forever() -> None:
            await asyncio.Event().wait()

        done, running = asyncio.create_task(quick()), asyncio.create_task(forever())
        await asyncio.sleep(0)
        results = [task_alive(done)(), task_alive(running)(), task_alive(None)()]
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        results.append(task_alive(running)())
        return results

    assert asyncio.run(main()) == ["task returned", None, None, "task was cancelled"]


def test_run_ticks_on_the_loop() -> None:
    async def main() -> Notes:
        dog, notes, _ = make(timeout=0.02)
        task = asyncio.create_task(dog.run())
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return notes

    assert asyncio.run(main()).count("WATCHDOG=1") >= 3


# -- rtu.notify -------------------------------------------------------------------------------
def test_notify_sends_nothing_without_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify_module.notify("READY=1") is False
