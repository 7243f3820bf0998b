"""hal.adc: the IIO sysfs path against a fake sysfs tree, the MCP3008 against a fake spidev and
the ADS1115 against a fake smbus2, each checked at its boundary (files read, bytes sent)."""

from __future__ import annotations

import errno
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hal.adc import AdcUnavailableError, Ads1115, IioAdc, Mcp3008


def iio_device(root: Path, index: int, name: str, files: dict[str, str]) -> Path:
    device = root / f"iio:device{index}"
    device.mkdir(parents=True)
    (device / "name").write_text(name + "\n")
    for file, text in files.items():
        (device / file).write_text(text + "\n")
    return device


# -- IIO ---------------------------------------------------------------------------------------
def test_iio_device_found_by_name_shared_and_per_channel_scale(tmp_path: Path) -> None:
    iio_device(tmp_path, 0, "ads1115", {"in_voltage0_raw": "1234",
                                        "in_voltage0_scale": "0.125000000"})
    iio_device(tmp_path, 1, "mcp3008", {"in_voltage3_raw": "512",
                                        "in_voltage_scale": "3.222656250"})
    mcp = IioAdc("mcp3008", root=tmp_path)
    assert mcp.device_path() == tmp_path / "iio:device1"
    assert mcp.channel("supply", 3).read() == pytest.approx(512 * 3.22265625 / 1000)
    ads = IioAdc("ads1115", root=tmp_path)
    assert ads.read_volts(0) == pytest.approx(1234 * 0.125 / 1000)


def test_iio_offset(tmp_path: Path) -> None:
    iio_device(tmp_path, 0, "adc", {"in_voltage1_raw": "100", "in_voltage_scale": "2",
                                    "in_voltage1_offset": "-20"})
    assert IioAdc("adc", root=tmp_path).read_volts(1) == pytest.approx((100 - 20) * 2 / 1000)


def test_iio_missing_device_names_what_is_there(tmp_path: Path) -> None:
    iio_device(tmp_path, 0, "ads1115", {})
    with pytest.raises(AdcUnavailableError) as info:
        IioAdc("mcp3008", root=tmp_path).read_volts(0)
    assert str(info.value) == (
        f"no IIO device named 'mcp3008' in {tmp_path} (found: iio:device0 = ads1115); is its "
        "driver loaded (e.g. dtoverlay=mcp3008 in config.txt)?")


def test_iio_read_error_then_the_device_is_found_again(tmp_path: Path) -> None:
    device = iio_device(tmp_path, 0, "mcp3008", {"in_voltage0_raw": "10",
                                                 "in_voltage_scale": "1"})
    adc = IioAdc("mcp3008", root=tmp_path)
    assert adc.read_volts(0) == pytest.approx(0.01)
    for file in device.iterdir():
        file.unlink()
    device.rmdir()  # the driver was reloaded: the device came back as iio:device3
    with pytest.raises(OSError):
        adc.read_volts(0)
    iio_device(tmp_path, 3, "mcp3008", {"in_voltage0_raw": "20", "in_voltage_scale": "1"})
    assert adc.read_volts(0) == pytest.approx(0.02)


def test_iio_garbage_and_missing_scale(tmp_path: Path) -> None:
    iio_device(tmp_path, 0, "adc", {"in_voltage0_raw": "oops", "in_voltage_scale": "1",
                                    "in_voltage1_raw": "5"})
    adc = IioAdc("adc", root=tmp_path)
    with pytest.raises(AdcUnavailableError, match="expected a number, got 'oops'"):
        adc.read_volts(0)
    (tmp_path / "iio:device0" / "in_voltage_scale").unlink()
    with pytest.raises(AdcUnavailableError, match="neither in_voltage1_scale nor in_voltage_scale"):
        adc.read_volts(1)


# -- MCP3008 over spidev --------------------------------------------------------------------------
class FakeSpiDev:
    """spidev.SpiDev: open(bus, device), max_speed_hz, mode, xfer2(list) -> list, close()."""

    instances: ClassVar[list[FakeSpiDev]] = []

    def __init__(self) -> None:
        self.opened: tuple[int, int] | None = None
        self.max_speed_hz = 500_000
        self.mode = 3
        self.sent: list[list[int]] = []
        self.replies: list[list[int]] = []
        self.closed = False
        self.fail = False
        FakeSpiDev.instances.append(self)

    def open(self, bus: int, device: int) -> None:
        self.opened = (bus, device)

    def xfer2(self, data: list[int]) -> list[int]:
        if self.fail:
            raise OSError(errno.EIO, "Input/output error")
        self.sent.append(list(data))
        return self.replies.pop(0) if self.replies else [0, 0, 0]

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def spidev() -> Any:
    FakeSpiDev.instances = []
    module = type(sys)("spidev")
    module.SpiDev = FakeSpiDev  # type: ignore[attr-defined]
    return module


def test_mcp3008_bytes_and_conversion(spidev: Any) -> None:
    adc = Mcp3008(0, 1, vref=3.3, spidev=spidev)
    assert FakeSpiDev.instances == []  # opened at the first read
    channel = adc.channel("ch5", 5)
    assert channel.name == "ch5"
    assert adc.request(0) == [0x01, 0x80, 0x00]
    assert adc.request(5) == [0x01, 0xD0, 0x00]  # start bit; SGL=1, D2..D0 = 101
    # 10-bit result: the low 2 bits of the second byte, then the third byte
    assert adc.read_raw(7) == 0
    spi = FakeSpiDev.instances[0]
    assert spi.opened == (0, 1) and spi.max_speed_hz == 1_000_000 and spi.mode == 0
    spi.replies = [[0xFF, 0xFE, 0x00], [0x00, 0x03, 0xFF]]
    assert channel.read() == pytest.approx(512 * 3.3 / 1024)
    assert adc.read_raw(2) == 1023
    assert spi.sent == [[0x01, 0xF0, 0x00], [0x01, 0xD0, 0x00], [0x01, 0xA0, 0x00]]
    with pytest.raises(ValueError):
        adc.channel("bad", 8)


def test_mcp3008_reopens_after_an_error(spidev: Any) -> None:
    adc = Mcp3008(0, 0, spidev=spidev)
    adc.read_raw(0)
    FakeSpiDev.instances[0].fail = True
    with pytest.raises(OSError):
        adc.read_raw(0)
    assert FakeSpiDev.instances[0].closed
    adc.read_raw(0)
    assert len(FakeSpiDev.instances) == 2
    adc.close()
    assert FakeSpiDev.instances[1].closed


def test_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "spidev", None)
    monkeypatch.setitem(sys.modules, "smbus2", None)
    with pytest.raises(AdcUnavailableError, match="mcp3008 ADC driver needs the Python package "
                                                  "spidev"):
        Mcp3008(0, 0)
    with pytest.raises(AdcUnavailableError, match="ads1115 ADC driver needs the Python package "
                                                  "smbus2"):
        Ads1115(1)


# -- ADS1115 over smbus2 --------------------------------------------------------------------------
class FakeSMBus:
    """smbus2.SMBus(bus): write_i2c_block_data / read_i2c_block_data(addr, register, ...)."""

    def __init__(self, bus: int) -> None:
        self.bus = bus
        self.writes: list[tuple[int, int, list[int]]] = []
        self.reads: list[tuple[int, int, int]] = []
        self.busy_polls = 0  # config reads answering "converting" before "ready"
        self.conversion = [0x00, 0x00]
        self.closed = False

    def write_i2c_block_data(self, addr: int, register: int, data: list[int]) -> None:
        self.writes.append((addr, register, list(data)))

    def read_i2c_block_data(self, addr: int, register: int, length: int) -> list[int]:
        self.reads.append((addr, register, length))
        if register == 0x01:
            if self.busy_polls:
                self.busy_polls -= 1
                return [0x05, 0x83]  # OS bit 0: converting
            return [0x85, 0x83]
        return list(self.conversion)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def smbus() -> Any:
    module = type(sys)("smbus2")
    module.buses = []  # type: ignore[attr-defined]

    def make(bus: int) -> FakeSMBus:
        instance = FakeSMBus(bus)
        module.buses.append(instance)  # type: ignore[attr-defined]
        return instance

    module.SMBus = make  # type: ignore[attr-defined]
    return module


def test_ads1115_config_register_writes(smbus: Any) -> None:
    sleeps: list[float] = []
    adc = Ads1115(1, 0x49, full_scale=4.096, data_rate=128, smbus=smbus, sleep=sleeps.append)
    # OS=1, MUX=1xx (AINn vs GND), PGA=001 (4.096 V), MODE=1 (single shot), DR=100 (128 SPS),
    # comparator off (11)
    assert adc.config_word(0) == 0xC383
    assert adc.config_word(1) == 0xD383
    assert adc.config_word(3) == 0xF383
    assert Ads1115(1, full_scale=2.048, data_rate=860, smbus=smbus).config_word(0) == 0xC5E3
    assert Ads1115(1, full_scale=6.144, data_rate=8, smbus=smbus).config_word(2) == 0xE103
    bus_before = len(smbus.buses)
    value = adc.read_raw(1)
    bus = smbus.buses[bus_before]
    assert bus.bus == 1
    assert bus.writes == [(0x49, 0x01, [0xD3, 0x83])]
    assert bus.reads == [(0x49, 0x01, 2), (0x49, 0x00, 2)]
    assert value == 0
    assert sleeps == [pytest.approx(1 / 128 + 0.0005)]


def test_ads1115_waits_for_the_conversion_and_converts_signed(smbus: Any) -> None:
    adc = Ads1115(1, full_scale=4.096, smbus=smbus, sleep=lambda s: None)
    channel = adc.channel("ain0", 0)
    adc.read_raw(0)
    bus = smbus.buses[0]
    bus.busy_polls = 2
    bus.conversion = [0x40, 0x00]
    bus.reads.clear()
    assert channel.read() == pytest.approx(2.048)
    assert bus.reads == [(0x48, 0x01, 2)] * 3 + [(0x48, 0x00, 2)]
    bus.conversion = [0xFF, 0xFF]
    assert adc.read_raw(0) == -1
    bus.conversion = [0x7F, 0xFF]
    assert adc.read_volts(0) == pytest.approx(32767 * 4.096 / 32768)


def test_ads1115_conversion_never_completes(smbus: Any) -> None:
    adc = Ads1115(1, smbus=smbus, sleep=lambda s: None)
    adc.read_raw(0)
    smbus.buses[0].busy_polls = 1000
    with pytest.raises(AdcUnavailableError, match="the conversion did not complete"):
        adc.read_raw(0)
    assert smbus.buses[0].closed  # reopened next time


def test_ads1115_rejects_bad_settings(smbus: Any) -> None:
    with pytest.raises(ValueError):
        Ads1115(1, full_scale=5.0, smbus=smbus)
    with pytest.raises(ValueError):
        Ads1115(1, data_rate=100, smbus=smbus)
    with pytest.raises(ValueError):
        Ads1115(1, smbus=smbus).channel("x", 4)
