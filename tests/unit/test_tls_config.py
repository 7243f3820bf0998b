"""Security settings: [iec104.tls] (IEC 62351-3) and [station] command_originators, from the TOML
keys down to the outstation's refusal of a command from an unlisted originator.

No certificates are made here (that needs the openssl command: tests/integration/test_tls.py
loads real ones); these tests cover what can go wrong before a certificate is read."""

from __future__ import annotations

import logging
import ssl
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.iec.asdu.codec import AsduProfile
from rtu.iec.asdu.objects import InterrogationCommand, SingleCommand
from rtu.iec.asdu.types import Cot, TypeId
from rtu.iec.outstation import OutstationConfig
from rtu.servers.tls import (
    TLS12_CIPHERS,
    TlsConfigError,
    TlsSettings,
    fingerprint,
    normalise_fingerprint,
    server_context,
)
from tests.unit.iec.test_outstation import Rig, act, summary

SRC = "/etc/rtu/site.toml"
TLS_SCHEMA = {"enabled", "certificate", "private_key", "ca_file", "allowed_fingerprints",
              "min_version", "crl_file", "expiry_warning_days"}
FP = "ab" * 32


def tls_doc(**tls: Any) -> dict[str, Any]:
    table = {"certificate": "rtu.crt", "private_key": "rtu.key", "ca_file": "ca.crt", **tls}
    return {"iec104": {"tls": {k: v for k, v in table.items() if v is not None}}}


def errors_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(data, SRC)
    return info.value.errors


# -- [iec104.tls] ---------------------------------------------------------------------------------

def test_example_documents_every_tls_key_and_the_parser_accepts_exactly_those() -> None:
    text = resources.files("rtu.examples").joinpath("example.toml").read_text(encoding="utf-8")
    assert set(tomllib.loads(text)["iec104"]["tls"]) == TLS_SCHEMA
    (line,) = errors_of(tls_doc(enabled=False, not_a_key=1))
    prefix = f"{SRC}: iec104.tls.not_a_key: unknown key; expected one of "
    assert line.startswith(prefix)
    assert set(line.removeprefix(prefix).split(", ")) == TLS_SCHEMA


def test_without_the_table_or_disabled_there_is_no_tls() -> None:
    config = parse_config({}, SRC)
    assert config.iec104 is not None and config.iec104.tls is None
    config = parse_config(tls_doc(enabled=False, certificate=None), SRC)  # nothing is read
    assert config.iec104 is not None and config.iec104.tls is None


def test_files_are_required_and_must_exist() -> None:
    errors = errors_of({"iec104": {"tls": {"enabled": True}}})
    assert errors == [
        f"{SRC}: iec104.tls.{key}: required key missing: expected the path of a PEM file"
        for key in ("certificate", "private_key", "ca_file")
    ]
    errors = errors_of(tls_doc())  # relative to the configuration file's directory
    assert errors == [
        f"{SRC}: iec104.tls.certificate: /etc/rtu/rtu.crt: no such file",
        f"{SRC}: iec104.tls.private_key: /etc/rtu/rtu.key: no such file",
        f"{SRC}: iec104.tls.ca_file: /etc/rtu/ca.crt: no such file",
    ]


def test_a_file_that_is_not_pem_is_named_with_the_reason(tmp_path: Path) -> None:
    for name in ("rtu.crt", "rtu.key", "ca.crt"):
        (tmp_path / name).write_text("not a certificate\n")
    source = str(tmp_path / "site.toml")
    with pytest.raises(ConfigError) as info:
        parse_config(tls_doc(), source)
    (line,) = info.value.errors
    assert line.startswith(f"{source}: iec104.tls: certificate {tmp_path}/rtu.crt with "
                           f"private_key {tmp_path}/rtu.key does not load: ")


def test_disabled_iec104_does_not_read_the_files() -> None:
    data = tls_doc()
    data["iec104"]["enabled"] = False
    assert parse_config(data, SRC).iec104 is None


@pytest.mark.parametrize(("value", "path"), [
    (["xyz"], "allowed_fingerprints[0]"),
    ([FP[:-2]], "allowed_fingerprints[0]"),
    ([FP, 5], "allowed_fingerprints[1]"),
    ("AB:CD", "allowed_fingerprints"),
])
def test_bad_fingerprints(value: object, path: str) -> None:
    (line,) = errors_of(tls_doc(allowed_fingerprints=value, enabled=False))
    assert line.startswith(f"{SRC}: iec104.tls.{path}: expected ")


@pytest.mark.parametrize("value", ["1.1", 1.2, "TLSv1.3", ""])
def test_bad_min_version(value: object) -> None:
    (line,) = errors_of(tls_doc(min_version=value, enabled=False))
    assert line.startswith(f"{SRC}: iec104.tls.min_version: expected '1.2' or '1.3', got ")


@pytest.mark.parametrize("text", [
    FP, FP.upper(), ":".join(FP[i:i + 2] for i in range(0, 64, 2)).upper(),
    "sha256 Fingerprint=" + ":".join(FP[i:i + 2] for i in range(0, 64, 2)).upper(),
])
def test_fingerprint_forms_are_normalised(text: str) -> None:
    assert normalise_fingerprint(text) == FP


def test_fingerprint_is_sha256_of_der() -> None:
    assert fingerprint(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_settings_check_their_values() -> None:
    with pytest.raises(ValueError, match="min_version"):
        TlsSettings("a", "b", "c", min_version="1.1")
    with pytest.raises(ValueError, match="allowed_fingerprints"):
        TlsSettings("a", "b", "c", allowed_fingerprints=("AB:CD",))


def test_server_context_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="no such file"):
        server_context(TlsSettings(str(tmp_path / "x.crt"), str(tmp_path / "x.key"),
                                   str(tmp_path / "ca.crt")))


def test_tls12_cipher_list_is_forward_secret_aead_only() -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(TLS12_CIPHERS)
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12
    for cipher in tls12:
        assert cipher["aead"] and cipher["kea"] in ("kx-ecdhe", "kx-dhe"), cipher["name"]


# -- [station] command_originators ---------------------------------------------------------------

def test_command_originators_mapping() -> None:
    config = parse_config({"station": {"command_originators": [2, 1, 2]}}, SRC)
    assert config.station.command_originators == frozenset({1, 2})
    assert parse_config({}, SRC).station.command_originators == frozenset()


@pytest.mark.parametrize(("value", "path"), [
    (5, "station.command_originators"),
    ([256], "station.command_originators[0]"),
    ([1, -1], "station.command_originators[1]"),
    ([True], "station.command_originators[0]"),
])
def test_bad_command_originators(value: object, path: str) -> None:
    (line,) = errors_of({"station": {"command_originators": value}})
    assert line.startswith(f"{SRC}: {path}: expected ")


def test_command_originators_need_an_originator_field_on_101() -> None:
    data: dict[str, Any] = {"station": {"cot_size": 1, "command_originators": [1]},
                            "iec101": {"device": "/dev/ttyUSB0"}}
    (line,) = errors_of(data)
    assert line.startswith(f"{SRC}: station.command_originators: needs an originator address")
    assert "cot_size" in line
    data["station"]["cot_size"] = 2
    assert parse_config(data, SRC).station.command_originators == frozenset({1})
    data["station"]["cot_size"] = 1
    data["iec101"]["enabled"] = False  # 104 always carries the originator address
    assert parse_config(data, SRC).station.command_originators == frozenset({1})


def test_outstation_config_checks_originators() -> None:
    with pytest.raises(ValueError, match="command_originators"):
        OutstationConfig(command_originators=frozenset({300}))


# -- the outstation's check (sans-I/O) -----------------------------------------------------------

def test_command_from_unlisted_originator_is_refused_with_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    rig = Rig(command_originators=frozenset({1, 2}))
    rig.session.activate()
    rig.drain()
    with caplog.at_level(logging.WARNING, "rtu.iec.outstation"):
        rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True), originator=3))
    out = rig.drain()
    assert summary(out) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
    assert out[0].originator == 3
    assert rig.executor.started == []
    (record,) = caplog.records
    assert "m1" in record.getMessage() and "originator address 3" in record.getMessage()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True), originator=2))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, False)]
    assert len(rig.executor.started) == 1


def test_system_commands_are_not_restricted() -> None:
    rig = Rig(command_originators=frozenset({1}))
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_IC_NA_1, InterrogationCommand(0, 20), originator=9))
    out = rig.drain()
    assert (TypeId.C_IC_NA_1, Cot.ACTIVATION_CON, False) in summary(out)
    assert (TypeId.C_IC_NA_1, Cot.ACTIVATION_TERMINATION, False) in summary(out)


def test_without_an_originator_field_a_restriction_refuses_every_command() -> None:
    # rtu check rejects this configuration; should it happen anyway, refuse rather than allow
    rig = Rig(AsduProfile(cot_size=1, ca_size=2, ioa_size=3),
              command_originators=frozenset({1}))
    rig.session.activate()
    rig.drain()
    rig.send(act(TypeId.C_SC_NA_1, SingleCommand(500, True)))
    assert summary(rig.drain()) == [(TypeId.C_SC_NA_1, Cot.ACTIVATION_CON, True)]
