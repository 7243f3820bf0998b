from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

import rtu.supervisor as supervisor_module
from rtu.config import bench_config
from rtu.supervisor import Supervisor


class FlakySource:
    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.runs = 0
        self.steady = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise OSError("device went away")
        self.steady.set()
        await asyncio.Event().wait()


def test_a_failing_source_is_restarted_with_backoff(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(supervisor_module, "RESTART_BACKOFF_FIRST", 0.01)

    async def main() -> int:
        sup = Supervisor(bench_config())
        source = FlakySource(failures=3)
        task = asyncio.create_task(sup._supervise(source))
        await asyncio.wait_for(source.steady.wait(), 5)
        task.cancel()
        await sup.close()
        return source.runs

    assert asyncio.run(main()) == 4
    assert caplog.text.count("source flaky failed; restarting") == 3


def test_start_up_state_is_not_reported_as_events() -> None:
    async def main() -> list[str]:
        sup = Supervisor(bench_config())
        backlog = sup.outstation.groups["iec104"].backlog.take_all()
        await sup.close()
        return [record.type_id.name for record in backlog]

    # an end of initialisation per station of the bench (common addresses 1, 2), then nothing
    assert asyncio.run(main()) == ["M_EI_NA_1", "M_EI_NA_1"]


def test_a_masters_clock_offset_survives_a_restart_in_the_state_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 15 item 2: the supervisor keeps the offset in the state directory and hands it
    back to the next outstation; the system clock's state is read at start-up."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    monkeypatch.setattr(supervisor_module, "system_clock_synchronised", lambda: True)
    base = bench_config()
    config = dataclasses.replace(base, service=dataclasses.replace(
        base.service, state_directory=str(tmp_path)))
    first = Supervisor(config)
    assert first.outstation.system_clock_synchronised
    assert first.outstation.on_clock_sync is not None
    first.outstation.on_clock_sync(12.5, first.outstation.clock.wall())
    assert (tmp_path / supervisor_module.CLOCK_OFFSET_FILE).exists()
    second = Supervisor(config)
    assert second.outstation.clock_offset == 12.5 and second.outstation.clock_synchronised
    # without a configured state directory (and outside systemd) nothing is kept
    assert Supervisor(base).outstation.on_clock_sync is None
