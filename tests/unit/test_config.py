"""rtu.config: the bench profile, the annotated example, and every kind of validation error."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rtu.config import (
    AppConfig,
    CommandConfig,
    ConfigError,
    FieldSizes,
    LoggingConfig,
    RelayConfig,
    SimulationConfig,
    bench_config,
    load_config,
    parse_config,
    parse_listen,
)
from rtu.iec.cs104.connection import ApciParameters
from rtu.iec.outstation import OutstationConfig
from rtu.points.model import Point, PointKind
from rtu.servers.iec104 import Iec104Settings

SRC = "site.toml"

# Every key of the schema (public names: DESIGN.md rule 9). example.toml must use each one.
SCHEMA: dict[str, set[str]] = {
    "station": {"common_address", "cot_size", "ca_size", "ioa_size", "select_timeout",
                "event_queue_size", "time_invalid_until_sync"},
    "iec104": {"enabled", "listen", "k", "w", "t0", "t1", "t2", "t3", "max_connections",
               "allowed_masters"},
    "iec101": {"enabled", "device", "baudrate", "parity", "bytesize", "stopbits", "rs485", "mode",
               "link_address", "link_address_size", "remote_link_address", "single_char_ack",
               "repeat_timeout", "max_repeats", "test_interval"},
    "commands": {"short_pulse", "long_pulse", "default_qu"},
    "simulation": {"seed", "digital_interval", "analog_interval", "counter_interval"},
    "logging": {"level"},
    "relays": {"name", "driver", "initial"},
    "points": {"name", "ioa", "kind", "source", "groups", "deadband", "deadband_percent", "range",
               "description", "target", "feedback", "select_required"},
}


# keys a section cannot be without (so that a test breaking another key sees one error only)
REQUIRED_KEYS: dict[str, dict[str, Any]] = {"iec101": {"device": "/dev/ttyUSB0"}}


def example_text() -> str:
    return resources.files("rtu.examples").joinpath("example.toml").read_text(encoding="utf-8")


def example_path() -> Path:
    return Path(str(resources.files("rtu.examples").joinpath("example.toml")))


def minimal() -> dict[str, Any]:
    """A small valid document to break one key at a time."""
    return {
        "station": {"common_address": 7},
        "relays": [{"name": "r1"}],
        "points": [
            {"name": "p_single", "ioa": 1, "kind": "single", "source": "sim"},
            {"name": "p_double", "ioa": 2, "kind": "double"},
            {"name": "p_float", "ioa": 3, "kind": "float", "range": [0, 10], "deadband": 0.1},
            {"name": "p_counter", "ioa": 4, "kind": "counter", "groups": [1]},
            {"name": "p_cmd", "ioa": 5, "kind": "single_command", "target": "r1",
             "feedback": "p_single"},
            {"name": "p_dcmd", "ioa": 6, "kind": "double_command", "target": "r1",
             "feedback": "p_double"},
        ],
    }


def errors_of(data: Any, source: str = SRC) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, source)
    exc = info.value
    assert exc.errors, "a ConfigError always carries at least one error"
    assert str(exc) == "\n".join(exc.errors)
    for line in exc.errors:
        assert line.startswith(f"{source}: "), line
        assert line.splitlines() == [line]
    return exc.errors


def single_error(data: Any) -> str:
    errors = errors_of(data)
    assert len(errors) == 1, errors
    return errors[0]


def with_point(**fields: Any) -> dict[str, Any]:
    data = minimal()
    data["points"].append({"name": "extra", "ioa": 99, **fields})
    return data


EXTRA = "points[6]"  # the index of the point with_point() appends


# -- the shipped files -----------------------------------------------------------------------------
class TestBench:
    def test_source_and_station(self) -> None:
        config = bench_config()
        assert isinstance(config, AppConfig)
        assert config.source == "<bench>"
        assert config.station.common_address == 1
        assert config.field_sizes == FieldSizes()
        assert config.iec104 is not None
        assert (config.iec104.host, config.iec104.port) == ("127.0.0.1", 2404)
        assert config.iec104.apci == ApciParameters()

    def test_point_map(self) -> None:
        points = {p.name: p for p in bench_config().points}
        expected: dict[str, tuple[int, PointKind, str]] = {}
        for i in range(1, 17):
            expected[f"di{i:02d}"] = (1000 + i, PointKind.SINGLE, "sim")
        for i in range(1, 5):
            expected[f"dp{i}"] = (2000 + i, PointKind.DOUBLE, "sim")
        for i in range(1, 9):
            expected[f"ai{i}"] = (3000 + i, PointKind.FLOAT, "sim")
            expected[f"relay{i}_pos"] = (1100 + i, PointKind.SINGLE, "")
            expected[f"relay{i}_cmd"] = (5000 + i, PointKind.SINGLE_COMMAND, "")
        for i in range(1, 3):
            expected[f"counter{i}"] = (4000 + i, PointKind.COUNTER, "sim")
        assert {n: (p.ioa, p.kind, p.source) for n, p in points.items()} == expected
        assert len(bench_config().points) == len(expected) == 46

    def test_analogs_commands_relays_groups(self) -> None:
        config = bench_config()
        points = {p.name: p for p in config.points}
        for i in range(1, 9):
            ai = points[f"ai{i}"]
            assert (ai.low, ai.high) == (0.0, 100.0)
            assert 0 < ai.deadband <= 1
            assert ai.groups == frozenset({2})
            cmd = points[f"relay{i}_cmd"]
            assert (cmd.target, cmd.feedback) == (f"relay{i}", f"relay{i}_pos")
        assert config.relays == tuple(RelayConfig(f"relay{i}", "sim", False) for i in range(1, 9))
        for i in range(1, 17):
            assert points[f"di{i:02d}"].groups == (frozenset({1}) if i <= 8 else frozenset())

    def test_bench_file_is_valid_on_its_own(self, tmp_path: Path) -> None:
        text = resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")
        path = tmp_path / "bench.toml"
        path.write_text(text, encoding="utf-8")
        assert load_config(path).points == bench_config().points


class TestExample:
    def test_loads(self) -> None:
        config = load_config(example_path())
        assert config.source == str(example_path())
        assert config.iec104 is not None
        assert config.iec104.allowed_masters  # the example shows a non-empty list
        kinds = {p.kind for p in config.points}
        assert PointKind.SINGLE_COMMAND in kinds and PointKind.DOUBLE_COMMAND in kinds

    def test_uses_every_key(self) -> None:
        doc = tomllib.loads(example_text())
        assert set(doc) == set(SCHEMA)
        for section, keys in SCHEMA.items():
            value = doc[section]
            used = set().union(*(set(t) for t in value)) if isinstance(value, list) else set(value)
            assert used == keys, section

    def test_schema_is_complete(self) -> None:
        """The parser accepts exactly SCHEMA's keys, so example.toml documents the real schema."""
        listed: dict[str | None, set[str]] = {}
        for section in [None, *SCHEMA]:
            data = minimal()
            if section is None:
                data["not_a_key"] = 1
                path = "not_a_key"
            elif section in ("relays", "points"):
                data[section][0]["not_a_key"] = 1
                path = f"{section}[0].not_a_key"
            else:
                data[section] = {"not_a_key": 1, **REQUIRED_KEYS.get(section, {})}
                path = f"{section}.not_a_key"
            prefix = f"{SRC}: {path}: unknown key; expected one of "
            line = single_error(data)
            assert line.startswith(prefix)
            listed[section] = set(line.removeprefix(prefix).split(", "))
        expected: dict[str | None, set[str]] = {None: set(SCHEMA)}
        expected.update(SCHEMA)
        assert listed == expected

    def test_everything_defaults(self) -> None:
        config = parse_config({}, "empty.toml")
        assert config.station == OutstationConfig()
        assert config.field_sizes == FieldSizes()
        assert config.iec104 == Iec104Settings()
        assert config.points == () and config.relays == ()
        assert config.commands == CommandConfig()
        assert config.simulation == SimulationConfig()
        assert config.logging == LoggingConfig()

    def test_mapping(self) -> None:
        data = minimal()
        data["station"] = {"common_address": 200, "cot_size": 1, "ca_size": 1, "ioa_size": 2,
                           "select_timeout": 3, "event_queue_size": 5,
                           "time_invalid_until_sync": True}
        data["iec104"] = {"listen": "[::1]:0", "k": 20, "w": 10, "t0": 5, "t1": 4.5, "t2": 1,
                          "t3": 7, "max_connections": 2, "allowed_masters": ["10.0.0.0/8"]}
        data["commands"] = {"short_pulse": 1, "long_pulse": 3, "default_qu": "long"}
        data["simulation"] = {"seed": 42, "digital_interval": 1, "analog_interval": 0.5,
                              "counter_interval": 9}
        data["logging"] = {"level": "debug"}
        data["relays"] = [{"name": "r1", "driver": "sim", "initial": True}]
        data["points"][2].update(deadband_percent=2.5, description="d", groups=[16, 3, 3])
        data["points"][4]["select_required"] = True
        config = parse_config(data, SRC)
        assert config.station == OutstationConfig(200, 3.0, 5, True)
        assert config.field_sizes == FieldSizes(1, 1, 2)
        assert config.iec104 == Iec104Settings(
            "::1", 0, ApciParameters(20, 10, 5.0, 4.5, 1.0, 7.0), 2, ("10.0.0.0/8",)
        )
        assert config.commands == CommandConfig(1.0, 3.0, "long")
        assert config.simulation == SimulationConfig(42, 1.0, 0.5, 9.0)
        assert config.logging == LoggingConfig("DEBUG")
        assert config.relays == (RelayConfig("r1", "sim", True),)
        assert config.points[2] == Point(
            "p_float", 3, PointKind.FLOAT, groups=frozenset({3, 16}), deadband=0.1,
            deadband_percent=2.5, low=0.0, high=10.0, description="d",
        )
        assert isinstance(config.points[2].low, float)
        assert config.points[4] == Point("p_cmd", 5, PointKind.SINGLE_COMMAND, target="r1",
                                         feedback="p_single", select_required=True)
        assert [p.name for p in config.points] == [p["name"] for p in data["points"]]

    def test_iec104_disabled(self) -> None:
        data = minimal()
        data["iec104"] = {"enabled": False, "listen": "0.0.0.0:2404"}
        assert parse_config(data, SRC).iec104 is None

    def test_iec104_disabled_is_still_checked(self) -> None:
        data = minimal()
        data["iec104"] = {"enabled": False, "listen": "nowhere"}
        assert single_error(data).startswith(f"{SRC}: iec104.listen: ")

    def test_seed_is_optional(self) -> None:
        data = minimal()
        data["simulation"] = {"digital_interval": 1.0}
        assert parse_config(data, SRC).simulation.seed is None


# -- reading files ---------------------------------------------------------------------------------
class TestLoad:
    def test_missing_file(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.toml"
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.errors == [f"{path}: cannot read the file: No such file or directory"]

    def test_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError) as info:
            load_config(tmp_path)
        assert info.value.errors[0].startswith(f"{tmp_path}: cannot read the file: ")

    def test_syntax_error_has_line_and_column(self, tmp_path: Path) -> None:
        path = tmp_path / "site.toml"
        path.write_text('[station]\ncommon_address = 1\nselect_timeout = = 3\n', encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        (line,) = info.value.errors
        assert line.startswith(f"{path}: TOML syntax error: ")
        assert "line 3, column 18" in line

    def test_duplicate_table_is_a_syntax_error(self, tmp_path: Path) -> None:
        path = tmp_path / "site.toml"
        path.write_text("[station]\n[station]\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert "line 2" in str(info.value)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "site.toml"
        path.write_bytes(b'[station]\n# caf\xe9\n')
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert info.value.errors == [f"{path}: expected UTF-8 text, got byte 0xE9 on line 2"]

    def test_validation_error_names_the_path_given(self, tmp_path: Path) -> None:
        path = tmp_path / "site.toml"
        path.write_text("[[points]]\nname = 'a'\nioa = 'x'\nkind = 'single'\n", encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(str(path))
        assert info.value.errors == [
            f"{path}: points[0].ioa: expected an integer 1..16777215 (ioa_size 3), got 'x'"
        ]

    def test_config_error_from_a_string(self) -> None:
        exc = ConfigError("a.toml: x: one\na.toml: y: two")
        assert exc.errors == ["a.toml: x: one", "a.toml: y: two"]
        assert str(exc) == "a.toml: x: one\na.toml: y: two"


# -- one test per kind of error --------------------------------------------------------------------
class TestStructure:
    def test_document_not_a_table(self) -> None:
        assert single_error([1, 2]) == (
            f"{SRC}: expected a TOML document (a table of sections), got [1, 2]"
        )

    def test_unknown_section(self) -> None:
        data = minimal()
        data["staton"] = {}
        assert single_error(data) == (
            f"{SRC}: staton: unknown key (did you mean 'station'?); expected one of station, "
            "iec104, iec101, commands, simulation, logging, relays, points"
        )

    def test_unknown_key(self) -> None:
        data = minimal()
        data["station"]["comon_address"] = 3
        assert single_error(data).startswith(
            f"{SRC}: station.comon_address: unknown key (did you mean 'common_address'?); "
            "expected one of common_address, "
        )

    def test_unknown_key_in_a_point_and_a_relay(self) -> None:
        data = minimal()
        data["points"][1]["dead_band"] = 1
        data["relays"][0]["intial"] = True
        assert errors_of(data) == [
            (f"{SRC}: relays[0].intial: unknown key (did you mean 'initial'?); expected one of "
             "name, driver, initial"),
            (f"{SRC}: points[1].dead_band: unknown key (did you mean 'deadband'?); expected one of "
             "name, ioa, kind, source, groups, deadband, deadband_percent, range, description, "
             "target, feedback, select_required"),
        ]

    def test_odd_keys_are_quoted(self) -> None:
        data = minimal()
        data["station"]["a b"] = 1
        assert single_error(data).startswith(f'{SRC}: station."a b": unknown key; ')
        data["station"] = {'x\n"\\\u2028': 1}
        assert single_error(data).startswith(
            f'{SRC}: station."x\\u000A\\"\\\\\\u2028": unknown key; '
        )

    def test_section_not_a_table(self) -> None:
        data = minimal()
        data["iec104"] = "127.0.0.1:2404"
        assert single_error(data) == (
            f"{SRC}: iec104: expected a table ([iec104]), got '127.0.0.1:2404'"
        )

    def test_points_not_an_array_of_tables(self) -> None:
        data = minimal()
        data["points"] = {"name": "x", "ioa": 1, "kind": "single"}  # [points] instead of [[points]]
        assert single_error(data).startswith(
            f"{SRC}: points: expected an array of tables ([[points]]), got {{'name': 'x'"
        )
        data = minimal()
        data["relays"] = [{"name": "r1"}, "r2"]
        assert f"{SRC}: relays[1]: expected a table ([[relays]]), got 'r2'" in errors_of(data)

    def test_long_values_are_shortened(self) -> None:
        data = minimal()
        data["station"]["common_address"] = "x" * 500
        line = single_error(data)
        assert line.endswith("...") and len(line) < 250


class TestTypes:
    def test_string_where_a_number_belongs(self) -> None:
        data = minimal()
        data["station"]["select_timeout"] = "10"
        assert single_error(data) == (
            f"{SRC}: station.select_timeout: expected a number of seconds > 0, got '10'"
        )

    def test_bool_is_not_an_int(self) -> None:
        data = minimal()
        data["station"]["event_queue_size"] = True
        assert single_error(data) == (
            f"{SRC}: station.event_queue_size: expected an integer >= 1, got True"
        )

    def test_bool_is_not_a_float(self) -> None:
        data = minimal()
        data["commands"] = {"short_pulse": True}
        assert single_error(data) == (
            f"{SRC}: commands.short_pulse: expected a number of seconds > 0, got True"
        )

    def test_an_int_is_fine_where_a_float_belongs(self) -> None:
        data = minimal()
        data["station"]["select_timeout"] = 3
        config = parse_config(data, SRC)
        assert config.station.select_timeout == 3.0
        assert isinstance(config.station.select_timeout, float)

    def test_a_float_is_not_an_int(self) -> None:
        data = minimal()
        data["iec104"] = {"k": 12.0}
        assert single_error(data) == f"{SRC}: iec104.k: expected an integer >= 1, got 12.0"

    def test_non_finite_numbers(self) -> None:
        data = minimal()
        data["simulation"] = {"analog_interval": float("inf")}
        data["points"][2]["deadband"] = float("nan")
        assert errors_of(data) == [
            f"{SRC}: simulation.analog_interval: expected a number of seconds > 0, got inf",
            f"{SRC}: points[2].deadband: expected a number >= 0, got nan",
        ]

    def test_huge_int_where_a_float_belongs(self) -> None:
        data = minimal()
        data["station"]["select_timeout"] = 10**400
        assert single_error(data).startswith(
            f"{SRC}: station.select_timeout: expected a number of seconds > 0, got 1000"
        )

    def test_bool_and_string_keys(self) -> None:
        data = minimal()
        data["station"]["time_invalid_until_sync"] = "yes"
        data["points"][4]["select_required"] = 1
        data["points"][0]["description"] = 5
        assert errors_of(data) == [
            f"{SRC}: station.time_invalid_until_sync: expected true or false, got 'yes'",
            f"{SRC}: points[0].description: expected a string, got 5",
            f"{SRC}: points[4].select_required: expected true or false, got 1",
        ]


class TestStation:
    @pytest.mark.parametrize("value", [0, 65535, 70000, -1])
    def test_common_address_ca_size_2(self, value: int) -> None:
        data = minimal()
        data["station"]["common_address"] = value
        assert single_error(data) == (
            f"{SRC}: station.common_address: expected an integer 1..65534 (ca_size 2; 0 and "
            f"broadcast 65535 are not allowed), got {value}"
        )

    def test_common_address_ca_size_1(self) -> None:
        data = minimal()
        data["station"].update(ca_size=1, common_address=255)
        assert single_error(data) == (
            f"{SRC}: station.common_address: expected an integer 1..254 (ca_size 1; 0 and "
            "broadcast 255 are not allowed), got 255"
        )
        data["station"]["common_address"] = 254
        assert parse_config(data, SRC).station.common_address == 254

    def test_field_sizes(self) -> None:
        data = minimal()
        data["station"].update(cot_size=3, ca_size=1.0, ioa_size=0)
        assert errors_of(data) == [
            f"{SRC}: station.cot_size: expected 1 or 2, got 3",
            f"{SRC}: station.ca_size: expected 1 or 2, got 1.0",
            f"{SRC}: station.ioa_size: expected 1, 2 or 3, got 0",
        ]

    @pytest.mark.parametrize(("size", "top"), [(1, 255), (2, 65535), (3, 16777215)])
    def test_ioa_must_fit_ioa_size(self, size: int, top: int) -> None:
        data = minimal()
        data["station"]["ioa_size"] = size
        data["points"][0]["ioa"] = top
        parse_config(data, SRC)
        data["points"][0]["ioa"] = top + 1
        assert single_error(data) == (
            f"{SRC}: points[0].ioa: expected an integer 1..{top} (ioa_size {size}), got {top + 1}"
        )

    def test_ioa_zero(self) -> None:
        data = minimal()
        data["points"][0]["ioa"] = 0
        assert single_error(data) == (
            f"{SRC}: points[0].ioa: expected an integer 1..16777215 (ioa_size 3), got 0"
        )

    def test_timeouts_and_queue(self) -> None:
        data = minimal()
        data["station"].update(select_timeout=0, event_queue_size=0)
        assert errors_of(data) == [
            f"{SRC}: station.select_timeout: expected a number of seconds > 0, got 0",
            f"{SRC}: station.event_queue_size: expected an integer >= 1, got 0",
        ]


class TestIec104:
    def test_t2_not_below_t1_names_iec104(self) -> None:
        data = minimal()
        data["iec104"] = {"t1": 10, "t2": 10}
        line = single_error(data)
        assert line.startswith(f"{SRC}: iec104: ")
        assert "t2=10.0" in line and "t1=10.0" in line

    def test_k_above_the_window(self) -> None:
        data = minimal()
        data["iec104"] = {"k": 40000}
        line = single_error(data)
        assert line.startswith(f"{SRC}: iec104: k=40000")

    def test_per_key_apci_checks(self) -> None:
        data = minimal()
        data["iec104"] = {"k": 0, "w": "8", "t0": 0, "t3": -1}
        assert errors_of(data) == [
            f"{SRC}: iec104.k: expected an integer >= 1, got 0",
            f"{SRC}: iec104.w: expected an integer >= 1, got '8'",
            f"{SRC}: iec104.t0: expected a number of seconds > 0, got 0",
            f"{SRC}: iec104.t3: expected a number of seconds > 0, got -1",
        ]

    @pytest.mark.parametrize(
        ("listen", "reason"),
        [
            ("2404", "missing port"),
            ("localhost", "missing port"),
            (":2404", "missing host"),
            ("::1:2404", "an IPv6 address must be in brackets"),
            ("[::1:2404", "unclosed '['"),
            ("[::1]2404", "missing ':PORT' after ']'"),
            ("[10.0.0.1]:2404", "'10.0.0.1' in brackets is not an IPv6 address"),
            ("10.0.0.256:2404", "'10.0.0.256' is not an IPv4 address"),
            ("my host:2404", "'my host' is not an IP address or host name"),
            ("127.0.0.1:65536", "port '65536' is not a number 0..65535"),
            ("127.0.0.1:", "port '' is not a number 0..65535"),
            ("127.0.0.1:+1", "port '+1' is not a number 0..65535"),
            ("127.0.0.1:http", "port 'http' is not a number 0..65535"),
        ],
    )
    def test_bad_listen(self, listen: str, reason: str) -> None:
        data = minimal()
        data["iec104"] = {"listen": listen}
        line = single_error(data)
        assert line.startswith(f"{SRC}: iec104.listen: {reason}")
        assert line.endswith(
            f"expected HOST:PORT such as 127.0.0.1:2404 or [::1]:2404, got {listen!r}"
        )

    def test_listen_not_a_string(self) -> None:
        data = minimal()
        data["iec104"] = {"listen": 2404}
        assert single_error(data) == (
            f"{SRC}: iec104.listen: expected HOST:PORT such as 127.0.0.1:2404 or [::1]:2404, "
            "got 2404"
        )

    def test_bad_allowed_masters(self) -> None:
        data = minimal()
        data["iec104"] = {"allowed_masters": ["10.0.0.1", "10.0.0.0/33", "bad", 5]}
        expectation = "expected an IP address or CIDR network such as 192.168.1.10 or 10.0.0.0/24"
        assert errors_of(data) == [
            f"{SRC}: iec104.allowed_masters[1]: {expectation}, got '10.0.0.0/33'",
            f"{SRC}: iec104.allowed_masters[2]: {expectation}, got 'bad'",
            f"{SRC}: iec104.allowed_masters[3]: {expectation}, got 5",
        ]
        data["iec104"] = {"allowed_masters": "10.0.0.1"}
        assert single_error(data) == (
            f"{SRC}: iec104.allowed_masters: expected an array of IP addresses or CIDR networks, "
            "got '10.0.0.1'"
        )

    def test_max_connections(self) -> None:
        data = minimal()
        data["iec104"] = {"max_connections": 0}
        assert single_error(data) == (
            f"{SRC}: iec104.max_connections: expected an integer >= 1, got 0"
        )


class TestParseListen:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("127.0.0.1:2404", ("127.0.0.1", 2404)),
            ("0.0.0.0:0", ("0.0.0.0", 0)),
            ("[::1]:2404", ("::1", 2404)),
            ("[::]:65535", ("::", 65535)),
            ("[fe80::1%eth0]:2404", ("fe80::1%eth0", 2404)),
            ("localhost:2404", ("localhost", 2404)),
            ("rtu-1.example.org:2405", ("rtu-1.example.org", 2405)),
        ],
    )
    def test_valid(self, text: str, expected: tuple[str, int]) -> None:
        assert parse_listen(text) == expected

    def test_bare_port_is_refused_clearly(self) -> None:
        with pytest.raises(ValueError, match=r"missing port .*0\.0\.0\.0:PORT.*got '2404'"):
            parse_listen("2404")

    def test_not_a_string(self) -> None:
        with pytest.raises(ValueError, match="expected HOST:PORT as a string, got 2404"):
            parse_listen(2404)  # type: ignore[arg-type]


class TestSections:
    def test_pulses(self) -> None:
        data = minimal()
        data["commands"] = {"short_pulse": 1.0, "long_pulse": 1.0}
        assert single_error(data) == (
            f"{SRC}: commands.long_pulse: expected a number of seconds > short_pulse (1), got 1.0"
        )

    def test_default_qu(self) -> None:
        data = minimal()
        data["commands"] = {"default_qu": "persistant"}
        assert single_error(data) == (
            f"{SRC}: commands.default_qu: expected 'persistent', 'short' or 'long', "
            "got 'persistant' (did you mean 'persistent'?)"
        )

    def test_simulation(self) -> None:
        data = minimal()
        data["simulation"] = {"seed": 1.5, "counter_interval": 0}
        assert errors_of(data) == [
            f"{SRC}: simulation.seed: expected an integer, got 1.5",
            f"{SRC}: simulation.counter_interval: expected a number of seconds > 0, got 0",
        ]

    def test_log_level(self) -> None:
        data = minimal()
        data["logging"] = {"level": "verbose"}
        assert single_error(data) == (
            f"{SRC}: logging.level: expected 'DEBUG', 'INFO', 'WARNING' or 'ERROR', got 'verbose'"
        )

    def test_relay_driver_and_name(self) -> None:
        data = minimal()
        data["relays"] = [{"name": "r1", "driver": "gpio"}, {"driver": "sim"}, {"name": "r 2"}]
        assert errors_of(data) == [
            f"{SRC}: relays[0].driver: expected 'sim', got 'gpio'",
            (f"{SRC}: relays[1].name: required key missing: expected a name of letters, digits, "
             "'_', '.' or '-'"),
            (f"{SRC}: relays[2].name: expected a name of letters, digits, '_', '.' or '-', "
             "got 'r 2'"),
        ]

    def test_duplicate_relays(self) -> None:
        data = minimal()
        data["relays"].append({"name": "r1"})
        assert single_error(data) == (
            f"{SRC}: relays[1].name: expected a unique relay name, got 'r1' (already used by "
            "relays[0])"
        )


class TestPoints:
    def test_required_keys(self) -> None:
        data = minimal()
        data["points"].append({})
        assert errors_of(data) == [
            (f"{SRC}: points[6].name: required key missing: expected a name of letters, digits, "
             "'_', '.' or '-'"),
            (f"{SRC}: points[6].ioa: required key missing: expected an integer 1..16777215 "
             "(ioa_size 3)"),
            (f"{SRC}: points[6].kind: required key missing: expected one of single, double, step, "
             "bitstring, normalized, scaled, float, counter, single_command, double_command, "
             "regulating_step, setpoint_normalized, setpoint_scaled, setpoint_float, "
             "bitstring_command"),
        ]

    def test_unknown_kind(self) -> None:
        line = single_error(with_point(kind="analog"))
        assert line.startswith(f"{SRC}: {EXTRA}.kind: expected 'single', 'double', ")
        assert line.endswith(" or 'bitstring_command', got 'analog'")

    def test_every_kind_is_accepted(self) -> None:
        for kind in PointKind:
            extra = {"target": "r1"} if kind.is_command else {}
            config = parse_config(with_point(kind=kind.value, **extra), SRC)
            assert config.points[-1].kind is kind

    def test_duplicate_name_names_both(self) -> None:
        data = with_point(kind="single")
        data["points"][-1]["name"] = "p_double"
        assert single_error(data) == (
            f"{SRC}: {EXTRA}.name: expected a unique point name, got 'p_double' (already used by "
            "points[1])"
        )

    def test_duplicate_ioa_names_both(self) -> None:
        data = with_point(kind="single")
        data["points"][-1]["ioa"] = 3
        assert single_error(data) == (
            f"{SRC}: {EXTRA}.ioa: expected a unique IOA, got 3 (already used by points[2] "
            "'p_float')"
        )

    def test_bad_name(self) -> None:
        data = with_point(kind="single")
        data["points"][-1]["name"] = "door open"
        assert single_error(data) == (
            f"{SRC}: {EXTRA}.name: expected a name of letters, digits, '_', '.' or '-', "
            "got 'door open'"
        )

    def test_source(self) -> None:
        assert single_error(with_point(kind="single", source="gpio")) == (
            f"{SRC}: {EXTRA}.source: expected 'sim' or '', got 'gpio'"
        )
        assert single_error(with_point(kind="single_command", target="r1", source="sim")) == (
            f"{SRC}: {EXTRA}.source: expected no source on a command point (or \"\"), got 'sim'"
        )
        parse_config(with_point(kind="single_command", target="r1", source=""), SRC)

    def test_groups(self) -> None:
        assert errors_of(with_point(kind="single", groups=[0, 16, 17, "1"])) == [
            (f"{SRC}: {EXTRA}.groups[0]: expected an integer 1..16 (interrogation groups 1..16), "
             "got 0"),
            (f"{SRC}: {EXTRA}.groups[2]: expected an integer 1..16 (interrogation groups 1..16), "
             "got 17"),
            (f"{SRC}: {EXTRA}.groups[3]: expected an integer 1..16 (interrogation groups 1..16), "
             "got '1'"),
        ]
        assert single_error(with_point(kind="counter", groups=[5])) == (
            f"{SRC}: {EXTRA}.groups[0]: expected an integer 1..4 (counter interrogation groups "
            "1..4), got 5"
        )
        assert single_error(with_point(kind="single", groups=1)) == (
            f"{SRC}: {EXTRA}.groups: expected an array of interrogation groups 1..16, got 1"
        )
        assert single_error(with_point(kind="single_command", target="r1", groups=[1])) == (
            f"{SRC}: {EXTRA}.groups: expected no groups on a single_command point (groups "
            "applies to monitored points only), got [1]"
        )

    @pytest.mark.parametrize("kind", ["single", "double", "step", "bitstring", "single_command"])
    def test_deadband_on_a_digital_kind(self, kind: str) -> None:
        extra = {"target": "r1"} if kind == "single_command" else {}
        assert single_error(with_point(kind=kind, deadband=0.5, **extra)) == (
            f"{SRC}: {EXTRA}.deadband: expected no deadband on a {kind} point (deadband applies "
            "to analog kinds (normalized, scaled, float) and counters only), got 0.5"
        )

    def test_deadband_percent_and_range_on_a_counter(self) -> None:
        assert errors_of(with_point(kind="counter", deadband=2, deadband_percent=1,
                                    range=[0, 1])) == [
            (f"{SRC}: {EXTRA}.deadband_percent: expected no deadband_percent on a counter point "
             "(deadband_percent applies to analog kinds (normalized, scaled, float) only), got 1"),
            (f"{SRC}: {EXTRA}.range: expected no range on a counter point (range applies to analog "
             "kinds (normalized, scaled, float) only), got [0, 1]"),
        ]

    def test_deadband_values(self) -> None:
        assert errors_of(with_point(kind="float", deadband=-0.1, deadband_percent=101,
                                    range=[0, 1])) == [
            f"{SRC}: {EXTRA}.deadband: expected a number >= 0, got -0.1",
            f"{SRC}: {EXTRA}.deadband_percent: expected a percentage 0..100, got 101",
        ]

    def test_deadband_percent_requires_range(self) -> None:
        assert single_error(with_point(kind="scaled", deadband_percent=5)) == (
            f"{SRC}: {EXTRA}.deadband_percent: expected a range = [low, high] on the point for a "
            "deadband_percent (a percentage of high - low), got deadband_percent = 5 and no range"
        )
        parse_config(with_point(kind="scaled", deadband_percent=0), SRC)

    @pytest.mark.parametrize("bad", [[1, 1], [2, 1], [1], [1, 2, 3], "0..1", {"low": 0}])
    def test_bad_range(self, bad: object) -> None:
        assert single_error(with_point(kind="normalized", range=bad)) == (
            f"{SRC}: {EXTRA}.range: expected [low, high]: two finite numbers with low < high, "
            f"got {bad!r}"
        )

    def test_range_elements(self) -> None:
        assert errors_of(with_point(kind="float", range=["0", float("inf")])) == [
            f"{SRC}: {EXTRA}.range[0]: expected a finite number (low), got '0'",
            f"{SRC}: {EXTRA}.range[1]: expected a finite number (high), got inf",
        ]

    def test_command_keys_on_a_monitored_point(self) -> None:
        assert errors_of(with_point(kind="single", target="r1", feedback="p_single",
                                    select_required=True)) == [
            (f"{SRC}: {EXTRA}.target: expected no target on a single point (target applies to "
             "command points only), got 'r1'"),
            (f"{SRC}: {EXTRA}.feedback: expected no feedback on a single point (feedback applies "
             "to command points only), got 'p_single'"),
            (f"{SRC}: {EXTRA}.select_required: expected no select_required on a single point "
             "(select_required applies to command points only), got True"),
        ]

    def test_command_target_missing(self) -> None:
        assert single_error(with_point(kind="setpoint_float")) == (
            f"{SRC}: {EXTRA}.target: required key missing: expected the name of a [[relays]] entry"
        )

    def test_command_target_not_a_relay(self) -> None:
        assert single_error(with_point(kind="single_command", target="p_single")) == (
            f"{SRC}: {EXTRA}.target: expected the name of a [[relays]] entry, got 'p_single' "
            "(relays: r1)"
        )
        data = with_point(kind="single_command", target="r9")
        data["relays"] = []
        data["points"] = [p for p in data["points"] if "target" not in p or p["name"] == "extra"]
        assert single_error(data) == (
            f"{SRC}: points[4].target: expected the name of a [[relays]] entry, got 'r9' "
            "(no such relay)"
        )

    def test_relay_with_another_error_is_still_a_target(self) -> None:
        data = minimal()
        data["relays"][0]["driver"] = "gpio"
        assert single_error(data) == f"{SRC}: relays[0].driver: expected 'sim', got 'gpio'"

    def test_feedback_no_such_point(self) -> None:
        assert single_error(with_point(kind="single_command", target="r1", feedback="nope")) == (
            f"{SRC}: {EXTRA}.feedback: expected the name of a monitored single point, got 'nope' "
            "(no such point)"
        )

    def test_feedback_wrong_kind(self) -> None:
        assert single_error(with_point(kind="double_command", target="r1",
                                       feedback="p_single")) == (
            f"{SRC}: {EXTRA}.feedback: expected the name of a monitored double point, got "
            "'p_single' (points[0] is a single point)"
        )

    def test_feedback_to_a_command_point(self) -> None:
        assert single_error(with_point(kind="single_command", target="r1", feedback="p_cmd")) == (
            f"{SRC}: {EXTRA}.feedback: expected the name of a monitored single point, got 'p_cmd' "
            "(points[4] is a single_command point)"
        )

    def test_feedback_defined_later_is_fine(self) -> None:
        data = minimal()
        data["points"].reverse()
        parse_config(data, SRC)

    def test_feedback_not_a_string(self) -> None:
        assert single_error(with_point(kind="single_command", target="r1", feedback=1)) == (
            f"{SRC}: {EXTRA}.feedback: expected a point name, got 1"
        )


# -- many errors at once --------------------------------------------------------------------------
def test_all_errors_are_collected() -> None:
    data: dict[str, Any] = {
        "station": {"common_address": 0, "select_timeout": "10"},
        "iec104": {"listen": "2404", "t1": 10, "t2": 10, "allowed_masters": ["nope"]},
        "commands": {"default_qu": "forever"},
        "loging": {"level": "INFO"},
        "relays": [{"name": "r1"}, {"name": "r1"}],
        "points": [
            {"name": "a", "ioa": 1, "kind": "single", "deadband": 1.0},
            {"name": "a", "ioa": 1, "kind": "single_command", "target": "r2", "feedback": "zz"},
            {"ioa": "x", "kind": "counter", "groups": [9]},
        ],
    }
    paths = [line.split(": ")[1] for line in errors_of(data)]
    assert paths == [
        "loging",
        "station.common_address",
        "station.select_timeout",
        "iec104.listen",
        "iec104.allowed_masters[0]",
        "iec104",  # t2 >= t1, still reported next to the other [iec104] errors
        "commands.default_qu",
        "relays[1].name",
        "points[0].deadband",
        "points[1].target",
        "points[1].name",
        "points[1].ioa",
        "points[2].name",
        "points[2].ioa",
        "points[2].groups[0]",
        "points[1].feedback",
    ]


# -- robustness ------------------------------------------------------------------------------------
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-3, max_value=20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["sim", "single", "single_command", "double", "float", "counter", "r1",
                       "p_single", "127.0.0.1:2404", "[::1]:1", "10.0.0.0/8", "INFO", "long"])
)
KEYS = st.text(max_size=8) | st.sampled_from(
    sorted(set(SCHEMA) | set().union(*SCHEMA.values()))
)
VALUES = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=30,
)


def parses_or_config_error(data: Any) -> None:
    try:
        result = parse_config(data, SRC)
    except ConfigError as exc:
        assert exc.errors
        assert all(line.startswith(f"{SRC}: ") and line.splitlines() == [line]
                   for line in exc.errors)
    else:
        assert isinstance(result, AppConfig)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_arbitrary_data_raises_only_config_error(data: Any) -> None:
    parses_or_config_error(data)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_arbitrary_sections(data: Any) -> None:
    parses_or_config_error({"station": data, "iec104": data, "commands": data, "simulation": data,
                            "logging": data, "relays": data, "points": data})


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_valid_document_with_arbitrary_values(draw: st.DataObject) -> None:
    """Replace the values of a valid document's keys one by one: deep coverage of every check."""
    data = minimal()
    data["iec104"] = {"listen": "0.0.0.0:2404", "t1": 15}
    data["commands"] = {"short_pulse": 1}
    data["simulation"] = {"seed": 1}
    data["logging"] = {"level": "INFO"}
    data["relays"][0]["initial"] = False
    data["points"][2]["deadband_percent"] = 1.0
    tables: list[dict[str, Any]] = [data["station"], data["iec104"], data["commands"],
                                    data["simulation"], data["logging"], *data["relays"],
                                    *data["points"]]
    for _ in range(draw.draw(st.integers(1, 4))):
        table = draw.draw(st.sampled_from(tables))
        key = draw.draw(st.sampled_from(sorted(set().union(*SCHEMA.values()))))
        table[key] = copy.deepcopy(draw.draw(VALUES))
    parses_or_config_error(data)


def test_deep_nesting_is_reported_not_crashed() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    data = minimal()
    data["points"][0]["groups"] = deep
    data["station"]["common_address"] = deep
    errors = errors_of(data)
    assert len(errors) == 2
