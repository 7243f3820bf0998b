"""The operator socket: a unix socket served by the running outstation, and its client.

Protocol: JSON lines. The client sends one object per line, ``{"command": NAME, ...}``, and
reads one object per line back: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
"why"}``. Commands:

* ``status``: masters connected (address, data transfer, queued and unacknowledged events,
  overflows), event groups and their backlogs, the event journal (stored, restored,
  overflowed, commits), sources (running, restarts), the 101 line, health and watchdog,
  reloads and the last error;
* ``points`` (optional ``filter``: a glob on the name): every point with its value, quality
  flags and time stamp;
* ``sim_set`` (``name``, ``value``): drive a simulated point (``source = "sim"``) like
  ``SimulatedField.set``; any other point is refused;
* ``reload``: reload the configuration file and answer once it is done: what changed, or
  (``ok: false``) why the file was refused (``rtu reload``, the unit's ExecReload);
* ``config``: the running configuration in the form ``rtu diff`` compares (rtu/configdiff.py);
* ``point_list``: the point definitions as ``rtu points export`` writes them.

Where the socket is (:func:`control_socket_path`, the server's choice, and
:func:`find_control_socket`, the client's search): ``[service] control_socket`` when
configured, else ``$RUNTIME_DIRECTORY/control.sock`` (systemd's ``RuntimeDirectory=rtu``:
``/run/rtu/control.sock``), else ``control-HASH.sock`` in ``$XDG_RUNTIME_DIR/rtu`` or
``/tmp/rtu-$UID``, HASH derived from the state directory so that two outstations never share
a socket. The socket is mode 0660: root and members of the service's group may use it (the
unit's ``RuntimeDirectoryMode=0750`` keeps everyone else out). The client talks only to a
socket that it trusts: the socket and its directory owned by root, the invoking user or the
service user, the directory not writable by others.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import math
import os
import pwd
import socket
import stat
import struct
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rtu.components import server_components
from rtu.health import signal_rows, source_devices
from rtu.iec.asdu.types import DoublePointValue
from rtu.points.database import UnknownPointError
from rtu.points.model import Point, PointKind, PointValue, Quality
from rtu.points.protection import describe
from rtu.points.timestamps import utc_datetime
from rtu.sources.simulated.source import SimulatedField
from rtu.startup import sha256

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

log = logging.getLogger(__name__)

SOCKET_NAME: Final = "control.sock"
SOCKET_MODE: Final = 0o660
MAX_REQUEST: Final = 64 * 1024  # octets of one request line
CLIENT_TIMEOUT: Final = 5.0
SIM_SOURCE: Final = "sim"
SERVICE_USER: Final = "rtu"  # the system user deploy/install.sh creates for the unit


class ControlError(Exception):
    """The operator request failed: no socket, no answer, or the outstation said no."""


# -- where the socket is ---------------------------------------------------------------------------
def _runtime_directory(environ: Mapping[str, str]) -> str:
    # systemd joins several RuntimeDirectory= entries with ':'; ours is the first
    return environ.get("RUNTIME_DIRECTORY", "").split(":")[0]


def _user_socket_directories(env: Mapping[str, str], user: int) -> list[Path]:
    """Where per-user (not systemd) outstations put their sockets."""
    xdg = env.get("XDG_RUNTIME_DIR", "")
    dirs = [Path(xdg) / "rtu"] if xdg else []
    dirs.append(Path(f"/tmp/rtu-{user}"))
    return dirs


def instance_socket_name(state_dir: Path) -> str:
    """The socket file name of the outstation keeping its state in ``state_dir``: two
    outstations of one user (two sites, two test runs) never share a socket."""
    digest = sha256(str(state_dir.absolute()).encode()).hexdigest()[:12]
    return f"control-{digest}.sock"


def default_socket_paths(environ: Mapping[str, str] | None = None,
                         uid: int | None = None) -> list[Path]:
    """Where a socket is looked for when none is configured, in order (a per-user directory
    stands for every socket in it: ``control*.sock``)."""
    env = os.environ if environ is None else environ
    user = os.getuid() if uid is None else uid
    paths: list[Path] = []
    runtime = _runtime_directory(env)
    if runtime:
        paths.append(Path(runtime) / SOCKET_NAME)
    paths.append(Path("/run/rtu") / SOCKET_NAME)  # the systemd service's, seen by an operator
    paths.extend(d / "control*.sock" for d in _user_socket_directories(env, user))
    return list(dict.fromkeys(paths))


def control_socket_path(configured: str = "", environ: Mapping[str, str] | None = None,
                        uid: int | None = None, state_dir: Path | None = None) -> Path:
    """The path the server binds: configured, else $RUNTIME_DIRECTORY (systemd's, one per
    unit), else a per-user directory and a name derived from the state directory."""
    env = os.environ if environ is None else environ
    if configured:
        return Path(configured)
    runtime = _runtime_directory(env)
    if runtime:
        return Path(runtime) / SOCKET_NAME
    user = os.getuid() if uid is None else uid
    name = instance_socket_name(state_dir) if state_dir is not None else SOCKET_NAME
    return _user_socket_directories(env, user)[0] / name


def trusted_users(uid: int | None = None) -> set[int]:
    """Who may own an operator socket and its directory: root, the invoking user and the
    service user (``rtu``, when it exists)."""
    users = {0, os.getuid() if uid is None else uid}
    with contextlib.suppress(KeyError):
        users.add(pwd.getpwnam(SERVICE_USER).pw_uid)
    return users


def untrusted_reason(path: Path, uid: int | None = None) -> str | None:
    """Why the socket at ``path`` may not be ours (None: it is trusted): the socket and its
    directory must be owned by a trusted user (:func:`trusted_users`), the directory must not
    let others replace the socket (not writable by group or others unless sticky), and the
    socket itself must not be a symbolic link."""
    users = trusted_users(uid)
    try:
        info = os.lstat(path)
        parent = os.stat(path.parent)
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if stat.S_ISLNK(info.st_mode):
        return f"{path} is a symbolic link"
    if info.st_uid not in users:
        return f"{path} is owned by uid {info.st_uid}, not by root, you or {SERVICE_USER}"
    if parent.st_uid not in users:
        return (f"its directory {path.parent} is owned by uid {parent.st_uid}, not by root, "
                f"you or {SERVICE_USER}")
    if parent.st_mode & 0o022 and not parent.st_mode & stat.S_ISVTX:
        return f"its directory {path.parent} is writable by others"
    return None


def find_control_socket(explicit: str | None = None,
                        environ: Mapping[str, str] | None = None,
                        uid: int | None = None) -> Path:
    """The client's choice: ``explicit``, ``$RTU_CONTROL_SOCKET``, else the first place of
    :func:`default_socket_paths` with a trusted socket that answers (a socket file left by a
    process that died does not count; an untrusted one is passed over and named). Several
    instance sockets answering in one directory: ControlError listing them (use --socket).
    ControlError names every place tried."""
    env = os.environ if environ is None else environ
    if explicit:
        return Path(explicit)
    if env.get("RTU_CONTROL_SOCKET"):
        return Path(env["RTU_CONTROL_SOCKET"])
    tried = default_socket_paths(env, uid)
    stale: list[Path] = []
    refused: list[str] = []
    for pattern in tried:
        candidates = sorted(pattern.parent.glob(pattern.name)) if "*" in pattern.name \
            else [pattern]
        answering: list[Path] = []
        for path in candidates:
            with contextlib.suppress(OSError):
                if not stat.S_ISSOCK(path.lstat().st_mode) and not path.is_symlink():
                    continue
                reason = untrusted_reason(path, uid)
                if reason is not None:
                    refused.append(reason)
                elif _answers(path):
                    answering.append(path)
                else:
                    stale.append(path)
        if len(answering) == 1:
            return answering[0]
        if answering:
            raise ControlError("several outstations answer: "
                               + ", ".join(str(p) for p in answering)
                               + "; choose one with --socket PATH")
    left = f"; nobody answers at {', '.join(map(str, stale))}" if stale else ""
    untrusted = f"; refused (not trusted): {'; '.join(refused)}" if refused else ""
    raise ControlError("no running outstation found: no control socket at "
                       + ", ".join(str(p) for p in tried) + left + untrusted
                       + " (is it running? as another user? use --socket PATH)")


# -- client ----------------------------------------------------------------------------------------
def request(path: Path, message: Mapping[str, Any], timeout: float = CLIENT_TIMEOUT) -> Any:
    """Send one request and return its ``result``; ControlError on any failure, and before
    anything is sent when the socket is not trusted (:func:`untrusted_reason`)."""
    reason = untrusted_reason(path)
    if reason is not None:
        raise ControlError(f"refusing the operator socket: {reason}; another user may have "
                           "planted it (is the outstation running?)")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except PermissionError as exc:
        raise ControlError(f"{path}: {exc.strerror}: run as root or as a member of the "
                           "service's group") from None
    except OSError as exc:
        raise ControlError(f"{path}: {exc.strerror or exc}") from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlError(f"{path}: not an answer: {data[:80]!r}") from None
    if not isinstance(answer, dict):
        raise ControlError(f"{path}: not an answer: {answer!r}")
    if not answer.get("ok"):
        raise ControlError(str(answer.get("error", "refused")))
    return answer.get("result")


# -- server ----------------------------------------------------------------------------------------
class ControlServer:
    """Serves the operator socket for one supervisor."""

    def __init__(self, supervisor: Supervisor, path: Path) -> None:
        self.supervisor = supervisor
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._inode: int | None = None
        self.peer = "operator"  # who sent the request being handled (for the audit)

    async def start(self) -> None:
        """Bind the socket; OSError if it cannot be (e.g. another instance serves it)."""
        path = self.path
        _prepare_directory(path.parent)
        if path.exists() or path.is_symlink():
            if _answers(path):
                raise OSError(f"another outstation is already serving {path}")
            path.unlink()  # stale, from a process that died
        self._server = await asyncio.start_unix_server(self._client, path=str(path),
                                                       limit=MAX_REQUEST)
        os.chmod(path, SOCKET_MODE)
        self._inode = path.stat().st_ino
        log.info("operator socket: %s", path)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        with contextlib.suppress(OSError):
            # only our own socket: a newer instance may have replaced it
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):  # not wait_for: gh-86296 (3.11)
                await server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    writer.write(_answer_error("request too long"))
                    break
                if not line:
                    break
                monitor = _monitor_request(line)
                if monitor is not None:  # `rtu monitor`: a stream of frames, not an answer
                    from rtu.monitor import serve

                    await serve(self.supervisor, monitor, reader, writer)
                    break
                self.peer = _peer(writer)
                if _is_reload(line):
                    writer.write(await self._reload())
                else:
                    writer.write(self.handle_line(line))
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def _reload(self) -> bytes:
        """The ``reload`` command: answered when the reload is over (one at a time)."""
        from rtu.reload import ReloadError

        try:
            changed = await self.supervisor.reload()
        except ReloadError as exc:
            return _answer_error(str(exc))
        except Exception as exc:  # the operator must get an answer, the loop must go on
            log.exception("operator reload failed")
            return _answer_error(f"internal error: {exc}")
        return (json.dumps({"ok": True, "result": {
            "changed": changed, "hash": self.supervisor.config.digest or None,
        }}) + "\n").encode()

    def handle_line(self, line: bytes) -> bytes:
        """One request line -> one answer line (never raises)."""
        try:
            message = json.loads(line)
        except ValueError:
            return _answer_error("not JSON")
        if not isinstance(message, dict):
            return _answer_error("expected a JSON object")
        try:
            result = self.handle(message)
        except ControlError as exc:
            return _answer_error(str(exc))
        except Exception as exc:  # the operator must get an answer, the loop must go on
            log.exception("operator request %r failed", message.get("command"))
            return _answer_error(f"internal error: {exc}")
        return (json.dumps({"ok": True, "result": result}) + "\n").encode()

    def handle(self, message: Mapping[str, Any]) -> Any:
        command = message.get("command")
        sup = self.supervisor
        if command == "status":
            return status_snapshot(sup)
        if command == "points":
            pattern = message.get("filter") or "*"
            if not isinstance(pattern, str):
                raise ControlError("filter must be a string")
            return points_snapshot(sup, pattern)
        if command == "sim_set":
            name, value = message.get("name"), message.get("value")
            if not isinstance(name, str) or not isinstance(value, str | int | float | bool):
                raise ControlError("sim_set needs a point name and a value")
            return sim_set(sup, name, value)
        if command == "soe":
            return soe_rows(sup, message)
        if command in ("substitute", "block", "release"):
            return operator_action(sup, command, message, self.peer)
        if command == "config":
            from rtu.configdiff import summary

            return summary(sup.config)
        if command == "point_list":
            from rtu.points.csvfile import point_rows

            return point_rows(sup.config.points)
        raise ControlError(f"unknown command {command!r}; expected status, points, sim_set, "
                           "soe, substitute, block, release, reload, config or point_list")


def _is_reload(line: bytes) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("command") == "reload"


def _peer(writer: asyncio.StreamWriter) -> str:
    """``uid N (name), pid P`` of the process at the other end of the unix socket."""
    sock = writer.get_extra_info("socket")
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, _ = struct.unpack("3i", raw)
    except (AttributeError, OSError):
        return "operator (unknown user)"
    try:
        import pwd

        name = pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        name = "?"
    return f"uid {uid} ({name}), pid {pid}"


def _monitor_request(line: bytes) -> dict[str, Any] | None:
    with contextlib.suppress(ValueError):
        message = json.loads(line)
        if isinstance(message, dict) and message.get("command") == "monitor":
            return message
    return None


def _answer_error(text: str) -> bytes:
    return (json.dumps({"ok": False, "error": text}) + "\n").encode()


def _answers(path: Path) -> bool:
    """Whether something accepts connections on ``path``."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _prepare_directory(directory: Path) -> None:
    """Create the socket's directory (0700 when we create it); a per-user directory in /tmp
    must be ours and not writable by others, or someone could plant a socket there."""
    if not directory.exists():
        directory.mkdir(mode=0o700, parents=True)
        return
    if str(directory).startswith("/tmp/"):
        info = directory.stat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            raise OSError(f"{directory} is not ours or is writable by others; refusing it")


# -- what the commands report ----------------------------------------------------------------------
def quality_text(quality: Quality) -> str:
    names = [flag.name for flag in Quality if flag and flag in quality and flag.name]
    return "|".join(names) if names else "ok"


def time_text(timestamp: float) -> str:
    if not timestamp:
        return "-"
    moment = utc_datetime(timestamp)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _value_json(kind: PointKind, value: bool | float) -> bool | int | float | str:
    if kind.is_protection:  # one int packing flags and times: shown as text
        return describe(kind, int(value))
    if isinstance(value, float) and math.isnan(value):  # NaN is not JSON
        return "nan"
    return value


def points_snapshot(sup: Supervisor, pattern: str = "*") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for point in sorted(sup.db, key=lambda p: p.ioa):
        if not fnmatch.fnmatchcase(point.name, pattern):
            continue
        pv: PointValue = sup.db.value(point.name)
        rows.append({
            "name": point.name, "ioa": point.ioa, "kind": point.kind.value,
            "value": _value_json(point.kind, pv.value), "quality": quality_text(pv.quality),
            "time": time_text(pv.timestamp), "source": point.source or "-",
        })
    return rows


def status_snapshot(sup: Supervisor) -> dict[str, Any]:
    outstation = sup.outstation
    # the servers report their own state (no reaching into connections or sessions here);
    # every registered server has its key, null when the configuration does not enable it
    servers: dict[str, object] = {c.name: None for c in server_components()}
    servers.update({name: server.status() for name, server in sup.servers.items()})
    masters = [master for server in sup.servers.values() for master in server.masters()]
    running = {id(source): not task.done() for source, task in sup.source_tasks()}
    # a source may say how its field side is doing (status(): e.g. an IEC 61850 device's link)
    sources: list[dict[str, object]] = []
    devices = source_devices(sup)  # every field device's communication state (rtu/health.py)
    for source in sup.sources:
        entry: dict[str, object] = {"name": source.name,
                                    "running": running.get(id(source), False),
                                    "restarts": sup.restarts.get(source.name, 0)}
        state = _source_state(source) or _devices_state(source.name, devices)
        if state:
            entry["state"] = state
        sources.append(entry)
    dog = sup.watchdog
    origin = sup.config.origin
    return {
        "config": sup.config.source,
        # the one hash of the running configuration: SHA-256 of the main file as loaded
        # ("" for the bench profile); deploy/ansible compares it with the pushed file's
        "config_sha256": sup.config.digest,
        "configuration": {
            "path": sup.config.source,
            "loaded_at": time_text(origin.loaded_at) if origin is not None else None,
            "files": [f.path for f in origin.files] if origin is not None else [],
            "fallback": sup.config_fallback,
        },
        "version": software_version(),
        "common_address": sup.config.station.common_address,
        "points": len(sup.db),
        "queued_events": outstation.queued_events(),
        "clock": outstation.clock_status(),
        "events_lost": outstation.events_lost_status(),
        "masters": masters,
        **servers,
        "groups": outstation.group_status(),
        "sources": sources,
        "devices": [{"name": d.name, "kind": d.kind, "source": d.source,
                     "communication": "OK" if d.ok else "unknown" if d.ok is None else "FAILED",
                     "detail": d.detail}
                    for d in devices],
        "health_signals": signal_rows(sup.health.signals(), sup.health.bindings),
        "health": {
            "healthy": dog.healthy if dog is not None else True,
            "failure": dog.failure if dog is not None else None,
            "watchdog_sec": dog.timeout if dog is not None else None,
            "pings": dog.pings if dog is not None else 0,
        },
        "journal": sup.journal.status() if sup.journal is not None else None,
        "soe": sup.soe.status() if sup.soe is not None else None,
        "files": outstation.files.status() if outstation.files is not None else None,
        "journal_unavailable": sup.journal_unavailable,
        "reloads": sup.reloads,
        "resets": sup.resets,
        "reload_error": sup.reload_error,
        "last_error": sup.last_error,
        "uptime": round(time.monotonic() - sup.started_at, 1),
    }


def software_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("rtu-outstation")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _source_state(source: object) -> str:
    """What a source says about its field side: ``status()`` (IEC 61850 devices) or ``health``
    (DLMS meters); "" when it says nothing."""
    status = getattr(source, "status", None)
    if callable(status):
        return str(status())
    health = getattr(source, "health", None)
    return health if isinstance(health, str) else ""


def _devices_state(source: str, devices: list[Any]) -> str:
    """A source without a state of its own (a Modbus bus): how many of its devices are OK."""
    mine = [d for d in devices if d.source == source and d.name != source]
    if not mine:
        return ""
    if len(mine) == 1:
        return str(mine[0].detail)
    ok = sum(1 for d in mine if d.ok)
    return f"{ok}/{len(mine)} devices communicating"


def status_line(sup: Supervisor) -> str:
    """The one-line summary systemd shows (``STATUS=``)."""
    masters = sum(len(server.masters()) for server in sup.servers.values())
    parts = [f"CONFIGURATION FALLBACK ACTIVE: {sup.config_fallback}"] \
        if sup.config_fallback else []
    parts += [f"{masters} master{'s' if masters != 1 else ''} connected",
             f"{len(sup.db)} points", f"{sup.outstation.queued_events()} queued events"]
    for server in sup.servers.values():
        parts.extend(server.summary())
    journal = sup.journal
    if sup.journal_unavailable:
        parts.append("RUNNING WITHOUT PERSISTENCE (event journal unavailable)")
    if journal is not None:
        if journal.last_error:
            parts.append(f"event journal failing: {journal.last_error}")
        if journal.store.overflowed:
            parts.append(f"event journal overflowed: {journal.store.overflowed} events")
    if sup.reload_error:
        parts.append(f"reload failed: {sup.reload_error}")
    elif sup.last_error:
        parts.append(f"last error: {sup.last_error}")
    return ", ".join(parts)


_TRUE: Final = {"1", "true", "on", "yes"}
_FALSE: Final = {"0", "false", "off", "no"}
_DPI: Final = {v.name.lower(): int(v) for v in DoublePointValue}


def parse_sim_value(point: Point, text: str | float | bool) -> bool | int | float:
    """The value ``text`` means for ``point``'s kind; ControlError says what was expected."""
    kind = point.kind
    raw = str(text).strip().lower()
    try:
        if kind is PointKind.SINGLE:
            if raw in _TRUE:
                return True
            if raw in _FALSE:
                return False
            raise ValueError
        if kind is PointKind.DOUBLE:
            if raw in _DPI:
                return _DPI[raw]
            value = int(raw, 0)
            if not 0 <= value <= 3:
                raise ValueError
            return value
        if kind in (PointKind.FLOAT, PointKind.NORMALIZED):
            return float(raw)
        return int(raw, 0)
    except ValueError:
        expected = {
            PointKind.SINGLE: "on/off, true/false or 1/0",
            PointKind.DOUBLE: "off, on, indeterminate or 0..3",
            PointKind.FLOAT: "a number", PointKind.NORMALIZED: "a number in -1..1",
        }.get(kind, "an integer")
        raise ControlError(f"{point.name} is a {kind.value} point: expected {expected}, "
                           f"got {text!r}") from None


def soe_rows(sup: Supervisor, message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``soe``: rows of the sequence-of-events log; ``since``/``until`` POSIX seconds,
    ``point`` a glob, ``limit`` at most rtu.soe.MAX_QUERY_ROWS."""
    from rtu.soe import MAX_QUERY_ROWS, SoeError, read_file

    if sup.soe is None:
        raise ControlError("no sequence-of-events log: [soe] is off (enabled = \"auto\" needs "
                           "a state directory: run under systemd or set [service] "
                           "state_directory)")
    since, until = message.get("since"), message.get("until")
    point, limit = message.get("point", "*"), message.get("limit", 1000)
    for bound in (since, until):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise ControlError("since and until must be POSIX seconds")
    if not isinstance(point, str):
        raise ControlError("point must be a glob string")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_QUERY_ROWS:
        raise ControlError(f"limit must be an integer 1..{MAX_QUERY_ROWS}")
    try:
        return read_file(sup.soe.path, since=since, until=until, point=point, limit=limit)
    except SoeError as exc:
        raise ControlError(str(exc)) from None


def operator_action(sup: Supervisor, action: str, message: Mapping[str, Any],
                    who: str) -> dict[str, Any]:
    """``substitute`` (``name``, ``value``), ``block`` (``name``), ``release`` (``name``): the
    commissioning overrides of rtu/points/database.py, each recorded by the audit."""
    name = message.get("name")
    if not isinstance(name, str):
        raise ControlError(f"{action} needs a point name")
    point = _known_point(sup, name)
    now = time.time()
    try:
        if action == "substitute":
            raw = message.get("value")
            if not isinstance(raw, str | int | float | bool):
                raise ControlError("substitute needs a value")
            pv = sup.db.substitute(name, parse_sim_value(point, raw), timestamp=now)
        elif action == "block":
            pv = sup.db.block(name, timestamp=now)
        else:
            pv = sup.db.release(name, timestamp=now)
    except ValueError as exc:
        raise ControlError(str(exc)) from None
    shown = _value_json(point.kind, pv.value)
    if sup.audit is not None:
        sup.audit.operator(action, name, point.ioa, str(shown), who)
    return {"name": name, "value": shown, "quality": quality_text(pv.quality),
            "time": time_text(pv.timestamp)}


def _known_point(sup: Supervisor, name: str) -> Point:
    try:
        return sup.db.point(name)
    except UnknownPointError:
        close = fnmatch.filter((p.name for p in sup.db), f"*{name}*")[:5]
        hint = f" (similar: {', '.join(close)})" if close else ""
        raise ControlError(f"no point {name!r}{hint}") from None


def sim_set(sup: Supervisor, name: str, text: str | float | bool) -> dict[str, Any]:
    point = _known_point(sup, name)
    if point.source != SIM_SOURCE:
        fed = f"source = {point.source!r}" if point.source else "no source (command/feedback)"
        raise ControlError(f"{name} is not simulated ({fed}); only points with source = "
                           "\"sim\" can be set")
    value = parse_sim_value(point, text)
    sup.provided(SimulatedField).set(name, value)
    pv = sup.db.value(name)
    return {"name": name, "value": _value_json(point.kind, pv.value), "quality": quality_text(pv.quality),
            "time": time_text(pv.timestamp)}


# -- text for the terminal -------------------------------------------------------------------------
def table(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> str:
    """A plain left-aligned text table with a header."""
    cells = [[str(c).upper() for c in columns]]
    cells += [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if value is None:
        return "-"
    return str(value)


def format_status(status: Mapping[str, Any]) -> str:
    out = [(f"config {status['config']}, common address {status['common_address']}, "
            f"{status['points']} points, {status['queued_events']} queued events, "
            f"up {status['uptime']:.0f} s, {status['reloads']} reload(s)"
            + (f", {status['resets']} reset(s) by a master" if status.get("resets") else ""))]
    conf = status.get("configuration") or {}
    if conf:
        out.append(f"configuration {conf['path']}, sha256 {(status.get('config_sha256') or '-')[:16]}, loaded "
                   f"{conf['loaded_at'] or '-'}; software {status.get('version', '?')}")
        if conf.get("fallback"):
            out.append(f"CONFIGURATION FALLBACK ACTIVE (last-known-good running): "
                       f"{conf['fallback']}")
    health = status["health"]
    dog = (f"watchdog {health['watchdog_sec']:g} s, {health['pings']} pings"
           if health["watchdog_sec"] else "no systemd watchdog")
    out.append(("healthy" if health["healthy"] else f"UNHEALTHY: {health['failure']}")
               + f" ({dog})")
    clock = status.get("clock")
    if clock:
        sync = [name for name, key in (("NTP", "system_synchronised"),
                                       ("a master", "master_synchronised")) if clock[key]]
        out.append(f"clock {'synchronised by ' + ' and '.join(sync) if sync else 'NOT SYNCHRONISED'}"
                   f" ({clock['time_tags']} time tags, clock sync {clock['mode']}, offset "
                   f"{clock['offset']:+g} s)")
    lost = status.get("events_lost")
    if lost and lost["active"]:
        out.append(f"EVENTS LOST in {', '.join(lost['awaiting_interrogation'])} "
                   f"({lost['point'] or 'no events_lost_ioa'} ON until interrogated)" + "".join(
                       f"; station {ca}: {t['point']} (IOA {t['ioa']}) ON"
                       for ca, t in (lost.get("stations") or {}).items() if t["active"]))
    if status.get("reload_error"):
        out.append(f"last reload failed: {status['reload_error']}")
    if status.get("last_error"):
        out.append(f"last error: {status['last_error']}")
    iec104 = status.get("iec104")
    if iec104:
        state = "listening" if iec104["listening"] else "NOT LISTENING"
        out.append(f"\n104 {iec104['listen']} {state}: {iec104['connections']}/"
                   f"{iec104['max_connections']} connections, {iec104['refused']} refused"
                   + (f", {iec104['switchovers']} redundancy switchovers"
                      if iec104.get("switchovers") else "")
                   + (f", {iec104['startdt_timeouts']} closed without STARTDT"
                      if iec104.get("startdt_timeouts") else "")
                   + (f", reading paused {iec104['paused_reads']} times (backed up)"
                      if iec104.get("paused_reads") else "")
                   + (f", send_delay_ms {iec104['send_delay_ms']:g} ({iec104['held_flushes']} "
                      "flushes held)" if iec104.get("send_delay_ms") else ""))
        if status["masters"]:
            out.append(table(status["masters"], ["name", "data_transfer", "queued",
                                                 "unacknowledged", "overflowed"]))
    iec101 = status.get("iec101")
    if iec101:
        out.append(f"\n101 {iec101['device']} ({iec101['mode']}): "
                   f"{'open' if iec101['open'] else 'NOT OPEN'}, link "
                   f"{'up' if iec101['link_up'] else 'down'}, {iec101['reopens']} reopens")
        stats = iec101.get("statistics") or {}
        if stats:
            out.append("  " + ", ".join(f"{k} {v}" for k, v in sorted(stats.items())))
    if status.get("journal_unavailable"):
        out.append(f"\nRUNNING WITHOUT PERSISTENCE: {status['journal_unavailable']}")
    journal = status.get("journal")
    if journal:
        out.append(f"\nevent journal {journal['path']}: {journal['stored']} stored, "
                   f"{journal['pending']} pending, {journal['restored']} restored at start-up, "
                   f"{journal['overflowed']} overflowed, {journal['commits']} commits "
                   f"(every {journal['commit_interval']:g} s, fsync at every "
                   f"{journal['fsync']}), {journal['failures']} failed"
                   + (f", {journal['skipped']} unreadable rows skipped at start-up"
                      if journal.get("skipped") else ""))
        if journal.get("last_error"):
            out.append(f"  last error: {journal['last_error']}")
    soe = status.get("soe")
    if soe:
        out.append(f"\nsequence-of-events log {soe['path']}: {soe['logged']} logged, "
                   f"{soe['pending']} pending, {soe['dropped']} dropped, {soe['pruned']} "
                   f"pruned, {soe['failures']} failed writes")
    out.append("\nevent groups")
    rows = [{"group": g["name"], "backlog": g["backlog"], "overflowed": g["overflowed"],
             "lost": f"{g.get('lost', 0)}" + (f" (CA {', CA '.join(f'{ca}: {n}' for ca, n in by.items())})" if (by := g.get("lost_by_station")) else ""),
             "sessions": ", ".join(f"{s['name']} ({s['queued']} queued)" for s in g["sessions"])
             or "-"} for g in status["groups"]]
    out.append(table(rows, ["group", "backlog", "overflowed", "lost", "sessions"]))
    out.append("\nsources")
    out.append(table([{**s, "state": s.get("state") or "-"} for s in status["sources"]],
                     ["name", "running", "restarts", "state"]))
    if status.get("devices"):
        out.append("\nfield devices")
        out.append(table(status["devices"], ["name", "kind", "communication", "detail"]))
    if status.get("health_signals"):
        out.append("\nhealth signals")
        out.append(table(status["health_signals"], ["signal", "state", "mapped"]))
    return "\n".join(out)
