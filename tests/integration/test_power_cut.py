"""Power cuts, not only kill -9: the outstation's state directory on a FUSE file system that
loses every write not yet fsynced (tests/integration/lossyfs.py), `python -m rtu run` killed
at a random point of a burst of events and the unsynced writes dropped at the same moment,
many times over on the same journal. Checked after every cut: the outstation starts, the
journal is not reported damaged, and every event a master saw before the cut (with
``commit_interval = 0``; batched: every event older than the window) is delivered again, in
order, octet for octet. At the end SQLite's integrity_check of the journal says ok.

RTU_POWER_CUT_CYCLES sets the number of cuts of the eager run (default 50, about 2 s each;
the batched run does a tenth of them).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.peers import Raw104Client
from tests.integration.test_event_journal import (
    Burst,
    deliver_raw_after_restart,
    events_of,
    outstation,
    write_config,
)

pytestmark = pytest.mark.integration

CYCLES = int(os.environ.get("RTU_POWER_CUT_CYCLES", "50"))
LOSSYFS = Path(__file__).with_name("lossyfs.py")
VALUES_PER_CYCLE = 600  # each cycle's values start at cycle * this (M_ME_TE_1: < 32768)


def _why_not() -> str | None:
    if not Path("/dev/fuse").exists():
        return "no /dev/fuse"
    if shutil.which("fusermount3") is None and shutil.which("fusermount") is None:
        return "no fusermount3 (Debian package fuse3; scripts/setup-test installs it)"
    probe = subprocess.run([sys.executable, "-c", "import mfusepy"], capture_output=True,
                           text=True, timeout=60, check=False)
    if probe.returncode != 0:
        return f"mfusepy does not import (scripts/setup-test installs it): {probe.stderr[-300:]}"
    return None


class LossyMount:
    """lossyfs.py serving ``backing`` at ``mountpoint``."""

    def __init__(self, backing: Path, mountpoint: Path) -> None:
        self.mountpoint = mountpoint
        self.proc = subprocess.Popen(
            [sys.executable, str(LOSSYFS), str(backing), str(mountpoint)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 10
        while not os.path.ismount(mountpoint):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"lossyfs did not mount: {self.proc.communicate()[1]}")
            time.sleep(0.05)

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def power_cut(self) -> None:
        assert self.ask("cut") == "ok"

    def close(self) -> None:
        tool = shutil.which("fusermount3") or "fusermount"
        subprocess.run([tool, "-u", str(self.mountpoint)], capture_output=True, timeout=30,
                       check=False)
        if self.proc.poll() is None:
            subprocess.run([tool, "-uz", str(self.mountpoint)], capture_output=True,
                           timeout=30, check=False)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@contextmanager
def lossy_mount(backing: Path, mountpoint: Path) -> Iterator[LossyMount]:
    backing.mkdir()
    mountpoint.mkdir()
    mount = LossyMount(backing, mountpoint)
    try:
        yield mount
    finally:
        mount.close()


def restored_values(port: int, control: Path) -> list[tuple[int, str, int]]:
    """A master that acknowledges everything: what the journal held (after the new run's end
    of initialisation, which comes first, and before the marker the new run generates)."""
    return deliver_raw_after_restart(port, control, 15)


@pytest.mark.parametrize(("commit_interval", "share"), [(0.0, 1), (0.25, 10)],
                         ids=["eager", "batched"])
def test_power_cuts_during_bursts_lose_only_the_commit_window(
        tmp_path: Path, commit_interval: float, share: int) -> None:
    reason = _why_not()
    if reason is not None:
        pytest.skip(reason)
    cycles = max(1, CYCLES // share)
    rnd = random.Random(14 + share)
    with lossy_mount(tmp_path / "backing", tmp_path / "mnt") as mount:
        config, port = write_config(tmp_path, commit_interval)
        config.write_text(config.read_text().replace(f'state_directory = "{tmp_path}/state"',
                                                     f'state_directory = "{tmp_path}/mnt/state"'))
        required: list[tuple[int, str, int]] = []  # what the previous cut must not have lost
        generated: set[int] = set()
        lost_max = lost_total = 0
        confirmed: set[int] = set()
        must: set[int] = set()
        started = time.monotonic()
        for cycle in range(cycles):
            base = (cycle % 50) * VALUES_PER_CYCLE
            with outstation(config) as proc:  # READY=1: it started
                delivered = restored_values(port, tmp_path / "ctl" / "control.sock")
                got = [v for v, _, _ in delivered]
                assert len(got) == len(set(got)), f"cycle {cycle}: duplicates {got[:30]}"
                assert set(got) <= generated, f"cycle {cycle}: invented values"
                wanted = set(required)
                missing = [v for v, element, cot in required if (v, element, cot) not in
                           delivered]
                assert not missing, f"cycle {cycle}: lost {len(missing)} events: {missing[:20]}"
                # in their original order, octet for octet (time tag and cause included)
                assert [e for e in delivered if e in wanted] == required
                # batched: every event older than the window, sent or not
                assert must <= set(got), f"cycle {cycle}: lost {sorted(must - set(got))[:20]}"
                lost = len(confirmed - set(got))  # confirmed to the operator, never delivered
                lost_max = max(lost_max, lost)
                lost_total += lost
                with Raw104Client(port, w=1 << 30) as silent:  # sees what is sent, never acks
                    silent.startdt()
                    burst = Burst(tmp_path / "ctl" / "control.sock", per_tick=10, tick=0.005,
                                  first=base + 1)
                    time.sleep(rnd.uniform(0.05, 0.3))
                    cut_at = time.time()
                    os.kill(proc.pid, signal.SIGKILL)  # the power goes...
                    proc.wait(5)
                    mount.power_cut()  # ...and with it what was not fsynced
                    burst.stop()
                    while silent.recv(0.1) is not None:
                        pass
                    seen = events_of(silent.received)
            values = len(burst.confirmed)
            generated |= {base + i for i in range(1, values + burst.per_tick + 1)}
            confirmed = {base + i for i in range(1, values + 1)}
            if commit_interval == 0:
                required = seen  # committed before it was sent
            else:
                safe = {base + i + 1 for i, t in enumerate(burst.confirmed)
                        if t < cut_at - commit_interval - 0.5}
                required = [e for e in seen if e[0] in safe]
                must = safe
        with outstation(config):
            delivered = restored_values(port, tmp_path / "ctl" / "control.sock")
            wanted = set(required)
            assert [e for e in delivered if e in wanted] == required
        elapsed = time.monotonic() - started
        stats = mount.ask("stats")
    journal = tmp_path / "backing" / "state" / "events.sqlite3"
    check = sqlite3.connect(journal).execute("PRAGMA integrity_check").fetchone()[0]
    log = (tmp_path / "rtu.log").read_text()
    print(f"\npower cuts ({'eager' if commit_interval == 0 else 'batched'}): {cycles} cycles in "
          f"{elapsed:.0f} s; lossyfs {stats}; integrity_check {check}; events confirmed to "
          f"the operator but lost by a cut: at most {lost_max} in one cut, {lost_total} in all "
          f"({'none of them sent to a master' if commit_interval == 0 else 'all inside the window'})")
    assert check == "ok"
    for damage in ("is unusable", "unreadable", "is damaged", "WITHOUT PERSISTENCE"):
        assert damage not in log, damage
    assert log.count("outstation ready") == cycles + 1
