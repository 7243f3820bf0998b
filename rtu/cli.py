"""Command line: `rtu run`, `rtu check`."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from rtu.config import AppConfig, ConfigError, bench_config, load_config, parse_listen

log = logging.getLogger("rtu")


def _load(path: str | None) -> AppConfig:
    return load_config(path) if path else bench_config()


def cmd_run(args: argparse.Namespace) -> int:
    try:
        config = _load(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.listen:
        if config.iec104 is None:
            print(f"{config.source}: --listen given but [iec104] is disabled", file=sys.stderr)
            return 2
        try:
            host, port = parse_listen(args.listen)
        except ValueError as exc:
            print(f"--listen: {exc}", file=sys.stderr)
            return 2
        config = dataclasses.replace(config, iec104=dataclasses.replace(config.iec104, host=host, port=port))
    if args.serial or args.link_mode:
        try:
            config = _with_serial(config, args.serial, args.link_mode)
        except ValueError as exc:
            print(f"--serial/--link-mode: {exc}", file=sys.stderr)
            return 2
    logging.basicConfig(
        level=(args.log_level or config.logging.level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from rtu.supervisor import Supervisor

    async def main() -> None:
        await Supervisor(config).run()

    try:
        asyncio.run(main())
    except OSError as exc:  # e.g. the port is taken
        log.error("cannot run: %s", exc)
        return 1
    return 0


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
    print(f"{args.file}: OK, {len(config.points)} points, {len(config.relays)} relays")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rtu", description="IEC 60870-5-101/104 RTU outstation")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the outstation (the bench profile without --config)")
    run.add_argument("--config", metavar="FILE", help="TOML configuration file")
    run.add_argument("--listen", metavar="HOST:PORT", help="104 address (bench default 127.0.0.1:2404)")
    run.add_argument("--serial", metavar="DEVICE",
                     help="also serve IEC 60870-5-101 on this serial port (9600 8E1 by default)")
    run.add_argument("--link-mode", choices=["unbalanced", "balanced"],
                     help="101 link mode (default unbalanced)")
    run.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check", help="validate a configuration file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
