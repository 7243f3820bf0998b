"""Command line: `rtu run`, `rtu check`; the operator's `rtu status`, `rtu points`,
`rtu sim set` (over the running outstation's unix socket, rtu/control.py) and the offline
`rtu decode` (rtu/decode.py)."""

from __future__ import annotations

from rtu.startup import import_asyncio

import_asyncio()  # rtu/startup.py: OpenSSL's libraries only when TLS is configured

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rtu.config import (
    AppConfig,
    ConfigError,
    LoggingConfig,
    bench_config,
    config_schema,
    load_config,
    parse_listen,
)

if TYPE_CHECKING:
    from rtu.supervisor import Supervisor

log = logging.getLogger("rtu")


def _load(path: str | None) -> AppConfig:
    return load_config(path) if path else bench_config()


def _overrides(args: argparse.Namespace, config: AppConfig) -> AppConfig:
    """The command line's changes to a configuration (applied again on every reload);
    ValueError names the option that does not apply."""
    if args.listen:
        if config.iec104 is None:
            raise ValueError(f"{config.source}: --listen given but [iec104] is disabled")
        try:
            host, port = parse_listen(args.listen)
        except ValueError as exc:
            raise ValueError(f"--listen: {exc}") from None
        config = dataclasses.replace(config, iec104=dataclasses.replace(config.iec104, host=host, port=port))
    if args.serial or args.link_mode:
        try:
            config = _with_serial(config, args.serial, args.link_mode)
        except ValueError as exc:
            raise ValueError(f"--serial/--link-mode: {exc}") from None
    if args.log_level:
        config = dataclasses.replace(config, logging=LoggingConfig(level=args.log_level))
    if args.web:
        from rtu.web.settings import with_listen

        try:
            config = dataclasses.replace(config, web=with_listen(config.web, args.web))
        except ValueError as exc:
            raise ValueError(f"--web: {exc}") from None
    return config


def _load_for_run(args: argparse.Namespace) -> tuple[AppConfig, AppConfig | None, bool]:
    """The configuration `rtu run` starts with, the one to cache once READY (None: not to
    be cached), and whether it came from the cache. The cache (rtu/config/cache.py) skips
    reading and checking the file when neither it nor the program changed since it was
    written."""
    if not args.config:
        return bench_config(), None, False
    if getattr(args, "no_config_cache", False):
        return load_config(args.config), None, False
    from rtu.config.cache import load_cached

    config, hit = load_cached(args.config)
    return config, None if hit else config, hit


def cmd_run(args: argparse.Namespace) -> int:
    refused: ConfigError | None = None
    to_cache: AppConfig | None = None
    cached = False
    try:
        read, to_cache, cached = _load_for_run(args)
        config = _overrides(args, read)
    except ConfigError as exc:
        fallback = _last_good(args, exc)
        if fallback is None:
            return 2
        refused, config = exc, fallback
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    from rtu.journal import setup_logging
    from rtu.reload import file_loader
    from rtu.servers.loop import run as run_loop
    from rtu.supervisor import Supervisor

    where = setup_logging(config.logging.level)
    log.debug("logging to %s", where)
    if cached:
        log.info("%s: unchanged since its validated copy was cached: started from the copy "
                 "(rtu run --no-config-cache reads the file in full)", args.config)
    if refused is not None:
        for line in refused.errors:
            log.error("configuration refused: %s", line)
        log.error("CONFIGURATION FALLBACK ACTIVE: running the last-known-good configuration "
                  "(hash %.12s); correct %s and reload", config.origin.digest
                  if config.origin else "-", args.config)
    # a reload reads the file given, also while the last-known-good copy runs
    loader = file_loader(args.config or config.source, lambda c: _overrides(args, c))

    async def main() -> None:
        supervisor = Supervisor(config, loader=loader)
        caching = None if to_cache is None else asyncio.create_task(
            _cache_when_ready(supervisor, to_cache))
        try:
            await supervisor.run()
        finally:
            if caching is not None:
                caching.cancel()

    try:
        run_loop(main())  # asyncio.run, on the loop that flushes events in their own turn
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot run: %s", exc)
        return 1
    return 0


async def _cache_when_ready(supervisor: Supervisor, config: AppConfig) -> None:
    """Write the validated configuration to the cache once READY=1 is out (off the start-up
    path; a failure is logged, never fatal)."""
    from rtu.config.cache import cache_after_ready, cache_directory
    from rtu.supervisor import release_free_memory

    await supervisor.ready.wait()
    await asyncio.to_thread(cache_after_ready, config, cache_directory())
    release_free_memory()


def _last_good(args: argparse.Namespace, exc: ConfigError) -> AppConfig | None:
    """The last-known-good configuration to run instead of the refused file (rtu/lastgood.py);
    None (the errors printed) when there is none or it cannot be used either."""
    print(exc, file=sys.stderr)
    if not args.config:
        return None
    from rtu.lastgood import load_last_good, startup_state_directory

    first = exc.errors[0] if exc.errors else str(exc)
    more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
    try:
        directory = startup_state_directory(args.config)
        fallback = load_last_good(directory, f"{first}{more}", args.config)
        if fallback is None:
            print(f"no last-known-good copy of {args.config} in {directory}: not starting",
                  file=sys.stderr)
            return None
        return _overrides(args, fallback)
    except (ConfigError, ValueError, OSError) as err:
        print(f"the last-known-good configuration cannot be used either: {err}",
              file=sys.stderr)
        return None


def _with_serial(config: AppConfig, device: str | None, mode: str | None) -> AppConfig:
    """Enable 101 on ``device`` (bench defaults: link address 1 of 1 octet, the master's 2 in
    balanced mode, COT 2, CA 2, IOA 3 octets), or change the device/mode of a configured one."""
    from rtu.iec.cs101.link import LinkMode, LinkParameters
    from rtu.servers.iec101 import Iec101Settings, SerialSettings

    current = config.iec101
    if current is None:
        if device is None:
            raise ValueError("--link-mode needs --serial DEVICE (or an [iec101] section)")
        current = Iec101Settings(
            serial=SerialSettings(device), link=LinkParameters(),
            cot_size=config.field_sizes.cot_size, ca_size=config.field_sizes.ca_size,
            ioa_size=config.field_sizes.ioa_size,
        )
    serial = dataclasses.replace(current.serial, device=device) if device else current.serial
    link = dataclasses.replace(current.link, mode=LinkMode(mode)) if mode else current.link
    return dataclasses.replace(config, iec101=dataclasses.replace(current, serial=serial, link=link))


def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from rtu.preflight import check_paths

    findings = check_paths(config)
    for kind, text in findings:
        print(f"{args.file}: {kind}: {text}", file=sys.stderr)
    if any(kind == "error" for kind, _ in findings):
        return 1
    print(f"{args.file}: OK, {len(config.points)} points, {len(config.relays)} relays"
          + (f", hash {config.origin.digest[:16]}" if config.origin is not None else ""))
    return 0


def cmd_config_schema(args: argparse.Namespace) -> int:
    print(config_schema())
    return 0


def cmd_web_user(args: argparse.Namespace) -> int:
    import getpass

    from rtu.web.auth import UsersFileError, set_user

    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("rtu web-user: the passwords differ", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    try:
        new = set_user(args.file, args.name, password)
    except (UsersFileError, ValueError, OSError) as exc:
        print(f"rtu web-user: {exc}", file=sys.stderr)
        return 2
    print(f"{args.file}: user {args.name} {'added' if new else 'password changed'}")
    return 0


def _socket(args: argparse.Namespace) -> Path:
    from rtu.control import find_control_socket

    return find_control_socket(args.socket)


def cmd_status(args: argparse.Namespace) -> int:
    from rtu.control import ControlError, format_status, request

    try:
        status = request(_socket(args), {"command": "status"})
    except ControlError as exc:
        print(f"rtu status: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


RELOAD_TIMEOUT = 25.0  # seconds; below the unit's TimeoutStartSec (30), which ExecReload has


def cmd_reload(args: argparse.Namespace) -> int:
    """Ask the running outstation to reload and wait for the outcome: exit 1 with the error
    when the file is refused (the unit's ExecReload: `systemctl reload rtu` then fails)."""
    from rtu.control import ControlError, request

    try:
        result = request(_socket(args), {"command": "reload"}, timeout=args.timeout)
    except ControlError as exc:
        print(f"rtu reload: {exc}", file=sys.stderr)
        return 1
    digest = result.get("hash") if isinstance(result, dict) else None
    changed = result.get("changed") if isinstance(result, dict) else result
    print(f"reloaded: {changed}" + (f" (hash {str(digest)[:16]})" if digest else ""))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    """What a reload of FILE would change against the running configuration."""
    from rtu.configdiff import compare, summary
    from rtu.control import ControlError, request

    try:
        new = summary(load_config(args.file))  # (the service's --listen etc. not applied)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        print(f"{args.file}: a reload would be refused; the running configuration stays",
              file=sys.stderr)
        return 2
    try:
        running = request(_socket(args), {"command": "config"})
    except ControlError as exc:
        print(f"rtu diff: {exc}", file=sys.stderr)
        return 1
    print(f"running {running['path']} (hash {str(running['hash'] or '-')[:16]}) -> "
          f"{args.file} (hash {str(new['hash'] or '-')[:16]})")
    print("\n".join(compare(running, json.loads(json.dumps(new)))))
    return 0


def cmd_points(args: argparse.Namespace) -> int:
    action = getattr(args, "points_action", None)
    if action == "export":
        return cmd_points_export(args)
    if action == "import":
        return cmd_points_import(args)
    from rtu.control import ControlError, request, table

    try:
        rows = request(_socket(args), {"command": "points", "filter": args.filter})
    except ControlError as exc:
        print(f"rtu points: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"no point matches {args.filter!r}", file=sys.stderr)
        return 1
    else:
        print(table(rows, ["name", "ioa", "kind", "value", "quality", "time", "source"]))
    return 0


def cmd_points_export(args: argparse.Namespace) -> int:
    """The point list as CSV: of ``--config FILE``, else of the running outstation."""
    from rtu.points.csvfile import point_rows, rows_to_csv

    if args.config:
        try:
            rows = point_rows(load_config(args.config).points)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 2
    else:
        from rtu.control import ControlError, request

        try:
            rows = request(_socket(args), {"command": "point_list"})
        except ControlError as exc:
            print(f"rtu points export: {exc}", file=sys.stderr)
            return 1
    text = rows_to_csv(rows)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def cmd_points_import(args: argparse.Namespace) -> int:
    """A CSV point list as ``[[points]]`` TOML (checked cell by cell and, with ``--config``,
    as part of that configuration)."""
    from rtu.points.csvfile import parse_points_csv, rows_to_toml

    try:
        raw = Path(args.file).read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        print(f"{args.file}: cannot read the file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        print(f"{args.file}: expected UTF-8 text, got byte 0x{raw[exc.start]:02X} on line "
              f"{line}", file=sys.stderr)
        return 2
    parsed = parse_points_csv(text, args.file)
    if parsed.errors:
        print("\n".join(parsed.errors), file=sys.stderr)
        return 2
    toml = rows_to_toml(parsed.tables)
    errors = _check_points(args.file, args.config) if args.config else []
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    if args.output and args.output != "-":
        Path(args.output).write_text(toml, encoding="utf-8")
    else:
        sys.stdout.write(toml)
    return 0


def _check_points(csv_path: str, config_path: str) -> list[str]:
    """The errors of ``config_path`` with its point list taken from ``csv_path``."""
    try:
        load_config(config_path, points_file=os.path.abspath(csv_path))
    except ConfigError as exc:
        return exc.errors
    return []


def cmd_sim_set(args: argparse.Namespace) -> int:
    from rtu.control import ControlError, request

    try:
        result = request(_socket(args), {"command": "sim_set", "name": args.name,
                                         "value": args.value})
    except ControlError as exc:
        print(f"rtu sim set: {exc}", file=sys.stderr)
        return 1
    print(f"{result['name']} = {result['value']} ({result['quality']}, {result['time']})")
    return 0


def cmd_soe(args: argparse.Namespace) -> int:
    from rtu.control import ControlError, request
    from rtu.soe import SoeError, parse_time, read_file, render

    try:
        since = parse_time(args.since) if args.since else None
        until = parse_time(args.until) if args.until else None
    except ValueError as exc:
        print(f"rtu soe: {exc}", file=sys.stderr)
        return 2
    try:
        if args.file:
            rows = read_file(Path(args.file), since=since, until=until, point=args.point,
                             limit=args.limit)
        else:
            rows = request(_socket(args), {"command": "soe", "since": since, "until": until,
                                           "point": args.point, "limit": args.limit},
                           timeout=30.0)
    except (ControlError, SoeError) as exc:
        print(f"rtu soe: {exc}", file=sys.stderr)
        return 1
    if not rows and args.format == "table":
        print("no entry matches", file=sys.stderr)
        return 0
    print(render(rows, args.format))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from rtu.control import ControlError
    from rtu.monitor import (
        FrameSplitter,
        MonitorError,
        PcapngWriter,
        Sizes101,
        attach,
        line,
        matches,
        parse_type,
    )

    try:
        type_id = parse_type(args.type) if args.type else None
    except ValueError as exc:
        print(f"rtu monitor: {exc}", file=sys.stderr)
        return 2
    try:
        info, chunks = attach(_socket(args), args.link, args.direction)
    except (ControlError, MonitorError) as exc:
        print(f"rtu monitor: {exc}", file=sys.stderr)
        return 1
    sizes = info.get("iec101") or {}
    splitter = FrameSplitter(Sizes101(**{k: v for k, v in sizes.items() if k != "link"}))
    pcap_file = open(args.pcap, "wb") if args.pcap else None  # noqa: SIM115 (closed below)
    pcap = PcapngWriter(pcap_file) if pcap_file else None
    shown, dropped = 0, 0
    print("monitoring (Ctrl-C to stop)", file=sys.stderr)
    try:
        for chunk in chunks:
            if chunk.get("dropped", 0) > dropped:
                dropped = int(chunk["dropped"])
                print(f"-- {dropped} chunks dropped so far (this terminal is too slow)",
                      flush=True)
            if pcap is not None:
                pcap.write(chunk)
            for seen in splitter.feed(chunk):
                if matches(seen, type_id, args.ioa) and not (args.count and shown >= args.count):
                    print(line(seen), flush=True)
                    shown += 1
            if args.count and shown >= args.count:
                break
    except KeyboardInterrupt:
        pass
    finally:
        if pcap_file is not None:
            pcap_file.close()
    return 0


def cmd_interop(args: argparse.Namespace) -> int:
    from rtu.interop import render

    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(render(config, args.format))
    return 0


def cmd_override(args: argparse.Namespace) -> int:
    """`rtu substitute NAME VALUE`, `rtu block NAME`, `rtu release NAME`."""
    from rtu.control import ControlError, request

    message = {"command": args.command, "name": args.name}
    if args.command == "substitute":
        message["value"] = args.value
    try:
        result = request(_socket(args), message)
    except ControlError as exc:
        print(f"rtu {args.command}: {exc}", file=sys.stderr)
        return 1
    print(f"{result['name']} = {result['value']} ({result['quality']}, {result['time']})")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    from rtu.decode import DecodeError, Options, Protocol, decode, parse_hex

    options = Options(protocol=Protocol(args.protocol), cot_size=args.cot_size,
                      ca_size=args.ca_size, ioa_size=args.ioa_size,
                      link_address_size=args.link_address_size)
    try:
        lines = decode(parse_hex(args.hex), options)
    except DecodeError as exc:
        print(f"rtu decode: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 1 if any(line.startswith(("error:", "incomplete:", "discarded")) for line in lines) \
        else 0


def _add_operator_commands(sub: Any) -> None:
    def socket_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--socket", metavar="PATH",
                       help="the outstation's control socket (default: found by itself in "
                            "$RUNTIME_DIRECTORY, /run/rtu, $XDG_RUNTIME_DIR/rtu or /tmp/rtu-UID; "
                            "only a socket owned by root, you or the service user is used)")

    status = sub.add_parser("status", help="masters, queues, sources and health of the running "
                                           "outstation")
    socket_option(status)
    status.add_argument("--json", action="store_true", help="print the raw JSON")
    status.set_defaults(func=cmd_status)
    points = sub.add_parser("points", help="live point values, quality flags and time stamps")
    socket_option(points)
    points.add_argument("--filter", metavar="GLOB", default="*",
                        help="only points whose name matches, e.g. 'di*'")
    points.add_argument("--json", action="store_true", help="print the raw JSON")
    points.set_defaults(func=cmd_points)
    actions = points.add_subparsers(dest="points_action", metavar="{export,import}",
                                    help="without one: the live values")
    export = actions.add_parser("export", help="write the point list as CSV (the running "
                                               "outstation's, or --config FILE's)")
    export.add_argument("--csv", action="store_true", required=True,
                        help="as CSV (columns: see docs/service.md)")
    export.add_argument("--config", metavar="FILE", help="the list of this configuration file "
                                                         "instead of the running one")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    socket_option(export)
    imp = actions.add_parser("import", help="convert a CSV point list to [[points]] TOML")
    imp.add_argument("file", metavar="FILE.csv")
    imp.add_argument("--config", metavar="FILE", help="also check it as this configuration's "
                                                      "point list")
    imp.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    reload = sub.add_parser("reload", help="reload the running outstation's configuration and "
                                           "wait for the outcome (exit 1 if refused)")
    socket_option(reload)
    reload.add_argument("--timeout", type=float, default=RELOAD_TIMEOUT, metavar="SECONDS",
                        help=f"how long to wait for the outcome (default {RELOAD_TIMEOUT:g})")
    reload.set_defaults(func=cmd_reload)
    diff = sub.add_parser("diff", help="what a reload of FILE would change in the running "
                                       "outstation")
    diff.add_argument("file")
    socket_option(diff)
    diff.set_defaults(func=cmd_diff)
    sim = sub.add_parser("sim", help="drive simulated points of the running outstation")
    sim_sub = sim.add_subparsers(dest="sim_command", required=True)
    sim_set = sim_sub.add_parser("set", help="set a simulated point (source = \"sim\")")
    socket_option(sim_set)
    sim_set.add_argument("name")
    sim_set.add_argument("value", help="on/off, true/false, 0/1, a DPI name or a number")
    sim_set.set_defaults(func=cmd_sim_set)
    mon = sub.add_parser("monitor", help="every frame on every link of the running outstation, "
                                         "live and decoded")
    socket_option(mon)
    mon.add_argument("--link", metavar="GLOB", default="*",
                     help="links whose name matches, e.g. '104:10.0.0.5:*' or '101:*'")
    mon.add_argument("--direction", choices=["rx", "tx"], help="only received or sent frames")
    mon.add_argument("--type", metavar="TYPE", help="only ASDUs of this type (M_SP_TB_1 or 30)")
    mon.add_argument("--ioa", type=int, metavar="IOA", help="only ASDUs with this object")
    mon.add_argument("--pcap", metavar="FILE",
                     help="also write what is seen (before --type/--ioa) to a pcapng capture "
                          "for Wireshark/tshark")
    mon.add_argument("--count", type=int, default=0, help="stop after this many frames shown")
    mon.set_defaults(func=cmd_monitor)
    for action, text in (("substitute", ("report a value of your choice, flagged SB, instead of "
                                         "the field's (commissioning)")),
                         ("block", ("freeze a point at its value, flagged BL (a blocked command "
                                   "point refuses commands)")),
                         ("release", "end a substitution or block: the field's value again")):
        override = sub.add_parser(action, help=text)
        socket_option(override)
        override.add_argument("name")
        if action == "substitute":
            override.add_argument("value", help="on/off, true/false, 0/1, a DPI name or a number")
        override.set_defaults(func=cmd_override)
    soe = sub.add_parser("soe", help="the sequence-of-events log: events (with the masters that "
                                     "acknowledged them), commands and operator actions")
    socket_option(soe)
    soe.add_argument("--since", metavar="TIME",
                     help="from TIME: ISO 8601 (UTC unless an offset is given) or an age: 10m, 2h")
    soe.add_argument("--until", metavar="TIME", help="up to TIME (same forms)")
    soe.add_argument("--point", metavar="GLOB", default="*", help="point names, e.g. 'di0*'")
    soe.add_argument("--format", choices=["table", "csv", "json"], default="table")
    soe.add_argument("--limit", type=int, default=1000,
                     help="at most this many entries, the newest (default 1000, at most 100000)")
    soe.add_argument("--file", metavar="PATH",
                     help="read this log file directly (no running outstation needed)")
    soe.set_defaults(func=cmd_soe)
    dec = sub.add_parser("decode", help="decode 104 APDUs or 101 FT1.2 frames given in hex")
    dec.add_argument("hex", nargs="+", help="octets in hex, e.g. 68 04 07 00 00 00")
    dec.add_argument("--protocol", choices=["auto", "104", "101"], default="auto",
                     help="auto: 10/E5/68 L L 68 is 101, another 68 is 104")
    dec.add_argument("--cot-size", type=int, choices=[1, 2], default=2, help="101: COT octets")
    dec.add_argument("--ca-size", type=int, choices=[1, 2], default=2,
                     help="101: common address octets")
    dec.add_argument("--ioa-size", type=int, choices=[1, 2, 3], default=3, help="101: IOA octets")
    dec.add_argument("--link-address-size", type=int, choices=[0, 1, 2], default=1,
                     help="101: link address octets")
    dec.set_defaults(func=cmd_decode)


def _version() -> str:
    """The installed distribution's version (what a fleet report shows per board)."""
    from importlib import metadata

    try:
        return metadata.version("rtu-outstation")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() finds it ($COLUMNS, else stdout's
    terminal, else 80), without importing shutil (and the compression modules it loads)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    """argparse's help layout; argparse makes one of these for every argument it adds, and
    the default one imports shutil each time to find the terminal's width."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         _columns() - 2 if width is None else width)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser with :class:`_Formatter` (its subcommands' parsers too)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)


class _VersionAction(argparse.Action):
    """``--version``: the installed version is looked up only when asked for (reading the
    distribution's metadata costs start-up time and memory)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"rtu {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rtu", description="IEC 60870-5-101/104 RTU outstation")
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the outstation (the bench profile without --config)")
    run.add_argument("--config", metavar="FILE", help="TOML configuration file")
    run.add_argument("--listen", metavar="HOST:PORT", help="104 address (bench default 127.0.0.1:2404)")
    run.add_argument("--serial", metavar="DEVICE",
                     help="also serve IEC 60870-5-101 on this serial port (9600 8E1 by default)")
    run.add_argument("--link-mode", choices=["unbalanced", "balanced"],
                     help="101 link mode (default unbalanced)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument("--no-config-cache", action="store_true",
                     help="read and check the configuration file in full even when the "
                          "validated copy in the state directory matches it")
    run.add_argument("--web", metavar="HOST:PORT",
                     help="serve the read-only diagnostics page there, e.g. 127.0.0.1:8080 "
                          "(docs/web.md; beyond loopback [web] must give TLS and users)")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check)
    interop = sub.add_parser("interop", help="the IEC 60870-5-101/104 interoperability list of "
                                             "a configuration (the bench profile without --config)")
    interop.add_argument("--config", metavar="FILE", help="TOML configuration file")
    interop.add_argument("--format", choices=["md", "html"], default="md")
    interop.set_defaults(func=cmd_interop)
    schema = sub.add_parser("config-schema", help="print a JSON Schema (draft 2020-12) of the "
                                                  "configuration file, for editors")
    schema.set_defaults(func=cmd_config_schema)
    _add_operator_commands(sub)
    user = sub.add_parser("web-user", help="add a user of the web page, or change its password "
                                           "(the password is read from the terminal or stdin)")
    user.add_argument("file", help="the users file ([web] users_file); created mode 0600")
    user.add_argument("name")
    user.set_defaults(func=cmd_web_user)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
