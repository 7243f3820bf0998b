"""The last-known-good copy (rtu/lastgood.py) and what a reload would change
(rtu/configdiff.py), without a running outstation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rtu.config import ConfigError, load_config
from rtu.configdiff import compare, summary
from rtu.lastgood import load_last_good, save_last_good, startup_state_directory

CSV = "name,ioa,kind,source\ndi1,100,single,sim\nai1,200,float,sim\n"
MAIN = ('points_file = "lists/points.csv"\n[iec104]\nenabled = false\n'
        '[[relays]]\nname = "k1"\ndriver = "sim"\n[[relays]]\nname = "k2"\ndriver = "sim"\n')


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "etc" / "lists").mkdir(parents=True)
    (tmp_path / "etc" / "lists" / "points.csv").write_text(CSV)
    path = tmp_path / "etc" / "rtu.toml"
    path.write_text(MAIN)
    return path


def test_the_copy_runs_when_the_file_is_broken(site: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    good = load_config(site)
    assert save_last_good(good, state) == state / "config"
    manifest = json.loads((state / "config" / "manifest.json").read_text())
    assert manifest["source"] == str(site) and manifest["hash"] == good.origin.digest  # type: ignore[union-attr]
    # the file and its point list are broken afterwards; the copy is what was loaded
    site.write_text(MAIN + "nonsense = 1\n")
    (site.parent / "lists" / "points.csv").write_text("garbage\n")
    fallback = load_last_good(state, "the error", str(site))
    assert fallback is not None and fallback.origin is not None
    assert fallback.origin.fallback == "the error"
    assert fallback.origin.digest == good.origin.digest  # type: ignore[union-attr]
    assert fallback.points == good.points and fallback.source == str(site)
    # a fallback is not kept again; another file's copy is not used
    assert save_last_good(fallback, state) is None
    assert load_last_good(state, "x", str(tmp_path / "other.toml")) is None


def test_no_copy_or_a_damaged_one(site: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    assert load_last_good(state, "x", str(site)) is None
    save_last_good(load_config(site), state)
    fingerprint = load_config(site).origin.fingerprint  # type: ignore[union-attr]
    copy = state / "config" / f"{fingerprint[:16]}-1-points_file.csv"
    copy.write_text(CSV.replace("200", "201"))
    with pytest.raises(ConfigError, match="does not match its fingerprint"):
        load_last_good(state, "x", str(site))
    (state / "config" / "manifest.json").write_text("{not json")
    assert load_last_good(state, "x", str(site)) is None


def test_a_power_cut_before_the_manifest_switch_leaves_the_old_copy(site: Path,
                                                                    tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    good = load_config(site)
    save_last_good(good, state)
    before = (state / "config" / "manifest.json").read_bytes()
    # the new files written, the power gone before manifest.json was replaced
    site.write_text(MAIN.replace("enabled = false", "enabled = false\nk = 10"))
    newer = load_config(site)
    assert newer.origin is not None
    (state / "config" / f"{newer.origin.fingerprint[:16]}-0-main.toml").write_bytes(
        newer.origin.files[0].data)
    (state / "config" / "manifest.json.new").write_text("{half")
    assert (state / "config" / "manifest.json").read_bytes() == before
    fallback = load_last_good(state, "x", str(site))
    assert fallback is not None and fallback.origin is not None
    assert fallback.origin.digest == good.origin.digest  # type: ignore[union-attr]


def test_a_new_configuration_replaces_the_copy(site: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    save_last_good(load_config(site), state)
    site.write_text(MAIN.replace("enabled = false", "enabled = false\nk = 10"))
    newer = load_config(site)
    save_last_good(newer, state)
    kept = json.loads((state / "config" / "manifest.json").read_text())
    assert newer.origin is not None
    assert kept["hash"] == newer.digest == newer.origin.digest  # sha256 of the main file
    fingerprint = kept["fingerprint"]
    assert fingerprint == newer.origin.fingerprint
    assert sorted(p.name for p in (state / "config").iterdir()) == [  # the old copies gone
        f"{fingerprint[:16]}-0-main.toml", f"{fingerprint[:16]}-1-points_file.csv",
        "manifest.json"]


def test_a_changed_point_list_alone_replaces_the_copy(site: Path, tmp_path: Path) -> None:
    """The main file unchanged (the same shown hash), its CSV point list changed: the copy
    follows, since the last-known-good must hold what ran."""
    state = tmp_path / "state"
    state.mkdir()
    first = load_config(site)
    save_last_good(first, state)
    (site.parent / "lists" / "points.csv").write_text(CSV.replace("200", "201"))
    newer = load_config(site)
    assert newer.digest == first.digest
    save_last_good(newer, state)
    site.write_text("broken [")
    fallback = load_last_good(state, "x", str(site))
    assert fallback is not None and fallback.points == newer.points != first.points


def test_state_directory_from_a_broken_file(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    path = tmp_path / "rtu.toml"
    path.write_text(f'[service]\nstate_directory = "{tmp_path}/st"\nbogus = 1\n')
    assert startup_state_directory(str(path)) == tmp_path / "st"
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "sd"))
    path.write_text("this is [ not TOML")
    assert startup_state_directory(str(path)) == tmp_path / "sd"


def test_diff_names_points_sources_servers_and_outputs(site: Path) -> None:
    old = summary(load_config(site))
    assert compare(old, old)[0].startswith("nothing changed (hash ")
    (site.parent / "lists" / "points.csv").write_text(
        "name,ioa,kind,source,groups\ndi1,100,single,sim,2\ndi2,101,single,sim,\n")
    site.write_text(MAIN.replace('name = "k2"\ndriver = "sim"', 'name = "k2"\ndriver = "sim"\n'
                                 'initial = true')
                    .replace("enabled = false", 'listen = "127.0.0.1:2405"')
                    + "[station]\ncommon_address = 5\n")
    lines = compare(old, summary(load_config(site)))
    assert lines[0] == "sections changed: station, iec104, points, relays"
    assert "applied live: station" in lines
    assert "server restarted: 104 server (listener reopened, masters reconnect)" in lines
    assert any(line.startswith("field side rebuilt") for line in lines)
    assert "outputs rebuilt (settings changed: may switch to their initial state): k2" in lines
    assert "outputs kept as they are: 1" in lines
    assert "points added (1): di2 (ioa 101)" in lines
    assert "points removed (1): ai1 (ioa 200)" in lines
    assert "  di1: groups - -> 2" in lines


def test_diff_says_what_a_reload_would_refuse(site: Path) -> None:
    old = summary(load_config(site))
    site.write_text(MAIN + '[service]\nreload = "live-only"\n[journal]\nenabled = true\n')
    (site.parent / "lists" / "points.csv").write_text(CSV.replace("ai1", "ai2"))
    lines = compare(old, summary(load_config(site)))
    assert lines[0].startswith("REFUSED: journal.enabled or journal.path changed")
    assert lines[1].startswith("REFUSED: the field side would be rebuilt")
