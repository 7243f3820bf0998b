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
    AdcChannelConfig,
    AdcConfig,
    AdcDeviceConfig,
    AppConfig,
    CommandConfig,
    ConfigError,
    Endian,
    FieldSizes,
    GpioConfig,
    GpioDoubleConfig,
    GpioInputConfig,
    LoggingConfig,
    ModbusBusConfig,
    ModbusConfig,
    ModbusDeviceConfig,
    ModbusPoll,
    ModbusRead,
    ModbusTable,
    ModbusType,
    RelayConfig,
    SimulationConfig,
    bench_config,
    load_config,
    parse_config,
    parse_listen,
)
from rtu.iec.cs104.connection import ApciParameters
from rtu.iec.outstation import OutstationConfig
from rtu.points.commands import RELAY_COMMAND_KINDS
from rtu.points.model import Point, PointKind
from rtu.servers.iec104 import Iec104Settings
from rtu.sources.modbus.config import modbus_config

SRC = "site.toml"

# Every key of the schema (public names: DESIGN.md rule 9). example.toml must use each one.
SCHEMA: dict[str, set[str]] = {
    "station": {"common_address", "cot_size", "ca_size", "ioa_size", "select_timeout",
                "event_queue_size", "time_invalid_until_sync", "command_originators",
                "invalid_time_until_synced", "time_tags", "clock_sync", "clock_offset_lifetime",
                "max_command_age", "command_age_action", "command_age_unsynchronised",
                "events_lost_ioa", "cyclic_groups", "background_scan", "parameters_in_gi"},
    "iec104": {"enabled", "listen", "k", "w", "t0", "t1", "t2", "t3", "max_connections",
               "allowed_masters", "tls", "redundancy_groups", "max_connections_per_address",
               "startdt_timeout", "send_delay_ms"},  # [iec104.tls]: TLS_SCHEMA in test_tls_config.py
    "iec101": {"enabled", "device", "baudrate", "parity", "bytesize", "stopbits", "rs485", "mode",
               "link_address", "link_address_size", "remote_link_address", "single_char_ack",
               "repeat_timeout", "max_repeats", "test_interval", "inter_character_timeout_min",
               "stations", "time_tag"},
    "commands": {"short_pulse", "long_pulse", "default_qu"},
    "simulation": {"seed", "digital_interval", "analog_interval", "counter_interval", "manual"},
    "logging": {"level"},
    "service": {"control_socket", "reload", "state_directory"},
    "journal": {"enabled", "path", "commit_interval", "max_events", "fsync"},
    "soe": {"enabled", "path", "max_events", "max_age_days", "syslog"},
    "files": {"directory", "soe_export", "max_file_size", "max_files", "ioa", "timeout"},
    "modbus": {"buses", "devices", "writes"},  # the nested tables' keys: MODBUS_SCHEMA below
    "relays": {"name", "driver", "initial", "line", "active_low", "mode", "feedback_input",
               "feedback_timeout", "local_input"},
    "gpio": {"backend", "chip", "reread_interval", "debounce", "chatter_changes",
             "chatter_window", "chatter_recovery", "inputs", "doubles", "steps"},  # GPIO_SCHEMA
    "adc": {"devices", "channels"},  # the nested tables' keys: ADC_SCHEMA below
    "iec61850": {"devices"},  # the nested tables' keys: IEC61850_SCHEMA below
    "dlms": {"credentials", "meters", "push"},  # the nested tables' keys: DLMS_SCHEMA in test_config_dlms
    "switchgear": {"breakers", "tap_changers"},  # the nested table's keys: SWITCHGEAR_SCHEMA in sources/test_switchgear
    "analog_outputs": {"channels"},  # the channels' keys: tests/unit/sources/test_aout.py
    "interlocks": {"rules"},  # the rules' keys: tests/unit/sources/test_interlocks.py
    "calculated": {"points"},  # the entries' keys: tests/unit/sources/test_calculated.py
    "protection": {"events"},  # the entries' keys: tests/unit/sources/test_protection.py
    "web": {"enabled", "listen", "tls", "certificate", "private_key", "users_file",
            "client_certificates", "max_clients", "client_queue", "recent_events"},
    "points": {"name", "ioa", "kind", "source", "groups", "deadband", "deadband_percent", "range",
               "description", "target", "feedback", "select_required", "cyclic",
               "common_address"},
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
        # switchgear (issue 18): earth switch, breaker position and command
        expected["es1"] = (1201, PointKind.SINGLE, "sim")
        expected["cb1_pos"] = (2101, PointKind.DOUBLE, "switchgear")
        expected["cb1_cmd"] = (5101, PointKind.DOUBLE_COMMAND, "")
        expected["calc_di01_or_di02"] = (1301, PointKind.SINGLE, "calc")
        expected["tap1_pos"] = (2201, PointKind.STEP, "switchgear")
        expected["tap1_cmd"] = (5201, PointKind.REGULATING_STEP, "")
        expected["mb_sp1_back"] = (3301, PointKind.FLOAT, "modbus")  # the served device
        expected["mb_sp1"] = (5301, PointKind.SETPOINT_FLOAT, "")
        # the outstation's own health (rtu/health.py)
        expected["health_clock_sync"] = (9001, PointKind.SINGLE, "health:clock_synchronised")
        expected["health_journal"] = (9002, PointKind.SINGLE, "health:journal")
        expected["health_events_lost"] = (9003, PointKind.SINGLE, "health:events_lost")
        expected["health_config_fallback"] = (9004, PointKind.SINGLE, "health:config_fallback")
        expected["health_sim_comm"] = (9010, PointKind.SINGLE, "health:source:simulation")
        for i in range(1, 5):
            expected[f"cyc{i}"] = (3600 + i, PointKind.FLOAT, "sim")  # periodic (COT 1)
        # issue 19: a protection event of a simulated signal; station 2's meter measurements
        expected["prot1"] = (1401, PointKind.SINGLE, "sim")
        expected["prot1_event"] = (2301, PointKind.PROTECTION, "protection")
        for name, ioa in (("voltage", 3501), ("current", 3502), ("power", 3503),
                          ("frequency", 3504)):
            expected[f"meter2_{name}"] = (ioa, PointKind.FLOAT, "sim")
        assert {n: (p.ioa, p.kind, p.source) for n, p in points.items()} == expected
        assert len(bench_config().points) == len(expected)

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
        assert config.relays == (
            *(RelayConfig(f"relay{i}", "sim", False) for i in range(1, 9)),
            RelayConfig("cb1_close", "sim", False, mode="persistent"),
            RelayConfig("cb1_open", "sim", False, mode="persistent"),
            RelayConfig("tap1_raise", "sim", False, mode="persistent"),
            RelayConfig("tap1_lower", "sim", False, mode="persistent"))
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
        # points_file: the top level's only key (example.toml names it in a comment, since it
        # uses [[points]], tests/unit/points/test_csvfile.py uses it)
        expected: dict[str | None, set[str]] = {None: set(SCHEMA) | {"points_file"}}
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
        data["station"]["invalid_time_until_synced"] = False  # the new name wins
        assert not parse_config(data, SRC).station.invalid_time_until_synced
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
            f"{path}:3: points[0] 'a'.ioa: expected an integer 1..16777215 (ioa_size 3), got 'x'"
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
            "iec104, iec101, commands, simulation, logging, relays, points, modbus, gpio, adc, "
            "service, journal, iec61850, dlms, web, soe, points_file, switchgear, analog_outputs, "
            "calculated, protection, interlocks, files"
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
             "name, driver, initial, line, active_low, mode, feedback_input, "
             "feedback_timeout, local_input"),
            (f"{SRC}: points[1].dead_band: unknown key (did you mean 'deadband'?); expected one of "
             "name, ioa, kind, source, groups, deadband, deadband_percent, range, description, "
             "target, feedback, select_required, cyclic, common_address"),
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
        data["relays"] = [{"name": "r1", "driver": "i2c"}, {"driver": "sim"}, {"name": "r 2"}]
        assert errors_of(data) == [
            f"{SRC}: relays[0].driver: expected 'sim' or 'gpio', got 'i2c'",
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
             "bitstring, normalized, scaled, float, counter, protection, protection_start, "
             "protection_trip, single_command, double_command, "
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
            if kind.is_command and kind not in RELAY_COMMAND_KINDS:
                # the kind is read; a relay cannot execute it (issue 15 item 7)
                assert f"cannot execute a {kind.value} command" in single_error(
                    with_point(kind=kind.value, **extra))
                continue
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
            f"{SRC}: {EXTRA}.source: expected 'sim', 'modbus', 'iec61850', 'dlms', 'switchgear', 'calc', 'protection', '', "
            "'gpio:NAME', 'adc:NAME' or 'health:NAME', got 'gpio'"
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
            f"{SRC}: {EXTRA}.target: required key missing: expected {TARGET}"
        )

    @pytest.mark.parametrize("kind", ["setpoint_float", "setpoint_scaled", "setpoint_normalized",
                                      "bitstring_command", "regulating_step"])
    def test_a_relay_cannot_execute_value_commands(self, kind: str) -> None:
        """Issue 15 item 7: refused by rtu check, not by a negative ACT_TERM at run time."""
        assert single_error(with_point(kind=kind, target="r1")) == (
            f"{SRC}: {EXTRA}.target: relay 'r1' cannot execute a {kind} command: a relay only "
            "switches on and off (single_command, double_command); a set-point, bitstring or "
            "regulating step needs a target that takes a value")

    def test_a_relay_executes_single_and_double_commands(self) -> None:
        for kind in ("single_command", "double_command"):
            config = parse_config(with_point(kind=kind, target="r1"), SRC)
            assert config.points[-1].target == "r1"

    def test_command_target_not_a_relay(self) -> None:
        assert single_error(with_point(kind="single_command", target="p_single")) == (
            f"{SRC}: {EXTRA}.target: expected {TARGET}, got 'p_single' "
            "(relays: r1)"
        )
        data = with_point(kind="single_command", target="r9")
        data["relays"] = []
        data["points"] = [p for p in data["points"] if "target" not in p or p["name"] == "extra"]
        assert single_error(data) == (
            f"{SRC}: points[4].target: expected {TARGET}, got 'r9' "
            "(no such relay)"
        )

    def test_relay_with_another_error_is_still_a_target(self) -> None:
        data = minimal()
        data["relays"][0]["driver"] = "i2c"
        assert single_error(data) == (
            f"{SRC}: relays[0].driver: expected 'sim' or 'gpio', got 'i2c'")

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


# -- [modbus] --------------------------------------------------------------------------------------
MODBUS_SCHEMA: dict[str, set[str]] = {
    "buses": {"name", "type", "host", "port", "device", "baudrate", "parity", "bytesize",
              "stopbits", "timeout", "reconnect_delay", "reconnect_delay_max"},
    "devices": {"name", "bus", "unit_id", "max_registers", "max_bits", "polls"},
    "polls": {"interval", "reads"},
    "reads": {"point", "table", "address", "type", "word_order", "byte_order", "bit", "scale",
              "offset"},
    "writes": {"command", "device", "table", "address", "type", "word_order", "byte_order",
               "scale", "offset", "function", "verify"},
}
READ0 = "modbus.devices[0].polls[0].reads[0]"
TARGET = ('the name of a [[relays]] entry (or "modbus": a [[modbus.writes]] entry\'s register '
          'or coil) (or "iec61850": a control object of an [[iec61850.devices]] entry) (or '
          '"switchgear": a breaker\'s double command or a tap changer\'s step) (or '
          '"analog_output": an [[analog_outputs.channels]] entry\'s PWM or DAC output)')


def modbus_doc() -> dict[str, Any]:
    """minimal() with a TCP bus, an RTU bus and one device on each, feeding five points."""
    data = minimal()
    data["points"] += [
        {"name": "m_float", "ioa": 11, "kind": "float", "source": "modbus"},
        {"name": "m_single", "ioa": 12, "kind": "single", "source": "modbus"},
        {"name": "m_bit", "ioa": 13, "kind": "single", "source": "modbus"},
        {"name": "m_counter", "ioa": 14, "kind": "counter", "source": "modbus"},
        {"name": "m_scaled", "ioa": 15, "kind": "scaled", "source": "modbus"},
    ]
    data["modbus"] = {
        "buses": [{"name": "net", "type": "tcp", "host": "127.0.0.1"},
                  {"name": "line", "type": "rtu", "device": "/dev/ttyUSB0"}],
        "devices": [
            {"name": "plc", "bus": "net", "unit_id": 1, "polls": [
                {"interval": 1, "reads": [
                    {"point": "m_float", "table": "holding", "address": 0, "type": "float32"},
                    {"point": "m_single", "table": "coil", "address": 5},
                ]},
            ]},
            {"name": "meter", "bus": "line", "unit_id": 7, "polls": [
                {"interval": 0.5, "reads": [
                    {"point": "m_bit", "table": "input", "address": 3, "bit": 15},
                    {"point": "m_counter", "table": "input", "address": 0, "type": "uint32",
                     "word_order": "little"},
                ]},
                {"interval": 10, "reads": [
                    {"point": "m_scaled", "table": "holding", "address": 9, "type": "int16",
                     "scale": 0.1, "offset": -40},
                ]},
            ]},
        ],
    }
    return data


def modbus_read(data: dict[str, Any], device: int = 0, poll: int = 0,
                read: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = data["modbus"]["devices"][device]["polls"][poll]["reads"][read]
    return result


class TestModbus:
    def test_example_uses_every_key(self) -> None:
        modbus = tomllib.loads(example_text())["modbus"]
        devices = modbus["devices"]
        polls = [p for d in devices for p in d["polls"]]
        used = {
            "buses": set().union(*(set(b) for b in modbus["buses"])),
            "devices": set().union(*(set(d) for d in devices)),
            "polls": set().union(*(set(p) for p in polls)),
            "reads": set().union(*(set(r) for p in polls for r in p["reads"])),
            "writes": set().union(*(set(w) for w in modbus["writes"])),
        }
        assert used == MODBUS_SCHEMA

    def test_schema_is_complete(self) -> None:
        """The nested tables accept exactly MODBUS_SCHEMA's keys."""
        paths = {"buses": "modbus.buses[0]", "devices": "modbus.devices[0]",
                 "polls": "modbus.devices[0].polls[0]", "reads": READ0}
        for level, path in paths.items():
            data = modbus_doc()
            table = {"buses": data["modbus"]["buses"][0], "devices": data["modbus"]["devices"][0],
                     "polls": data["modbus"]["devices"][0]["polls"][0],
                     "reads": modbus_read(data)}[level]
            table["not_a_key"] = 1
            prefix = f"{SRC}: {path}.not_a_key: unknown key; expected one of "
            line = single_error(data)
            assert line.startswith(prefix), line
            assert set(line.removeprefix(prefix).split(", ")) == MODBUS_SCHEMA[level]

    def test_example_mapping(self) -> None:
        config = load_config(example_path())
        buses = {b.name: b for b in modbus_config(config).buses}
        assert buses["plant"] == ModbusBusConfig("plant", "tcp", host="192.168.10.20", port=502,
                                                 timeout=1.0, reconnect_delay=1.0,
                                                 reconnect_delay_max=10.0)
        assert buses["rs485"] == ModbusBusConfig("rs485", "rtu", device="/dev/ttyUSB0",
                                                 baudrate=19200, parity="E", bytesize=8,
                                                 stopbits=1, timeout=0.5)
        devices = {d.name: d for d in modbus_config(config).devices}
        plc = devices["pump_plc"]
        assert (plc.bus, plc.unit_id, plc.max_registers, plc.max_bits) == ("plant", 1, 100, 1000)
        assert [p.interval for p in plc.polls] == [1.0, 10.0]
        assert plc.polls[0].reads[2] == ModbusRead(
            "flow", ModbusTable.HOLDING, 100, ModbusType.FLOAT32, word_order=Endian.LITTLE)
        assert plc.polls[1].reads[0] == ModbusRead(
            "tank_temperature", ModbusTable.INPUT, 20, ModbusType.INT16, scale=0.1, offset=-40.0)
        meter = devices["meter"]
        assert meter.polls[0].reads[2] == ModbusRead("meter_alarm", ModbusTable.INPUT, 2, bit=3)
        fed = {r.point for d in modbus_config(config).devices for p in d.polls for r in p.reads}
        assert fed == {p.name for p in config.points if p.source == "modbus"}

    def test_mapping_and_defaults(self) -> None:
        config = parse_config(modbus_doc(), SRC)
        net, line = modbus_config(config).buses
        assert net == ModbusBusConfig("net", "tcp", host="127.0.0.1")
        assert (net.port, net.timeout, net.reconnect_delay, net.reconnect_delay_max) == \
            (502, 1.0, 1.0, 10.0)
        assert line == ModbusBusConfig("line", "rtu", device="/dev/ttyUSB0")
        assert (line.baudrate, line.parity, line.bytesize, line.stopbits) == (9600, "E", 8, 1)
        plc, meter = modbus_config(config).devices
        assert plc == ModbusDeviceConfig("plc", "net", 1, (ModbusPoll(1.0, (
            ModbusRead("m_float", ModbusTable.HOLDING, 0, ModbusType.FLOAT32),
            ModbusRead("m_single", ModbusTable.COIL, 5),
        )),), max_registers=125, max_bits=2000)
        assert meter.polls[0].reads == (
            ModbusRead("m_bit", ModbusTable.INPUT, 3, ModbusType.UINT16, bit=15),
            ModbusRead("m_counter", ModbusTable.INPUT, 0, ModbusType.UINT32,
                       word_order=Endian.LITTLE),
        )
        assert meter.polls[1] == ModbusPoll(10.0, (ModbusRead(
            "m_scaled", ModbusTable.HOLDING, 9, ModbusType.INT16, scale=0.1, offset=-40.0),))
        assert {p.name: p.source for p in config.points}["m_float"] == "modbus"

    def test_no_section(self) -> None:
        assert modbus_config(parse_config(minimal(), SRC)) == ModbusConfig()
        assert modbus_config(parse_config({}, "empty.toml")) == ModbusConfig()

    def test_a_bus_without_devices_is_fine(self) -> None:
        data = minimal()
        data["modbus"] = {"buses": [{"name": "spare", "type": "tcp", "host": "10.0.0.9"}]}
        assert modbus_config(parse_config(data, SRC)).devices == ()

    # -- points and reads ---------------------------------------------------------------------
    def test_unknown_point(self) -> None:
        data = modbus_doc()
        data["points"] = [p for p in data["points"] if p["name"] != "m_float"]
        assert single_error(data) == (
            f"{SRC}: {READ0}.point: expected the name of a [[points]] entry with source = "
            "\"modbus\" (single, bitstring, scaled, normalized, float, counter, step), "
            "got 'm_float' "
            "(no such point; did you mean 'p_float'?)"
        )

    def test_a_point_with_errors_is_reported_once(self) -> None:
        data = modbus_doc()
        data["points"][6]["ioa"] = "x"  # m_float
        errors = errors_of(data)
        assert len(errors) == 1 and errors[0].startswith(f"{SRC}: points[6].ioa: ")

    def test_point_source_kind_and_reuse(self) -> None:
        data = modbus_doc()
        data["points"][6]["source"] = "sim"
        assert single_error(data).endswith("got 'm_float' (points[6] has source = 'sim')")
        data = modbus_doc()
        modbus_read(data)["point"] = "p_double"
        errors = errors_of(data)
        assert errors[0].endswith("got 'p_double' (points[1] is a double point)")
        assert errors[1] == (  # and m_float is now fed by no read
            f"{SRC}: points[6].source: expected a [[modbus.devices.polls.reads]] entry with "
            "point = 'm_float' for a point with source = \"modbus\", got none")
        data = modbus_doc()
        modbus_read(data)["point"] = "p_cmd"
        assert errors_of(data)[0].endswith("got 'p_cmd' (points[4] is a single_command point)")
        data = modbus_doc()
        modbus_read(data, 0, 0, 1)["point"] = "m_float"
        errors = errors_of(data)
        assert errors[0] == (
            f"{SRC}: modbus.devices[0].polls[0].reads[1].point: expected a point no other read "
            f"feeds, got 'm_float' (already fed by {READ0})")

    def test_every_modbus_point_is_fed(self) -> None:
        data = modbus_doc()
        data["points"].append({"name": "orphan", "ioa": 99, "kind": "float", "source": "modbus"})
        assert single_error(data) == (
            f"{SRC}: points[11].source: expected a [[modbus.devices.polls.reads]] entry with "
            "point = 'orphan' for a point with source = \"modbus\", got none")

    def test_required_keys_of_a_read(self) -> None:
        data = modbus_doc()
        data["modbus"]["devices"][0]["polls"][0]["reads"][0] = {}
        assert errors_of(data) == [
            (f"{SRC}: {READ0}.point: required key missing: expected the name of a [[points]] "
            "entry with source = \"modbus\" (single, bitstring, scaled, normalized, float, "
            "counter, step)"),
            (f"{SRC}: {READ0}.table: required key missing: expected 'coil', 'discrete', "
            "'holding' or 'input'"),
            (f"{SRC}: {READ0}.address: required key missing: expected an integer 0..65535 "
            "(0-based protocol address)"),
            (f"{SRC}: points[6].source: expected a [[modbus.devices.polls.reads]] entry with "
            "point = 'm_float' for a point with source = \"modbus\", got none"),
        ]

    def test_table_and_address(self) -> None:
        data = modbus_doc()
        modbus_read(data)["table"] = "coils"
        assert single_error(data) == (
            f"{SRC}: {READ0}.table: expected 'coil', 'discrete', 'holding' or 'input', got "
            "'coils' (did you mean 'coil'?)")
        data = modbus_doc()
        modbus_read(data)["table"] = "coil"
        del modbus_read(data)["type"]
        assert single_error(data) == (
            f"{SRC}: {READ0}.table: expected 'holding' or 'input' for a float point, got 'coil' "
            "(coils and discrete inputs feed single points only)")
        data = modbus_doc()
        modbus_read(data)["address"] = 65535  # a float32 needs 65535 and 65536
        assert single_error(data) == (
            f"{SRC}: {READ0}.address: expected an integer 0..65534 (float32 takes 2 registers), "
            "got 65535")
        data = modbus_doc()
        modbus_read(data)["address"] = -1
        assert single_error(data).startswith(f"{SRC}: {READ0}.address: expected an integer "
                                             "0..65535")

    def test_register_keys_on_a_bit_read(self) -> None:
        data = modbus_doc()
        modbus_read(data, 0, 0, 1).update(type="uint16", scale=2, bit=1)
        assert errors_of(data) == [
            f"{SRC}: modbus.devices[0].polls[0].reads[1].{key}: expected no {key} on a coil "
            f"read ({key} applies to holding and input registers only), got {value}"
            for key, value in (("type", "'uint16'"), ("bit", "1"), ("scale", "2"))
        ]

    def test_type_and_orders(self) -> None:
        data = modbus_doc()
        modbus_read(data)["type"] = "float64"
        assert single_error(data).startswith(
            f"{SRC}: {READ0}.type: expected 'int16', 'uint16', 'int32', 'uint32' or 'float32', "
            "got 'float64'")
        data = modbus_doc()
        modbus_read(data).update(type="int16", word_order="little")
        assert single_error(data) == (
            f"{SRC}: {READ0}.word_order: expected no word_order on a int16 read (word_order "
            "applies to int32, uint32 and float32 only), got 'little'")
        data = modbus_doc()
        modbus_read(data)["byte_order"] = "middle"
        assert single_error(data) == (
            f"{SRC}: {READ0}.byte_order: expected 'big' or 'little', got 'middle'")

    def test_bits(self) -> None:
        bit_read = "modbus.devices[1].polls[0].reads[0]"
        data = modbus_doc()
        del modbus_read(data, 1)["bit"]
        assert single_error(data) == (
            f"{SRC}: {bit_read}.bit: required key missing: expected an integer 0..15: a single "
            "point read from a register takes one of its bits")
        data = modbus_doc()
        modbus_read(data, 1)["bit"] = 16
        assert single_error(data) == (
            f"{SRC}: {bit_read}.bit: expected an integer 0..15 (0 = least significant bit), "
            "got 16")
        data = modbus_doc()
        modbus_read(data, 1).update(type="uint32", bit=31, address=4)
        parse_config(data, SRC)
        data = modbus_doc()
        modbus_read(data, 1)["type"] = "float32"
        assert single_error(data) == (
            f"{SRC}: {bit_read}.bit: expected no bit on a float32 read (bit applies to int16, "
            "uint16, int32 and uint32 only), got 15")
        data = modbus_doc()
        modbus_read(data)["bit"] = 0
        assert single_error(data) == (
            f"{SRC}: {READ0}.bit: expected no bit for a float point (bit applies to single "
            "points only), got 0")

    def test_scale_and_offset(self) -> None:
        data = modbus_doc()
        modbus_read(data)["scale"] = 0
        assert single_error(data) == (
            f"{SRC}: {READ0}.scale: expected a finite number other than 0, got 0")
        data = modbus_doc()
        modbus_read(data)["offset"] = "1"
        assert single_error(data) == f"{SRC}: {READ0}.offset: expected a finite number, got '1'"
        data = modbus_doc()
        modbus_read(data, 1)["scale"] = 2.0
        assert single_error(data) == (
            f"{SRC}: modbus.devices[1].polls[0].reads[0].scale: expected no scale for a single "
            "point (scale applies to analog (normalized, scaled, float) and counter points "
            "only), got 2.0")

    def test_bitstring_normalized_and_counter_reads(self) -> None:
        data = modbus_doc()
        data["points"] += [{"name": "m_bits", "ioa": 16, "kind": "bitstring", "source": "modbus"},
                           {"name": "m_norm", "ioa": 17, "kind": "normalized",
                            "source": "modbus"}]
        data["modbus"]["devices"][0]["polls"][0]["reads"] += [
            {"point": "m_bits", "table": "input", "address": 0, "type": "uint32"},
            {"point": "m_norm", "table": "input", "address": 2, "type": "int16",
             "scale": 1 / 32768},
        ]
        reads = modbus_config(parse_config(data, SRC)).devices[0].polls[0].reads
        assert reads[2:] == (
            ModbusRead("m_bits", ModbusTable.INPUT, 0, ModbusType.UINT32),
            ModbusRead("m_norm", ModbusTable.INPUT, 2, ModbusType.INT16, scale=1 / 32768),
        )
        data["modbus"]["devices"][0]["polls"][0]["reads"][2]["type"] = "float32"
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].polls[0].reads[2].type: expected 'int16', 'uint16', "
            "'int32' or 'uint32' for a bitstring point, got 'float32'")

    def test_overlapping_registers(self) -> None:
        data = modbus_doc()
        data["points"].append({"name": "m_low", "ioa": 16, "kind": "scaled", "source": "modbus"})
        data["modbus"]["devices"][0]["polls"][0]["reads"].append(
            {"point": "m_low", "table": "holding", "address": 1, "type": "int16"})
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].polls[0].reads[2].address: expected holding registers no "
            "other read decodes differently, got 1..1 as int16 (register 1 is also read by "
            f"{READ0} as float32 at 0)")
        # the same registers in another table, or on another device, are other registers
        data["modbus"]["devices"][0]["polls"][0]["reads"][2]["table"] = "input"
        parse_config(data, SRC)

    def test_bits_of_one_register_may_share_it(self) -> None:
        data = modbus_doc()
        data["points"].append({"name": "m_bit2", "ioa": 16, "kind": "single", "source": "modbus"})
        data["modbus"]["devices"][1]["polls"][1]["reads"].append(
            {"point": "m_bit2", "table": "input", "address": 3, "bit": 0})
        parse_config(data, SRC)

    # -- devices, polls, buses ----------------------------------------------------------------
    def test_device_checks(self) -> None:
        data = modbus_doc()
        device = data["modbus"]["devices"][1]
        device.update(bus="nowhere", max_registers=126, max_bits=0)
        assert errors_of(data) == [
            (f"{SRC}: modbus.devices[1].bus: expected the name of a [[modbus.buses]] entry, got "
            "'nowhere' (buses: line, net)"),
            f"{SRC}: modbus.devices[1].max_registers: expected an integer 1..125, got 126",
            f"{SRC}: modbus.devices[1].max_bits: expected an integer 1..2000, got 0",
        ]
        data = modbus_doc()
        data["modbus"]["devices"][1].update(name="plc", bus="net", unit_id=1)
        assert errors_of(data) == [
            (f"{SRC}: modbus.devices[1].name: expected a unique device name, got 'plc' (already "
            "used by modbus.devices[0])"),
            (f"{SRC}: modbus.devices[1].unit_id: expected a unit_id no other device on bus 'net' "
            "uses, got 1 (already used by modbus.devices[0])"),
        ]

    def test_unit_id_range_depends_on_the_bus(self) -> None:
        data = modbus_doc()
        data["modbus"]["devices"][1]["unit_id"] = 0  # rtu: 0 is broadcast
        assert single_error(data) == (
            f"{SRC}: modbus.devices[1].unit_id: expected an integer 1..247 (rtu bus), got 0")
        data = modbus_doc()
        data["modbus"]["devices"][0]["unit_id"] = 0  # tcp: 0 is fine
        parse_config(data, SRC)
        data["modbus"]["devices"][0]["unit_id"] = 256
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].unit_id: expected an integer 0..255 (tcp bus), got 256")
        del data["modbus"]["devices"][0]["unit_id"]
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].unit_id: required key missing: expected an integer "
            "0..255 (tcp bus)")

    def test_polls_and_reads_must_not_be_empty(self) -> None:
        data = modbus_doc()
        data["modbus"]["devices"][0]["polls"][0]["reads"] = []
        errors = errors_of(data)
        assert errors[0] == (
            f"{SRC}: modbus.devices[0].polls[0].reads: expected at least one "
            "[[modbus.devices.polls.reads]] table, got none")
        data = modbus_doc()
        del data["modbus"]["devices"][0]["polls"]
        assert errors_of(data)[0] == (
            f"{SRC}: modbus.devices[0].polls: expected at least one [[modbus.devices.polls]] "
            "table, got none")
        data = modbus_doc()
        data["modbus"]["devices"][0]["polls"][0]["interval"] = 0
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].polls[0].interval: expected a number of seconds > 0, "
            "got 0")
        del data["modbus"]["devices"][0]["polls"][0]["interval"]
        assert single_error(data) == (
            f"{SRC}: modbus.devices[0].polls[0].interval: required key missing: expected a "
            "number of seconds > 0")

    def test_bus_checks(self) -> None:
        data = modbus_doc()
        data["modbus"]["buses"][0].update(baudrate=9600, port=0)
        data["modbus"]["buses"][1].update(host="10.0.0.1", stopbits=1.5, parity="n")
        assert errors_of(data) == [
            (f"{SRC}: modbus.buses[0].baudrate: expected no baudrate on a tcp bus (baudrate "
            "applies to rtu buses only), got 9600"),
            f"{SRC}: modbus.buses[0].port: expected an integer 1..65535, got 0",
            (f"{SRC}: modbus.buses[1].host: expected no host on a rtu bus (host applies to tcp "
            "buses only), got '10.0.0.1'"),
            f"{SRC}: modbus.buses[1].parity: expected 'N', 'E' or 'O', got 'n'",
            f"{SRC}: modbus.buses[1].stopbits: expected an integer 1..2, got 1.5",
        ]

    def test_bus_required_keys_and_names(self) -> None:
        data = modbus_doc()
        data["modbus"]["buses"] = [{"name": "net", "type": "tcp"}, {"name": "net", "type": "rtu"},
                                   {"name": "x", "type": "udp"}]
        data["modbus"]["devices"] = []
        data["points"] = minimal()["points"]
        assert errors_of(data) == [
            (f"{SRC}: modbus.buses[0].host: required key missing: expected an IP address or host "
            "name such as 192.168.1.20"),
            (f"{SRC}: modbus.buses[1].name: expected a unique bus name, got 'net' (already used "
            "by modbus.buses[0])"),
            (f"{SRC}: modbus.buses[1].device: required key missing: expected a serial device "
            "path such as /dev/ttyUSB0"),
            f"{SRC}: modbus.buses[2].type: expected 'tcp', 'rtu' or 'sim', got 'udp'",
        ]

    def test_a_sim_bus_takes_no_address_and_serves_addresses_0_to_999(self) -> None:
        """A device the outstation serves itself: no host, port or serial keys (its port is
        chosen at start), and reads and writes within its tables."""
        data = modbus_doc()
        data["modbus"]["buses"][0] = {"name": "net", "type": "sim", "port": 1502}
        assert errors_of(data) == [
            (f"{SRC}: modbus.buses[0].port: expected no port on a sim bus (the outstation "
             "serves it on 127.0.0.1 at a port chosen at start), got 1502")]
        data["modbus"]["buses"][0] = {"name": "net", "type": "sim"}
        reads = data["modbus"]["devices"][0]["polls"][0]["reads"]
        reads[0]["address"] = 999
        reads[0]["type"] = "float32"
        assert any("expected addresses 0..999 on a device of a sim bus, got 999..1000" in e
                   for e in errors_of(data))

    @pytest.mark.parametrize("host", ["", "300.1.1.1", "a b", "-x.example"])
    def test_bad_host(self, host: str) -> None:
        data = modbus_doc()
        data["modbus"]["buses"][0]["host"] = host
        assert single_error(data) == (
            f"{SRC}: modbus.buses[0].host: expected an IP address or host name such as "
            f"192.168.1.20, got {host!r}")

    @pytest.mark.parametrize("host", ["::1", "plc-1.site.example", "10.1.2.3"])
    def test_good_host(self, host: str) -> None:
        data = modbus_doc()
        data["modbus"]["buses"][0]["host"] = host
        assert modbus_config(parse_config(data, SRC)).buses[0].host == host

    def test_timeouts_and_backoff(self) -> None:
        data = modbus_doc()
        data["modbus"]["buses"][0].update(timeout=0, reconnect_delay=5, reconnect_delay_max=2)
        assert errors_of(data) == [
            f"{SRC}: modbus.buses[0].timeout: expected a number of seconds > 0, got 0",
            (f"{SRC}: modbus.buses[0].reconnect_delay_max: expected a number of seconds >= "
            "reconnect_delay (5), got 2"),
        ]

    def test_section_shapes(self) -> None:
        data = minimal()
        data["modbus"] = {"buses": {"name": "x"}, "devices": [1]}
        assert errors_of(data) == [
            (f"{SRC}: modbus.buses: expected an array of tables ([[modbus.buses]]), got "
            "{'name': 'x'}"),
            f"{SRC}: modbus.devices[0]: expected a table ([[modbus.devices]]), got 1",
        ]
        data["modbus"] = []
        assert single_error(data) == f"{SRC}: modbus: expected a table ([modbus]), got []"

    def test_check_command_accepts_the_example(self, capsys: pytest.CaptureFixture[str]) -> None:
        from rtu.cli import main
        assert main(["check", str(example_path())]) == 0
        assert "OK" in capsys.readouterr().out


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_modbus_section_with_arbitrary_values(draw: st.DataObject) -> None:
    data = modbus_doc()
    modbus = data["modbus"]
    devices = modbus["devices"]
    tables: list[dict[str, Any]] = [modbus, *modbus["buses"], *devices,
                                    *(p for d in devices for p in d["polls"]),
                                    *(r for d in devices for p in d["polls"] for r in p["reads"])]
    keys = sorted(set().union(*MODBUS_SCHEMA.values()))
    for _ in range(draw.draw(st.integers(1, 4))):
        table = draw.draw(st.sampled_from(tables))
        key = draw.draw(st.sampled_from(keys))
        table[key] = copy.deepcopy(draw.draw(VALUES))
    parses_or_config_error(data)


# -- [gpio], [adc] and the relays' GPIO keys -------------------------------------------------------
GPIO_SCHEMA: dict[str, set[str]] = {
    "inputs": {"name", "line", "bias", "invert", "debounce", "driver_debounce", "chatter_changes"},
    "doubles": {"name", "on", "off", "settle", "chatter_changes"},
}  # [[gpio.steps]]: STEP_SCHEMA in tests/unit/sources/test_gpio_steps.py
ADC_SCHEMA: dict[str, set[str]] = {
    "devices": {"name", "driver", "interval", "iio_name", "spi_bus", "spi_device", "vref",
                "i2c_bus", "i2c_address", "full_scale", "data_rate"},
    "channels": {"name", "device", "channel", "scale", "offset", "calibration", "input_range"},
}


def board_doc() -> dict[str, Any]:
    """minimal() with GPIO inputs, a double, a GPIO relay and ADC channels feeding points."""
    data = minimal()
    data["gpio"] = {
        "inputs": [{"name": "door", "line": "GPIO17", "invert": True},
                   {"name": "closed", "line": "GPIO5"}, {"name": "open", "line": "GPIO6"},
                   {"name": "aux", "line": "GPIO23"}, {"name": "local", "line": "GPIO24"}],
        "doubles": [{"name": "brk", "on": "closed", "off": "open"}],
    }
    data["relays"].append({"name": "k1", "driver": "gpio", "line": "GPIO22",
                           "feedback_input": "aux", "local_input": "local"})
    data["adc"] = {
        "devices": [{"name": "adc0", "driver": "mcp3008"}, {"name": "adc1", "driver": "iio",
                                                             "iio_name": "ads1115"}],
        "channels": [{"name": "v24", "device": "adc0", "channel": 0, "scale": 11.0}],
    }
    data["points"] += [
        {"name": "g_door", "ioa": 21, "kind": "single", "source": "gpio:door"},
        {"name": "g_brk", "ioa": 22, "kind": "double", "source": "gpio:brk"},
        {"name": "a_v24", "ioa": 23, "kind": "float", "source": "adc:v24"},
    ]
    return data


class TestBoard:
    def test_example_uses_every_key(self) -> None:
        doc = tomllib.loads(example_text())
        for section, schema in (("gpio", GPIO_SCHEMA), ("adc", ADC_SCHEMA)):
            for key, keys in schema.items():
                used = set().union(*(set(t) for t in doc[section][key]))
                assert used == keys, (section, key)
        assert {p["source"] for p in doc["points"] if ":" in p.get("source", "")} >= {
            "gpio:door_contact", "gpio:breaker2", "adc:supply_24v", "adc:tank_level"}

    def test_schema_is_complete(self) -> None:
        for section, schema in (("gpio", GPIO_SCHEMA), ("adc", ADC_SCHEMA)):
            for key, keys in schema.items():
                data = board_doc()
                data[section][key][0]["not_a_key"] = 1
                prefix = f"{SRC}: {section}.{key}[0].not_a_key: unknown key; expected one of "
                line = single_error(data)
                assert line.startswith(prefix), line
                assert set(line.removeprefix(prefix).split(", ")) == keys

    def test_parsed(self) -> None:
        config = parse_config(board_doc(), SRC)
        assert config.gpio.backend == "gpiod" and config.gpio.chip == ""
        door = config.gpio.inputs[0]
        assert door == GpioInputConfig("door", "GPIO17", invert=True, debounce=0.01)
        assert config.gpio.doubles == (GpioDoubleConfig("brk", "closed", "open", settle=1.0),)
        k1 = config.relays[-1]
        assert (k1.driver, k1.line, k1.active_low, k1.mode, k1.feedback_input,
                k1.feedback_timeout, k1.local_input) == ("gpio", "GPIO22", False, "qu", "aux",
                                                          2.0, "local")
        assert config.adc.devices[0] == AdcDeviceConfig("adc0", "mcp3008")
        assert config.adc.channels == (AdcChannelConfig("v24", "adc0", 0, scale=11.0),)
        sources = {p.name: p.source for p in config.points}
        assert (sources["g_door"], sources["g_brk"], sources["a_v24"]) == (
            "gpio:door", "gpio:brk", "adc:v24")

    def test_defaults(self) -> None:
        config = parse_config({}, "empty.toml")
        assert config.gpio == GpioConfig() and config.adc == AdcConfig()

    def test_section_defaults_reach_the_inputs(self) -> None:
        data = board_doc()
        data["gpio"].update(debounce=0.05, chatter_changes=4)
        data["gpio"]["inputs"][1]["debounce"] = 0.0
        data["gpio"]["doubles"][0]["chatter_changes"] = 0
        config = parse_config(data, SRC)
        assert [(i.debounce, i.chatter_changes) for i in config.gpio.inputs[:2]] == [
            (0.05, 4), (0.0, 4)]
        assert config.gpio.doubles[0].chatter_changes == 0

    def test_example_mapping(self) -> None:
        config = load_config(example_path())
        assert config.gpio.backend == "gpiod" and len(config.gpio.inputs) == 12
        k1 = next(r for r in config.relays if r.name == "k1")
        assert (k1.line, k1.active_low, k1.mode, k1.feedback_input, k1.local_input) == (
            "GPIO22", True, "pulse", "k1_aux", "local_remote")
        ads = next(d for d in config.adc.devices if d.driver == "ads1115")
        assert (ads.i2c_address, ads.full_scale, ads.data_rate) == (0x49, 4.096, 128)
        tank = next(c for c in config.adc.channels if c.name == "tank_level")
        assert (tank.scale, tank.offset) == (pytest.approx(25.0), pytest.approx(-25.0))

    def test_unknown_names(self) -> None:
        data = board_doc()
        data["points"][-3]["source"] = "gpio:dor"
        data["points"][-1]["source"] = "adc:v12"
        data["relays"][-1]["feedback_input"] = "brk"
        data["gpio"]["doubles"][0]["off"] = "opened"
        assert errors_of(data) == [
            (f"{SRC}: gpio.doubles[0].off: expected the name of a [[gpio.inputs]] entry, got "
             "'opened' (gpio inputs: aux, closed, door, local, open)"),
            (f"{SRC}: relays[1].feedback_input: expected the name of a [[gpio.inputs]] entry, "
             "got 'brk' (gpio inputs: aux, closed, door, local, open)"),
            (f"{SRC}: points[6].source: expected \"gpio:NAME\" with the name of a "
             "[[gpio.inputs]] (single points), [[gpio.doubles]] (double points) or "
             "[[gpio.steps]] (step points) entry, got "
             "'gpio:dor' (gpio names: aux, brk, closed, door, local, open)"),
            (f"{SRC}: points[8].source: expected \"adc:NAME\" with the name of an "
             "[[adc.channels]] entry, got 'adc:v12' (adc channels: v24)"),
        ]
        no_gpio = with_point(kind="single", source="gpio:door")
        assert single_error(no_gpio).endswith("got 'gpio:door' (no [[gpio.inputs]] entries)")

    def test_source_kinds(self) -> None:
        data = board_doc()
        data["points"][-3]["kind"] = "double"
        data["points"][-2]["kind"] = "single"
        data["points"][-1]["kind"] = "counter"
        assert errors_of(data) == [
            (f"{SRC}: points[6].source: expected a gpio source for a double point, got "
             "'gpio:door' ('door' is a [[gpio.inputs]] entry, which feeds single points; a "
             "double point takes a [[gpio.doubles]] entry)"),
            (f"{SRC}: points[7].source: expected a gpio source for a single point, got "
             "'gpio:brk' ('brk' is a [[gpio.doubles]] entry, which feeds double points only)"),
            (f"{SRC}: points[8].source: expected an adc source for a counter point, got "
             "'adc:v24' (ADC channels feed analog points only (normalized, scaled, float))"),
        ]

    def test_lines_used_twice(self) -> None:
        data = board_doc()
        data["gpio"]["inputs"][1]["line"] = "GPIO17"
        data["relays"][-1]["line"] = "GPIO23"
        assert errors_of(data) == [
            (f"{SRC}: gpio.inputs[1].line: expected a GPIO line not used by another input or "
             "relay, got 'GPIO17' (already used by gpio.inputs[0])"),
            (f"{SRC}: relays[1].line: expected a GPIO line not used by another input or relay, "
             "got 'GPIO23' (already used by gpio.inputs[3])"),
        ]

    def test_rpi_lines_are_bcm_numbers(self) -> None:
        data = board_doc()
        data["gpio"]["backend"] = "rpi"
        data["gpio"]["inputs"][1]["line"] = 17  # the same as "GPIO17"
        data["gpio"]["inputs"][2]["line"] = 28
        data["gpio"]["inputs"][3]["line"] = "PIN11"
        assert errors_of(data) == [
            (f"{SRC}: gpio.inputs[1].line: expected a GPIO line not used by another input or "
             "relay, got 17 (already used by gpio.inputs[0])"),
            (f"{SRC}: gpio.inputs[2].line: expected a BCM GPIO number 0..27 or its name "
             "\"GPIO0\"..\"GPIO27\" (backend = \"rpi\"), got 28"),
            (f"{SRC}: gpio.inputs[3].line: expected a BCM GPIO number 0..27 or its name "
             "\"GPIO0\"..\"GPIO27\" (backend = \"rpi\"), got 'PIN11'"),
        ]
        data = board_doc()
        data["gpio"].update(backend="rpi", chip="gpiochip0")
        assert single_error(data) == (
            f"{SRC}: gpio.chip: expected no chip with backend = 'rpi' (chip applies to the "
            "gpiod backend only), got 'gpiochip0'")

    def test_gpiod_offsets_need_a_chip(self) -> None:
        data = board_doc()
        data["gpio"]["inputs"][0]["line"] = 17
        assert single_error(data) == (
            f"{SRC}: gpio.inputs[0].line: expected a GPIO line name such as \"GPIO17\" (a line "
            "offset needs gpio.chip), got 17")
        data["gpio"]["chip"] = "gpiochip0"
        assert parse_config(data, SRC).gpio.inputs[0].line == 17

    def test_gpio_values(self) -> None:
        data = board_doc()
        data["gpio"].update(backend="gpoid", reread_interval=-1, chatter_window=0)
        data["gpio"]["inputs"][0].update(bias="up", debounce="10ms")
        data["gpio"]["inputs"].append({"name": "door", "line": ""})
        data["gpio"]["doubles"].append({"name": "x", "on": "aux", "off": "aux", "settle": -1})
        assert errors_of(data) == [
            (f"{SRC}: gpio.backend: expected 'gpiod', 'rpi' or 'sim', got 'gpoid' (did you mean "
             "'gpiod'?)"),
            (f"{SRC}: gpio.reread_interval: expected a number of seconds >= 0 (0: no re-read), "
             "got -1"),
            f"{SRC}: gpio.chatter_window: expected a number of seconds > 0, got 0",
            (f"{SRC}: gpio.inputs[0].bias: expected 'as_is', 'disabled', 'pull_up' or "
             "'pull_down', got 'up'"),
            f"{SRC}: gpio.inputs[0].debounce: expected a number of seconds >= 0, got '10ms'",
            (f"{SRC}: gpio.inputs[5].name: expected a name unique among [[gpio.inputs]], "
             "[[gpio.doubles]] and [[gpio.steps]], got 'door' (already used by gpio.inputs[0])"),
            (f"{SRC}: gpio.inputs[5].line: expected a GPIO line name such as \"GPIO17\" "
             "(`gpioinfo` lists them) or a line offset >= 0 on gpio.chip, got ''"),
            f"{SRC}: gpio.doubles[1].off: expected an input other than on, got 'aux'",
            f"{SRC}: gpio.doubles[1].settle: expected a number of seconds >= 0, got -1",
        ]

    def test_relay_gpio_keys(self) -> None:
        data = board_doc()
        data["relays"][0]["line"] = "GPIO25"  # a sim relay
        data["relays"][-1].pop("line")
        data["relays"][-1].update(mode="latch", feedback_timeout=0, active_low="yes")
        assert errors_of(data) == [
            (f"{SRC}: relays[0].line: expected no line on a relay with driver = 'sim' (line "
             "applies to driver = 'gpio' only), got 'GPIO25'"),
            (f"{SRC}: relays[1].line: required key missing: expected the GPIO line driving the "
             "relay, such as \"GPIO22\""),
            f"{SRC}: relays[1].active_low: expected true or false, got 'yes'",
            f"{SRC}: relays[1].mode: expected 'qu', 'pulse' or 'persistent', got 'latch'",
            f"{SRC}: relays[1].feedback_timeout: expected a number of seconds > 0, got 0",
        ]

    def test_adc_devices(self) -> None:
        data = board_doc()
        data["adc"]["devices"] = [
            {"name": "a", "driver": "mcp3008", "i2c_address": 0x48, "vref": 0},
            {"name": "b", "driver": "iio"},
            {"name": "c", "driver": "ads1115", "i2c_address": 0x50, "full_scale": 5.0,
             "data_rate": 100},
            {"name": "a", "driver": "spi"},
            {"name": "d"},
        ]
        data["adc"]["channels"] = []
        data["points"].pop()
        assert errors_of(data) == [
            (f"{SRC}: adc.devices[0].i2c_address: expected no i2c_address on a mcp3008 device "
             "(i2c_address applies to driver = 'ads1115' only), got 72"),
            f"{SRC}: adc.devices[0].vref: expected a reference voltage in volts > 0, got 0",
            (f"{SRC}: adc.devices[1].iio_name: required key missing: expected the IIO device's "
             "name (its sysfs name file), such as \"mcp3008\""),
            (f"{SRC}: adc.devices[2].i2c_address: expected an I2C address 0x48..0x4b (72..75), "
             "got 80"),
            (f"{SRC}: adc.devices[2].full_scale: expected a full-scale range in volts: 6.144, "
             "4.096, 2.048, 1.024, 0.512 or 0.256, got 5.0"),
            (f"{SRC}: adc.devices[2].data_rate: expected samples per second: 8, 16, 32, 64, "
             "128, 250, 475 or 860, got 100"),
            (f"{SRC}: adc.devices[3].name: expected a unique ADC device name, got 'a' (already "
             "used by adc.devices[0])"),
            (f"{SRC}: adc.devices[3].driver: expected 'iio', 'mcp3008' or 'ads1115', got 'spi'"),
            (f"{SRC}: adc.devices[4].driver: required key missing: expected 'iio', 'mcp3008' "
             "or 'ads1115'"),
        ]

    def test_adc_channels(self) -> None:
        data = board_doc()
        data["adc"]["channels"] += [
            {"name": "x1", "device": "adc0", "channel": 8},
            {"name": "x2", "device": "adc0", "channel": 0},
            {"name": "x3", "device": "nope", "channel": 0},
            {"name": "x4", "device": "adc1", "channel": 3, "scale": 2,
             "calibration": [[1, 0], [1, 10]]},
            {"name": "x5", "device": "adc1", "channel": 4, "calibration": [1, 2],
             "input_range": [3, 1]},
            {"name": "v24", "device": "adc1"},
        ]
        assert errors_of(data) == [
            f"{SRC}: adc.channels[1].channel: expected a channel number 0..7 (mcp3008), got 8",
            (f"{SRC}: adc.channels[2].channel: expected a channel of adc0 not used by another "
             "[[adc.channels]] entry, got 0 (already used by adc.channels[0])"),
            (f"{SRC}: adc.channels[3].device: expected the name of an [[adc.devices]] entry, got "
             "'nope' (adc devices: adc0, adc1)"),
            (f"{SRC}: adc.channels[4].scale: expected no scale next to calibration (give "
             "scale/offset or calibration), got 2"),
            (f"{SRC}: adc.channels[4].calibration: expected [[volts1, value1], [volts2, "
             "value2]]: two measured points, volts differ, got [[1, 0], [1, 10]]"),
            (f"{SRC}: adc.channels[5].calibration: expected [[volts1, value1], [volts2, "
             "value2]]: two measured points, volts differ, got [1, 2]"),
            (f"{SRC}: adc.channels[5].input_range: expected [low, high]: two finite numbers "
             "with low < high, got [3, 1]"),
            (f"{SRC}: adc.channels[6].name: expected a unique ADC channel name, got 'v24' "
             "(already used by adc.channels[0])"),
            f"{SRC}: adc.channels[6].channel: required key missing: expected a channel number >= 0",
        ]

    def test_rtu_check_names_the_errors(self, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
        from rtu.cli import main

        path = tmp_path / "site.toml"
        path.write_text('[gpio]\nbackend = "rpi"\n[[gpio.inputs]]\nname = "a"\nline = 17\n'
                        '[[gpio.inputs]]\nname = "b"\nline = "GPIO17"\n'
                        '[[points]]\nname = "p"\nioa = 1\nkind = "single"\nsource = "gpio:c"\n')
        assert main(["check", str(path)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err == [
            (f"{path}:8: gpio.inputs[1].line: expected a GPIO line not used by another input or "
             "relay, got 'GPIO17' (already used by gpio.inputs[0])"),
            (f"{path}:13: points[0] 'p'.source: expected \"gpio:NAME\" with the name of a "
             "[[gpio.inputs]] (single points), [[gpio.doubles]] (double points) or "
             "[[gpio.steps]] (step points) entry, got 'gpio:c' (gpio names: a, b)"),
        ]


class TestStationTime:
    """Issue 15: the clock, command age and events-lost keys of [station]."""

    def test_defaults(self) -> None:
        station = parse_config(minimal(), SRC).station
        assert station.invalid_time_until_synced and not station.local_time
        assert station.max_command_age == 10.0 and station.events_lost_ioa == 0

    def test_keys_are_read(self) -> None:
        data = minimal()
        data["station"].update(time_tags="local", clock_offset_lifetime=3600, max_command_age=0,
                               command_age_action="drop", command_age_unsynchronised="skip",
                               events_lost_ioa=9003, clock_sync="system",
                               command_originators=[3])
        station = parse_config(data, SRC).station
        assert station.local_time and station.clock_offset_lifetime == 3600.0
        assert station.max_command_age == 0 and station.command_age_action.value == "drop"
        assert not station.check_age_unsynchronised and station.events_lost_ioa == 9003
        assert station.clock_sync.value == "system"

    def test_bad_values_are_errors(self) -> None:
        data = minimal()
        data["station"].update(time_tags="gmt", max_command_age=-1, command_age_action="ignore")
        assert errors_of(data) == [
            f"{SRC}: station.time_tags: expected 'utc' or 'local', got 'gmt'",
            (f"{SRC}: station.max_command_age: expected a number of seconds >= 0 (0: no check), "
             "got -1"),
            f"{SRC}: station.command_age_action: expected 'refuse' or 'drop', got 'ignore'",
        ]

    def test_events_lost_ioa_must_be_free(self) -> None:
        data = minimal()
        data["station"]["events_lost_ioa"] = data["points"][0]["ioa"]
        assert "the events lost point needs an IOA of its own" in single_error(data)

    def test_events_lost_ioa_adds_the_one_events_lost_point(self) -> None:
        data = minimal()
        data["station"]["events_lost_ioa"] = 900
        config = parse_config(data, SRC)
        lost = [p for p in config.points if p.source == "health:events_lost"]
        assert [(p.name, p.ioa, p.kind) for p in lost] == [
            ("health_events_lost", 900, PointKind.SINGLE)]

    def test_a_health_events_lost_point_is_the_events_lost_point(self) -> None:
        data = minimal()
        data["points"].append({"name": "lost", "ioa": 901, "kind": "single",
                               "source": "health:events_lost"})
        config = parse_config(data, SRC)
        assert config.station.events_lost_ioa == 901
        assert [p.name for p in config.points if p.source == "health:events_lost"] == ["lost"]
        data["station"]["events_lost_ioa"] = 901  # both forms, one point
        assert parse_config(data, SRC).station.events_lost_ioa == 901
        data["station"]["events_lost_ioa"] = 902
        assert "give both the same IOA" in single_error(data)

    def test_one_events_lost_point_per_station(self) -> None:
        data = minimal()
        for i in (901, 902):
            data["points"].append({"name": f"lost{i}", "ioa": i, "kind": "single",
                                   "source": "health:events_lost"})
        assert "2 points name it at common address 7: lost901, lost902" in single_error(data)
        data["points"][-1]["common_address"] = 2  # another station's own
        config = parse_config(data, SRC)
        assert config.station.events_lost_ioa == 901
        assert config.station.station_events_lost_ioas == (902,)

    def test_another_stations_events_lost_point_alone(self) -> None:
        data = minimal()
        data["points"].append({"name": "lost2", "ioa": 902, "kind": "single",
                               "source": "health:events_lost", "common_address": 2})
        config = parse_config(data, SRC)
        assert config.station.events_lost_ioa == 0
        assert config.station.station_events_lost_ioas == (902,)

    def test_the_old_key_is_still_read(self) -> None:
        data = minimal()
        data["station"]["time_invalid_until_sync"] = False
        assert not parse_config(data, SRC).station.invalid_time_until_synced
        data["station"]["invalid_time_until_synced"] = True  # the new name wins
        assert parse_config(data, SRC).station.invalid_time_until_synced

    def test_system_clock_sync_needs_command_originators(self) -> None:
        data = minimal()
        data["station"]["clock_sync"] = "system"
        assert "needs command_originators" in single_error(data)
