"""The sections of the service itself: ``[logging]``, ``[service]`` and ``[journal]``.

``[journal]`` configures rtu/eventstore.py, ``[service]`` the operator socket, reload policy
and state directory (docs/service.md). Each key is declared once, below.
"""

from __future__ import annotations

from typing import Final

from rtu.config.reader import Reader
from rtu.config.schema import Table, boolean, choice, integer, number, string, table
from rtu.frozen import frozen

__all__ = [
    "JOURNAL",
    "LOGGING",
    "SERVICE",
    "JournalConfig",
    "LoggingConfig",
    "ServiceConfig",
    "parse_journal",
    "parse_logging",
    "parse_service",
]

_JOURNAL_MAX_INTERVAL: Final = 60.0  # seconds; longer windows lose too much on a power cut
_JOURNAL_MAX_EVENTS: Final = 10_000_000
_ABSOLUTE_SOCKET: Final = "an absolute path such as /run/rtu/control.sock, or \"\""
_ABSOLUTE_STATE: Final = "an absolute path such as /var/lib/rtu, or \"\""
_JOURNAL_PATH: Final = ("a file name (inside the state directory) or an absolute path, "
                        "such as events.sqlite3")

LOGGING_TABLE: Final = Table("[logging]", (
    choice("level", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"),
))
SERVICE_TABLE: Final = Table("[service]", (
    # operator socket path; "" = $RUNTIME_DIRECTORY or per-user default
    string("control_socket", "", doc=_ABSOLUTE_SOCKET),
    # SIGHUP with a changed field side: "rebuild" it | "live-only": refuse
    choice("reload", ("rebuild", "live-only"), "rebuild"),
    # persistent state; "" = $STATE_DIRECTORY or per-user default
    string("state_directory", "", doc=_ABSOLUTE_STATE),
))
JOURNAL_TABLE: Final = Table("[journal]", (
    boolean("enabled", False),
    string("path", "events.sqlite3", doc=_JOURNAL_PATH),  # relative: in the state directory
    # seconds between commits; 0 = commit before sending
    number("commit_interval", 1.0, at_least=0.0, at_most=_JOURNAL_MAX_INTERVAL,
           doc=f"a number of seconds 0..{_JOURNAL_MAX_INTERVAL:g} (0: commit every event "
               "before it is sent)"),
    # events kept; beyond, the oldest are deleted and counted
    integer("max_events", 100_000, 1, _JOURNAL_MAX_EVENTS),
    # "commit": fsync at every commit | "checkpoint": only at checkpoints
    choice("fsync", ("commit", "checkpoint"), "commit"),
))
LOGGING: Final = table("logging", LOGGING_TABLE)
SERVICE: Final = table("service", SERVICE_TABLE)
JOURNAL: Final = table("journal", JOURNAL_TABLE)


@frozen
class LoggingConfig:
    level: str = LOGGING_TABLE.default("level")  # DEBUG | INFO | WARNING | ERROR


@frozen
class ServiceConfig:
    """[service]: how the outstation runs as a service (docs/service.md)."""

    control_socket: str = SERVICE_TABLE.default("control_socket")  # "" = default place
    reload: str = SERVICE_TABLE.default("reload")  # "rebuild" | "live-only"
    state_directory: str = SERVICE_TABLE.default("state_directory")  # "" = default place


@frozen
class JournalConfig:
    """[journal]: the persistent event journal (rtu/eventstore.py, docs/reliability.md)."""

    enabled: bool = JOURNAL_TABLE.default("enabled")
    path: str = JOURNAL_TABLE.default("path")  # relative: inside the state directory
    commit_interval: float = JOURNAL_TABLE.default("commit_interval")  # seconds; 0: at once
    max_events: int = JOURNAL_TABLE.default("max_events")  # beyond: oldest deleted, counted
    fsync: str = JOURNAL_TABLE.default("fsync")  # "commit" | "checkpoint"


def parse_logging(p: Reader, value: object) -> LoggingConfig:
    tbl = LOGGING_TABLE.open(p, value, "logging")
    level = p.choice(LOGGING_TABLE.key("level").value(tbl), "logging.level",
                     LOGGING_TABLE.key("level").choices, fold_case=True)
    return LoggingConfig() if level is None else LoggingConfig(level=level)


def parse_service(p: Reader, value: object) -> ServiceConfig:
    tbl = SERVICE_TABLE.open(p, value, "service")
    default = ServiceConfig()
    socket = p.string(tbl.get("control_socket", default.control_socket),
                         "service.control_socket",
                         "an absolute path such as /run/rtu/control.sock, or \"\"")
    if socket and not socket.startswith("/"):
        p.expected("service.control_socket",
                      "an absolute path such as /run/rtu/control.sock, or \"\"", socket)
        socket = None
    policy = SERVICE_TABLE.key("reload").read(p, tbl, "service")
    state = p.string(tbl.get("state_directory", default.state_directory),
                        "service.state_directory",
                        "an absolute path such as /var/lib/rtu, or \"\"")
    if state and not state.startswith("/"):
        p.expected("service.state_directory",
                      "an absolute path such as /var/lib/rtu, or \"\"", state)
        state = None
    if socket is None or policy is None or state is None:
        return default
    return ServiceConfig(control_socket=socket, reload=policy, state_directory=state)


def parse_journal(p: Reader, value: object) -> JournalConfig:
    tbl = JOURNAL_TABLE.open(p, value, "journal")
    default = JournalConfig()
    enabled, path, interval, max_events, fsync = (
        JOURNAL_TABLE.key(key).read(p, tbl, "journal")
        for key in ("enabled", "path", "commit_interval", "max_events", "fsync"))
    if path is not None and (not path.strip() or path.endswith("/") or "\0" in path):
        p.expected("journal.path", _JOURNAL_PATH, path)
        path = None
    if enabled is None or path is None or interval is None or max_events is None \
            or fsync is None:
        return default
    return JournalConfig(enabled=enabled, path=path, commit_interval=interval,
                         max_events=max_events, fsync=fsync)
