"""The component registry: every field source is registered once, here and in its folder.

A field source lives in ``rtu/sources/<kind>/``: ``config.py`` (its section, declared once),
``source.py`` (the source and a ``build`` function) and ``__init__.py`` with its registration
line, a :class:`Component`: its section, when the configuration enables it, and where its
``build`` function is. :data:`REGISTRY` lists the folders, in the order they are built (a
component may use what an earlier one provides: relays drive the GPIO lines ``gpio`` opened).

The supervisor calls :func:`build_field` and loops over what it returns; it names no source
kind. ``build`` modules are imported only when their component is enabled, so a station
without Modbus never imports pymodbus (nor open61850, nor the DLMS stack). A component's own
section is named the same way (``schema``, ``parse``, ``serial_ports`` as "module:name"): its
config module is imported only when the file has that section or a point names the component
(``source`` or ``target``), and the registration line itself imports nothing but this module.

The protocol servers are registered the same way (:data:`SERVERS`): each module's ``SERVER``
is a :class:`ServerComponent` (the sections that reconfigure it, how it is built), and what it
builds is a :class:`Server`: how it starts, reports readiness, health and status, hands its
event groups to its successor on a live reload, and closes. The supervisor loops over them.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from rtu.frozen import frozen

if TYPE_CHECKING:
    from rtu.config import AppConfig
    from rtu.config.reader import Reader
    from rtu.config.schema import Key
    from rtu.iec.asdu.codec import AsduProfile
    from rtu.iec.outstation import Outstation
    from rtu.points.commands import CommandExecutor
    from rtu.points.config import PrefixCheck
    from rtu.points.database import PointDatabase
    from rtu.points.model import Point
    from rtu.sources.base import Source

    # reads a component's section: (reader, its value, the points, [[points]] as written)
    SectionParser = Callable[[Reader, object, tuple[Point, ...], object], object]

__all__ = [
    "REGISTRY",
    "SERVERS",
    "Component",
    "Field",
    "Parts",
    "Server",
    "ServerComponent",
    "build_field",
    "build_servers",
    "resolve",
    "server_components",
]

# the field source folders, in build order; adding a source adds one line here
REGISTRY: Final = (
    "rtu.sources.gpio",
    "rtu.sources.simulated",
    "rtu.sources.adc",
    "rtu.sources.relays",
    "rtu.sources.modbus",
    "rtu.sources.iec61850",
    "rtu.sources.dlms",
    "rtu.sources.switchgear",  # after relays (its coils) and the command paths it wraps
    "rtu.sources.aout",  # analogue outputs: set-points wrapping the command path
    "rtu.sources.calculated",  # after the sources whose start values it reads
    "rtu.sources.protection",  # after the sources (and calculated points) that feed it
    "rtu.sources.interlocks",  # last: it guards the whole command path
    "rtu.files",  # [files]: what a master may fetch by file transfer (no point, no command)
)

# the protocol servers (each module's SERVER), in the order they start and report
SERVERS: Final = (
    "rtu.servers.iec104_service",
    "rtu.servers.iec101_service",
)

_T = TypeVar("_T")


@frozen
class Component:
    """A field source as the registry knows it (its folder's ``COMPONENT``)."""

    name: str
    section: str  # its key in the configuration file
    enabled: Callable[[AppConfig], bool]  # does this configuration use it?
    build: str  # "module:function" taking the Field and returning its Parts
    # the `source` of the [[points]] it feeds ("modbus"), or a prefix ("gpio:") checked by
    # check_source; the command `target` it takes besides relays, and what that means
    point_source: str = ""
    check_source: PrefixCheck | None = None
    command_target: tuple[str, str] | None = None
    # a section the document does not name (a new source): its declaration (a Key) and its
    # reader (a SectionParser), as "module:name", run after [[points]]; the result is
    # AppConfig.sections[section]. Without that section in the file (and no point naming the
    # component) neither is imported and the component is not enabled.
    schema: str = ""
    parse: str = ""
    # where the document lists it (the key names in "expected one of ..."): after this
    # section; "" or a section not found: at the end
    listed_after: str = ""
    # "module:function": the serial devices its parsed section (what ``parse`` returned)
    # opens, as (key path, device): `rtu check` refuses a port claimed twice and warns of a
    # missing one
    serial_ports: str = ""

    # "module:function": an address in its section that the 101 field sizes ([station]
    # ioa_size...) must carry, called as (reader, parsed section, FieldSizes): `rtu check` (and
    # `rtu run`) refuse what no master could address
    check_sizes: str = ""

    def section_key(self) -> Key:
        """The declaration of its own section (imports its config module)."""
        key = resolve(self.schema)
        from rtu.config.schema import Key

        if not isinstance(key, Key):
            raise TypeError(f"{self.schema} is not a Key")  # a registry mistake
        return key

    def parser(self) -> SectionParser:
        """The reader of its own section (imports its config module)."""
        parse: SectionParser = resolve(self.parse)
        return parse

    def ports(self, section: object) -> list[tuple[str, str]]:
        """The serial devices its parsed ``section`` opens (none without ``serial_ports``)."""
        if not self.serial_ports:
            return []
        found: list[tuple[str, str]] = resolve(self.serial_ports)(section)
        return found

    def uses(self, config: AppConfig) -> bool:
        """Whether ``config`` enables it; a component with a section of its own that the
        configuration does not have is not (decided without importing anything)."""
        if self.parse and config.section(self.section) is None:
            return False
        return self.enabled(config)


def resolve(reference: str) -> Any:
    """The object a "module:name" reference names (importing the module)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(slots=True)
class Parts:
    """What one component built for one configuration."""

    sources: list[Source] = field(default_factory=list)  # run by the supervisor (restarts)
    # read the start state: before the outstation subscribes (GI reports it, no events)
    initialise: list[Callable[[], None]] = field(default_factory=list)
    close: list[Callable[[], None]] = field(default_factory=list)
    # the command path: ``executor`` takes commands (the relays); ``commands`` wraps the
    # path built so far to take the commands of its own points (IEC 61850 control objects)
    executor: CommandExecutor | None = None
    commands: Callable[[CommandExecutor], CommandExecutor] | None = None
    # sections it applies to its running parts without a rebuild, and how
    live_sections: tuple[str, ...] = ()
    live: Callable[[AppConfig], None] | None = None
    # a rebuild: ``keep`` runs on the old parts before they close (with the new configuration)
    # and hands its result to the new parts' ``restore``
    keep: Callable[[AppConfig], object] | None = None
    restore: Callable[[object], Awaitable[None]] | None = None
    provides: tuple[object, ...] = ()  # objects later components may ask the Field for


class Field:
    """The field side of one configuration: what each enabled component built."""

    def __init__(self, config: AppConfig, db: PointDatabase,
                 state_dir: Callable[[], Path]) -> None:
        self.config = config
        self.db = db
        self.state_dir = state_dir  # creates the state directory when called
        self.parts: dict[str, Parts] = {}  # component name -> its parts, in build order
        self._provided: list[object] = []

    def get(self, kind: type[_T]) -> _T | None:
        """The object of type ``kind`` an earlier component provides, if any."""
        for obj in self._provided:
            if isinstance(obj, kind):
                return obj
        return None

    @property
    def provided(self) -> tuple[object, ...]:
        """Every object the components provide, in build order."""
        return tuple(self._provided)

    def add(self, name: str, parts: Parts) -> None:
        self.parts[name] = parts
        self._provided.extend(parts.provides)

    def _all(self) -> Iterator[Parts]:
        return iter(self.parts.values())

    @property
    def sources(self) -> list[Source]:
        return [source for parts in self._all() for source in parts.sources]

    def initialise(self) -> None:
        for parts in self._all():
            for initialise in parts.initialise:
                initialise()

    def command_executor(self) -> CommandExecutor:
        """The command path: the executor, wrapped by every component that takes commands."""
        executors = [p.executor for p in self._all() if p.executor is not None]
        if len(executors) != 1:
            raise RuntimeError(f"expected one component executing commands, got "
                               f"{len(executors)}")  # a registry mistake: ours
        executor = executors[0]
        for parts in self._all():
            if parts.commands is not None:
                executor = parts.commands(executor)
        return executor

    def live_sections(self) -> frozenset[str]:
        return frozenset(s for parts in self._all() for s in parts.live_sections)

    def apply_live(self, new: AppConfig, touched: Callable[[str], bool]) -> None:
        """Hand a changed section to the components that apply it while running."""
        for parts in self._all():
            if parts.live is not None and any(touched(s) for s in parts.live_sections):
                parts.live(new)
        self.config = new

    def keep(self, new: AppConfig) -> dict[str, object]:
        """What each component carries over a rebuild to ``new`` (before this field closes)."""
        return {name: parts.keep(new) for name, parts in self.parts.items()
                if parts.keep is not None}

    async def restore(self, kept: dict[str, object]) -> None:
        for name, state in kept.items():
            parts = self.parts.get(name)
            if parts is not None and parts.restore is not None:
                await parts.restore(state)

    def close(self) -> None:
        for parts in reversed(list(self._all())):
            for close in parts.close:
                close()


def components() -> list[Component]:
    """Every registered component, in build order."""
    found: list[Component] = []
    for name in REGISTRY:
        component = importlib.import_module(name).COMPONENT
        if not isinstance(component, Component):
            raise TypeError(f"{name}.COMPONENT is not a Component")  # a registry mistake
        found.append(component)
    return found


def build_field(config: AppConfig, db: PointDatabase, state_dir: Callable[[], Path]) -> Field:
    """Build every component the configuration enables (importing only those)."""
    result = Field(config, db, state_dir)
    for component in components():
        if not component.uses(config):
            continue
        build: Any = resolve(component.build)
        parts = build(result)
        if not isinstance(parts, Parts):
            raise TypeError(f"{component.build} returned {type(parts).__name__}, not Parts")
        result.add(component.name, parts)
    return result


# -- protocol servers --------------------------------------------------------------------------
class Server(Protocol):
    """A running protocol server as the supervisor drives it (built by a ServerComponent)."""

    @property
    def driver(self) -> object:
        """The server object itself (Iec104Server...), for lookups by type."""
        ...

    @property
    def sources(self) -> list[Source]:
        """What the supervisor runs under its restart loop (a serial line); may be empty."""
        ...

    def event_groups(self) -> tuple[str, ...]:
        """The outstation's event groups this server's masters read."""
        ...

    def asdu_profiles(self) -> tuple[AsduProfile, ...]:
        """The field-size profiles its sessions encode ASDUs in."""
        ...

    async def start(self) -> None:
        """Open what must be open before READY=1 (a listening socket); OSError if it cannot."""
        ...

    def start_failed(self, exc: OSError) -> str:
        """What a reload says when :meth:`start` raised ``exc``."""
        ...

    async def ready(self, grace: float) -> None:
        """Wait (at most ``grace`` s, while running) for what READY=1 waits for."""
        ...

    def take_groups(self, old: Server) -> None:
        """A live reload replaced ``old`` by this server: its queued events become ours."""
        ...

    def refresh(self) -> None:
        """Files it reads may have changed in place (certificates); ValueError names one."""
        ...

    def check(self) -> str | None:
        """The watchdog's check: what is wrong, or None."""
        ...

    def status(self) -> dict[str, Any]:
        """Its entry in `rtu status` (under the component's name)."""
        ...

    def masters(self) -> list[dict[str, Any]]:
        """The connected masters, for `rtu status`."""
        ...

    def summary(self) -> list[str]:
        """Its parts of the one-line status (STATUS=) after the count of masters."""
        ...

    def links(self) -> dict[str, bool]:
        """``link:...`` health signals: whether each of its links is up."""
        ...

    def waiting(self) -> bool:
        """Whether answers are still waiting to go out (a reset of process waits for them)."""
        ...

    def frame_profile(self) -> dict[str, Any] | None:
        """What `rtu monitor` needs to decode its frames (field sizes), None if fixed."""
        ...

    async def close(self) -> None:
        ...


@frozen
class ServerComponent:
    """A protocol server as the registry knows it (its module's ``SERVER``)."""

    name: str  # its section, and its key in `rtu status` (null when not enabled)
    label: str  # how messages name it ("104")
    sections: tuple[str, ...]  # what a reload plan names that replaces it while running
    # builds it for a configuration (with the outstation it serves), None when not enabled
    build: Callable[[Outstation, AppConfig], Server | None]


def server_components() -> list[ServerComponent]:
    """Every registered protocol server, in start order."""
    found: list[ServerComponent] = []
    for name in SERVERS:
        component = importlib.import_module(name).SERVER
        if not isinstance(component, ServerComponent):
            raise TypeError(f"{name}.SERVER is not a ServerComponent")  # a registry mistake
        found.append(component)
    return found


def build_servers(outstation: Outstation, config: AppConfig) -> dict[str, Server]:
    """Every server the configuration enables, by component name, in start order."""
    built: dict[str, Server] = {}
    for component in server_components():
        server = component.build(outstation, config)
        if server is not None:
            built[component.name] = server
    return built
