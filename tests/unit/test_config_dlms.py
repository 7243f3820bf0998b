"""[dlms]: meters, reads, credentials file (rtu/sources/dlms/config.py)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rtu.config import ConfigError, load_config, parse_config
from rtu.sources.dlms.config import DLMS_UNITS, dlms_config, parse_obis
from tests.unit.test_config import SRC, errors_of, example_text, minimal, single_error

DLMS_SCHEMA: dict[str, set[str]] = {
    "meters": {"name", "transport", "host", "port", "device", "baudrate",
               "server_physical_address", "client_address", "server_address", "authentication",
               "system_title", "interval", "timeout", "clock_point", "clock_max_drift", "reads",
               "profile", "retries", "common_address"},
    "reads": {"point", "obis", "class_id", "attribute", "scale", "unit"},
    "profile": {"obis", "capture_period", "backfill", "columns"},
    "columns": {"point", "obis", "class_id", "attribute", "scale", "unit"},
}
M0 = "dlms.meters[0]"
R0 = "dlms.meters[0].reads[0]"
EK = "000102030405060708090A0B0C0D0E0F"
AK = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF"


def dlms_doc() -> dict[str, Any]:
    data = minimal()
    data["points"] += [
        {"name": "d_energy", "ioa": 21, "kind": "counter", "source": "dlms"},
        {"name": "d_volts", "ioa": 22, "kind": "float", "source": "dlms"},
        {"name": "d_clock", "ioa": 23, "kind": "single", "source": "dlms"},
    ]
    data["dlms"] = {"meters": [
        {"name": "m1", "transport": "tcp", "host": "127.0.0.1", "clock_point": "d_clock",
         "reads": [{"point": "d_energy", "obis": "1.0.1.8.0.255", "unit": "Wh"},
                   {"point": "d_volts", "obis": "1-0:32.7.0", "scale": 0.5}]},
    ]}
    return data


def with_profile(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with a load profile on its first meter, feeding a new counter point."""
    data["points"].append({"name": "d_profile", "ioa": 24, "kind": "counter",
                           "source": "dlms"})
    data["dlms"]["meters"][0]["profile"] = {
        "capture_period": 900,
        "columns": [{"point": "d_profile", "obis": "1.0.1.8.0.255", "unit": "Wh"}]}
    return data


def write_credentials(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "creds.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


class TestSchema:
    def test_example_uses_every_key(self) -> None:
        dlms = tomllib.loads(example_text())["dlms"]
        meters = dlms["meters"]
        assert set().union(*(set(m) for m in meters)) == DLMS_SCHEMA["meters"]
        reads = [r for m in meters for r in m["reads"]]
        assert set().union(*(set(r) for r in reads)) == DLMS_SCHEMA["reads"]
        profiles = [m["profile"] for m in meters if "profile" in m]
        assert set().union(*(set(p) for p in profiles)) == DLMS_SCHEMA["profile"]
        columns = [c for p in profiles for c in p["columns"]]
        assert set().union(*(set(c) for c in columns)) == DLMS_SCHEMA["columns"]

    @pytest.mark.parametrize(("where", "path"), [
        ("meters", M0), ("reads", R0), ("profile", f"{M0}.profile"),
        ("columns", f"{M0}.profile.columns[0]")])
    def test_schema_is_complete(self, where: str, path: str) -> None:
        data = with_profile(dlms_doc())
        meter = data["dlms"]["meters"][0]
        table = {"meters": meter, "reads": meter["reads"][0], "profile": meter["profile"],
                 "columns": meter["profile"]["columns"][0]}[where]
        table["not_a_key"] = 1
        prefix = f"{SRC}: {path}.not_a_key: unknown key; expected one of "
        line = single_error(data)
        assert line.startswith(prefix)
        assert set(line.removeprefix(prefix).split(", ")) == DLMS_SCHEMA[where]


class TestMeters:
    def test_mapping_and_defaults(self) -> None:
        config = parse_config(dlms_doc(), SRC)
        (meter,) = dlms_config(config).meters
        assert (meter.transport, meter.host, meter.port) == ("tcp", "127.0.0.1", 4059)
        assert (meter.client_address, meter.server_address) == (16, 1)
        assert meter.authentication == "none" and meter.interval == 60.0
        assert meter.timeout == 5.0 and meter.clock_max_drift == 10.0
        assert meter.clock_point == "d_clock"
        energy, volts = meter.reads
        assert energy.obis == (1, 0, 1, 8, 0, 255) and energy.class_id == 3
        assert energy.attribute == 2 and energy.unit == DLMS_UNITS["Wh"] == 30
        assert volts.obis == (1, 0, 32, 7, 0, 255) and volts.scale == 0.5 and volts.unit is None

    def test_hdlc(self) -> None:
        data = dlms_doc()
        data["dlms"]["meters"][0] = {
            "name": "m1", "transport": "hdlc", "device": "/dev/ttyUSB0", "baudrate": 19200,
            "server_physical_address": 17, "clock_point": "d_clock",
            "reads": [{"point": "d_energy", "obis": "1.0.1.8.0.255"},
                      {"point": "d_volts", "obis": "1.0.32.7.0.255"}]}
        (meter,) = dlms_config(parse_config(data, SRC)).meters
        assert (meter.device, meter.baudrate, meter.server_physical_address) == \
            ("/dev/ttyUSB0", 19200, 17)

    def test_udp(self) -> None:
        data = dlms_doc()
        data["dlms"]["meters"][0].update(transport="udp", port=4060, retries=3)
        (meter,) = dlms_config(parse_config(data, SRC)).meters
        assert (meter.transport, meter.host, meter.port, meter.retries) == \
            ("udp", "127.0.0.1", 4060, 3)
        data["dlms"]["meters"][0].update(retries=11)
        assert errors_of(data) == [f"{SRC}: {M0}.retries: expected an integer 0..10, got 11"]
        data["dlms"]["meters"][0].update(transport="tcp", retries=1)
        assert errors_of(data) == [
            (f"{SRC}: {M0}.retries: expected no retries with transport = 'tcp' (retries "
             "applies to udp only), got 1")]

    def test_errors_name_the_key_path(self) -> None:
        data = dlms_doc()
        meter = data["dlms"]["meters"][0]
        meter.update(transport="tcp", device="/dev/ttyS0", interval=0, authentication="hls",
                     system_title="RTU")
        meter["reads"][0].update(obis="1.0.1.8", class_id=7)
        meter["reads"][1].update(unit="volt", scale=0)
        assert errors_of(data) == [
            (f"{SRC}: {M0}.device: expected no device with transport = 'tcp' (device applies to "
            "hdlc only), got '/dev/ttyS0'"),
            (f"{SRC}: {M0}.authentication: expected 'none', 'lls' or 'hls-gmac', got 'hls' "
            "(did you mean 'lls'?)"),
            (f"{SRC}: {M0}.system_title: expected 16 hex digits (the client's 8-octet system "
            "title), got 'RTU'"),
            f"{SRC}: {M0}.interval: expected a number of seconds > 0, got 0",
            (f"{SRC}: {R0}.obis: expected an OBIS code A.B.C.D.E.F such as \"1.0.1.8.0.255\", "
            "got '1.0.1.8'"),
            (f"{SRC}: {R0}.class_id: expected 1 (data), 3 (register), 4 (extended register) or 5 "
            "(demand register), got 7"),
            f"{SRC}: dlms.meters[0].reads[1].scale: expected a finite number other than 0, got 0",
            (f"{SRC}: dlms.meters[0].reads[1].unit: expected a unit name (s, degC, m3, W, VA, "
            "var, Wh, VAh, varh, A, C, V, Hz, %, count) or a unit code 1..255, got 'volt'"),
        ]

    def test_points_must_fit(self) -> None:
        data = dlms_doc()
        data["points"][2]["source"] = "sim"  # p_float
        meter = data["dlms"]["meters"][0]
        meter["reads"][0]["point"] = "p_float"  # source sim
        meter["reads"][1]["point"] = "d_clock"  # a single point
        meter["clock_point"] = "nope"
        assert errors_of(data) == [
            (f"{SRC}: {M0}.clock_point: expected the name of a [[points]] entry with source = "
            "\"dlms\" (single), got 'nope' (no such point)"),
            (f"{SRC}: {R0}.point: expected the name of a [[points]] entry with source = \"dlms\" "
            "(float, counter), got 'p_float' (points[2] has source = 'sim')"),
            (f"{SRC}: dlms.meters[0].reads[1].point: expected the name of a [[points]] entry with "
            "source = \"dlms\" (float, counter), got 'd_clock' (points[8] is a single point)"),
            (f"{SRC}: points[6].source: expected a [[dlms.meters.reads]] entry, a dlms.meters "
            "clock_point, a [[dlms.meters.profile.columns]] or a [[dlms.push.devices.objects]] entry naming 'd_energy' for a point with source = \"dlms\", got none"),
            (f"{SRC}: points[7].source: expected a [[dlms.meters.reads]] entry, a dlms.meters "
            "clock_point, a [[dlms.meters.profile.columns]] or a [[dlms.push.devices.objects]] entry naming 'd_volts' for a point with source = \"dlms\", got none"),
            (f"{SRC}: points[8].source: expected a [[dlms.meters.reads]] entry, a dlms.meters "
            "clock_point, a [[dlms.meters.profile.columns]] or a [[dlms.push.devices.objects]] entry naming 'd_clock' for a point with source = \"dlms\", got none"),
        ]

    def test_a_point_is_fed_once_and_names_are_unique(self) -> None:
        data = dlms_doc()
        first = data["dlms"]["meters"][0]
        first["reads"][1]["point"] = "d_energy"
        data["dlms"]["meters"].append(dict(first, reads=[{"point": "d_volts", "obis": "1.0.32.7.0"}],
                                           clock_point=None))
        del data["dlms"]["meters"][1]["clock_point"]
        assert errors_of(data) == [
            (f"{SRC}: dlms.meters[0].reads[1].point: expected a point nothing else feeds, got "
            f"'d_energy' (already fed by {R0}.point)"),
            (f"{SRC}: dlms.meters[1].name: expected a unique meter name, got 'm1' (already used "
            "by dlms.meters[0])"),
        ]

    def test_obis_forms(self) -> None:
        assert parse_obis("1.0.1.8.0.255") == (1, 0, 1, 8, 0, 255)
        assert parse_obis("1-0:1.8.0") == (1, 0, 1, 8, 0, 255)
        assert parse_obis("1.0.1.8.0*101") == (1, 0, 1, 8, 0, 101)
        assert parse_obis("1.0.256.8.0.255") is None
        assert parse_obis("1.0.1.8") is None


P0 = "dlms.meters[0].profile"


class TestProfile:
    def test_mapping_and_defaults(self) -> None:
        (meter,) = dlms_config(parse_config(with_profile(dlms_doc()), SRC)).meters
        profile = meter.profile
        assert profile is not None
        assert profile.obis == (1, 0, 99, 1, 0, 255) and profile.capture_period == 900
        assert profile.backfill == 86400.0
        (column,) = profile.columns
        assert (column.point, column.obis, column.class_id, column.attribute, column.unit) == \
            ("d_profile", (1, 0, 1, 8, 0, 255), 3, 2, 30)
        assert dlms_config(parse_config(dlms_doc(), SRC)).meters[0].profile is None

    def test_a_profile_alone_is_enough(self) -> None:
        data = with_profile(dlms_doc())
        meter = data["dlms"]["meters"][0]
        data["points"] = [p for p in data["points"] if p["name"] in ("d_profile",)
                          or p.get("source") != "dlms"]
        del meter["reads"], meter["clock_point"]
        (parsed,) = dlms_config(parse_config(data, SRC)).meters
        assert parsed.reads == () and parsed.profile is not None

    def test_errors_name_the_key_path(self) -> None:
        data = with_profile(dlms_doc())
        profile = data["dlms"]["meters"][0]["profile"]
        profile.update(obis="99.1.0", capture_period=0.5, backfill=-1)
        profile["columns"][0].update(class_id=8)
        profile["columns"].append({"point": "d_volts", "obis": "1.0.1.8.0.255"})
        data["dlms"]["meters"][0]["reads"].pop()  # d_volts: fed by the second column now
        assert errors_of(data) == [
            (f"{SRC}: {P0}.obis: expected the OBIS code of a Profile Generic such as "
             "\"1.0.99.1.0.255\", got '99.1.0'"),
            (f"{SRC}: {P0}.capture_period: expected the meter's capture period, a whole number "
             "of seconds 1..2678400 (900: a 15-minute load profile), got 0.5"),
            (f"{SRC}: {P0}.backfill: expected a number of seconds >= 0 (history taken on the "
             "first read), got -1"),
            (f"{SRC}: {P0}.columns[0].class_id: expected 1 (data), 3 (register), 4 (extended "
             "register) or 5 (demand register), got 8"),
        ]
        profile["obis"], profile["capture_period"], profile["backfill"] = "1.0.99.2.0.255", 60, 0
        profile["columns"][0]["class_id"] = 3
        assert errors_of(data) == [
            (f"{SRC}: {P0}.columns[1]: expected each captured object once, got 1.0.1.8.0.255 "
             "(class 3, attribute 2) again"),
        ]

    def test_required_keys_and_shapes(self) -> None:
        data = with_profile(dlms_doc())
        data["dlms"]["meters"][0]["profile"] = {"obis": "1.0.99.1.0.255"}
        errors = errors_of(data)
        assert f"{SRC}: {P0}.capture_period: required key missing" in errors[0]
        assert f"{SRC}: {P0}.columns: required key missing" in errors[1]
        data["dlms"]["meters"][0]["profile"] = {"capture_period": 900, "columns": []}
        assert errors_of(data)[0] == (f"{SRC}: {P0}.columns: expected at least one "
                                      "[[dlms.meters.profile.columns]] table, got none")
        data["dlms"]["meters"][0]["profile"] = "1.0.99.1.0.255"
        assert errors_of(data)[0] == (f"{SRC}: {P0}: expected a table "
                                      "([dlms.meters.profile]), got '1.0.99.1.0.255'")

    def test_a_column_point_is_fed_once(self) -> None:
        data = with_profile(dlms_doc())
        data["dlms"]["meters"][0]["profile"]["columns"][0]["point"] = "d_energy"
        assert errors_of(data)[0] == (
            f"{SRC}: {P0}.columns[0].point: expected a point nothing else feeds, got "
            "'d_energy' (already fed by dlms.meters[0].reads[0].point)")


class TestCredentials:
    def lls_doc(self, credentials: str) -> dict[str, Any]:
        data = dlms_doc()
        data["dlms"]["credentials"] = credentials
        data["dlms"]["meters"][0]["authentication"] = "lls"
        data["dlms"]["meters"].append({
            "name": "m2", "transport": "tcp", "host": "meter2.local", "authentication": "hls-gmac",
            "system_title": "5254550000000002", "reads": []})
        data["points"].append({"name": "d_power", "ioa": 24, "kind": "float", "source": "dlms"})
        data["dlms"]["meters"][1]["reads"] = [{"point": "d_power", "obis": "1.0.1.7.0.255"}]
        return data

    def test_secrets_are_read(self, tmp_path: Path) -> None:
        path = write_credentials(tmp_path, f'[meters.m1]\npassword = "12345678"\n'
                                           f'[meters.m2]\nencryption_key = "{EK}"\n'
                                           f'authentication_key = "{AK}"\n')
        m1, m2 = dlms_config(parse_config(self.lls_doc(str(path)), SRC)).meters
        assert m1.password == b"12345678" and m1.encryption_key == b""
        assert m2.encryption_key == bytes.fromhex(EK)
        assert m2.authentication_key == bytes.fromhex(AK)
        assert m2.system_title == b"RTU\x00\x00\x00\x00\x02"
        assert "12345678" not in repr(m1) and EK.lower() not in repr(m2).lower()

    def test_relative_to_the_config_file(self, tmp_path: Path) -> None:
        write_credentials(tmp_path, '[meters.m1]\npassword = "pw"\n')
        config = tmp_path / "site.toml"
        config.write_text(
            '[[points]]\nname = "e"\nioa = 1\nkind = "counter"\nsource = "dlms"\n'
            '[dlms]\ncredentials = "creds.toml"\n'
            '[[dlms.meters]]\nname = "m1"\ntransport = "tcp"\nhost = "10.0.0.9"\n'
            'authentication = "lls"\n'
            '[[dlms.meters.reads]]\npoint = "e"\nobis = "1.0.1.8.0.255"\n', encoding="utf-8")
        loaded = dlms_config(load_config(config))
        assert loaded.credentials == str(tmp_path / "creds.toml")
        assert loaded.meters[0].password == b"pw"

    @pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
    def test_group_or_other_access_is_refused(self, tmp_path: Path, mode: int) -> None:
        path = write_credentials(tmp_path, '[meters.m1]\npassword = "12345678"\n', mode)
        assert errors_of(self.lls_doc(str(path))) == [
            (f"{SRC}: dlms.credentials: {path}: expected a file only the service can read "
            f"(chmod 600), got mode {mode:04o}: it grants access to group or others")]

    def test_bad_content(self, tmp_path: Path) -> None:
        path = write_credentials(tmp_path, '[meters.m1]\npasswd = "x"\n[meters.m2]\n'
                                           'encryption_key = "0011"\n')
        where = f"{SRC}: dlms.credentials: {path}"
        assert errors_of(self.lls_doc(str(path))) == [
            (f"{where}: meters.m1.passwd: unknown key; expected one of password, encryption_key, "
            "authentication_key"),
            (f"{where}: meters.m1.password: expected the LLS password as a non-empty string "
            "(required key missing)"),
            (f"{where}: meters.m2.encryption_key: expected 32 hex digits (an AES-128 key, "
            "security suite 0)"),
            (f"{where}: meters.m2.authentication_key: expected 32 hex digits (an AES-128 key, "
            "security suite 0) (required key missing)"),
        ]

    def test_missing_file_and_key(self, tmp_path: Path) -> None:
        gone = tmp_path / "gone.toml"
        assert single_error(self.lls_doc(str(gone))) == (
            f"{SRC}: dlms.credentials: {gone}: cannot read the credentials file: No such file "
            "or directory")
        data = self.lls_doc("")
        del data["dlms"]["credentials"]
        assert single_error(data) == (
            f"{SRC}: dlms.credentials: required key missing: expected the path of the "
            "credentials file (meter 'm1' uses authentication 'lls')")

    def test_not_read_without_authentication(self, tmp_path: Path) -> None:
        data = dlms_doc()
        data["dlms"]["credentials"] = str(tmp_path / "absent.toml")
        parse_config(data, SRC)  # no meter authenticates: the file is not needed


def test_unreadable_config_errors_are_config_errors(tmp_path: Path) -> None:
    path = write_credentials(tmp_path, "[meters.m1\n")
    data = TestCredentials().lls_doc(str(path))
    with pytest.raises(ConfigError) as info:
        parse_config(data, SRC)
    assert any("TOML syntax error" in line for line in info.value.errors)
    assert os.stat(path).st_mode & 0o777 == 0o600
