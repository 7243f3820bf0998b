"""hal.aout: the sysfs PWM channel against a fake /sys/class/pwm tree in a tmp dir, and the
MCP4725 DAC against a fake smbus2 module."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hal.aout import AnalogOutputUnavailableError, Mcp4725, SysfsPwm


def chip(root: Path, number: int = 0) -> Path:
    path = root / f"pwmchip{number}"
    path.mkdir(parents=True)
    (path / "export").write_text("", encoding="ascii")
    (path / "npwm").write_text("2\n", encoding="ascii")
    return path


def kernel_export(chip_dir: Path, written: list[str]) -> Any:
    """A sleep that plays the kernel: the exported channel's files appear after one poll."""

    def sleep(seconds: float) -> None:
        written.append((chip_dir / "export").read_text(encoding="ascii"))
        channel = chip_dir / f"pwm{written[-1].strip()}"
        channel.mkdir(exist_ok=True)
        for attribute, value in (("period", "0"), ("duty_cycle", "0"), ("enable", "0")):
            (channel / attribute).write_text(f"{value}\n", encoding="ascii")

    return sleep


def read(channel: Path, attribute: str) -> str:
    return (channel / attribute).read_text(encoding="ascii").strip()


def test_the_channel_is_exported_configured_enabled_and_driven(tmp_path: Path) -> None:
    chip_dir = chip(tmp_path, 0)
    exported: list[str] = []
    pwm = SysfsPwm("valve", 0, 1, 0.001, root=tmp_path, sleep=kernel_export(chip_dir, exported))
    pwm.set_duty(0.25)
    assert exported == ["1\n"]
    channel = chip_dir / "pwm1"
    assert (read(channel, "period"), read(channel, "duty_cycle"), read(channel, "enable")) == (
        "1000000", "250000", "1")
    pwm.set_duty(1.0)
    assert read(channel, "duty_cycle") == "1000000"
    with pytest.raises(ValueError, match="duty cycle must be 0..1"):
        pwm.set_duty(1.5)


def test_a_shorter_period_is_written_after_the_duty_cycle(tmp_path: Path) -> None:
    """The kernel refuses a duty cycle longer than the period: a channel left at a long
    period gets the (shorter) duty cycle first."""
    chip_dir = chip(tmp_path, 0)
    channel = chip_dir / "pwm0"
    channel.mkdir()
    for attribute, value in (("period", "20000000"), ("duty_cycle", "15000000"), ("enable", "1")):
        (channel / attribute).write_text(f"{value}\n", encoding="ascii")
    order: list[str] = []
    pwm = SysfsPwm("valve", 0, 0, 0.001, root=tmp_path)
    original = SysfsPwm._write

    def spy(self: SysfsPwm, attribute: str, value: int) -> None:
        order.append(attribute)
        original(self, attribute, value)

    pwm._write = lambda attribute, value: spy(pwm, attribute, value)  # type: ignore[method-assign]
    pwm.set_duty(0.5)
    assert order == ["duty_cycle", "period", "enable"]
    assert (read(channel, "period"), read(channel, "duty_cycle")) == ("1000000", "500000")


def test_a_missing_chip_or_channel_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AnalogOutputUnavailableError, match="no .*pwmchip3 .*dtoverlay"):
        SysfsPwm("valve", 3, 0, 0.001, root=tmp_path).set_duty(0.5)
    chip(tmp_path, 0)  # export works, but the channel never appears (bounded wait)
    sleeps: list[float] = []
    pwm = SysfsPwm("valve", 0, 0, 0.001, root=tmp_path, sleep=sleeps.append)
    with pytest.raises(AnalogOutputUnavailableError, match="did not appear within 1 s"):
        pwm.set_duty(0.5)
    assert 0 < len(sleeps) <= 21


class FakeBus:
    def __init__(self, log: list[tuple[int, int, int]], fail: bool) -> None:
        self.log, self.fail, self.closed = log, fail, False

    def write_byte_data(self, address: int, command: int, value: int) -> None:
        if self.fail:
            raise OSError(121, "Remote I/O error")
        self.log.append((address, command, value))

    def close(self) -> None:
        self.closed = True


def test_the_mcp4725_fast_write() -> None:
    log: list[tuple[int, int, int]] = []
    opened: list[int] = []
    state = {"fail": False}

    def smbus(bus: int) -> FakeBus:
        opened.append(bus)
        return FakeBus(log, state["fail"])

    dac = Mcp4725("dac", 1, 0x61, smbus=SimpleNamespace(SMBus=smbus))
    assert dac.bits == 12
    dac.set_code(0xABC)
    dac.set_code(0)
    assert log == [(0x61, 0x0A, 0xBC), (0x61, 0x00, 0x00)]
    assert opened == [1]
    with pytest.raises(ValueError):
        dac.set_code(4096)
    dac.close()
    state["fail"] = True
    with pytest.raises(OSError):
        dac.set_code(1)
    with pytest.raises(ValueError):
        Mcp4725("dac", 1, 0x48)


def test_the_mcp4725_without_its_bus() -> None:
    def smbus(bus: int) -> FakeBus:
        raise FileNotFoundError(bus)

    with pytest.raises(AnalogOutputUnavailableError, match="no /dev/i2c-7"):
        Mcp4725("dac", 7, smbus=SimpleNamespace(SMBus=smbus)).set_code(1)
