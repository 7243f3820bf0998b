from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtu.config import ConfigError, load_config
from rtu.statedir import (
    FORMAT_FILE,
    STATE_FORMAT,
    StateDirectoryError,
    check_state_format,
    state_directory,
)


def test_systemd_state_directory_wins(tmp_path: Path) -> None:
    env = {"STATE_DIRECTORY": f"{tmp_path}/a:{tmp_path}/b", "HOME": str(tmp_path)}
    assert state_directory(f"{tmp_path}/configured", env) == tmp_path / "a"
    assert (tmp_path / "a").is_dir() and not (tmp_path / "configured").exists()


def test_configured_then_per_user_default(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    made = state_directory(f"{tmp_path}/conf/rtu", env)
    assert made == tmp_path / "conf" / "rtu" and made.stat().st_mode & 0o777 == 0o700
    assert state_directory("", env) == tmp_path / ".local" / "state" / "rtu"
    assert state_directory("", {"XDG_STATE_HOME": str(tmp_path / "x")}) == tmp_path / "x" / "rtu"


def test_a_file_in_the_way_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(StateDirectoryError, match=r"state directory .*/f"):
        state_directory(str(tmp_path / "f"), {})
    with pytest.raises(StateDirectoryError, match="cannot create it"):
        state_directory(str(tmp_path / "f" / "sub"), {})


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    with pytest.raises(StateDirectoryError, match="not writable"):
        state_directory(str(ro), {})


def test_config_key_must_be_absolute(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[service]\nstate_directory = "var/lib/rtu"\n')
    with pytest.raises(ConfigError, match=r"service\.state_directory.*absolute path"):
        load_config(site)
    site.write_text('[service]\nstate_directory = "/var/lib/rtu"\n')
    assert load_config(site).service.state_directory == "/var/lib/rtu"


def test_a_new_directory_records_its_format(tmp_path: Path) -> None:
    made = state_directory(str(tmp_path / "s"), {})
    assert (made / FORMAT_FILE).read_text() == f"rtu-state-format {STATE_FORMAT}\n"
    assert check_state_format(made) == STATE_FORMAT  # read back, unchanged
    assert not list(made.glob(".*.tmp"))


def test_an_older_format_is_read(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text("rtu-state-format 1\n")
    assert check_state_format(tmp_path, supported=3) == 1
    assert (tmp_path / FORMAT_FILE).read_text() == "rtu-state-format 1\n"  # not rewritten


def test_a_newer_format_is_refused_by_a_rolled_back_release(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text(f"rtu-state-format {STATE_FORMAT + 1}\n")
    with pytest.raises(StateDirectoryError,
                       match=rf"format {STATE_FORMAT + 1} was written by a newer release; "
                             rf"this release reads formats up to {STATE_FORMAT}"):
        state_directory(str(tmp_path), {})


@pytest.mark.parametrize("garbage", ["rtu-state-format\n", "v2\n", "rtu-state-format two\n"])
def test_a_garbled_format_file_is_a_clear_error(tmp_path: Path, garbage: str) -> None:
    (tmp_path / FORMAT_FILE).write_text(garbage)
    with pytest.raises(StateDirectoryError, match="is not 'rtu-state-format N'"):
        check_state_format(tmp_path)

