"""The validated-configuration cache (rtu/config/cache.py): a hit gives the same configuration
as reading the file; any change of a file, of the program or of the cache itself is a miss or
is refused, never a wrong configuration and never a crash."""

from __future__ import annotations

import dataclasses
import logging
import pickle
from importlib import resources
from pathlib import Path

import pytest

from rtu.config import ConfigError, load_config
from rtu.config.cache import (
    CACHE_FILE,
    CacheError,
    cache_directory,
    decode,
    encode,
    load_cached,
    save_cache,
)

CSV = "name,ioa,kind,source\ndi1,100,single,sim\nai1,200,float,sim\n"
MAIN = ('points_file = "points.csv"\n[iec104]\nenabled = false\n'
        '[[relays]]\nname = "k1"\ndriver = "sim"\n')
STAMP = b"program 1"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "points.csv").write_text(CSV)
    path = tmp_path / "etc" / "rtu.toml"
    path.write_text(MAIN)
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


def _cached(site: Path, state: Path, stamp: bytes = STAMP) -> tuple[object, bool]:
    return load_cached(str(site), state, stamp)


def test_a_hit_is_the_configuration_the_file_gives(site: Path, state: Path) -> None:
    first, hit = _cached(site, state)
    assert not hit
    assert save_cache(first, state, STAMP) == state / CACHE_FILE  # type: ignore[arg-type]
    again, hit = _cached(site, state)
    assert hit
    assert again == load_config(str(site))
    # the origin (hash shown by `rtu status`, the last-known-good copy) is the files' own
    assert again.origin is not None and first.origin is not None  # type: ignore[attr-defined]
    assert again.origin.digest == first.origin.digest  # type: ignore[attr-defined]
    assert again.origin.fingerprint == first.origin.fingerprint  # type: ignore[attr-defined]


def test_every_section_of_the_annotated_example_survives_the_round_trip() -> None:
    example = resources.files("rtu.examples").joinpath("example.toml")
    with resources.as_file(example) as path:
        config = load_config(str(path))
    classes, data = encode(config)
    stored = pickle.loads(pickle.dumps((classes, data)))
    assert decode(*stored) == config


@pytest.mark.parametrize("change", ["main", "included", "program"])
def test_a_change_anywhere_is_a_miss(site: Path, state: Path, change: str) -> None:
    config, _ = _cached(site, state)
    save_cache(config, state, STAMP)  # type: ignore[arg-type]
    stamp = STAMP
    if change == "main":
        site.write_text(MAIN.replace('"k1"', '"k9"'))
    elif change == "included":
        (site.parent / "points.csv").write_text(CSV.replace("ai1", "ai9"))
    else:
        stamp = b"program 2"
    fresh, hit = _cached(site, state, stamp)
    assert not hit
    assert fresh == load_config(str(site))


def test_a_broken_file_is_not_hidden_by_the_cache(site: Path, state: Path) -> None:
    config, _ = _cached(site, state)
    save_cache(config, state, STAMP)  # type: ignore[arg-type]
    site.write_text(MAIN + "nonsense = 1\n")
    with pytest.raises(ConfigError, match="nonsense"):
        _cached(site, state)


def test_another_files_cache_is_a_miss(site: Path, state: Path, tmp_path: Path) -> None:
    config, _ = _cached(site, state)
    save_cache(config, state, STAMP)  # type: ignore[arg-type]
    other = tmp_path / "etc" / "other.toml"
    other.write_text(MAIN)
    assert not load_cached(str(other), state, STAMP)[1]


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty"])
def test_a_damaged_cache_is_logged_ignored_and_rebuilt(
        site: Path, state: Path, damage: str, caplog: pytest.LogCaptureFixture) -> None:
    config, _ = _cached(site, state)
    save_cache(config, state, STAMP)  # type: ignore[arg-type]
    path = state / CACHE_FILE
    blob = path.read_bytes()
    path.write_bytes({"truncated": blob[: len(blob) // 2],
                      "flipped": blob[:-10] + bytes([blob[-10] ^ 0xFF]) + blob[-9:],
                      "garbage": b"\x00" * 200, "empty": b""}[damage])
    with caplog.at_level(logging.WARNING, logger="rtu.config.cache"):
        fresh, hit = _cached(site, state)
    assert not hit and fresh == config
    assert "configuration cache not used" in caplog.text
    save_cache(fresh, state, STAMP)  # type: ignore[arg-type]
    assert _cached(site, state)[1]


def _forge(path: Path, payload: bytes, site: Path) -> None:
    """A cache whose key and checksum are right for ``site`` but whose payload is ours."""
    import hashlib

    from rtu.config import cache

    blob = path.read_bytes()
    head = len(cache._MAGIC) + 32
    path.write_bytes(blob[:head] + hashlib.sha256(payload).digest() + payload)


def test_a_tampered_cache_runs_no_code(site: Path, state: Path) -> None:
    """A pickle naming a global (here os.system) is refused before anything is built."""
    config, _ = _cached(site, state)
    save_cache(config, state, STAMP)  # type: ignore[arg-type]

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os
            return os.system, ("echo tampered > /dev/null",)

    _forge(state / CACHE_FILE, pickle.dumps(([("main", str(site))], [], Evil())), site)
    fresh, hit = _cached(site, state)
    assert not hit and fresh == config


@pytest.mark.parametrize("entry", [
    ("os", "system", None),  # not rtu
    ("rtu.__main__", "main", None),  # would run the program on import
    ("rtu.points.model", "Point", ("name",)),  # fields not those of the class
    ("rtu.points.model", "PointValue", None),  # not an enum
])
def test_the_class_table_names_rtu_dataclasses_and_enums_only(
        entry: tuple[str, str, tuple[str, ...] | None]) -> None:
    with pytest.raises(CacheError):
        decode([entry], (5, 0))


def test_not_plain_data_is_not_cached(site: Path, state: Path) -> None:
    with pytest.raises(CacheError, match="not plain data"):
        encode({"x": object()})
    assert cache_directory({"STATE_DIRECTORY": "/var/lib/rtu"}) == Path("/var/lib/rtu")


def test_a_configuration_with_its_own_state_directory_is_not_cached(
        site: Path, state: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    site.write_text(MAIN + f'[service]\nstate_directory = "{tmp_path / "elsewhere"}"\n')
    config, _ = _cached(site, state)
    assert save_cache(config, state, STAMP) is None  # type: ignore[arg-type]
    assert not (state / CACHE_FILE).exists()


def test_points_are_stored_by_columns_that_say_what_needs_decoding() -> None:
    """The point list is stored column by column; only the columns holding stored tuples
    (kind, groups) are decoded value by value, only those holding floats have equal floats
    shared, and the rest (names, addresses) are taken as unpickled."""
    from rtu.points.model import Point, PointKind

    points = tuple(Point(f"p{i}", 100 + i, PointKind.FLOAT, frozenset({1}), deadband=0.5 * (i % 2),
                         low=-0.0 if i % 3 else 0.0) for i in range(40))
    classes, data = encode(points)
    assert isinstance(data, tuple) and data[0] == 7  # _ROWS
    names = [f.name for f in dataclasses.fields(Point)]
    nested, floats = data[2], data[3]
    assert {names[i] for i in range(len(names)) if nested >> i & 1} == {"kind", "groups"}
    assert {names[i] for i in range(len(names)) if floats >> i & 1} == {
        "deadband", "deadband_percent", "low", "cyclic"}
    back = decode(classes, pickle.loads(pickle.dumps(data)))
    assert back == points
    assert isinstance(back, tuple)
    assert back[1].deadband is back[3].deadband  # equal floats: one object
    assert back[0].low is not back[1].low  # 0.0 and -0.0 kept apart
    assert str(back[0].low) == "0.0" and str(back[1].low) == "-0.0"
    damaged = (*data[:2], "x", *data[3:])
    with pytest.raises(CacheError):
        decode(classes, damaged)
