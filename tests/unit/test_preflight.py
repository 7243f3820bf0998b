"""`rtu check` reports the path problems `rtu run` would meet (nothing is created)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rtu.cli import main
from rtu.config import AppConfig, JournalConfig, ServiceConfig, bench_config
from rtu.preflight import check_paths


def config(state: Path, journal: str = "events.sqlite3", *, enabled: bool = True) -> AppConfig:
    return dataclasses.replace(
        bench_config(), service=ServiceConfig(state_directory=str(state)),
        journal=JournalConfig(enabled=enabled, path=journal))


@pytest.fixture(autouse=True)
def _no_systemd_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)


def test_a_fine_setup_has_no_finding_and_nothing_is_created(tmp_path: Path) -> None:
    assert check_paths(config(tmp_path / "state")) == []
    assert not (tmp_path / "state").exists()


def test_a_journal_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    # `rtu run` creates the state directory, not the directory of an absolute journal path
    [(kind, text)] = check_paths(config(tmp_path, str(tmp_path / "sub" / "events.sqlite3")))
    assert kind == "error" and "without persistence" in text and "does not exist" in text
    (tmp_path / "sub").mkdir()
    assert check_paths(config(tmp_path, str(tmp_path / "sub" / "events.sqlite3"))) == []


def test_a_state_directory_that_is_a_file_is_an_error_when_the_journal_needs_it(
        tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    [(kind, text)] = check_paths(config(tmp_path / "state"))
    assert kind == "error" and "not a directory" in text
    [(kind, _)] = check_paths(config(tmp_path / "state", enabled=False))
    assert kind == "warning"


@pytest.mark.parametrize("damage", ["directory", "empty", "text"])
def test_a_journal_file_that_would_be_moved_aside_is_a_warning(tmp_path: Path,
                                                                damage: str) -> None:
    path = tmp_path / "events.sqlite3"
    if damage == "directory":
        path.mkdir()
    else:
        path.write_text("" if damage == "empty" else "hello")
    [(kind, text)] = check_paths(config(tmp_path))
    assert kind == "warning" and "move it aside" in text and str(path) in text


def test_rtu_check_fails_on_an_error_and_names_it(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("")
    site = tmp_path / "site.toml"
    site.write_text(f"""
[station]
common_address = 1
[journal]
enabled = true
path = "{tmp_path}/blocker/events.sqlite3"
[[points]]
name = "p"
ioa = 1
kind = "single"
source = "sim"
""")
    assert main(["check", str(site)]) == 1
    err = capsys.readouterr().err
    assert f"{site}: error: event journal {tmp_path}/blocker/events.sqlite3" in err
