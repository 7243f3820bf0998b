"""The station configuration: a TOML file turned into frozen dataclasses.

:func:`load_config` reads a file, :func:`parse_config` validates an already-parsed TOML document
and :func:`bench_config` loads the built-in bench profile (``rtu/examples/bench.toml``). The
annotated ``rtu/examples/example.toml`` documents every key.

Validation collects every problem before giving up and raises one :class:`ConfigError` whose
``errors`` are single lines of the form ``FILE: key.path: what was expected, got REPR``, e.g.
``site.toml: points[3].ioa: expected an integer 1..16777215 (ioa_size 3), got 'x'``. Array
indices in key paths count from 0, so ``points[3]`` is the fourth ``[[points]]`` table. No input,
however malformed, makes the parser fail with anything but :class:`ConfigError`.

Key names are public promises (DESIGN.md rule 9): rename one only with a deprecation path.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Final

from rtu.config_dlms import DLMS_SOURCE, DlmsConfig, parse_dlms
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.iec.cs104.connection import ApciParameters
from rtu.iec.outstation import OutstationConfig
from rtu.iec61850_config import IEC61850, Iec61850Config, parse_iec61850
from rtu.points.model import Point, PointKind
from rtu.servers.iec101 import Iec101Settings, SerialSettings
from rtu.servers.iec104 import Iec104Settings, RedundancyGroup
from rtu.servers.tls import (
    MIN_VERSIONS,
    TlsConfigError,
    TlsSettings,
    normalise_fingerprint,
    server_context,
)

__all__ = [
    "AdcChannelConfig",
    "AdcConfig",
    "AdcDeviceConfig",
    "AppConfig",
    "CommandConfig",
    "ConfigError",
    "Endian",
    "FieldSizes",
    "GpioConfig",
    "GpioDoubleConfig",
    "GpioInputConfig",
    "JournalConfig",
    "LoggingConfig",
    "ModbusBusConfig",
    "ModbusConfig",
    "ModbusDeviceConfig",
    "ModbusPoll",
    "ModbusRead",
    "ModbusTable",
    "ModbusType",
    "RelayConfig",
    "ServiceConfig",
    "SimulationConfig",
    "bench_config",
    "load_config",
    "parse_config",
    "parse_listen",
]

_BENCH_SOURCE: Final = "<bench>"

# -- the schema: every key the file may contain (public names: see the module docstring) --------
_SECTIONS: Final = ("station", "iec104", "iec101", "commands", "simulation", "logging", "relays",
                    "points", "modbus", "gpio", "adc", "service", "journal", "iec61850", "dlms")
_STATION_KEYS: Final = (
    "common_address", "cot_size", "ca_size", "ioa_size", "select_timeout", "event_queue_size",
    "time_invalid_until_sync", "command_originators",
)
_IEC104_KEYS: Final = (
    "enabled", "listen", "k", "w", "t0", "t1", "t2", "t3", "max_connections", "allowed_masters",
    "tls", "redundancy_groups",
)
_REDUNDANCY_KEYS: Final = ("name", "masters")
_TLS_KEYS: Final = (
    "enabled", "certificate", "private_key", "ca_file", "allowed_fingerprints", "min_version",
)
_IEC101_KEYS: Final = (
    "enabled", "device", "baudrate", "parity", "bytesize", "stopbits", "rs485", "mode",
    "link_address", "link_address_size", "remote_link_address", "single_char_ack",
    "repeat_timeout", "max_repeats", "test_interval",
)
_COMMANDS_KEYS: Final = ("short_pulse", "long_pulse", "default_qu")
_SIMULATION_KEYS: Final = ("seed", "digital_interval", "analog_interval", "counter_interval")
_LOGGING_KEYS: Final = ("level",)
_SERVICE_KEYS: Final = ("control_socket", "reload", "state_directory")
_RELOAD_POLICIES: Final = ("rebuild", "live-only")
_JOURNAL_KEYS: Final = ("enabled", "path", "commit_interval", "max_events", "fsync")
_JOURNAL_FSYNC: Final = ("commit", "checkpoint")
_JOURNAL_MAX_INTERVAL: Final = 60.0  # seconds; longer windows lose too much on a power cut
_JOURNAL_MAX_EVENTS: Final = 10_000_000
_RELAY_KEYS: Final = (
    "name", "driver", "initial", "line", "active_low", "mode", "feedback_input",
    "feedback_timeout", "local_input",
)
_POINT_KEYS: Final = (
    "name", "ioa", "kind", "source", "groups", "deadband", "deadband_percent", "range",
    "description", "target", "feedback", "select_required",
)

_DEFAULT_LISTEN: Final = "127.0.0.1:2404"
_QU_CHOICES: Final = ("persistent", "short", "long")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_RELAY_DRIVERS: Final = ("sim", "gpio")
_MONITOR_SOURCES: Final = ("sim", "modbus", IEC61850, DLMS_SOURCE, "")
_NAME_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_NAME_EXPECTED: Final = "a name of letters, digits, '_', '.' or '-'"
_IOA_MAX: Final = {1: 0xFF, 2: 0xFFFF, 3: 0xFFFFFF}
_CA_MAX: Final = {1: 0xFF - 1, 2: 0xFFFF - 1}  # 0 is unused, the all-ones address is broadcast
_GROUP_MAX: Final = 16  # station interrogation groups 1..16 (QOI 21..36)
_COUNTER_GROUP_MAX: Final = 4  # counter interrogation groups 1..4 (RQT 1..4)
_KINDS: Final = {kind.value: kind for kind in PointKind}
# the monitored kind a command's feedback point must have
_FEEDBACK_KIND: Final = {
    PointKind.SINGLE_COMMAND: PointKind.SINGLE,
    PointKind.DOUBLE_COMMAND: PointKind.DOUBLE,
    PointKind.REGULATING_STEP: PointKind.STEP,
    PointKind.SETPOINT_NORMALIZED: PointKind.NORMALIZED,
    PointKind.SETPOINT_SCALED: PointKind.SCALED,
    PointKind.SETPOINT_FLOAT: PointKind.FLOAT,
    PointKind.BITSTRING_COMMAND: PointKind.BITSTRING,
}
_REPR_MAX: Final = 80
_MISSING: Final[Any] = object()


class ConfigError(Exception):
    """The configuration is unusable: ``errors`` has one line per problem, ``str()`` all of them."""

    errors: list[str]

    def __init__(self, errors: str | Sequence[str]) -> None:
        if isinstance(errors, str):
            self.errors = errors.splitlines() or [errors]
        else:
            self.errors = list(errors)
        super().__init__("\n".join(self.errors))


@dataclass(frozen=True, slots=True)
class FieldSizes:
    """Octets of the cause of transmission, common address and IOA on 101 links (104: 2/2/3)."""

    cot_size: int = 2
    ca_size: int = 2
    ioa_size: int = 3


@dataclass(frozen=True, slots=True)
class RelayConfig:
    name: str
    driver: str = "sim"
    initial: bool = False  # state the relay is driven to at start-up
    line: str | int | None = None  # driver "gpio": the GPIO line (as for [[gpio.inputs]])
    active_low: bool = False  # driver "gpio": the relay is on while the line is low
    mode: str = "qu"  # qu (the command's QU decides) | pulse (always) | persistent (always)
    feedback_input: str | None = None  # [[gpio.inputs]] entry confirming the output
    feedback_timeout: float = 2.0  # seconds the feedback may take; then a negative ACT_TERM
    local_input: str | None = None  # [[gpio.inputs]] entry active in local control: BL


@dataclass(frozen=True, slots=True)
class CommandConfig:
    short_pulse: float = 0.5  # seconds, QU=1
    long_pulse: float = 2.0  # seconds, QU=2
    default_qu: str = "persistent"  # what QU=0 (no further definition) means: persistent|short|long


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    seed: int | None = None  # None: a different simulated field on every run
    digital_interval: float = 10.0  # mean seconds between changes of a simulated digital point
    analog_interval: float = 2.0
    counter_interval: float = 5.0


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"  # DEBUG | INFO | WARNING | ERROR


# -- [modbus]: Modbus devices polled by the outstation (rtu/sources/modbus.py) --------------------
_MODBUS_KEYS: Final = ("buses", "devices")
_MODBUS_BUS_KEYS: Final = (
    "name", "type", "host", "port", "device", "baudrate", "parity", "bytesize", "stopbits",
    "timeout", "reconnect_delay", "reconnect_delay_max",
)
_MODBUS_TCP_KEYS: Final = ("host", "port")
_MODBUS_RTU_KEYS: Final = ("device", "baudrate", "parity", "bytesize", "stopbits")
_MODBUS_DEVICE_KEYS: Final = ("name", "bus", "unit_id", "max_registers", "max_bits", "polls")
_MODBUS_POLL_KEYS: Final = ("interval", "reads")
_MODBUS_READ_KEYS: Final = (
    "point", "table", "address", "type", "word_order", "byte_order", "bit", "scale", "offset",
)
_MODBUS_SOURCE: Final = "modbus"  # the [[points]] source of a point a Modbus read feeds
_MODBUS_UNIT_ID: Final = {"tcp": (0, 255), "rtu": (1, 247)}  # RTU: 0 is broadcast (no answer)
_MODBUS_MAX_REGISTERS: Final = 125  # per read request (Modbus application protocol 6.3/6.4)
_MODBUS_MAX_BITS: Final = 2000  # per read request (6.1/6.2)


class ModbusTable(Enum):
    """The four Modbus data tables a read comes from."""

    COIL = "coil"  # read coils (function 1)
    DISCRETE = "discrete"  # read discrete inputs (function 2)
    HOLDING = "holding"  # read holding registers (function 3)
    INPUT = "input"  # read input registers (function 4)

    @property
    def is_bits(self) -> bool:
        return self.value in ("coil", "discrete")


class ModbusType(Enum):
    """How the register(s) of a read are decoded."""

    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def words(self) -> int:
        """Registers the value takes."""
        return 1 if self.value.endswith("16") else 2


class Endian(Enum):
    BIG = "big"  # most significant first (the Modbus default)
    LITTLE = "little"  # least significant first (a "swapped" device)


# the point kinds a Modbus read can feed
_MODBUS_KINDS: Final = (PointKind.SINGLE, PointKind.BITSTRING, PointKind.SCALED,
                        PointKind.NORMALIZED, PointKind.FLOAT, PointKind.COUNTER)


@dataclass(frozen=True, slots=True)
class ModbusBusConfig:
    """A Modbus TCP connection or a serial (RTU) line; its devices are polled one at a time."""

    name: str
    type: str  # "tcp" | "rtu"
    host: str = ""  # tcp
    port: int = 502  # tcp
    device: str = ""  # rtu: serial device path
    baudrate: int = 9600  # rtu
    parity: str = "E"  # rtu: "N" | "E" | "O" (the Modbus serial line default is even)
    bytesize: int = 8  # rtu
    stopbits: int = 1  # rtu
    timeout: float = 1.0  # seconds to wait for an answer (and to connect)
    reconnect_delay: float = 1.0  # first wait before a silent device / lost bus is tried again
    reconnect_delay_max: float = 10.0  # the wait doubles up to this


@dataclass(frozen=True, slots=True)
class ModbusRead:
    """One point fed from a Modbus device: where its value is and how it is decoded."""

    point: str  # name of the [[points]] entry (its source is "modbus")
    table: ModbusTable
    address: int  # 0-based protocol address of the (first) register or bit
    type: ModbusType = ModbusType.UINT16  # registers only
    word_order: Endian = Endian.BIG  # 32-bit types: BIG = high word first
    byte_order: Endian = Endian.BIG  # within each register: BIG = high byte first
    bit: int | None = None  # registers only: single point from this bit (0 = least significant)
    scale: float = 1.0  # engineering value = raw * scale + offset
    offset: float = 0.0


@dataclass(frozen=True, slots=True)
class ModbusPoll:
    interval: float  # seconds between polls of these reads
    reads: tuple[ModbusRead, ...]


@dataclass(frozen=True, slots=True)
class ModbusDeviceConfig:
    name: str
    bus: str  # name of its ModbusBusConfig
    unit_id: int  # Modbus unit identifier (TCP) / server address (RTU); pymodbus: device_id
    polls: tuple[ModbusPoll, ...]
    max_registers: int = _MODBUS_MAX_REGISTERS  # most registers one request may read
    max_bits: int = _MODBUS_MAX_BITS  # most coils / discrete inputs one request may read


@dataclass(frozen=True, slots=True)
class ModbusConfig:
    buses: tuple[ModbusBusConfig, ...] = ()
    devices: tuple[ModbusDeviceConfig, ...] = ()


# -- [gpio] and [adc]: the board's digital inputs and ADCs (rtu/sources/digital.py, adc.py) ------
_GPIO_KEYS: Final = (
    "backend", "chip", "reread_interval", "debounce", "chatter_changes", "chatter_window",
    "chatter_recovery", "inputs", "doubles",
)
_GPIO_INPUT_KEYS: Final = (
    "name", "line", "bias", "invert", "debounce", "driver_debounce", "chatter_changes",
)
_GPIO_DOUBLE_KEYS: Final = ("name", "on", "off", "settle", "chatter_changes")
_GPIO_BACKENDS: Final = ("gpiod", "rpi", "sim")
_GPIO_BIASES: Final = ("as_is", "disabled", "pull_up", "pull_down")
_GPIO_PREFIX: Final = "gpio:"  # [[points]] source = "gpio:NAME"
_RPI_BCM_MAX: Final = 27  # RPi.GPIO: the 40-pin header's GPIO0..GPIO27
_RELAY_MODES: Final = ("qu", "pulse", "persistent")
_ADC_KEYS: Final = ("devices", "channels")
_ADC_DEVICE_KEYS: Final = (
    "name", "driver", "interval", "iio_name", "spi_bus", "spi_device", "vref", "i2c_bus",
    "i2c_address", "full_scale", "data_rate",
)
_ADC_DRIVER_KEYS: Final = {  # driver -> the keys only it takes
    "iio": ("iio_name",),
    "mcp3008": ("spi_bus", "spi_device", "vref"),
    "ads1115": ("i2c_bus", "i2c_address", "full_scale", "data_rate"),
}
_ADC_CHANNEL_KEYS: Final = (
    "name", "device", "channel", "scale", "offset", "calibration", "input_range",
)
_ADC_CHANNEL_COUNT: Final = {"mcp3008": 8, "ads1115": 4}
_ADS1115_FULL_SCALES: Final = (6.144, 4.096, 2.048, 1.024, 0.512, 0.256)
_ADS1115_DATA_RATES: Final = (8, 16, 32, 64, 128, 250, 475, 860)
_ADS1115_ADDRESSES: Final = (0x48, 0x4B)
_ADC_PREFIX: Final = "adc:"  # [[points]] source = "adc:NAME"


@dataclass(frozen=True, slots=True)
class GpioInputConfig:
    name: str
    line: str | int  # gpiod: line name ("GPIO17") or offset on gpio.chip; rpi: BCM number
    bias: str = "as_is"  # as_is | disabled | pull_up | pull_down
    invert: bool = False  # True: a low (open) input is the active state
    debounce: float = 0.01  # seconds steady before a change is accepted
    driver_debounce: float = 0.0  # seconds: gpiod kernel debounce / RPi.GPIO bouncetime; 0 off
    chatter_changes: int = 0  # more changes than this within gpio.chatter_window: IV; 0 off


@dataclass(frozen=True, slots=True)
class GpioDoubleConfig:
    """A double point from two inputs."""

    name: str
    on: str  # the [[gpio.inputs]] entry active in the ON position
    off: str  # the one active in the OFF position
    settle: float = 1.0  # seconds the intermediate state (both inactive) may last unreported
    chatter_changes: int = 0


@dataclass(frozen=True, slots=True)
class GpioConfig:
    backend: str = "gpiod"  # gpiod | rpi | sim
    chip: str = ""  # gpiod: chip path, name or label; "" = find the line names on every chip
    reread_interval: float = 1.0  # seconds between re-reads that catch lost edges; 0 = none
    debounce: float = 0.01  # the inputs' default
    chatter_changes: int = 0  # the inputs' and doubles' default; 0 = no chatter suppression
    chatter_window: float = 1.0  # seconds
    chatter_recovery: float = 10.0  # seconds without a change before a blocked point is good
    inputs: tuple[GpioInputConfig, ...] = ()
    doubles: tuple[GpioDoubleConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class AdcDeviceConfig:
    name: str
    driver: str  # iio | mcp3008 | ads1115
    interval: float = 1.0  # seconds between readings of its channels
    iio_name: str = ""  # iio: the device's sysfs name file
    spi_bus: int = 0  # mcp3008: /dev/spidevBUS.DEVICE
    spi_device: int = 0
    vref: float = 3.3  # mcp3008: reference voltage = full scale
    i2c_bus: int = 1  # ads1115: /dev/i2c-BUS
    i2c_address: int = 0x48
    full_scale: float = 4.096  # ads1115: volts (the PGA setting)
    data_rate: int = 128  # ads1115: samples per second


@dataclass(frozen=True, slots=True)
class AdcChannelConfig:
    name: str
    device: str  # its [[adc.devices]] entry
    channel: int
    scale: float = 1.0  # engineering value = volts * scale + offset (also from a calibration)
    offset: float = 0.0
    input_range: tuple[float, float] | None = None  # volts; a reading outside is flagged OV


@dataclass(frozen=True, slots=True)
class AdcConfig:
    devices: tuple[AdcDeviceConfig, ...] = ()
    channels: tuple[AdcChannelConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """[service]: how the outstation runs as a service (docs/service.md)."""

    control_socket: str = ""  # operator socket path; "" = $RUNTIME_DIRECTORY or per-user default
    reload: str = "rebuild"  # SIGHUP with a changed field side: "rebuild" it | "live-only": refuse
    state_directory: str = ""  # persistent state; "" = $STATE_DIRECTORY or per-user default


@dataclass(frozen=True, slots=True)
class JournalConfig:
    """[journal]: the persistent event journal (rtu/eventstore.py, docs/reliability.md)."""

    enabled: bool = False
    path: str = "events.sqlite3"  # relative: inside the state directory
    commit_interval: float = 1.0  # seconds between commits; 0 = commit before sending
    max_events: int = 100_000  # events kept; beyond, the oldest are deleted and counted
    fsync: str = "commit"  # "commit": fsync at every commit | "checkpoint": only at checkpoints


@dataclass(frozen=True, slots=True)
class AppConfig:
    source: str  # the file path, or "<bench>" for the built-in profile
    station: OutstationConfig
    field_sizes: FieldSizes
    iec104: Iec104Settings | None  # None when [iec104] enabled = false
    points: tuple[Point, ...]
    relays: tuple[RelayConfig, ...]
    commands: CommandConfig
    simulation: SimulationConfig
    logging: LoggingConfig
    iec101: Iec101Settings | None = None  # None without an enabled [iec101] section
    modbus: ModbusConfig = ModbusConfig()  # no buses, no devices without a [modbus] section
    gpio: GpioConfig = GpioConfig()  # no inputs without a [gpio] section
    adc: AdcConfig = AdcConfig()  # no ADCs without an [adc] section
    service: ServiceConfig = ServiceConfig()  # [service]: operator socket, reload policy
    journal: JournalConfig = JournalConfig()  # [journal]: persistent event journal (off)
    iec61850: Iec61850Config = Iec61850Config()  # noqa: RUF009  # frozen; [iec61850] devices
    dlms: DlmsConfig = DlmsConfig()  # noqa: RUF009 (frozen) [dlms]: meters, rtu/config_dlms.py
    digest: str = ""  # SHA-256 (hex) of the bytes read: what `rtu status` reports as running


# -- public functions ------------------------------------------------------------------------------
def load_config(path: str | os.PathLike[str]) -> AppConfig:
    """Read and validate a TOML configuration file; ConfigError names every problem."""
    source = os.fspath(path)
    try:
        raw = Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([f"{source}: cannot read the file: {reason}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{source}: expected UTF-8 text, got byte 0x{raw[exc.start]:02X} on line {line}"]
        ) from None
    return dataclasses.replace(_parse_text(text, source), digest=hashlib.sha256(raw).hexdigest())


def parse_config(data: Mapping[str, Any], source: str) -> AppConfig:
    """Validate an already-parsed TOML document; ``source`` names it in every error."""
    return _Parser(source).parse(data)


def bench_config() -> AppConfig:
    """The built-in bench profile (``rtu/examples/bench.toml``): a simulated field, no hardware."""
    text = resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")
    return _parse_text(text, _BENCH_SOURCE)


def point_table_index(raw_points: object) -> dict[str, int]:
    """The position of each [[points]] table by name, also of tables with errors (which are
    reported already): a source section says which entry a point it feeds came from."""
    index: dict[str, int] = {}
    if isinstance(raw_points, list):
        for i, item in enumerate(raw_points):
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                index.setdefault(item["name"], i)
    return index


def parse_listen(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` or ``"[IPV6]:PORT"`` -> ``(host, port)``; ValueError says what is wrong.

    HOST is an IPv4 address, a host name, or an IPv6 address in brackets; PORT is 0..65535
    (0: any free port). A bare port is refused: say which interface, e.g. ``0.0.0.0:2404``.
    """
    if not isinstance(text, str):
        raise ValueError(f"expected HOST:PORT as a string, got {_show(text)}")  # noqa: TRY004
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise _listen_error("unclosed '['", text)
        host, rest = text[1:close], text[close + 1:]
        if not rest.startswith(":"):
            raise _listen_error("missing ':PORT' after ']'", text)
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _listen_error(f"{host!r} in brackets is not an IPv6 address", text) from None
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise _listen_error("missing port (for every interface write 0.0.0.0:PORT)", text)
        if ":" in host:
            raise _listen_error("an IPv6 address must be in brackets", text)
        if not host:
            raise _listen_error(
                "missing host (0.0.0.0 for every IPv4 interface, [::] for every IPv6 one)", text
            )
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise _listen_error(f"{host!r} is not an IPv4 address", text) from None
        elif not _is_host_name(host):
            raise _listen_error(f"{host!r} is not an IP address or host name", text)
    if not re.fullmatch(r"[0-9]{1,5}", port_text) or int(port_text) > 0xFFFF:
        raise _listen_error(f"port {port_text!r} is not a number 0..65535", text)
    return host, int(port_text)


# -- internals -------------------------------------------------------------------------------------
_HOST_LABEL: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _is_host_name(host: str) -> bool:
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _listen_error(reason: str, text: str) -> ValueError:
    return ValueError(
        f"{reason}: expected HOST:PORT such as 127.0.0.1:2404 or [::1]:2404, got {text!r}"
    )


def _parse_text(text: str, source: str) -> AppConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the message ends with "(at line L, column C)"
        raise ConfigError([f"{source}: TOML syntax error: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: TOML syntax error: nested too deeply"]) from None
    return parse_config(data, source)


def _show(value: object) -> str:
    """repr() for error messages, cut short; never raises."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # absurdly deep nesting; ints beyond the str limit
        return f"<{type(value).__name__}>"
    return text if len(text) <= _REPR_MAX else text[: _REPR_MAX - 3] + "..."


_BARE_KEY: Final = re.compile(r"[A-Za-z0-9_-]+")


def _join(path: str, key: object) -> str:
    """A TOML key path: ``iec104.k``; keys that are not bare keys are quoted."""
    name = key if isinstance(key, str) else _show(key)
    if not _BARE_KEY.fullmatch(name):
        name = '"' + "".join(_escape(ch) for ch in name) + '"'
    return f"{path}.{name}" if path else name


def _escape(ch: str) -> str:
    """One character of a TOML basic string; keeps every error message on one line."""
    if ch in '"\\':
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    return f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}"


def _one_of(choices: Sequence[str], *, quote: bool = True) -> str:
    quoted = [repr(c) if quote else c for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _close_match(word: str, choices: Sequence[str]) -> str | None:
    """The choice ``word`` is probably a typo of, if any."""
    if len(word) > 2 * max(len(c) for c in choices):  # difflib is quadratic: skip hopeless cases
        return None
    matches = difflib.get_close_matches(word, choices, n=1)
    return matches[0] if matches else None


def _int_range(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"an integer {lo}..{hi}"
    if lo is not None:
        return f"an integer >= {lo}"
    return "an integer"


@dataclass(slots=True)
class _PointEntry:
    """What the cross-reference checks need of a [[points]] table (None where it was invalid)."""

    index: int
    name: str | None
    ioa: int | None
    kind: PointKind | None
    feedback: str | None


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        # what [[relays]] and [[points]] may refer to, filled by gpio() and adc()
        self.gpio_backend: str | None = None
        self.gpio_chip = ""
        self.gpio_names: dict[str, str] = {}  # input or double name -> its key path
        self.gpio_input_names: set[str] = set()
        self.gpio_double_names: set[str] = set()
        self.gpio_lines: dict[str | int, str] = {}  # line -> key path of its user
        self.adc_channel_names: set[str] = set()

    # -- reporting -------------------------------------------------------------------------------
    def error(self, path: str, message: str) -> None:
        where = f"{self.source}: {path}" if path else self.source
        self.errors.append(f"{where}: {message}")

    def expected(self, path: str, expectation: str, value: object, note: str = "") -> None:
        """``path: expected EXPECTATION, got REPR (NOTE)``."""
        suffix = f" ({note})" if note else ""
        self.error(path, f"expected {expectation}, got {_show(value)}{suffix}")

    def missing(self, path: str, expectation: str) -> None:
        self.error(path, f"required key missing: expected {expectation}")

    # -- structure -------------------------------------------------------------------------------
    def table(self, value: object, path: str, allowed: Sequence[str],
              header: str) -> Mapping[Any, Any]:
        """The table at ``path`` (empty if absent or not a table), with unknown keys reported."""
        if value is _MISSING:
            return {}
        if not isinstance(value, Mapping):
            self.expected(path, f"a table ({header})", value)
            return {}
        for key in value:
            if not isinstance(key, str):
                self.expected(_join(path, key), "a string key", key)
            elif key not in allowed:
                hint = _close_match(key, allowed)
                suggestion = f" (did you mean {hint!r}?)" if hint else ""
                self.error(
                    _join(path, key),
                    f"unknown key{suggestion}; expected one of {', '.join(allowed)}",
                )
        return value

    def array_of_tables(self, value: object, path: str) -> list[Any]:
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            self.expected(path, f"an array of tables ([[{path}]])", value)
            return []
        return value

    # -- scalars (None: the value was wrong and has been reported) ---------------------------------
    def integer(self, value: object, path: str, lo: int | None = None, hi: int | None = None,
                expectation: str = "") -> int | None:
        expectation = expectation or _int_range(lo, hi)
        if (isinstance(value, bool) or not isinstance(value, int)
                or (lo is not None and value < lo) or (hi is not None and value > hi)):
            self.expected(path, expectation, value)
            return None
        return value

    def number(self, value: object, path: str, expectation: str, *, above: float | None = None,
               at_least: float | None = None, at_most: float | None = None) -> float | None:
        """A finite float (an integer is fine) within the given bounds."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.expected(path, expectation, value)
            return None
        try:
            number = float(value)
        except OverflowError:
            self.expected(path, expectation, value)
            return None
        if (not math.isfinite(number) or (above is not None and not number > above)
                or (at_least is not None and not number >= at_least)
                or (at_most is not None and not number <= at_most)):
            self.expected(path, expectation, value)
            return None
        return number

    def seconds(self, value: object, path: str) -> float | None:
        return self.number(value, path, "a number of seconds > 0", above=0.0)

    def boolean(self, value: object, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.expected(path, "true or false", value)
            return None
        return value

    def string(self, value: object, path: str, expectation: str = "a string") -> str | None:
        if not isinstance(value, str):
            self.expected(path, expectation, value)
            return None
        return value

    def choice(self, value: object, path: str, choices: Sequence[str], *,
               fold_case: bool = False) -> str | None:
        text = value.upper() if fold_case and isinstance(value, str) else value
        if not isinstance(text, str) or text not in choices:
            hint = _close_match(text, choices) if isinstance(text, str) and text else None
            self.expected(path, _one_of(choices), value, f"did you mean {hint!r}?" if hint else "")
            return None
        return text

    def reconnect_delays(self, tbl: Mapping[Any, Any], path: str, default: float,
                         default_max: float) -> tuple[float | None, float | None]:
        """``reconnect_delay`` and ``reconnect_delay_max`` (not below the first) of ``path``."""
        delay = self.seconds(tbl.get("reconnect_delay", default), f"{path}.reconnect_delay")
        delay_max_value = tbl.get("reconnect_delay_max", default_max)
        if delay is None:
            return None, self.seconds(delay_max_value, f"{path}.reconnect_delay_max")
        return delay, self.number(delay_max_value, f"{path}.reconnect_delay_max",
                                  f"a number of seconds >= reconnect_delay ({delay:g})",
                                  at_least=delay)

    def unique_name(self, tbl: Mapping[Any, Any], path: str, index: int,
                    first: dict[str, int], what: str, array: str) -> str | None:
        """``tbl``'s name, unless missing, malformed or already used by an earlier entry of
        ``array`` (reported); ``first`` maps each name to the entry that has it."""
        name = self.name(tbl.get("name", _MISSING), f"{path}.name")
        if name is None:
            return None
        if name in first:
            self.expected(f"{path}.name", f"a unique {what} name", name,
                          f"already used by {array}[{first[name]}]")
            return None
        first[name] = index
        return name

    def name(self, value: object, path: str) -> str | None:
        if value is _MISSING:
            self.missing(path, _NAME_EXPECTED)
            return None
        if not isinstance(value, str) or not _NAME_RE.fullmatch(value):
            self.expected(path, _NAME_EXPECTED, value)
            return None
        return value

    # -- the document ----------------------------------------------------------------------------
    def parse(self, data: object) -> AppConfig:
        if not isinstance(data, Mapping):
            self.error("", f"expected a TOML document (a table of sections), got {_show(data)}")
            raise ConfigError(self.errors)
        doc = self.table(data, "", _SECTIONS, "the whole document")
        station, field_sizes = self.station(doc.get("station", _MISSING))
        iec104 = self.iec104(doc.get("iec104", _MISSING))
        iec101 = self.iec101(doc.get("iec101", _MISSING), field_sizes)
        commands = self.commands(doc.get("commands", _MISSING))
        simulation = self.simulation(doc.get("simulation", _MISSING))
        logging_config = self.logging(doc.get("logging", _MISSING))
        service = self.service(doc.get("service", _MISSING))
        journal = self.journal(doc.get("journal", _MISSING))
        gpio = self.gpio(doc.get("gpio", _MISSING))
        adc = self.adc(doc.get("adc", _MISSING))
        relays, relay_names = self.relays(doc.get("relays", _MISSING))
        points = self.points(doc.get("points", _MISSING), field_sizes.ioa_size, relay_names)
        modbus = self.modbus(doc.get("modbus", _MISSING), points, doc.get("points", _MISSING))
        iec61850 = parse_iec61850(self, doc.get(IEC61850, _MISSING), points,
                                  doc.get("points", _MISSING))
        dlms = parse_dlms(self, doc.get("dlms", _MISSING), _MISSING, points,
                          doc.get("points", _MISSING), os.path.dirname(self.source))
        if (station is not None and station.command_originators and iec101 is not None
                and field_sizes.cot_size == 1):
            self.error("station.command_originators",
                       "needs an originator address, which 101 with station.cot_size 1 does not "
                       "carry: set cot_size = 2 (the master must send its originator address) or "
                       "leave command_originators empty")
        if self.errors or station is None:
            raise ConfigError(self.errors)
        return AppConfig(
            source=self.source,
            station=station,
            field_sizes=field_sizes,
            iec104=iec104,
            points=points,
            relays=relays,
            commands=commands,
            simulation=simulation,
            logging=logging_config,
            iec101=iec101,
            modbus=modbus,
            gpio=gpio,
            adc=adc,
            service=service,
            journal=journal,
            iec61850=iec61850,
            dlms=dlms,
        )

    def station(self, value: object) -> tuple[OutstationConfig | None, FieldSizes]:
        tbl = self.table(value, "station", _STATION_KEYS, "[station]")
        sizes = FieldSizes()
        cot_size = self.size(tbl, "cot_size", (1, 2), sizes.cot_size)
        ca_size = self.size(tbl, "ca_size", (1, 2), sizes.ca_size)
        ioa_size = self.size(tbl, "ioa_size", (1, 2, 3), sizes.ioa_size)
        sizes = FieldSizes(cot_size=cot_size, ca_size=ca_size, ioa_size=ioa_size)
        defaults = OutstationConfig()
        ca_max = _CA_MAX[ca_size]
        common_address = self.integer(
            tbl.get("common_address", defaults.common_address), "station.common_address", 1, ca_max,
            f"an integer 1..{ca_max} (ca_size {ca_size}; 0 and broadcast {ca_max + 1} are not "
            "allowed)",
        )
        select_timeout = self.seconds(tbl.get("select_timeout", defaults.select_timeout),
                                      "station.select_timeout")
        event_queue_size = self.integer(tbl.get("event_queue_size", defaults.event_queue_size),
                                        "station.event_queue_size", 1)
        time_invalid = self.boolean(
            tbl.get("time_invalid_until_sync", defaults.time_invalid_until_sync),
            "station.time_invalid_until_sync",
        )
        originators = self.originators(tbl.get("command_originators", []),
                                       "station.command_originators")
        if common_address is None or select_timeout is None or event_queue_size is None \
                or time_invalid is None or originators is None:
            return None, sizes
        try:
            config = OutstationConfig(
                common_address=common_address,
                select_timeout=select_timeout,
                event_queue_size=event_queue_size,
                time_invalid_until_sync=time_invalid,
                command_originators=originators,
            )
        except ValueError as exc:
            self.error("station", str(exc))
            return None, sizes
        return config, sizes

    def originators(self, value: object, path: str) -> frozenset[int] | None:
        if not isinstance(value, list):
            self.expected(path, "an array of originator addresses 0..255 (empty: any)", value)
            return None
        found: set[int] = set()
        for i, entry in enumerate(value):
            address = self.integer(entry, f"{path}[{i}]", 0, 255,
                                   "an originator address 0..255")
            if address is None:
                return None
            found.add(address)
        return frozenset(found)

    def size(self, tbl: Mapping[Any, Any], key: str, choices: tuple[int, ...], default: int) -> int:
        path = f"station.{key}"
        value = tbl.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
            self.expected(path, _one_of([str(c) for c in choices], quote=False), value)
            return default
        return value

    def iec104(self, value: object) -> Iec104Settings | None:
        tbl = self.table(value, "iec104", _IEC104_KEYS, "[iec104]")
        errors_before = len(self.errors)
        enabled = self.boolean(tbl.get("enabled", True), "iec104.enabled")
        listen_text = self.string(tbl.get("listen", _DEFAULT_LISTEN), "iec104.listen",
                                  "HOST:PORT such as 127.0.0.1:2404 or [::1]:2404")
        listen: tuple[str, int] | None = None
        if listen_text is not None:
            try:
                listen = parse_listen(listen_text)
            except ValueError as exc:
                self.error("iec104.listen", str(exc))
        default_apci = ApciParameters()
        k = self.integer(tbl.get("k", default_apci.k), "iec104.k", 1)
        w = self.integer(tbl.get("w", default_apci.w), "iec104.w", 1)
        timeouts = {
            name: self.seconds(tbl.get(name, getattr(default_apci, name)), f"iec104.{name}")
            for name in ("t0", "t1", "t2", "t3")
        }
        max_connections = self.integer(tbl.get("max_connections", 4), "iec104.max_connections", 1)
        allowed = self.allowed_masters(tbl.get("allowed_masters", []))
        tls = self.tls(tbl.get("tls", _MISSING), load=bool(enabled))
        redundancy = self.redundancy_groups(tbl.get("redundancy_groups", _MISSING))
        t0, t1, t2, t3 = (timeouts[name] for name in ("t0", "t1", "t2", "t3"))
        if k is None or w is None or t0 is None or t1 is None or t2 is None or t3 is None:
            return None
        try:  # the checks across k, w and the timeouts (t2 < t1) are ApciParameters' own
            apci = ApciParameters(k=k, w=w, t0=t0, t1=t1, t2=t2, t3=t3)
        except ValueError as exc:
            self.error("iec104", str(exc))
            return None
        if (len(self.errors) > errors_before or listen is None or max_connections is None
                or allowed is None or redundancy is None):
            return None
        try:
            settings = Iec104Settings(
                host=listen[0], port=listen[1], apci=apci, max_connections=max_connections,
                allowed_masters=allowed, tls=tls, redundancy_groups=redundancy,
            )
        except ValueError as exc:
            self.error("iec104", str(exc))
            return None
        return settings if enabled else None

    def redundancy_groups(self, value: object) -> tuple[RedundancyGroup, ...] | None:
        """[[iec104.redundancy_groups]] (IEC 60870-5-104 ed. 2)."""
        groups: list[RedundancyGroup] = []
        ok = True
        first: dict[str, int] = {}
        catch_all: int | None = None
        for i, item in enumerate(self.array_of_tables(value, "iec104.redundancy_groups")):
            path = f"iec104.redundancy_groups[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[iec104.redundancy_groups]])", item)
                ok = False
                continue
            tbl = self.table(item, path, _REDUNDANCY_KEYS, "[[iec104.redundancy_groups]]")
            name = self.unique_name(tbl, path, i, first, "redundancy group",
                                    "iec104.redundancy_groups")
            masters = self.allowed_masters(tbl.get("masters", []), f"{path}.masters")
            if masters == () and catch_all is not None:
                self.expected(f"{path}.masters", "master addresses (only one group may leave "
                              f"them empty: iec104.redundancy_groups[{catch_all}] does)", [])
                masters = None
            elif masters == ():
                catch_all = i
            if name is None or masters is None:
                ok = False
                continue
            groups.append(RedundancyGroup(name=name, masters=masters))
        return tuple(groups) if ok else None

    def tls(self, value: object, *, load: bool) -> TlsSettings | None:
        """[iec104.tls] (IEC 62351-3); with ``load``, the files are read as the server will."""
        if value is _MISSING:
            return None
        path = "iec104.tls"
        tbl = self.table(value, path, _TLS_KEYS, "[iec104.tls]")
        errors_before = len(self.errors)
        enabled = self.boolean(tbl.get("enabled", True), f"{path}.enabled")
        files: dict[str, str] = {}
        for key in ("certificate", "private_key", "ca_file"):
            expectation = "the path of a PEM file"
            if key not in tbl:
                if enabled:
                    self.missing(f"{path}.{key}", expectation)
                continue
            text = self.string(tbl[key], f"{path}.{key}", expectation)
            if text:
                # relative paths are relative to the configuration file's directory
                files[key] = os.path.join(os.path.dirname(self.source), os.path.expanduser(text))
            elif text is not None:
                self.expected(f"{path}.{key}", expectation, text)
        min_version = self.choice(tbl.get("min_version", "1.2"), f"{path}.min_version",
                                  tuple(MIN_VERSIONS))
        fingerprints = self.fingerprints(tbl.get("allowed_fingerprints", []),
                                         f"{path}.allowed_fingerprints")
        if load and enabled:
            for key, file in files.items():
                if not os.path.isfile(file):
                    why = "not a regular file" if os.path.exists(file) else "no such file"
                    self.error(f"{path}.{key}", f"{file}: {why}")
        if len(self.errors) > errors_before or not enabled:
            return None
        assert min_version is not None and fingerprints is not None
        settings = TlsSettings(certificate=files["certificate"], private_key=files["private_key"],
                               ca_file=files["ca_file"], allowed_fingerprints=fingerprints,
                               min_version=min_version)
        if load:
            try:
                server_context(settings)
            except TlsConfigError as exc:
                self.error(path, str(exc))
                return None
        return settings

    def fingerprints(self, value: object, path: str) -> tuple[str, ...] | None:
        expectation = "a SHA-256 certificate fingerprint: 64 hex digits, colons allowed"
        if not isinstance(value, list):
            self.expected(path, "an array of SHA-256 certificate fingerprints", value)
            return None
        entries: list[str] = []
        for i, entry in enumerate(value):
            digits = normalise_fingerprint(entry) if isinstance(entry, str) else None
            if digits is None:
                self.expected(f"{path}[{i}]", expectation, entry)
                return None
            entries.append(digits)
        return tuple(entries)

    def iec101(self, value: object, sizes: FieldSizes) -> Iec101Settings | None:
        """[iec101]: the serial line and the FT1.2 link; absent or enabled = false: no 101."""
        if value is _MISSING:
            return None
        tbl = self.table(value, "iec101", _IEC101_KEYS, "[iec101]")
        errors_before = len(self.errors)
        enabled = self.boolean(tbl.get("enabled", True), "iec101.enabled")
        device: str | None = None
        if "device" in tbl:
            device = self.string(tbl["device"], "iec101.device",
                                 "a serial device path such as /dev/ttyUSB0")
        elif enabled:
            self.missing("iec101.device", "a serial device path such as /dev/ttyUSB0")
        baudrate = self.integer(tbl.get("baudrate", 9600), "iec101.baudrate", 50, 4_000_000)
        parity = self.choice(tbl.get("parity", "E"), "iec101.parity", ("N", "E", "O"))
        bytesize = self.integer(tbl.get("bytesize", 8), "iec101.bytesize", 7, 8)
        stopbits_value = tbl.get("stopbits", 1)
        stopbits: float | None = None
        if stopbits_value in (1, 1.5, 2) and not isinstance(stopbits_value, bool):
            stopbits = float(stopbits_value)
        else:
            self.expected("iec101.stopbits", "1, 1.5 or 2", stopbits_value)
        rs485 = self.boolean(tbl.get("rs485", False), "iec101.rs485")
        mode = self.choice(tbl.get("mode", "unbalanced"), "iec101.mode", ("unbalanced", "balanced"))
        address_size = self.integer(tbl.get("link_address_size", 1), "iec101.link_address_size", 0, 2)
        address = self.integer(tbl.get("link_address", 1), "iec101.link_address", 0, 65535)
        remote = self.integer(tbl.get("remote_link_address", 2), "iec101.remote_link_address",
                              0, 65535)
        single_char = self.boolean(tbl.get("single_char_ack", True), "iec101.single_char_ack")
        repeat_timeout = self.seconds(tbl.get("repeat_timeout", 1.0), "iec101.repeat_timeout")
        max_repeats = self.integer(tbl.get("max_repeats", 3), "iec101.max_repeats", 0, 100)
        test_value = tbl.get("test_interval", 10.0)
        test_interval = 0.0 if test_value == 0 and not isinstance(test_value, bool) else \
            self.seconds(test_value, "iec101.test_interval")
        if len(self.errors) > errors_before or not enabled:
            return None
        if device is None:
            return None
        assert parity is not None and mode is not None
        assert baudrate is not None and bytesize is not None and stopbits is not None
        assert rs485 is not None and address_size is not None and address is not None
        assert remote is not None and single_char is not None and repeat_timeout is not None
        assert max_repeats is not None and test_interval is not None
        try:
            link = LinkParameters(
                mode=LinkMode(mode), address=address, address_size=address_size,
                remote_address=remote, single_char_ack=single_char,
                repeat_timeout=repeat_timeout, max_repeats=max_repeats,
                test_interval=test_interval,
            )
            serial = SerialSettings(device=device, baudrate=baudrate, parity=parity,
                                    bytesize=bytesize, stopbits=stopbits, rs485=rs485)
        except ValueError as exc:
            self.error("iec101", str(exc))
            return None
        return Iec101Settings(serial=serial, link=link, cot_size=sizes.cot_size,
                              ca_size=sizes.ca_size, ioa_size=sizes.ioa_size)

    def allowed_masters(self, value: object,
                        path: str = "iec104.allowed_masters") -> tuple[str, ...] | None:
        if not isinstance(value, list):
            self.expected(path, "an array of IP addresses or CIDR networks", value)
            return None
        entries: list[str] = []
        ok = True
        for i, entry in enumerate(value):
            entry_path = f"{path}[{i}]"
            expectation = "an IP address or CIDR network such as 192.168.1.10 or 10.0.0.0/24"
            if not isinstance(entry, str):
                self.expected(entry_path, expectation, entry)
                ok = False
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                self.expected(entry_path, expectation, entry)
                ok = False
                continue
            entries.append(entry)
        return tuple(entries) if ok else None

    def commands(self, value: object) -> CommandConfig:
        tbl = self.table(value, "commands", _COMMANDS_KEYS, "[commands]")
        default = CommandConfig()
        short = self.seconds(tbl.get("short_pulse", default.short_pulse), "commands.short_pulse")
        long_value = tbl.get("long_pulse", default.long_pulse)
        if short is None:
            long = self.seconds(long_value, "commands.long_pulse")
        else:
            long = self.number(long_value, "commands.long_pulse",
                               f"a number of seconds > short_pulse ({short:g})", above=short)
        qu = self.choice(tbl.get("default_qu", default.default_qu), "commands.default_qu",
                         _QU_CHOICES)
        if short is None or long is None or qu is None:
            return default
        return CommandConfig(short_pulse=short, long_pulse=long, default_qu=qu)

    def simulation(self, value: object) -> SimulationConfig:
        tbl = self.table(value, "simulation", _SIMULATION_KEYS, "[simulation]")
        default = SimulationConfig()
        seed_value = tbl.get("seed", _MISSING)
        seed = None if seed_value is _MISSING else self.integer(seed_value, "simulation.seed")
        intervals = [
            self.seconds(tbl.get(key, getattr(default, key)), f"simulation.{key}")
            for key in ("digital_interval", "analog_interval", "counter_interval")
        ]
        digital, analog, counter = intervals
        if digital is None or analog is None or counter is None:
            return default
        return SimulationConfig(seed=seed, digital_interval=digital, analog_interval=analog,
                                counter_interval=counter)

    def logging(self, value: object) -> LoggingConfig:
        tbl = self.table(value, "logging", _LOGGING_KEYS, "[logging]")
        level = self.choice(tbl.get("level", "INFO"), "logging.level", _LOG_LEVELS, fold_case=True)
        return LoggingConfig() if level is None else LoggingConfig(level=level)

    def service(self, value: object) -> ServiceConfig:
        tbl = self.table(value, "service", _SERVICE_KEYS, "[service]")
        default = ServiceConfig()
        socket = self.string(tbl.get("control_socket", default.control_socket),
                             "service.control_socket",
                             "an absolute path such as /run/rtu/control.sock, or \"\"")
        if socket and not socket.startswith("/"):
            self.expected("service.control_socket",
                          "an absolute path such as /run/rtu/control.sock, or \"\"", socket)
            socket = None
        policy = self.choice(tbl.get("reload", default.reload), "service.reload",
                             _RELOAD_POLICIES)
        state = self.string(tbl.get("state_directory", default.state_directory),
                            "service.state_directory",
                            "an absolute path such as /var/lib/rtu, or \"\"")
        if state and not state.startswith("/"):
            self.expected("service.state_directory",
                          "an absolute path such as /var/lib/rtu, or \"\"", state)
            state = None
        if socket is None or policy is None or state is None:
            return default
        return ServiceConfig(control_socket=socket, reload=policy, state_directory=state)

    def journal(self, value: object) -> JournalConfig:
        tbl = self.table(value, "journal", _JOURNAL_KEYS, "[journal]")
        default = JournalConfig()
        enabled = self.boolean(tbl.get("enabled", default.enabled), "journal.enabled")
        path_expected = ("a file name (inside the state directory) or an absolute path, "
                         "such as events.sqlite3")
        path = self.string(tbl.get("path", default.path), "journal.path", path_expected)
        if path is not None and (not path.strip() or path.endswith("/") or "\0" in path):
            self.expected("journal.path", path_expected, path)
            path = None
        interval = self.number(tbl.get("commit_interval", default.commit_interval),
                               "journal.commit_interval",
                               f"a number of seconds 0..{_JOURNAL_MAX_INTERVAL:g} (0: commit "
                               "every event before it is sent)",
                               at_least=0.0, at_most=_JOURNAL_MAX_INTERVAL)
        max_events = self.integer(tbl.get("max_events", default.max_events),
                                  "journal.max_events", 1, _JOURNAL_MAX_EVENTS)
        fsync = self.choice(tbl.get("fsync", default.fsync), "journal.fsync", _JOURNAL_FSYNC)
        if enabled is None or path is None or interval is None or max_events is None \
                or fsync is None:
            return default
        return JournalConfig(enabled=enabled, path=path, commit_interval=interval,
                             max_events=max_events, fsync=fsync)

    def relays(self, value: object) -> tuple[tuple[RelayConfig, ...], set[str]]:
        """The relays, and every valid relay name (also of relays with other errors)."""
        relays: list[RelayConfig] = []
        first: dict[str, int] = {}
        for i, item in enumerate(self.array_of_tables(value, "relays")):
            path = f"relays[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[relays]])", item)
                continue
            tbl = self.table(item, path, _RELAY_KEYS, "[[relays]]")
            name = self.unique_name(tbl, path, i, first, "relay", "relays")
            driver = self.choice(tbl.get("driver", "sim"), f"{path}.driver", _RELAY_DRIVERS)
            initial = self.boolean(tbl.get("initial", False), f"{path}.initial")
            io = self.relay_io(tbl, path, driver)
            if name is not None and driver is not None and initial is not None and io is not None:
                relays.append(RelayConfig(
                    name=name, driver=driver, initial=initial, line=io.line,
                    active_low=io.active_low, mode=io.mode, feedback_input=io.feedback_input,
                    feedback_timeout=io.feedback_timeout, local_input=io.local_input))
        return tuple(relays), set(first)

    def points(self, value: object, ioa_size: int, relay_names: set[str]) -> tuple[Point, ...]:
        points: list[Point] = []
        entries: list[_PointEntry] = []
        names: dict[str, int] = {}
        ioas: dict[int, _PointEntry] = {}
        for i, item in enumerate(self.array_of_tables(value, "points")):
            path = f"points[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[points]])", item)
                continue
            entry, point = self.point(item, path, i, ioa_size, relay_names)
            entries.append(entry)
            if entry.name is not None:
                if entry.name in names:
                    self.error(f"{path}.name", f"expected a unique point name, got {entry.name!r} "
                                               f"(already used by points[{names[entry.name]}])")
                    entry.name = None
                else:
                    names[entry.name] = i
            if entry.ioa is not None:
                other = ioas.get(entry.ioa)
                if other is not None:
                    used_by = f"points[{other.index}]" + (f" {other.name!r}" if other.name else "")
                    self.error(f"{path}.ioa", f"expected a unique IOA, got {entry.ioa} "
                                              f"(already used by {used_by})")
                else:
                    ioas[entry.ioa] = entry
            if point is not None:
                points.append(point)
        self.check_feedback(entries)
        return tuple(points)

    def point(self, item: Mapping[Any, Any], path: str, index: int, ioa_size: int,
              relay_names: set[str]) -> tuple[_PointEntry, Point | None]:
        tbl = self.table(item, path, _POINT_KEYS, "[[points]]")
        name = self.name(tbl.get("name", _MISSING), f"{path}.name")
        ioa_max = _IOA_MAX[ioa_size]
        ioa_expected = f"an integer 1..{ioa_max} (ioa_size {ioa_size})"
        ioa_value = tbl.get("ioa", _MISSING)
        ioa: int | None = None
        if ioa_value is _MISSING:
            self.missing(f"{path}.ioa", ioa_expected)
        else:
            ioa = self.integer(ioa_value, f"{path}.ioa", 1, ioa_max, ioa_expected)
        kind_value = tbl.get("kind", _MISSING)
        kind: PointKind | None = None
        if kind_value is _MISSING:
            self.missing(f"{path}.kind", "one of " + ", ".join(_KINDS))
        else:
            kind_name = self.choice(kind_value, f"{path}.kind", tuple(_KINDS))
            kind = None if kind_name is None else _KINDS[kind_name]
        description = self.string(tbl.get("description", ""), f"{path}.description")

        def present(key: str) -> bool:
            return key in tbl

        def not_for(key: str, applies_to: str) -> None:
            assert kind is not None
            self.error(f"{path}.{key}", f"expected no {key} on a {kind.value} point ({key} "
                                        f"applies to {applies_to} only), got {_show(tbl[key])}")

        is_command = kind is not None and kind.is_command
        is_analog = kind is not None and kind.is_analog
        is_counter = kind is PointKind.COUNTER

        # source: what feeds a monitored point
        source_value = tbl.get("source", "")
        source: str | None = ""
        if is_command:
            if source_value != "":
                self.expected(f"{path}.source", 'no source on a command point (or "")',
                              source_value)
                source = None
        else:
            source = self.point_source(source_value, f"{path}.source", kind)

        # groups: interrogation groups
        groups: frozenset[int] | None = frozenset()
        if present("groups"):
            if is_command:
                not_for("groups", "monitored points")
                groups = None
            else:
                groups = self.groups(tbl["groups"], f"{path}.groups", is_counter)

        # deadbands and range
        deadband: float | None = 0.0
        if present("deadband"):
            if kind is not None and not (is_analog or is_counter):
                not_for("deadband", "analog kinds (normalized, scaled, float) and counters")
                deadband = None
            else:
                deadband = self.number(tbl["deadband"], f"{path}.deadband", "a number >= 0",
                                       at_least=0.0)
        deadband_percent: float | None = 0.0
        if present("deadband_percent"):
            if kind is not None and not is_analog:
                not_for("deadband_percent", "analog kinds (normalized, scaled, float)")
                deadband_percent = None
            else:
                deadband_percent = self.number(tbl["deadband_percent"], f"{path}.deadband_percent",
                                               "a percentage 0..100", at_least=0.0, at_most=100.0)
        low: float | None = None
        high: float | None = None
        range_ok = True
        if present("range"):
            if kind is not None and not is_analog:
                not_for("range", "analog kinds (normalized, scaled, float)")
                range_ok = False
            else:
                bounds = self.range(tbl["range"], f"{path}.range")
                if bounds is None:
                    range_ok = False
                else:
                    low, high = bounds
        if deadband_percent and range_ok and low is None:
            self.error(f"{path}.deadband_percent",
                       f"expected a range = [low, high] on the point for a deadband_percent "
                       f"(a percentage of high - low), got deadband_percent = {deadband_percent:g} "
                       "and no range")

        # commands
        target: str | None = None
        feedback: str | None = None
        select_required: bool | None = False
        if not is_command:
            for key in ("target", "feedback", "select_required"):
                if present(key) and kind is not None:
                    not_for(key, "command points")
        if is_command or kind is None:
            target_value = tbl.get("target", _MISSING)
            target_expected = ("the name of a [[relays]] entry (or \"iec61850\": a control "
                               "object of an [[iec61850.devices]] entry)")
            if target_value is _MISSING:
                if is_command:
                    self.missing(f"{path}.target", target_expected)
            elif target_value == IEC61850:
                target = target_value
            elif not isinstance(target_value, str) or target_value not in relay_names:
                note = ("" if not isinstance(target_value, str)
                        else "no such relay" if not relay_names
                        else f"relays: {', '.join(sorted(relay_names))}")
                self.expected(f"{path}.target", target_expected, target_value, note)
            else:
                target = target_value
            feedback_value = tbl.get("feedback", _MISSING)
            if feedback_value is not _MISSING:
                feedback = self.string(feedback_value, f"{path}.feedback", "a point name")
            select_required = self.boolean(tbl.get("select_required", False),
                                           f"{path}.select_required")

        entry = _PointEntry(index=index, name=name, ioa=ioa, kind=kind, feedback=feedback)
        if (name is None or ioa is None or kind is None or description is None or source is None
                or groups is None or deadband is None or deadband_percent is None
                or select_required is None or not range_ok):
            return entry, None
        point = Point(
            name=name, ioa=ioa, kind=kind, groups=groups, deadband=deadband,
            deadband_percent=deadband_percent, low=low, high=high, target=target,
            feedback=feedback, select_required=select_required, source=source,
            description=description,
        )
        return entry, point

    def groups(self, value: object, path: str, counter: bool) -> frozenset[int] | None:
        top = _COUNTER_GROUP_MAX if counter else _GROUP_MAX
        what = f"counter interrogation groups 1..{top}" if counter \
            else f"interrogation groups 1..{top}"
        if not isinstance(value, list):
            self.expected(path, f"an array of {what}", value)
            return None
        groups: set[int] = set()
        ok = True
        for i, item in enumerate(value):
            group = self.integer(item, f"{path}[{i}]", 1, top,
                                 f"an integer 1..{top} ({what})")
            if group is None:
                ok = False
            else:
                groups.add(group)
        return frozenset(groups) if ok else None

    def range(self, value: object, path: str) -> tuple[float, float] | None:
        expectation = "[low, high]: two finite numbers with low < high"
        if not isinstance(value, list) or len(value) != 2:
            self.expected(path, expectation, value)
            return None
        errors_before = len(self.errors)
        low = self.number(value[0], f"{path}[0]", "a finite number (low)")
        high = self.number(value[1], f"{path}[1]", "a finite number (high)")
        if low is None or high is None:
            return None
        if not low < high:
            self.expected(path, expectation, value)
        return (low, high) if len(self.errors) == errors_before else None

    def check_feedback(self, entries: list[_PointEntry]) -> None:
        by_name = {e.name: e for e in entries if e.name is not None}
        for entry in entries:
            if entry.feedback is None or entry.kind is None:
                continue
            want = _FEEDBACK_KIND[entry.kind]
            path = f"points[{entry.index}].feedback"
            expectation = f"the name of a monitored {want.value} point"
            other = by_name.get(entry.feedback)
            if other is None:
                self.expected(path, expectation, entry.feedback, "no such point")
            elif other.kind is not None and other.kind is not want:
                self.expected(path, expectation, entry.feedback,
                              f"points[{other.index}] is a {other.kind.value} point")

    # -- [gpio] ------------------------------------------------------------------------------------
    def gpio(self, value: object) -> GpioConfig:
        """[gpio]: the backend, the inputs and the double points made of two inputs."""
        tbl = self.table(value, "gpio", _GPIO_KEYS, "[gpio]")
        d = GpioConfig()
        backend = self.choice(tbl.get("backend", d.backend), "gpio.backend", _GPIO_BACKENDS)
        self.gpio_backend = backend
        chip = self.string(tbl.get("chip", d.chip), "gpio.chip",
                           "a GPIO chip: a path (/dev/gpiochip0), name (gpiochip0) or label "
                           "(pinctrl-rp1)")
        if chip and backend is not None and backend != "gpiod":
            self.error("gpio.chip", f"expected no chip with backend = {backend!r} (chip applies "
                                    f"to the gpiod backend only), got {chip!r}")
        self.gpio_chip = chip or ""
        reread = self.number(tbl.get("reread_interval", d.reread_interval), "gpio.reread_interval",
                             "a number of seconds >= 0 (0: no re-read)", at_least=0.0)
        debounce = self.number(tbl.get("debounce", d.debounce), "gpio.debounce",
                               "a number of seconds >= 0", at_least=0.0)
        changes = self.integer(tbl.get("chatter_changes", d.chatter_changes),
                               "gpio.chatter_changes", 0, None,
                               "an integer >= 0 (0: no chatter suppression)")
        window = self.seconds(tbl.get("chatter_window", d.chatter_window), "gpio.chatter_window")
        recovery = self.seconds(tbl.get("chatter_recovery", d.chatter_recovery),
                                "gpio.chatter_recovery")
        debounce = d.debounce if debounce is None else debounce
        changes = d.chatter_changes if changes is None else changes
        inputs = self.gpio_input_list(tbl.get("inputs", _MISSING), debounce, changes)
        doubles = self.gpio_double_list(tbl.get("doubles", _MISSING), changes)
        if backend is None or chip is None or reread is None or window is None \
                or recovery is None:
            return d
        return GpioConfig(backend=backend, chip=chip, reread_interval=reread, debounce=debounce,
                          chatter_changes=changes, chatter_window=window,
                          chatter_recovery=recovery, inputs=inputs, doubles=doubles)

    def gpio_input_list(self, value: object, debounce: float,
                        changes: int) -> tuple[GpioInputConfig, ...]:
        inputs: list[GpioInputConfig] = []
        for i, item in enumerate(self.array_of_tables(value, "gpio.inputs")):
            path = f"gpio.inputs[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[gpio.inputs]])", item)
                continue
            tbl = self.table(item, path, _GPIO_INPUT_KEYS, "[[gpio.inputs]]")
            name = self.gpio_name(tbl.get("name", _MISSING), path)
            if name is not None:
                self.gpio_input_names.add(name)
            line = self.gpio_line(tbl.get("line", _MISSING), f"{path}.line", path)
            bias = self.choice(tbl.get("bias", "as_is"), f"{path}.bias", _GPIO_BIASES)
            invert = self.boolean(tbl.get("invert", False), f"{path}.invert")
            own_debounce = self.number(tbl.get("debounce", debounce), f"{path}.debounce",
                                       "a number of seconds >= 0", at_least=0.0)
            driver_debounce = self.number(tbl.get("driver_debounce", 0.0),
                                          f"{path}.driver_debounce", "a number of seconds >= 0",
                                          at_least=0.0)
            own_changes = self.integer(tbl.get("chatter_changes", changes),
                                       f"{path}.chatter_changes", 0, None,
                                       "an integer >= 0 (0: no chatter suppression)")
            if (name is None or line is None or bias is None or invert is None
                    or own_debounce is None or driver_debounce is None or own_changes is None):
                continue
            inputs.append(GpioInputConfig(
                name=name, line=line, bias=bias, invert=invert, debounce=own_debounce,
                driver_debounce=driver_debounce, chatter_changes=own_changes))
        return tuple(inputs)

    def gpio_double_list(self, value: object, changes: int) -> tuple[GpioDoubleConfig, ...]:
        doubles: list[GpioDoubleConfig] = []
        for i, item in enumerate(self.array_of_tables(value, "gpio.doubles")):
            path = f"gpio.doubles[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[gpio.doubles]])", item)
                continue
            tbl = self.table(item, path, _GPIO_DOUBLE_KEYS, "[[gpio.doubles]]")
            name = self.gpio_name(tbl.get("name", _MISSING), path)
            if name is not None:
                self.gpio_double_names.add(name)
            on = self.gpio_input(tbl.get("on", _MISSING), f"{path}.on")
            off = self.gpio_input(tbl.get("off", _MISSING), f"{path}.off")
            if on is not None and on == off:
                self.expected(f"{path}.off", "an input other than on", off)
                off = None
            settle = self.number(tbl.get("settle", 1.0), f"{path}.settle",
                                 "a number of seconds >= 0", at_least=0.0)
            own_changes = self.integer(tbl.get("chatter_changes", changes),
                                       f"{path}.chatter_changes", 0, None,
                                       "an integer >= 0 (0: no chatter suppression)")
            if name is None or on is None or off is None or settle is None or own_changes is None:
                continue
            doubles.append(GpioDoubleConfig(name=name, on=on, off=off, settle=settle,
                                            chatter_changes=own_changes))
        return tuple(doubles)

    def gpio_name(self, value: object, path: str) -> str | None:
        """The name of an input or double point: unique among both (both are "gpio:NAME")."""
        name = self.name(value, f"{path}.name")
        if name is None:
            return None
        used = self.gpio_names.get(name)
        if used is not None:
            self.expected(f"{path}.name", "a name unique among [[gpio.inputs]] and "
                                          "[[gpio.doubles]]", name, f"already used by {used}")
            return None
        self.gpio_names[name] = path
        return name

    def gpio_line(self, value: object, path: str, user: str) -> str | int | None:
        """A GPIO line as the backend names it; each line may be used once."""
        line: str | int
        if self.gpio_backend == "rpi":
            expectation = (f'a BCM GPIO number 0..{_RPI_BCM_MAX} or its name "GPIO0".."GPIO'
                           f'{_RPI_BCM_MAX}" (backend = "rpi")')
            if value is _MISSING:
                self.missing(path, expectation)
                return None
            number: int | None = None
            if isinstance(value, int) and not isinstance(value, bool):
                number = value
            elif isinstance(value, str) and re.fullmatch(r"GPIO[0-9]{1,2}", value):
                number = int(value[4:])
            if number is None or not 0 <= number <= _RPI_BCM_MAX:
                self.expected(path, expectation, value)
                return None
            line = number
        else:
            expectation = ('a GPIO line name such as "GPIO17" (`gpioinfo` lists them) or a line '
                           "offset >= 0 on gpio.chip")
            if value is _MISSING:
                self.missing(path, expectation)
                return None
            if isinstance(value, str) and value:
                line = value
            elif isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                if self.gpio_backend == "gpiod" and not self.gpio_chip:
                    self.expected(path, 'a GPIO line name such as "GPIO17" (a line offset needs '
                                        "gpio.chip)", value)
                    return None
                line = value
            else:
                self.expected(path, expectation, value)
                return None
        used = self.gpio_lines.get(line)
        if used is not None:
            self.expected(path, "a GPIO line not used by another input or relay", value,
                          f"already used by {used}")
            return None
        self.gpio_lines[line] = user
        return line

    def gpio_input(self, value: object, path: str) -> str | None:
        """The name of a [[gpio.inputs]] entry (required)."""
        expectation = "the name of a [[gpio.inputs]] entry"
        if value is _MISSING:
            self.missing(path, expectation)
            return None
        if isinstance(value, str) and value in self.gpio_input_names:
            return value
        names = sorted(self.gpio_input_names)
        note = "" if not isinstance(value, str) else \
            f"gpio inputs: {', '.join(names)}" if names else "no [[gpio.inputs]] entries"
        self.expected(path, expectation, value, note)
        return None

    def relay_io(self, tbl: Mapping[Any, Any], path: str, driver: str | None) -> RelayConfig | None:
        """A relay's GPIO line, polarity, pulse mode and feedback and local/remote inputs (in a
        RelayConfig without a name); None if any is wrong (reported)."""
        errors_before = len(self.errors)
        d = RelayConfig(name="")
        line: str | int | None = None
        if "line" in tbl:
            if driver == "gpio":
                line = self.gpio_line(tbl["line"], f"{path}.line", path)
            elif driver is not None:
                self.error(f"{path}.line", f"expected no line on a relay with driver = {driver!r} "
                                           f"(line applies to driver = 'gpio' only), got "
                                           f"{_show(tbl['line'])}")
        elif driver == "gpio":
            self.missing(f"{path}.line", 'the GPIO line driving the relay, such as "GPIO22"')
        active_low = self.boolean(tbl.get("active_low", d.active_low), f"{path}.active_low")
        mode = self.choice(tbl.get("mode", d.mode), f"{path}.mode", _RELAY_MODES)
        feedback_input = None if "feedback_input" not in tbl else \
            self.gpio_input(tbl["feedback_input"], f"{path}.feedback_input")
        feedback_timeout = self.seconds(tbl.get("feedback_timeout", d.feedback_timeout),
                                        f"{path}.feedback_timeout")
        local_input = None if "local_input" not in tbl else \
            self.gpio_input(tbl["local_input"], f"{path}.local_input")
        if (len(self.errors) > errors_before or active_low is None or mode is None
                or feedback_timeout is None):
            return None
        return RelayConfig(name="", line=line, active_low=active_low, mode=mode,
                           feedback_input=feedback_input, feedback_timeout=feedback_timeout,
                           local_input=local_input)

    def point_source(self, value: object, path: str, kind: PointKind | None) -> str | None:
        """What feeds a monitored point: "sim", "modbus", "", "gpio:NAME" or "adc:NAME"."""
        if isinstance(value, str) and value.startswith(_GPIO_PREFIX):
            return self.gpio_source(value, path, kind)
        if isinstance(value, str) and value.startswith(_ADC_PREFIX):
            return self.adc_source(value, path, kind)
        if isinstance(value, str) and value in _MONITOR_SOURCES:
            return value
        hint = _close_match(value, _MONITOR_SOURCES) if isinstance(value, str) and value else None
        self.expected(path, _one_of([*_MONITOR_SOURCES, "gpio:NAME", "adc:NAME"]), value,
                      f"did you mean {hint!r}?" if hint else "")
        return None

    def gpio_source(self, value: str, path: str, kind: PointKind | None) -> str | None:
        name = value[len(_GPIO_PREFIX):]
        if name in self.gpio_input_names:
            if kind is None or kind is PointKind.SINGLE:
                return value
            self.expected(path, f"a gpio source for a {kind.value} point", value,
                          f"{name!r} is a [[gpio.inputs]] entry, which feeds single points; a "
                          "double point takes a [[gpio.doubles]] entry")
            return None
        if name in self.gpio_double_names:
            if kind is None or kind is PointKind.DOUBLE:
                return value
            self.expected(path, f"a gpio source for a {kind.value} point", value,
                          f"{name!r} is a [[gpio.doubles]] entry, which feeds double points only")
            return None
        names = sorted(self.gpio_names)
        self.expected(path, '"gpio:NAME" with the name of a [[gpio.inputs]] (single points) or '
                            "[[gpio.doubles]] (double points) entry", value,
                      f"gpio names: {', '.join(names)}" if names else "no [[gpio.inputs]] entries")
        return None

    def adc_source(self, value: str, path: str, kind: PointKind | None) -> str | None:
        name = value[len(_ADC_PREFIX):]
        if name in self.adc_channel_names:
            if kind is None or kind.is_analog:
                return value
            self.expected(path, f"an adc source for a {kind.value} point", value,
                          "ADC channels feed analog points only (normalized, scaled, float)")
            return None
        names = sorted(self.adc_channel_names)
        self.expected(path, '"adc:NAME" with the name of an [[adc.channels]] entry', value,
                      f"adc channels: {', '.join(names)}" if names
                      else "no [[adc.channels]] entries")
        return None

    # -- [adc] -------------------------------------------------------------------------------------
    def adc(self, value: object) -> AdcConfig:
        """[adc]: converters ([[adc.devices]]) and the channels read from them."""
        tbl = self.table(value, "adc", _ADC_KEYS, "[adc]")
        devices, drivers = self.adc_devices(tbl.get("devices", _MISSING))
        channels = self.adc_channels(tbl.get("channels", _MISSING), drivers)
        return AdcConfig(devices=devices, channels=channels)

    def adc_devices(self, value: object) -> tuple[tuple[AdcDeviceConfig, ...],
                                                  dict[str, str | None]]:
        """The devices, and the driver of every valid device name (None: the driver is wrong)."""
        devices: list[AdcDeviceConfig] = []
        drivers: dict[str, str | None] = {}
        first: dict[str, int] = {}
        choices = tuple(_ADC_DRIVER_KEYS)
        for i, item in enumerate(self.array_of_tables(value, "adc.devices")):
            path = f"adc.devices[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[adc.devices]])", item)
                continue
            tbl = self.table(item, path, _ADC_DEVICE_KEYS, "[[adc.devices]]")
            errors_before = len(self.errors)
            name = self.unique_name(tbl, path, i, first, "ADC device", "adc.devices")
            driver: str | None = None
            if "driver" not in tbl:
                self.missing(f"{path}.driver", _one_of(choices))
            else:
                driver = self.choice(tbl["driver"], f"{path}.driver", choices)
            if name is not None:
                drivers[name] = driver
            if driver is not None:
                for other, keys in _ADC_DRIVER_KEYS.items():
                    for key in keys:
                        if other != driver and key in tbl:
                            self.error(f"{path}.{key}", f"expected no {key} on a {driver} device "
                                                        f"({key} applies to driver = {other!r} "
                                                        f"only), got {_show(tbl[key])}")
            d = AdcDeviceConfig(name="", driver="iio")
            interval = self.seconds(tbl.get("interval", d.interval), f"{path}.interval")
            iio_name, spi_bus, spi_device, vref = d.iio_name, d.spi_bus, d.spi_device, d.vref
            i2c_bus, i2c_address = d.i2c_bus, d.i2c_address
            full_scale, data_rate = d.full_scale, d.data_rate
            if driver == "iio":
                expectation = 'the IIO device\'s name (its sysfs name file), such as "mcp3008"'
                iio_value = tbl.get("iio_name", _MISSING)
                if iio_value is _MISSING:
                    self.missing(f"{path}.iio_name", expectation)
                elif not isinstance(iio_value, str) or not iio_value:
                    self.expected(f"{path}.iio_name", expectation, iio_value)
                else:
                    iio_name = iio_value
            elif driver == "mcp3008":
                spi_bus = self.integer(tbl.get("spi_bus", d.spi_bus), f"{path}.spi_bus",
                                       0, 255) or 0
                spi_device = self.integer(tbl.get("spi_device", d.spi_device),
                                          f"{path}.spi_device", 0, 255) or 0
                vref = self.number(tbl.get("vref", d.vref), f"{path}.vref",
                                   "a reference voltage in volts > 0", above=0.0) or d.vref
            elif driver == "ads1115":
                i2c_bus = self.integer(tbl.get("i2c_bus", d.i2c_bus), f"{path}.i2c_bus",
                                       0, 255) or 0
                low, high = _ADS1115_ADDRESSES
                i2c_address = self.integer(
                    tbl.get("i2c_address", d.i2c_address), f"{path}.i2c_address", low, high,
                    f"an I2C address 0x{low:02x}..0x{high:02x} ({low}..{high})") or d.i2c_address
                fs_value = tbl.get("full_scale", d.full_scale)
                if isinstance(fs_value, bool) or fs_value not in _ADS1115_FULL_SCALES:
                    self.expected(f"{path}.full_scale", "a full-scale range in volts: " + _one_of(
                        [f"{v:g}" for v in _ADS1115_FULL_SCALES], quote=False), fs_value)
                else:
                    full_scale = float(fs_value)
                rate_value = tbl.get("data_rate", d.data_rate)
                if isinstance(rate_value, bool) or not isinstance(rate_value, int) \
                        or rate_value not in _ADS1115_DATA_RATES:
                    self.expected(f"{path}.data_rate", "samples per second: " + _one_of(
                        [str(v) for v in _ADS1115_DATA_RATES], quote=False), rate_value)
                else:
                    data_rate = rate_value
            if len(self.errors) > errors_before or name is None or driver is None \
                    or interval is None:
                continue
            devices.append(AdcDeviceConfig(
                name=name, driver=driver, interval=interval, iio_name=iio_name, spi_bus=spi_bus,
                spi_device=spi_device, vref=vref, i2c_bus=i2c_bus, i2c_address=i2c_address,
                full_scale=full_scale, data_rate=data_rate))
        return tuple(devices), drivers

    def adc_channels(self, value: object,
                     drivers: dict[str, str | None]) -> tuple[AdcChannelConfig, ...]:
        channels: list[AdcChannelConfig] = []
        first: dict[str, int] = {}
        used: dict[tuple[str, int], str] = {}
        for i, item in enumerate(self.array_of_tables(value, "adc.channels")):
            path = f"adc.channels[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[adc.channels]])", item)
                continue
            tbl = self.table(item, path, _ADC_CHANNEL_KEYS, "[[adc.channels]]")
            errors_before = len(self.errors)
            name = self.unique_name(tbl, path, i, first, "ADC channel", "adc.channels")
            if name is not None:
                self.adc_channel_names.add(name)
            device_value = tbl.get("device", _MISSING)
            device: str | None = None
            if device_value is _MISSING:
                self.missing(f"{path}.device", "the name of an [[adc.devices]] entry")
            elif not isinstance(device_value, str) or device_value not in drivers:
                note = "" if not isinstance(device_value, str) else \
                    f"adc devices: {', '.join(sorted(drivers))}" if drivers \
                    else "no [[adc.devices]] entries"
                self.expected(f"{path}.device", "the name of an [[adc.devices]] entry",
                              device_value, note)
            else:
                device = device_value
            driver = drivers.get(device) if device is not None else None
            count = _ADC_CHANNEL_COUNT.get(driver or "")
            expectation = f"a channel number 0..{count - 1} ({driver})" if count \
                else "a channel number >= 0"
            channel: int | None = None
            if "channel" not in tbl:
                self.missing(f"{path}.channel", expectation)
            else:
                channel = self.integer(tbl["channel"], f"{path}.channel", 0,
                                       count - 1 if count else None, expectation)
            if device is not None and channel is not None:
                if (device, channel) in used:
                    self.expected(f"{path}.channel", f"a channel of {device} not used by another "
                                                     "[[adc.channels]] entry", channel,
                                  f"already used by {used[device, channel]}")
                else:
                    used[device, channel] = path
            scale: float | None = 1.0
            offset: float | None = 0.0
            if "calibration" in tbl:
                for key in ("scale", "offset"):
                    if key in tbl:
                        self.error(f"{path}.{key}", f"expected no {key} next to calibration (give "
                                                    f"scale/offset or calibration), got "
                                                    f"{_show(tbl[key])}")
                line = self.calibration(tbl["calibration"], f"{path}.calibration")
                scale, offset = line if line is not None else (None, None)
            else:
                scale = self.number(tbl.get("scale", 1.0), f"{path}.scale", "a finite number")
                offset = self.number(tbl.get("offset", 0.0), f"{path}.offset", "a finite number")
            input_range: tuple[float, float] | None = None
            if "input_range" in tbl:
                input_range = self.range(tbl["input_range"], f"{path}.input_range")
            if (len(self.errors) > errors_before or name is None or device is None
                    or channel is None or scale is None or offset is None):
                continue
            channels.append(AdcChannelConfig(name=name, device=device, channel=channel,
                                             scale=scale, offset=offset, input_range=input_range))
        return tuple(channels)

    def calibration(self, value: object, path: str) -> tuple[float, float] | None:
        """[[volts1, value1], [volts2, value2]] -> (scale, offset) of the line through both."""
        expectation = "[[volts1, value1], [volts2, value2]]: two measured points, volts differ"
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(pair, list) and len(pair) == 2 for pair in value)):
            self.expected(path, expectation, value)
            return None
        numbers = [self.number(x, f"{path}[{i}][{j}]", "a finite number")
                   for i, pair in enumerate(value) for j, x in enumerate(pair)]
        v1, e1, v2, e2 = numbers
        if v1 is None or e1 is None or v2 is None or e2 is None:
            return None
        if v1 == v2:
            self.expected(path, expectation, value)
            return None
        scale = (e2 - e1) / (v2 - v1)
        return scale, e1 - scale * v1

    # -- [modbus] ----------------------------------------------------------------------------------
    def modbus(self, value: object, points: tuple[Point, ...], raw_points: object) -> ModbusConfig:
        """[modbus]: buses, devices, poll groups and the reads that feed points.

        A read names its point (``point = "..."``); that point must have ``source = "modbus"``,
        and every such point must be fed by exactly one read.
        """
        tbl = self.table(value, "modbus", _MODBUS_KEYS, "[modbus]")
        buses = self.modbus_buses(tbl.get("buses", _MISSING))
        by_name = {p.name: p for p in points}
        # names of [[points]] tables, also of those with errors (they are reported already)
        raw_index = point_table_index(raw_points)
        fed: dict[str, str] = {}  # point name -> key path of the read that feeds it
        devices = self.modbus_devices(tbl.get("devices", _MISSING), buses, by_name, raw_index, fed)
        for point in points:
            if point.source == _MODBUS_SOURCE and point.name not in fed:
                self.error(f"points[{raw_index.get(point.name, '?')}].source",
                           f"expected a [[modbus.devices.polls.reads]] entry with point = "
                           f"{point.name!r} for a point with source = \"modbus\", got none")
        return ModbusConfig(buses=tuple(buses.values()), devices=devices)

    def modbus_buses(self, value: object) -> dict[str, ModbusBusConfig]:
        buses: dict[str, ModbusBusConfig] = {}
        first: dict[str, int] = {}
        for i, item in enumerate(self.array_of_tables(value, "modbus.buses")):
            path = f"modbus.buses[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[modbus.buses]])", item)
                continue
            tbl = self.table(item, path, _MODBUS_BUS_KEYS, "[[modbus.buses]]")
            errors_before = len(self.errors)
            name = self.name(tbl.get("name", _MISSING), f"{path}.name")
            if name is not None:
                if name in first:
                    # reported, but kept: a duplicate still names a bus for the devices' checks
                    self.expected(f"{path}.name", "a unique bus name", name,
                                  f"already used by modbus.buses[{first[name]}]")
                else:
                    first[name] = i
            type_value = tbl.get("type", _MISSING)
            bus_type: str | None = None
            if type_value is _MISSING:
                self.missing(f"{path}.type", "'tcp' or 'rtu'")
            else:
                bus_type = self.choice(type_value, f"{path}.type", ("tcp", "rtu"))
            if bus_type is not None:
                others = _MODBUS_RTU_KEYS if bus_type == "tcp" else _MODBUS_TCP_KEYS
                for key in others:
                    if key in tbl:
                        self.error(f"{path}.{key}",
                                   f"expected no {key} on a {bus_type} bus ({key} applies to "
                                   f"{'rtu' if bus_type == 'tcp' else 'tcp'} buses only), "
                                   f"got {_show(tbl[key])}")
            default = ModbusBusConfig(name="", type="tcp")
            host, port, device = default.host, default.port, default.device
            if bus_type == "tcp":
                host_value = tbl.get("host", _MISSING)
                host_expected = "an IP address or host name such as 192.168.1.20"
                if host_value is _MISSING:
                    self.missing(f"{path}.host", host_expected)
                elif not isinstance(host_value, str) or not _is_host(host_value):
                    self.expected(f"{path}.host", host_expected, host_value)
                else:
                    host = host_value
                port = self.integer(tbl.get("port", default.port), f"{path}.port", 1, 0xFFFF) \
                    or default.port
            elif bus_type == "rtu":
                device_value = tbl.get("device", _MISSING)
                device_expected = "a serial device path such as /dev/ttyUSB0"
                if device_value is _MISSING:
                    self.missing(f"{path}.device", device_expected)
                elif not isinstance(device_value, str) or not device_value:
                    self.expected(f"{path}.device", device_expected, device_value)
                else:
                    device = device_value
            baudrate = self.integer(tbl.get("baudrate", default.baudrate), f"{path}.baudrate",
                                    50, 4_000_000)
            parity = self.choice(tbl.get("parity", default.parity), f"{path}.parity",
                                 ("N", "E", "O"))
            bytesize = self.integer(tbl.get("bytesize", default.bytesize), f"{path}.bytesize",
                                    7, 8)
            stopbits = self.integer(tbl.get("stopbits", default.stopbits), f"{path}.stopbits",
                                    1, 2)
            timeout = self.seconds(tbl.get("timeout", default.timeout), f"{path}.timeout")
            delay, delay_max = self.reconnect_delays(tbl, path, default.reconnect_delay,
                                                     default.reconnect_delay_max)
            if (len(self.errors) > errors_before or name is None or bus_type is None
                    or baudrate is None or parity is None or bytesize is None or stopbits is None
                    or timeout is None or delay is None or delay_max is None):
                if name is not None and bus_type is not None and name not in buses:
                    # keep its name and type for the devices' checks
                    buses[name] = ModbusBusConfig(name=name, type=bus_type)
                continue
            buses[name] = ModbusBusConfig(
                name=name, type=bus_type, host=host, port=port, device=device, baudrate=baudrate,
                parity=parity, bytesize=bytesize, stopbits=stopbits, timeout=timeout,
                reconnect_delay=delay, reconnect_delay_max=delay_max,
            )
        return buses

    def modbus_devices(self, value: object, buses: dict[str, ModbusBusConfig],
                       points: dict[str, Point], raw_index: dict[str, int],
                       fed: dict[str, str]) -> tuple[ModbusDeviceConfig, ...]:
        devices: list[ModbusDeviceConfig] = []
        first: dict[str, int] = {}
        units: dict[tuple[str, int], int] = {}
        for i, item in enumerate(self.array_of_tables(value, "modbus.devices")):
            path = f"modbus.devices[{i}]"
            if not isinstance(item, Mapping):
                self.expected(path, "a table ([[modbus.devices]])", item)
                continue
            tbl = self.table(item, path, _MODBUS_DEVICE_KEYS, "[[modbus.devices]]")
            errors_before = len(self.errors)
            name = self.unique_name(tbl, path, i, first, "device", "modbus.devices")
            bus_value = tbl.get("bus", _MISSING)
            bus_expected = "the name of a [[modbus.buses]] entry"
            bus: ModbusBusConfig | None = None
            if bus_value is _MISSING:
                self.missing(f"{path}.bus", bus_expected)
            elif not isinstance(bus_value, str) or bus_value not in buses:
                note = ("" if not isinstance(bus_value, str)
                        else "no such bus" if not buses
                        else f"buses: {', '.join(sorted(buses))}")
                self.expected(f"{path}.bus", bus_expected, bus_value, note)
            else:
                bus = buses[bus_value]
            lo, hi = _MODBUS_UNIT_ID[bus.type] if bus is not None else (0, 255)
            unit_expected = f"an integer {lo}..{hi}" + (f" ({bus.type} bus)" if bus else "")
            unit_value = tbl.get("unit_id", _MISSING)
            unit_id: int | None = None
            if unit_value is _MISSING:
                self.missing(f"{path}.unit_id", unit_expected)
            else:
                unit_id = self.integer(unit_value, f"{path}.unit_id", lo, hi, unit_expected)
            if bus is not None and unit_id is not None:
                other = units.setdefault((bus.name, unit_id), i)
                if other != i:
                    self.expected(f"{path}.unit_id", f"a unit_id no other device on bus "
                                  f"{bus.name!r} uses", unit_id,
                                  f"already used by modbus.devices[{other}]")
            max_registers = self.integer(tbl.get("max_registers", _MODBUS_MAX_REGISTERS),
                                         f"{path}.max_registers", 1, _MODBUS_MAX_REGISTERS)
            max_bits = self.integer(tbl.get("max_bits", _MODBUS_MAX_BITS), f"{path}.max_bits",
                                    1, _MODBUS_MAX_BITS)
            polls: list[ModbusPoll] = []
            spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]] = {}
            polls_value = tbl.get("polls", _MISSING)
            poll_items = self.array_of_tables(polls_value, f"{path}.polls")
            if polls_value is _MISSING or polls_value == []:
                self.error(f"{path}.polls", "expected at least one [[modbus.devices.polls]] "
                                            "table, got none")
            for j, poll_item in enumerate(poll_items):
                poll = self.modbus_poll(poll_item, f"{path}.polls[{j}]", points, raw_index, fed,
                                        spans)
                if poll is not None:
                    polls.append(poll)
            if (len(self.errors) > errors_before or name is None or bus is None or unit_id is None
                    or max_registers is None or max_bits is None):
                continue
            devices.append(ModbusDeviceConfig(name=name, bus=bus.name, unit_id=unit_id,
                                              polls=tuple(polls), max_registers=max_registers,
                                              max_bits=max_bits))
        return tuple(devices)

    def modbus_poll(self, item: object, path: str, points: dict[str, Point],
                    raw_index: dict[str, int], fed: dict[str, str],
                    spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]],
                    ) -> ModbusPoll | None:
        if not isinstance(item, Mapping):
            self.expected(path, "a table ([[modbus.devices.polls]])", item)
            return None
        tbl = self.table(item, path, _MODBUS_POLL_KEYS, "[[modbus.devices.polls]]")
        interval_value = tbl.get("interval", _MISSING)
        interval: float | None = None
        if interval_value is _MISSING:
            self.missing(f"{path}.interval", "a number of seconds > 0")
        else:
            interval = self.seconds(interval_value, f"{path}.interval")
        reads: list[ModbusRead] = []
        reads_value = tbl.get("reads", _MISSING)
        read_items = self.array_of_tables(reads_value, f"{path}.reads")
        ok = bool(read_items)
        if reads_value is _MISSING or reads_value == []:
            self.error(f"{path}.reads", "expected at least one [[modbus.devices.polls.reads]] "
                                        "table, got none")
        for k, read_item in enumerate(read_items):
            read = self.modbus_read(read_item, f"{path}.reads[{k}]", points, raw_index, fed)
            if read is None:
                ok = False
                continue
            self.modbus_overlap(read, f"{path}.reads[{k}]", spans)
            reads.append(read)
        if interval is None or not ok:
            return None
        return ModbusPoll(interval=interval, reads=tuple(reads))

    def modbus_read(self, item: object, path: str, points: dict[str, Point],
                    raw_index: dict[str, int], fed: dict[str, str]) -> ModbusRead | None:
        if not isinstance(item, Mapping):
            self.expected(path, "a table ([[modbus.devices.polls.reads]])", item)
            return None
        tbl = self.table(item, path, _MODBUS_READ_KEYS, "[[modbus.devices.polls.reads]]")
        errors_before = len(self.errors)
        kinds = ", ".join(k.value for k in _MODBUS_KINDS)

        # point: the [[points]] entry this read feeds
        point: Point | None = None
        point_value = tbl.get("point", _MISSING)
        point_expected = f"the name of a [[points]] entry with source = \"modbus\" ({kinds})"
        if point_value is _MISSING:
            self.missing(f"{path}.point", point_expected)
        elif not isinstance(point_value, str):
            self.expected(f"{path}.point", point_expected, point_value)
        elif point_value not in points:
            if point_value not in raw_index:  # else the point has errors of its own
                hint = _close_match(point_value, list(raw_index)) if raw_index else None
                self.expected(f"{path}.point", point_expected, point_value, "no such point" + (
                    f"; did you mean {hint!r}?" if hint else ""))
        else:
            candidate = points[point_value]
            where = f"points[{raw_index.get(point_value, '?')}]"
            if candidate.kind not in _MODBUS_KINDS:
                self.expected(f"{path}.point", point_expected, point_value,
                              f"{where} is a {candidate.kind.value} point")
            elif candidate.source != _MODBUS_SOURCE:
                self.expected(f"{path}.point", point_expected, point_value,
                              f"{where} has source = {candidate.source!r}")
            elif point_value in fed:
                self.expected(f"{path}.point", "a point no other read feeds", point_value,
                              f"already fed by {fed[point_value]}")
            else:
                point = candidate
                fed[point_value] = path
        kind = point.kind if point is not None else None

        # table and address
        table_value = tbl.get("table", _MISSING)
        table_names = [t.value for t in ModbusTable]
        table: ModbusTable | None = None
        if table_value is _MISSING:
            self.missing(f"{path}.table", _one_of(table_names))
        else:
            choice = self.choice(table_value, f"{path}.table", table_names)
            table = None if choice is None else ModbusTable(choice)
        address_value = tbl.get("address", _MISSING)
        address: int | None = None
        if address_value is _MISSING:
            self.missing(f"{path}.address", "an integer 0..65535 (0-based protocol address)")
        else:
            address = self.integer(address_value, f"{path}.address", 0, 0xFFFF,
                                   "an integer 0..65535 (0-based protocol address)")
        if table is None:
            return None

        def not_for(key: str, what: str, applies_to: str) -> None:
            self.error(f"{path}.{key}", f"expected no {key} {what} ({key} applies to "
                                        f"{applies_to} only), got {_show(tbl[key])}")

        if table.is_bits:
            for key in ("type", "word_order", "byte_order", "bit", "scale", "offset"):
                if key in tbl:
                    not_for(key, f"on a {table.value} read", "holding and input registers")
            if kind is not None and kind is not PointKind.SINGLE:
                self.expected(f"{path}.table", f"'holding' or 'input' for a {kind.value} point",
                              table_value, "coils and discrete inputs feed single points only")
            if len(self.errors) > errors_before or point is None or address is None:
                return None
            return ModbusRead(point=point.name, table=table, address=address)

        # registers: type, orders, bit, scale and offset
        type_choice = self.choice(tbl.get("type", ModbusType.UINT16.value), f"{path}.type",
                                  [t.value for t in ModbusType])
        mtype = None if type_choice is None else ModbusType(type_choice)
        word_order: Endian | None = Endian.BIG
        if "word_order" in tbl:
            if mtype is not None and mtype.words == 1:
                not_for("word_order", f"on a {mtype.value} read", "int32, uint32 and float32")
                word_order = None
            else:
                word_choice = self.choice(tbl["word_order"], f"{path}.word_order",
                                          ("big", "little"))
                word_order = None if word_choice is None else Endian(word_choice)
        byte_choice = self.choice(tbl.get("byte_order", "big"), f"{path}.byte_order",
                                  ("big", "little"))
        byte_order = None if byte_choice is None else Endian(byte_choice)
        if address is not None and mtype is not None and address + mtype.words - 1 > 0xFFFF:
            self.expected(f"{path}.address",
                          f"an integer 0..{0x10000 - mtype.words} ({mtype.value} takes "
                          f"{mtype.words} registers)", address)
        bit: int | None = None
        if "bit" in tbl:
            if kind is not None and kind is not PointKind.SINGLE:
                not_for("bit", f"for a {kind.value} point", "single points")
            elif mtype is ModbusType.FLOAT32:
                not_for("bit", "on a float32 read", "int16, uint16, int32 and uint32")
            else:
                top = 16 * (mtype.words if mtype is not None else 2) - 1
                bit = self.integer(tbl["bit"], f"{path}.bit", 0, top,
                                   f"an integer 0..{top} (0 = least significant bit)")
        elif kind is PointKind.SINGLE:
            self.missing(f"{path}.bit", "an integer 0..15: a single point read from a register "
                                        "takes one of its bits")
        if kind is PointKind.BITSTRING and mtype is ModbusType.FLOAT32:
            self.expected(f"{path}.type", "'int16', 'uint16', 'int32' or 'uint32' for a "
                                          "bitstring point", type_choice)
        numeric = kind is None or (kind.is_analog or kind is PointKind.COUNTER)
        factors: dict[str, float | None] = {"scale": 1.0, "offset": 0.0}
        for key in ("scale", "offset"):
            if key not in tbl:
                continue
            if not numeric:
                assert kind is not None
                not_for(key, f"for a {kind.value} point",
                        "analog (normalized, scaled, float) and counter points")
                continue
            factors[key] = self.number(tbl[key], f"{path}.{key}", "a finite number")
        if factors["scale"] == 0.0:
            self.expected(f"{path}.scale", "a finite number other than 0", tbl["scale"])
        scale, offset = factors["scale"], factors["offset"]
        if (len(self.errors) > errors_before or point is None or address is None or mtype is None
                or word_order is None or byte_order is None or scale is None or offset is None):
            return None
        return ModbusRead(point=point.name, table=table, address=address, type=mtype,
                          word_order=word_order, byte_order=byte_order, bit=bit, scale=scale,
                          offset=offset)

    def modbus_overlap(self, read: ModbusRead, path: str,
                       spans: dict[tuple[ModbusTable, int], tuple[ModbusRead, str]]) -> None:
        """Registers of one device read as two different values are a configuration mistake
        (e.g. a float32 at 10 and another at 11); the same value read again, or other bits of
        one register, are fine."""
        if read.table.is_bits:
            return
        for register in range(read.address, read.address + read.type.words):
            other = spans.setdefault((read.table, register), (read, path))
            other_read, other_path = other
            if other_path == path:
                continue
            if (other_read.address, other_read.type, other_read.word_order,
                    other_read.byte_order) != (read.address, read.type, read.word_order,
                                               read.byte_order):
                last = read.address + read.type.words - 1
                self.error(f"{path}.address",
                           f"expected {read.table.value} registers no other read decodes "
                           f"differently, got {read.address}..{last} as {read.type.value} "
                           f"(register {register} is also read by {other_path} as "
                           f"{other_read.type.value} at {other_read.address})")
                return


def _is_host(text: str) -> bool:
    """An IPv4/IPv6 address or a host name."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return bool(text) and not re.fullmatch(r"[0-9.]+", text) and _is_host_name(text)
    return True
