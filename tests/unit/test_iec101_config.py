"""[iec101] inter_character_timeout_min: parsed, validated, and turned into the FT1.2 timeout."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from rtu.config import ConfigError, parse_config
from rtu.iec.cs101.link import LinkParameters, inter_character_timeout
from rtu.servers.iec101 import Iec101Settings, SerialSettings

SRC = "test.toml"


def doc(**iec101: Any) -> dict[str, Any]:
    return {"iec101": {"device": "/dev/ttyUSB0", **iec101}}


def settings_of(data: dict[str, Any]) -> Iec101Settings:
    settings = parse_config(data, SRC).iec101
    assert settings is not None
    return settings


def test_the_timeout_is_on_by_default_with_a_50_ms_floor() -> None:
    settings = settings_of(doc())
    assert settings.inter_character_timeout_min == 0.05
    assert settings.idle_timeout == 0.05  # 33 bits at 9600 baud are only 3.4 ms
    assert settings.link_parameters().idle_timeout == 0.05


def test_slow_lines_get_33_bit_times() -> None:
    settings = settings_of(doc(baudrate=300, inter_character_timeout_min=0.01))
    assert settings.idle_timeout == pytest.approx(33 / 300)
    assert settings_of(doc(inter_character_timeout_min=0)).idle_timeout == pytest.approx(
        33 / 9600
    )


@pytest.mark.parametrize("value", [-0.1, 10.5, "50ms", True, float("inf")])
def test_bad_values_are_reported_with_their_path(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc(inter_character_timeout_min=value), SRC)
    (line,) = info.value.errors
    assert line.startswith(f"{SRC}: iec101.inter_character_timeout_min: expected ")


def test_settings_made_in_code_have_the_timeout_on_too() -> None:
    settings = Iec101Settings(SerialSettings("/dev/null", baudrate=1200), LinkParameters())
    assert settings.idle_timeout == pytest.approx(max(33 / 1200, 0.05))
    explicit = dataclasses.replace(settings, link=LinkParameters(idle_timeout=0.2))
    assert explicit.idle_timeout == 0.2
    with pytest.raises(ValueError, match="floor"):
        Iec101Settings(SerialSettings("/dev/null"), LinkParameters(),
                       inter_character_timeout_min=-1.0)


def test_inter_character_timeout_rules() -> None:
    assert inter_character_timeout(9600, 0.0) == pytest.approx(33 / 9600)
    assert inter_character_timeout(115200, 0.05) == 0.05
    with pytest.raises(ValueError, match="baudrate"):
        inter_character_timeout(0, 0.05)
    with pytest.raises(ValueError, match="floor"):
        inter_character_timeout(9600, float("nan"))


def test_time_tag_defaults_to_cp56_and_cp24_makes_a_cp24_profile() -> None:
    settings = settings_of(doc())
    assert settings.time_tag == "cp56" and settings.profile().cp24 is False
    cp24 = settings_of(doc(time_tag="cp24"))
    assert cp24.time_tag == "cp24" and cp24.profile().cp24 is True


@pytest.mark.parametrize("value", ["CP24", "cp32", 24, True])
def test_bad_time_tag_is_reported_with_its_path(value: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc(time_tag=value), SRC)
    (line,) = info.value.errors
    assert line.startswith(f"{SRC}: iec101.time_tag: ")
    with pytest.raises(ValueError, match="time_tag"):
        Iec101Settings(SerialSettings("/dev/null"), LinkParameters(), time_tag="cp32")
