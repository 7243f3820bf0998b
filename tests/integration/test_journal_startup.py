"""`rtu run` never fails to start on its journal (python -m rtu run in a subprocess, READY=1
awaited): a damaged file is moved aside and a new journal started; an unusable path leaves the
outstation running without persistence, which `rtu status` and STATUS= say."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_event_journal import REPO, outstation, write_config

pytestmark = pytest.mark.integration


def status(tmp_path: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "rtu", "status", "--socket", str(tmp_path / "ctl" / "control.sock")],
        cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
        timeout=30, check=True)
    return result.stdout


@pytest.mark.parametrize("damage", ["directory", "dangling symlink", "text rows", "empty file"])
def test_a_damaged_journal_is_moved_aside_and_the_outstation_starts(
        tmp_path: Path, damage: str) -> None:
    config, _ = write_config(tmp_path, 0.0)
    state = tmp_path / "state"
    state.mkdir()
    path = state / "events.sqlite3"
    if damage == "directory":
        path.mkdir()
    elif damage == "dangling symlink":
        path.symlink_to(tmp_path / "nowhere" / "x")
    elif damage == "empty file":
        path.write_bytes(b"")
    else:
        db = sqlite3.connect(path)
        db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, asdu BLOB NOT NULL)")
        db.execute("CREATE TABLE marks (grp TEXT PRIMARY KEY, low INTEGER NOT NULL)")
        db.execute("INSERT INTO events VALUES (1, 'text where an ASDU belongs')")
        db.commit()
        db.close()
    with outstation(config):
        text = status(tmp_path)
    assert "WITHOUT PERSISTENCE" not in text
    log = (tmp_path / "rtu.log").read_text()
    if damage == "text rows":
        assert "1 unreadable rows skipped at start-up" in text
        assert "event 1 unreadable" in log
    else:
        assert "is unusable" in log and "moved to" in log and str(path) in log
        assert list(state.glob("events.sqlite3.corrupt-*"))


def test_an_unusable_journal_path_runs_without_persistence_and_says_so(tmp_path: Path) -> None:
    config, _ = write_config(tmp_path, 0.0)
    (tmp_path / "blocker").write_text("")
    config.write_text(config.read_text().replace(
        "commit_interval = 0.0", f'commit_interval = 0.0\npath = "{tmp_path}/blocker/x.sqlite3"'))
    check = subprocess.run([sys.executable, "-m", "rtu", "check", str(config)], cwd=REPO,
                           env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                           text=True, timeout=30, check=False)
    assert check.returncode == 1 and "without persistence" in check.stderr
    with outstation(config):
        text = status(tmp_path)
    assert "RUNNING WITHOUT PERSISTENCE" in text and "blocker" in text
    assert "RUNNING WITHOUT PERSISTENCE" in (tmp_path / "rtu.log").read_text()
