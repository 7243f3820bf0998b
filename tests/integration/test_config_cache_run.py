"""`rtu run` and the validated-configuration cache (rtu/config/cache.py), as systemd runs it
(STATE_DIRECTORY, NOTIFY_SOCKET): the first start caches after READY=1, a restart starts from
the copy, a changed file or a damaged cache is read in full again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from tests.integration.peers import free_tcp_port
from tests.integration.test_operator_cli import Notes

pytestmark = pytest.mark.integration

USED = "started from the copy"


def start(site: Path, state: Path, tmp_path: Path, name: str) -> str:
    """One start up to READY=1, stopped after it (or once the cache is written); its log."""
    notes = Notes(tmp_path / f"notify-{name}")
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / f"notify-{name}"),
               STATE_DIRECTORY=str(state))
    env.pop("WATCHDOG_USEC", None)
    before = (state / "config.cache").stat().st_mtime_ns \
        if (state / "config.cache").exists() else None
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(site),
                             "--log-level", "INFO"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        notes.wait_for("READY=1", timeout=30)
        deadline = time.monotonic() + 10  # a start from the file writes the cache after READY
        while time.monotonic() < deadline:
            cache = state / "config.cache"
            if cache.exists() and cache.stat().st_mtime_ns != before:
                break
            time.sleep(0.02)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
        notes.close()
    assert proc.returncode == 0, out
    return out


def test_a_restart_starts_from_the_cache_and_a_change_reads_the_file(tmp_path: Path) -> None:
    text = resources.files("rtu.examples").joinpath("bench.toml").read_text()
    text = text.replace('listen = "127.0.0.1:2404"', f'listen = "127.0.0.1:{free_tcp_port()}"')
    text += f'\n[service]\ncontrol_socket = "{tmp_path}/ctl/control.sock"\n'
    site = tmp_path / "site.toml"
    site.write_text(text)
    state = tmp_path / "state"
    state.mkdir()

    first = start(site, state, tmp_path, "1")
    assert USED not in first and (state / "config.cache").exists()
    second = start(site, state, tmp_path, "2")
    assert USED in second, second

    site.write_text(text + "# a comment is a change too\n")
    third = start(site, state, tmp_path, "3")
    assert USED not in third
    assert USED in start(site, state, tmp_path, "4")  # cached again

    (state / "config.cache").write_bytes(b"rtu-config-cache 1\n" + b"\x00" * 100)
    damaged = start(site, state, tmp_path, "5")
    assert USED not in damaged and "configuration cache not used" in damaged, damaged
    assert USED in start(site, state, tmp_path, "6")  # rebuilt
