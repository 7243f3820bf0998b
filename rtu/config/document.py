"""The whole file: its sections in order, :class:`AppConfig`, and loading.

Each section is declared and checked by the module of the component it configures; this
module only puts them together: the order in which they are read (a section may refer to
what an earlier one defined, e.g. ``[[relays]]`` to ``[gpio]`` inputs), the cross-section
checks, and the document's declaration (:data:`DOCUMENT`) that ``rtu config-schema`` turns
into a JSON Schema.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

from rtu.components import Component, components, resolve
from rtu.config.locate import key_lines, line_of
from rtu.config.reader import MISSING, ConfigError, Reader, show
from rtu.config.schema import Key, Table, json_schema, string
from rtu.config.service import (
    JOURNAL,
    LOGGING,
    SERVICE,
    JournalConfig,
    LoggingConfig,
    ServiceConfig,
    parse_journal,
    parse_logging,
    parse_service,
)
from rtu.config.station import STATION, FieldSizes, parse_station, resolve_events_lost
from rtu.frozen import frozen
from rtu.health import HEALTH_PREFIX, health_source
from rtu.iec.outstation import OutstationConfig
from rtu.points.config import POINTS, PointSources, parse_points
from rtu.points.model import Point
from rtu.servers.iec104 import Iec104Settings
from rtu.servers.iec104_config import IEC104, parse_iec104
from rtu.soe import SOE, SoeConfig, parse_soe
from rtu.sources.relays.config import (
    COMMANDS,
    RELAYS,
    CommandConfig,
    RelayConfig,
    parse_commands,
    parse_relays,
)
from rtu.sources.simulated.config import (
    SIMULATION,
    SimulationConfig,
    check_manual,
    parse_simulation,
)
from rtu.startup import sha256

if TYPE_CHECKING:
    # the 101 server and its serial link core are imported only with an [iec101] section,
    # the board's inputs and converters' config modules only with [gpio] and [adc] ones
    from rtu.servers.iec101 import Iec101Settings
    from rtu.sources.adc.config import AdcConfig
    from rtu.sources.gpio.config import GpioConfig
    from rtu.web.settings import WebSettings  # [web] read only when the file has it

__all__ = [
    "DOCUMENT",
    "AppConfig",
    "ConfigFile",
    "ConfigOrigin",
    "bench_config",
    "config_schema",
    "load_config",
    "parse_config",
]

_BENCH_SOURCE: Final = "<bench>"
_BOM: Final = "\ufeff"

_COMPONENTS: Final = components()  # the registry (rtu/components.py), in its order
# sources that bring their own section, read after [[points]] (no AppConfig field of their
# own: AppConfig.section(name), typed by an accessor beside the section, e.g. modbus_config).
# Their config modules are imported only when needed (Component.parser, section_key).
_SECTIONS: Final[tuple[Component, ...]] = tuple(
    c for c in _COMPONENTS if c.schema and c.parse)


def _document(sections: list[Key], declared: bool) -> Table:
    """The file's sections, with each registered one where it says it is listed: its
    declaration (``declared``: imports its config module), or a key of that name only, which
    is all that reading the document's top level needs (its parser checks the rest)."""
    for component in _SECTIONS:
        names = [key.name for key in sections]
        at = (names.index(component.listed_after) + 1 if component.listed_after in names
              else len(sections))
        sections.insert(at, component.section_key() if declared
                        else Key(component.section, ("object",)))
    return Table("the whole document", tuple(sections))


POINTS_FILE: Final = string("points_file", "", doc="a CSV file holding the point list "
                             "(instead of [[points]]); relative to this file's directory")
# the file, section by section
def _own_sections(declared: bool) -> list[Key]:
    """The sections this module reads, [iec101], [gpio], [adc] and [web] by name only unless
    ``declared`` (their config modules are imported when the file has the section)."""
    if declared:
        from rtu.servers.iec101_config import IEC101
        from rtu.sources.adc.config import ADC
        from rtu.sources.gpio.config import GPIO
        from rtu.web.settings import WEB

        iec101, gpio, adc, web = IEC101, GPIO, ADC, WEB
    else:
        iec101, gpio, adc, web = (Key(name, ("object",))
                                  for name in ("iec101", "gpio", "adc", "web"))
    return [STATION, IEC104, iec101, COMMANDS, SIMULATION, LOGGING, RELAYS, POINTS, gpio, adc,
            SERVICE, JOURNAL, web, SOE, POINTS_FILE]


# the top level as the parser reads it: the registered sections and [iec101] by name
_TOP_LEVEL: Final = _document(_own_sections(declared=False), declared=False)


DOCUMENT: Table  # declared here, built on first use by __getattr__ below


def __getattr__(name: str) -> Any:
    """``DOCUMENT``: the whole file's declaration, every registered section's included (for
    ``rtu config-schema``; built on first use, importing every component's config module)."""
    if name == "DOCUMENT":
        document = globals()["DOCUMENT"] = _document(_own_sections(declared=True), declared=True)
        return document
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
# what may feed a point or take a command besides a relay: what each component registers
_POINT_SOURCES: Final = PointSources(
    names=(*(c.point_source for c in _COMPONENTS if c.point_source and not c.check_source),
           ""),
    prefixes={**{c.point_source: c.check_source for c in _COMPONENTS if c.check_source},
              HEALTH_PREFIX: health_source},  # the outstation's own state (rtu/health.py)
    targets=dict(c.command_target for c in _COMPONENTS if c.command_target),
)


@frozen
class ConfigFile:
    """One file a configuration was read from: the main file or one it includes."""

    path: str  # as read (an included file's path resolved against the main file's directory)
    role: str  # "main" or the key that includes it ("points_file")
    data: bytes


@frozen
class ConfigOrigin:
    """Where a loaded configuration came from: its files, their hash, when it was loaded, and
    (``fallback``) why the last-known-good copy runs instead of the file (rtu/lastgood.py)."""

    files: tuple[ConfigFile, ...]
    loaded_at: float  # time.time()
    fallback: str | None = None

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the main file's bytes: the configuration's one shown hash, equal
        to `sha256sum` of the file that was pushed (deploy/ansible compares the two)."""
        main = next((f for f in self.files if f.role == "main"), None)
        return sha256(main.data if main is not None else b"").hexdigest()

    @property
    def fingerprint(self) -> str:
        """SHA-256 over every file's role and content, the included point list too (not the
        path: a copy hashes alike). Internal: tells the last-known-good copies apart."""
        h = sha256()
        for f in self.files:
            h.update(f"{f.role}\0{len(f.data)}\0".encode())
            h.update(f.data)
        return h.hexdigest()


@frozen
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
    gpio_section: GpioConfig | None = None  # [gpio] as read, None without it (see .gpio)
    adc_section: AdcConfig | None = None  # [adc] as read, None without it (see .adc)
    service: ServiceConfig = field(default_factory=ServiceConfig)  # [service]: operator socket, reload policy
    journal: JournalConfig = field(default_factory=JournalConfig)  # [journal]: persistent event journal (off)
    web: WebSettings | None = None  # [web]: the diagnostics page (rtu/web/settings.py); off
    soe: SoeConfig = field(default_factory=SoeConfig)  # [soe]: sequence-of-events log, audit
    # the sections of components registered with their own parser (Component.parse):
    # [modbus], [iec61850], [dlms] and any new source's
    sections: Mapping[str, object] = field(default_factory=dict)
    # the files it was read from (None: built in code, or the bench profile); not compared
    origin: ConfigOrigin | None = field(default=None, compare=False)

    @property
    def digest(self) -> str:
        """The one hash of the running configuration (`rtu status` config_sha256, the web
        page, fleet verification): SHA-256 (hex) of the main file's bytes as loaded; "" when
        not read from a file (the bench profile)."""
        return self.origin.digest if self.origin is not None else ""

    @property
    def gpio(self) -> GpioConfig:
        """[gpio]: the board's inputs (none without the section)."""
        if self.gpio_section is not None:
            return self.gpio_section
        from rtu.sources.gpio.config import GpioConfig

        return GpioConfig()

    @property
    def adc(self) -> AdcConfig:
        """[adc]: the converters and their channels (none without the section)."""
        if self.adc_section is not None:
            return self.adc_section
        from rtu.sources.adc.config import AdcConfig

        return AdcConfig()

    def section(self, name: str) -> object:
        """What a registered component's parser made of its section (None if absent)."""
        return self.sections.get(name)


# -- public functions ------------------------------------------------------------------------------
def load_config(path: str | os.PathLike[str], *, files: Mapping[str, bytes] | None = None,
                points_file: str | None = None) -> AppConfig:
    """Read and validate a TOML configuration file; ConfigError names every problem, with
    the line of the offending key (of a CSV point list: its line in that file).

    ``files`` (path -> content) stands in for the files on disk: the last-known-good copy
    is loaded as if from its original place (rtu/lastgood.py). ``points_file`` replaces the
    file's point list by that CSV file (`rtu points import --config`)."""
    source = os.fspath(path)
    raw = _read(source, files)
    return _parse_text(_decode(raw, source), source, raw, files, points_file)


def _read(source: str, files: Mapping[str, bytes] | None) -> bytes:
    if files is not None and source in files:
        return files[source]
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([f"{source}: cannot read the file: {reason}"]) from None


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            [f"{source}: expected UTF-8 text, got byte 0x{raw[exc.start]:02X} on line {line}"]
        ) from None


def parse_config(data: Mapping[str, Any], source: str) -> AppConfig:
    """Validate an already-parsed TOML document; ``source`` names it in every error (its text
    is unknown here: no line numbers, and no ``points_file``, whose place it is relative to)."""
    p = Reader(source)
    if isinstance(data, Mapping) and data.get("points_file", "") != "":
        p.error("points_file", "expected no points_file in a document parsed without its file "
                "(load it with load_config), got " + show(data["points_file"]))
    return _parse(p, data)


def bench_config() -> AppConfig:
    """The built-in bench profile (``rtu/examples/bench.toml``): a simulated field, no hardware."""
    from importlib import resources

    text = resources.files("rtu.examples").joinpath("bench.toml").read_text(encoding="utf-8")
    return _parse_text(text, _BENCH_SOURCE, None, None)


def config_schema() -> str:
    """The JSON Schema (draft 2020-12) of the configuration file, as text."""
    schema = json_schema(_document(_own_sections(declared=True), declared=True), "RTU outstation configuration (rtu check validates more)")
    return json.dumps(schema, indent=2)


# -- internals -------------------------------------------------------------------------------------
def _parse_text(text: str, source: str, raw: bytes | None,
                files: Mapping[str, bytes] | None, points_file: str | None = None) -> AppConfig:
    """``raw``: the main file's octets when read from a file (the configuration then gets
    its :class:`ConfigOrigin`)."""
    import tomllib  # not needed when the validated configuration comes from the cache

    text = text.removeprefix(_BOM)  # editors on Windows write one; TOML does not allow it
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # the message ends with "(at line L, column C)"
        raise ConfigError([f"{source}: TOML syntax error: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{source}: TOML syntax error: nested too deeply"]) from None
    if points_file is not None:
        data = {**{k: v for k, v in data.items() if k != "points"}, "points_file": points_file}
    # the key lines and point names only matter for an error: found at the first one (a scan of
    # the text costs as much as the TOML parse itself)
    scanned: dict[str, Any] = {}

    def key_line(path: str) -> int | None:
        if "lines" not in scanned:
            scanned["lines"] = key_lines(text)
        return line_of(scanned["lines"], path)

    read: list[ConfigFile] = [] if raw is None else [ConfigFile(source, "main", raw)]
    csv_file: tuple[str, list[int]] | None = None  # a CSV point list: its path, row lines
    early: list[str] = []  # errors of the point list's file itself
    value = data.get("points_file", "")
    if value != "":
        def at(path: str) -> str:
            line = key_line(path)
            return f"{source}:{line}: {path}" if line is not None else f"{source}: {path}"

        if not isinstance(value, str):
            early.append(f"{at('points_file')}: expected the path of a CSV file, "
                         f"got {show(value)}")
        elif "points" in data:
            early.append(f"{at('points_file')}: expected either points_file or [[points]] "
                         "tables, got both: keep one")
        elif not value.lower().endswith(".csv"):
            early.append(f"{at('points_file')}: expected the path of a .csv file, "
                         f"got {value!r}")
        else:
            from rtu.points.csvfile import parse_points_csv

            resolved = os.path.normpath(
                os.path.join(os.path.dirname(source), os.path.expanduser(value)))
            try:
                csv_raw = _read(resolved, files)
                parsed = parse_points_csv(_decode(csv_raw, resolved), resolved)
            except ConfigError as exc:
                early.extend(f"{at('points_file')}: {e}" for e in exc.errors)
            else:
                read.append(ConfigFile(resolved, "points_file", csv_raw))
                early.extend(parsed.errors)
                data = {**data, "points": parsed.tables}
                csv_file = (resolved, parsed.lines)

    def annotate(path: str) -> str:
        if "names" not in scanned:  # of the point list as read (from the CSV file too)
            raw_points = data.get("points")
            scanned["names"] = {
                i: item["name"] for i, item in enumerate(raw_points)
                if isinstance(item, Mapping) and isinstance(item.get("name"), str)
            } if isinstance(raw_points, list) else {}
        names: dict[int, str] = scanned["names"]
        shown = path
        index = -1
        if path.startswith("points["):
            number, _, rest = path[len("points["):].partition("]")
            if number.isdigit():
                index = int(number)
                if index in names:
                    shown = f"points[{index}] {show(names[index])}{rest}"
        if csv_file is not None and 0 <= index < len(csv_file[1]):
            return f" {csv_file[0]}:{csv_file[1][index]}: {shown}"
        line = key_line(path)
        return f"{line}: {shown}" if line is not None else f" {shown}"

    p = Reader(source, annotate)
    p.errors.extend(early)
    config = _parse(p, data)
    if not read:
        return config
    return dataclasses.replace(config, origin=ConfigOrigin(tuple(read), time.time()))


def _parse(p: Reader, data: object) -> AppConfig:
    if not isinstance(data, Mapping):
        p.error("", f"expected a TOML document (a table of sections), got {show(data)}")
        raise ConfigError(p.errors)
    doc = _TOP_LEVEL.open(p, data, "")
    station, field_sizes = parse_station(p, doc.get("station", MISSING))
    iec104 = parse_iec104(p, doc.get("iec104", MISSING))
    iec101: Iec101Settings | None = None
    if "iec101" in doc:
        from rtu.servers.iec101_config import parse_iec101

        iec101 = parse_iec101(p, doc["iec101"], field_sizes)
    commands = parse_commands(p, doc.get("commands", MISSING))
    simulation = parse_simulation(p, doc.get("simulation", MISSING))
    logging_config = parse_logging(p, doc.get("logging", MISSING))
    service = parse_service(p, doc.get("service", MISSING))
    journal = parse_journal(p, doc.get("journal", MISSING))
    gpio: GpioConfig | None = None
    if "gpio" in doc:
        from rtu.sources.gpio.config import parse_gpio

        gpio = parse_gpio(p, doc["gpio"])
    adc: AdcConfig | None = None
    if "adc" in doc:
        from rtu.sources.adc.config import parse_adc

        adc = parse_adc(p, doc["adc"])
    relays, relay_names = parse_relays(p, doc.get("relays", MISSING))
    raw_points = doc.get("points", MISSING)
    points = parse_points(p, raw_points, field_sizes.ioa_size, relay_names, _POINT_SOURCES)
    check_manual(p, simulation, points)
    station, points = resolve_events_lost(p, station, points)
    # the registered sections that depend on the points (Modbus, IEC 61850, DLMS...): read
    # when the file has them or a point names the component (its parser says what is
    # missing); otherwise their modules are not even imported
    named = {pt.source for pt in points} | {pt.target for pt in points if pt.target}
    sections = {c.section: c.parser()(p, doc.get(c.section, MISSING), points, raw_points)
                for c in _SECTIONS if c.section in doc or (c.point_source and c.point_source in named)
                or (c.command_target is not None and c.command_target[0] in named)}
    for c in _SECTIONS:
        if c.check_sizes and sections.get(c.section) is not None:
            resolve(c.check_sizes)(p, sections[c.section], field_sizes)
    web: WebSettings | None = None
    if "web" in doc:
        from rtu.web.settings import parse_web

        web = parse_web(p, doc["web"], iec104.tls if iec104 else None)
    soe = parse_soe(p, doc.get("soe", MISSING))  # rtu/soe.py
    if (station is not None and station.command_originators and iec101 is not None
            and field_sizes.cot_size == 1):
        p.error("station.command_originators",
                "needs an originator address, which 101 with station.cot_size 1 does not "
                "carry: set cot_size = 2 (the master must send its originator address) or "
                "leave command_originators empty")
    # a gateway section's devices (DLMS meters, IEC 61850 devices) may each be a station
    points = _gateway_stations(p, points, [
        station for section in sections.values() if isinstance(section, GatewayStations)
        for station in section.logical_stations()])
    ca_max = 0xFE if field_sizes.ca_size == 1 else 0xFFFE
    for i, point in enumerate(points):
        if point.common_address > ca_max:
            p.error(f"points[{i}].common_address",
                    f"expected a common address 1..{ca_max} (station.ca_size "
                    f"{field_sizes.ca_size}), got {point.common_address}")
    if iec101 is not None and station is not None:
        served = {station.common_address} | {pt.common_address for pt in points}
        for i, (_, ca) in enumerate(iec101.stations):
            if ca not in served:
                p.error(f"iec101.stations[{i}].common_address",
                        f"expected the common address of some [[points]] (common_address), "
                        f"got {ca}, which no point has")
    _check_serial_ports(p, iec101, sections)
    if p.errors or station is None:
        raise ConfigError(p.errors)
    return AppConfig(
        source=p.source, station=station, field_sizes=field_sizes, iec104=iec104,
        points=points, relays=relays, commands=commands, simulation=simulation,
        logging=logging_config, iec101=iec101, gpio_section=gpio, adc_section=adc,
        service=service, journal=journal, web=web, soe=soe,
        sections=sections,
    )


def serial_ports(config: AppConfig) -> list[tuple[str, str]]:
    """Every serial device the configuration opens: (key path, device)."""
    return _serial_claims(config.iec101, config.sections)


def _serial_claims(iec101: Iec101Settings | None,
                   sections: Mapping[str, object]) -> list[tuple[str, str]]:
    """The 101 line's device, then what each registered component says its section opens."""
    claims: list[tuple[str, str]] = []
    if iec101 is not None:
        claims.append(("iec101.device", iec101.serial.device))
    for component in _COMPONENTS:
        if component.serial_ports and component.section in sections:
            claims += component.ports(sections[component.section])
    return claims


def _check_serial_ports(p: Reader, iec101: Iec101Settings | None,
                        sections: Mapping[str, object]) -> None:
    """A serial port is opened by one owner: the same device (also through a symbolic link
    such as /dev/serial/by-id/...) named twice is an error, as `rtu run` would meet it."""
    first: dict[str, str] = {}
    for key, device in _serial_claims(iec101, sections):
        real = os.path.realpath(device)
        if real in first:
            same = f" (both are {real})" if real != device else ""
            p.error(key, f"expected a serial port of its own, got {device!r}, already claimed by "
                    f"{first[real]}{same}: a port is opened by one owner only")
        else:
            first[real] = key


@runtime_checkable
class GatewayStations(Protocol):
    """A registered section whose devices may each be their own logical station."""

    def logical_stations(self) -> list[tuple[str, int, tuple[str, ...]]]: ...


def _gateway_stations(p: Reader, points: tuple[Point, ...],
                      devices: list[tuple[str, int, tuple[str, ...]]]) -> tuple[Point, ...]:
    """A gateway device's ``common_address`` (a DLMS meter, an IEC 61850 device) puts every
    point it feeds into that logical station; a point that names another station itself is
    an error."""
    station: dict[str, int] = {}
    for _, device_ca, names in devices:
        if not device_ca:
            continue
        for name in names:
            station[name] = device_ca
    if not station:
        return points
    out: list[Point] = []
    for i, point in enumerate(points):
        ca = station.get(point.name)
        if ca is None or point.common_address == ca:
            out.append(point)
        elif point.common_address:
            p.error(f"points[{i}].common_address",
                    f"expected {ca} (its device's common_address) or none, got "
                    f"{point.common_address}")
            out.append(point)
        else:
            out.append(dataclasses.replace(point, common_address=ca))
    return tuple(out)
