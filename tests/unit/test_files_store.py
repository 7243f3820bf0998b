"""[files] (rtu/files/): the section, the directory's NOF mapping, what is not offered, the
sequence-of-events export, and the supervisor wiring the outstation to the store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from rtu.config import ConfigError, bench_config, parse_config
from rtu.files.config import FilesConfig
from rtu.files.store import DirectoryStore, directory_nof, soe_log_file
from rtu.iec.outstation.files import NOF_SEQUENCES_OF_EVENTS, FileUnavailable
from rtu.soe import SoeLog
from rtu.supervisor import Supervisor

T0 = datetime(2026, 12, 5, 10, 0, tzinfo=UTC).timestamp()
STATION = {"station": {"common_address": 1}}


def store(tmp_path: Path, log: Path | None = None, **kw: object) -> DirectoryStore:
    return DirectoryStore(FilesConfig(directory=str(tmp_path / "files"), **kw),  # type: ignore[arg-type]
                          log)


def test_the_section_is_read_with_defaults_and_a_relative_directory(tmp_path: Path) -> None:
    cfg = parse_config({**STATION, "files": {"directory": "records"}},
                       str(tmp_path / "site.toml"))
    files = cfg.section("files")
    assert files == FilesConfig(directory=str(tmp_path / "records"))
    assert parse_config(STATION, "site.toml").section("files") is None


@pytest.mark.parametrize(("files", "message"), [
    ({"max_file_size": 1 << 24}, "files.max_file_size"),
    ({"timeout": 0}, "files.timeout"),
    ({"soe_export": "yes"}, "files.soe_export"),
    ({"nof": 3}, "files.nof: unknown key"),
])
def test_bad_values_are_reported_with_their_key(files: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({**STATION, "files": files}, "site.toml")


def test_directory_files_get_a_stable_nof_from_their_name(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "fault-0001.cfg").write_bytes(b"cfg")
    (tmp_path / "files" / "fault-0001.dat").write_bytes(b"data" * 10)
    s = store(tmp_path)
    listed = {f.name: f for f in s.directory()}
    assert listed["fault-0001.cfg"].nof == directory_nof("fault-0001.cfg")
    assert 0x8000 <= listed["fault-0001.dat"].nof <= 0xFFFF
    assert listed["fault-0001.dat"].length == 40
    (tmp_path / "files" / "another.txt").write_bytes(b"x")  # a new file moves no number
    again = {f.name: f.nof for f in s.directory()}
    assert again["fault-0001.cfg"] == listed["fault-0001.cfg"].nof
    assert s.read(listed["fault-0001.dat"].nof) == b"data" * 10


def test_two_names_on_one_nof_both_get_a_number(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    by_nof: dict[int, str] = {}
    a = b = ""
    for i in range(200_000):  # find two names that collide
        name = f"r{i}.dat"
        nof = directory_nof(name)
        if nof in by_nof:
            a, b = by_nof[nof], name
            break
        by_nof[nof] = name
    assert a and b
    (tmp_path / "files" / a).write_bytes(b"A")
    (tmp_path / "files" / b).write_bytes(b"B")
    nofs = {f.name: f.nof for f in store(tmp_path, soe_export=False).directory()}
    first, second = sorted((a, b))
    assert nofs[first] == directory_nof(first)
    assert nofs[second] == (directory_nof(first) + 1 if directory_nof(first) < 0xFFFF
                            else 0x8000)


def test_links_out_hidden_files_subdirectories_and_big_files_are_not_offered(
        tmp_path: Path) -> None:
    root = tmp_path / "files"
    root.mkdir()
    secret = tmp_path / "secret.key"
    secret.write_bytes(b"do not send")
    (root / "link-out").symlink_to(secret)
    (root / "link-in").symlink_to(root / "ok.txt")
    (root / "ok.txt").write_bytes(b"ok")
    (root / ".hidden").write_bytes(b"h")
    (root / "sub").mkdir()
    (root / "sub" / "deep.txt").write_bytes(b"d")
    (root / "big.bin").write_bytes(bytes(2000))
    s = store(tmp_path, max_file_size=1000, soe_export=False)
    assert sorted(f.name for f in s.directory()) == ["link-in", "ok.txt"]
    with pytest.raises(FileUnavailable):
        s.read(directory_nof("link-out"))
    with pytest.raises(FileUnavailable):
        s.read(directory_nof("big.bin"))


def test_the_listing_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    for i in range(20):
        (tmp_path / "files" / f"f{i:02}").write_bytes(b"x")
    assert len(store(tmp_path, max_files=5, soe_export=False).directory()) == 5


def test_a_missing_directory_lists_only_the_export(tmp_path: Path) -> None:
    listed = store(tmp_path).directory()
    assert [(f.nof, f.name) for f in listed] == [(NOF_SEQUENCES_OF_EVENTS, "soe.csv")]
    assert store(tmp_path).read(NOF_SEQUENCES_OF_EVENTS).startswith(b"time,kind,point")


def _soe(tmp_path: Path) -> tuple[Supervisor, SoeLog]:
    sup = Supervisor(bench_config())
    soe = SoeLog(tmp_path / "soe.sqlite3", wall=lambda: T0 + 60)  # type: ignore[arg-type]
    soe.attach(sup.outstation)
    for i in range(10):
        sup.db.update("di04", bool(i % 2 == 0), timestamp=T0 + i)
    soe.flush()
    return sup, soe


def test_the_export_is_a_csv_snapshot_of_the_log_and_query_log_takes_a_range(
        tmp_path: Path) -> None:
    _sup, soe = _soe(tmp_path)
    s = store(tmp_path, soe.path)
    lines = s.read(NOF_SEQUENCES_OF_EVENTS).decode().splitlines()
    assert lines[0].startswith("time,kind,point,ioa,type,value")
    assert len(lines) == 11 and "di04,1004,M_SP_TB_1,on" in lines[1]
    ranged = s.log_range(T0 + 2, T0 + 4).decode().splitlines()
    assert len(ranged) == 4 and "2026-12-05T10:00:02.000Z" in ranged[1]
    size = [f.length for f in s.directory() if f.nof == NOF_SEQUENCES_OF_EVENTS]
    assert size == [len("\n".join(lines)) + 1]


def test_the_export_keeps_the_newest_events_that_fit(tmp_path: Path) -> None:
    _sup, soe = _soe(tmp_path)
    full = store(tmp_path, soe.path).read(NOF_SEQUENCES_OF_EVENTS)
    cut = store(tmp_path, soe.path, max_file_size=len(full) - 1).read(NOF_SEQUENCES_OF_EVENTS)
    assert len(cut) < len(full) and full.endswith(cut.split(b"\n", 1)[1])


def test_soe_log_file_follows_the_soe_section(tmp_path: Path) -> None:
    off = parse_config({**STATION, "soe": {"enabled": False}}, "site.toml")
    assert soe_log_file(off, {}) is None
    auto = parse_config(STATION, "site.toml")
    assert soe_log_file(auto, {}) is None
    assert soe_log_file(auto, {"STATE_DIRECTORY": str(tmp_path)}) == tmp_path / "soe.sqlite3"


def test_the_supervisor_hands_the_files_to_the_outstation(tmp_path: Path) -> None:
    cfg = parse_config({**STATION, "files": {"directory": str(tmp_path)}}, "site.toml")
    sup = Supervisor(cfg)
    assert sup.outstation.files is not None
    assert sup.outstation.files.settings.max_file_size == 1 << 20
    assert Supervisor(parse_config(STATION, "site.toml")).outstation.files is None


def test_rtu_status_counts_the_transfers(tmp_path: Path) -> None:
    from rtu.control import status_snapshot

    cfg = parse_config({**STATION, "files": {"directory": str(tmp_path)}}, "site.toml")
    assert status_snapshot(Supervisor(cfg))["files"] == {
        "completed": 0, "failed": 0, "resent_sections": 0, "timeouts": 0, "refused": 0,
        "active": 0}
    assert status_snapshot(Supervisor(parse_config(STATION, "site.toml")))["files"] is None


def test_an_ioa_the_field_sizes_cannot_carry_is_refused_with_its_key() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"station": {"common_address": 1, "ioa_size": 1},
                      "files": {"ioa": 300}}, "site.toml")
    text = str(err.value)
    assert "files.ioa" in text and "expected an IOA 0..255 (station.ioa_size 1), got 300" in text
    # the largest IOA the size carries is taken, and 104's fixed 3 octets by default
    assert parse_config({"station": {"common_address": 1, "ioa_size": 1},
                         "files": {"ioa": 255}}, "site.toml").section("files") is not None
    cfg = parse_config({**STATION, "files": {"ioa": 0xFF_FFFF}}, "site.toml")
    assert cfg.section("files") == FilesConfig(ioa=0xFF_FFFF)


def test_rtu_check_names_the_files_ioa_key(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from rtu.cli import main

    site = tmp_path / "site.toml"
    site.write_text("[station]\ncommon_address = 1\nioa_size = 2\n\n[files]\n"
                    "ioa = 70000\n")
    assert main(["check", str(site)]) == 2
    err = capsys.readouterr().err
    assert "site.toml:6: files.ioa: expected an IOA 0..65535 (station.ioa_size 2)" in err
