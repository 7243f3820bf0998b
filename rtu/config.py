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

import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Final

from rtu.iec.cs104.connection import ApciParameters
from rtu.iec.outstation import OutstationConfig
from rtu.points.model import Point, PointKind
from rtu.iec.cs101.link import LinkMode, LinkParameters
from rtu.servers.iec101 import Iec101Settings, SerialSettings
from rtu.servers.iec104 import Iec104Settings

__all__ = [
    "AppConfig",
    "CommandConfig",
    "ConfigError",
    "FieldSizes",
    "LoggingConfig",
    "RelayConfig",
    "SimulationConfig",
    "bench_config",
    "load_config",
    "parse_config",
    "parse_listen",
]

_BENCH_SOURCE: Final = "<bench>"

# -- the schema: every key the file may contain (public names: see the module docstring) --------
_SECTIONS: Final = ("station", "iec104", "iec101", "commands", "simulation", "logging", "relays", "points")
_STATION_KEYS: Final = (
    "common_address", "cot_size", "ca_size", "ioa_size", "select_timeout", "event_queue_size",
    "time_invalid_until_sync",
)
_IEC104_KEYS: Final = (
    "enabled", "listen", "k", "w", "t0", "t1", "t2", "t3", "max_connections", "allowed_masters",
)
_IEC101_KEYS: Final = (
    "enabled", "device", "baudrate", "parity", "bytesize", "stopbits", "rs485", "mode",
    "link_address", "link_address_size", "remote_link_address", "single_char_ack",
    "repeat_timeout", "max_repeats", "test_interval",
)
_COMMANDS_KEYS: Final = ("short_pulse", "long_pulse", "default_qu")
_SIMULATION_KEYS: Final = ("seed", "digital_interval", "analog_interval", "counter_interval")
_LOGGING_KEYS: Final = ("level",)
_RELAY_KEYS: Final = ("name", "driver", "initial")
_POINT_KEYS: Final = (
    "name", "ioa", "kind", "source", "groups", "deadband", "deadband_percent", "range",
    "description", "target", "feedback", "select_required",
)

_DEFAULT_LISTEN: Final = "127.0.0.1:2404"
_QU_CHOICES: Final = ("persistent", "short", "long")
_LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR")
_RELAY_DRIVERS: Final = ("sim",)
_MONITOR_SOURCES: Final = ("sim", "")
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
    return _parse_text(text, source)


def parse_config(data: Mapping[str, Any], source: str) -> AppConfig:
    """Validate an already-parsed TOML document; ``source`` names it in every error."""
    return _Parser(source).parse(data)


def bench_config() -> AppConfig:
    """The built-in bench profile (``rtu/examples/bench.toml``): a simulated field, no hardware."""
    text = resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")
    return _parse_text(text, _BENCH_SOURCE)


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
        relays, relay_names = self.relays(doc.get("relays", _MISSING))
        points = self.points(doc.get("points", _MISSING), field_sizes.ioa_size, relay_names)
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
        if common_address is None or select_timeout is None or event_queue_size is None \
                or time_invalid is None:
            return None, sizes
        try:
            config = OutstationConfig(
                common_address=common_address,
                select_timeout=select_timeout,
                event_queue_size=event_queue_size,
                time_invalid_until_sync=time_invalid,
            )
        except ValueError as exc:
            self.error("station", str(exc))
            return None, sizes
        return config, sizes

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
        t0, t1, t2, t3 = (timeouts[name] for name in ("t0", "t1", "t2", "t3"))
        if k is None or w is None or t0 is None or t1 is None or t2 is None or t3 is None:
            return None
        try:  # the checks across k, w and the timeouts (t2 < t1) are ApciParameters' own
            apci = ApciParameters(k=k, w=w, t0=t0, t1=t1, t2=t2, t3=t3)
        except ValueError as exc:
            self.error("iec104", str(exc))
            return None
        if (len(self.errors) > errors_before or listen is None or max_connections is None
                or allowed is None):
            return None
        try:
            settings = Iec104Settings(
                host=listen[0], port=listen[1], apci=apci, max_connections=max_connections,
                allowed_masters=allowed,
            )
        except ValueError as exc:
            self.error("iec104", str(exc))
            return None
        return settings if enabled else None

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

    def allowed_masters(self, value: object) -> tuple[str, ...] | None:
        path = "iec104.allowed_masters"
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
            name = self.name(tbl.get("name", _MISSING), f"{path}.name")
            if name is not None:
                if name in first:
                    self.expected(f"{path}.name", "a unique relay name", name,
                                  f"already used by relays[{first[name]}]")
                    name = None
                else:
                    first[name] = i
            driver = self.choice(tbl.get("driver", "sim"), f"{path}.driver", _RELAY_DRIVERS)
            initial = self.boolean(tbl.get("initial", False), f"{path}.initial")
            if name is not None and driver is not None and initial is not None:
                relays.append(RelayConfig(name=name, driver=driver, initial=initial))
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
            source = self.choice(source_value, f"{path}.source", _MONITOR_SOURCES)

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
            target_expected = "the name of a [[relays]] entry"
            if target_value is _MISSING:
                if is_command:
                    self.missing(f"{path}.target", target_expected)
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
