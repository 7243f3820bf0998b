from __future__ import annotations

import os
from pathlib import Path

import pytest

from rtu.config import ConfigError, load_config
from rtu.statedir import StateDirectoryError, state_directory


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
