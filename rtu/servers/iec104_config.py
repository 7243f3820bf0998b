"""The ``[iec104]`` section: the 104 server, its TLS and its redundancy groups.

Declared once in :data:`SECTION`; the APCI parameters (k, w, t0..t3) and max_connections take
their defaults from the server's own settings classes. rtu/servers/tls.py (and with it the
loading of certificates) is imported only when the file has an ``[iec104.tls]`` table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Final

from rtu.config.reader import MISSING, Reader, parse_listen
from rtu.config.schema import (
    Table,
    array,
    boolean,
    choice,
    default_of,
    integer,
    number,
    seconds,
    string,
    table,
    tables,
)
from rtu.iec.cs104.connection import ApciParameters
from rtu.servers.iec104 import MAX_SEND_DELAY_MS, Iec104Settings, RedundancyGroup

if TYPE_CHECKING:
    from rtu.servers.tls import TlsSettings

__all__ = ["IEC104", "parse_iec104"]

_ADDRESSES: Final = "IP addresses or CIDR networks"
TLS: Final = Table("[iec104.tls]", (
    boolean("enabled", True),
    string("certificate", doc="the path of a PEM file"),
    string("private_key", doc="the path of a PEM file"),
    string("ca_file", doc="the path of a PEM file"),
    array("allowed_fingerprints", ("string",), [],
          doc="SHA-256 certificate fingerprints: 64 hex digits, colons allowed"),
    choice("min_version", ("1.2", "1.3"), "1.2"),
    string("crl_file", "", doc="the path of a PEM file of certificate revocation lists"),
    integer("expiry_warning_days", 30, 0, 3650),
))
REDUNDANCY_GROUP: Final = Table("[[iec104.redundancy_groups]]", (
    string("name", required=True), array("masters", ("string",), [], doc=_ADDRESSES),
))
SECTION: Final = Table("[iec104]", (
    boolean("enabled", True),
    string("listen", "127.0.0.1:2404", doc="HOST:PORT such as 127.0.0.1:2404 or [::1]:2404"),
    integer("k", default_of(ApciParameters, "k"), 1),
    integer("w", default_of(ApciParameters, "w"), 1),
    *(seconds(name, default_of(ApciParameters, name)) for name in ("t0", "t1", "t2", "t3")),
    integer("max_connections", default_of(Iec104Settings, "max_connections"), 1),
    integer("max_connections_per_address",
            default_of(Iec104Settings, "max_connections_per_address"), 1),
    seconds("startdt_timeout", default_of(Iec104Settings, "startdt_timeout")),
    number("send_delay_ms", default_of(Iec104Settings, "send_delay_ms"), at_least=0.0,
           at_most=MAX_SEND_DELAY_MS,
           doc="ms a connection that has just written holds its next events (0 = off)"),
    array("allowed_masters", ("string",), [], doc=_ADDRESSES),
    table("tls", TLS),
    tables("redundancy_groups", REDUNDANCY_GROUP),
))
IEC104: Final = table("iec104", SECTION)


def parse_iec104(p: Reader, value: object) -> Iec104Settings | None:
    tbl = SECTION.open(p, value, "iec104")
    errors_before = len(p.errors)
    enabled = SECTION.key("enabled").read(p, tbl, "iec104")
    listen_text = p.string(SECTION.key("listen").value(tbl), "iec104.listen",
                              "HOST:PORT such as 127.0.0.1:2404 or [::1]:2404")
    listen: tuple[str, int] | None = None
    if listen_text is not None:
        try:
            listen = parse_listen(listen_text)
        except ValueError as exc:
            p.error("iec104.listen", str(exc))
    k, w, t0, t1, t2, t3 = (SECTION.key(name).read(p, tbl, "iec104")
                            for name in ("k", "w", "t0", "t1", "t2", "t3"))
    max_connections = SECTION.key("max_connections").read(p, tbl, "iec104")
    per_address = SECTION.key("max_connections_per_address").read(p, tbl, "iec104")
    startdt_timeout = SECTION.key("startdt_timeout").read(p, tbl, "iec104")
    send_delay_ms = SECTION.key("send_delay_ms").read(p, tbl, "iec104")
    allowed = p.addresses(SECTION.key("allowed_masters").value(tbl),
                          "iec104.allowed_masters")
    tls = _tls(p, tbl.get("tls", MISSING), load=bool(enabled))
    redundancy = _redundancy_groups(p, tbl.get("redundancy_groups", MISSING))
    if k is None or w is None or t0 is None or t1 is None or t2 is None or t3 is None:
        return None
    try:  # the checks across k, w and the timeouts (t2 < t1) are ApciParameters' own
        apci = ApciParameters(k=k, w=w, t0=t0, t1=t1, t2=t2, t3=t3)
    except ValueError as exc:
        p.error("iec104", str(exc))
        return None
    if (len(p.errors) > errors_before or listen is None or max_connections is None
            or allowed is None or redundancy is None or per_address is None
            or startdt_timeout is None or send_delay_ms is None):
        return None
    try:
        settings = Iec104Settings(
            host=listen[0], port=listen[1], apci=apci, max_connections=max_connections,
            max_connections_per_address=per_address, startdt_timeout=startdt_timeout,
            allowed_masters=allowed, tls=tls, redundancy_groups=redundancy,
            send_delay_ms=float(send_delay_ms),
        )
    except ValueError as exc:
        p.error("iec104", str(exc))
        return None
    return settings if enabled else None


def _redundancy_groups(p: Reader, value: object) -> tuple[RedundancyGroup, ...] | None:
    """[[iec104.redundancy_groups]] (IEC 60870-5-104 ed. 2)."""
    groups: list[RedundancyGroup] = []
    ok = True
    first: dict[str, int] = {}
    catch_all: int | None = None
    for i, item in enumerate(p.array_of_tables(value, "iec104.redundancy_groups")):
        path = f"iec104.redundancy_groups[{i}]"
        if not isinstance(item, Mapping):
            p.expected(path, "a table ([[iec104.redundancy_groups]])", item)
            ok = False
            continue
        tbl = p.table(item, path, REDUNDANCY_GROUP.names, "[[iec104.redundancy_groups]]")
        name = p.unique_name(tbl, path, i, first, "redundancy group",
                                "iec104.redundancy_groups")
        masters = p.addresses(tbl.get("masters", []), f"{path}.masters")
        if masters == () and catch_all is not None:
            p.expected(f"{path}.masters", "master addresses (only one group may leave "
                          f"them empty: iec104.redundancy_groups[{catch_all}] does)", [])
            masters = None
        elif masters == ():
            catch_all = i
        if name is None or masters is None:
            ok = False
            continue
        groups.append(RedundancyGroup(name=name, masters=masters))
    return tuple(groups) if ok else None


def _tls(p: Reader, value: object, *, load: bool) -> TlsSettings | None:
    """[iec104.tls] (IEC 62351-3); with ``load``, the files are read as the server will."""
    if value is MISSING:
        return None
    path = "iec104.tls"
    from rtu.servers import tls  # optional: only a file with [iec104.tls] loads it
    tbl = p.table(value, path, TLS.names, "[iec104.tls]")
    errors_before = len(p.errors)
    enabled = TLS.key("enabled").read(p, tbl, path)
    files: dict[str, str] = {}
    for key in ("certificate", "private_key", "ca_file"):
        expectation = "the path of a PEM file"
        if key not in tbl:
            if enabled:
                p.missing(f"{path}.{key}", expectation)
            continue
        text = p.string(tbl[key], f"{path}.{key}", expectation)
        if text:
            # relative paths are relative to the configuration file's directory
            files[key] = os.path.join(os.path.dirname(p.source), os.path.expanduser(text))
        elif text is not None:
            p.expected(f"{path}.{key}", expectation, text)
    min_version = TLS.key("min_version").read(p, tbl, path)
    warning_days = TLS.key("expiry_warning_days").read(p, tbl, path)
    crl_text = p.string(TLS.key("crl_file").value(tbl), f"{path}.crl_file",
                        "the path of a PEM CRL file")
    crl_file = ""
    if crl_text:
        crl_file = os.path.join(os.path.dirname(p.source), os.path.expanduser(crl_text))
        files["crl_file"] = crl_file
    fingerprints = _fingerprints(p, tls.normalise_fingerprint, tbl.get("allowed_fingerprints", []),
                                     f"{path}.allowed_fingerprints")
    if load and enabled:
        for key, file in files.items():
            if not os.path.isfile(file):
                why = "not a regular file" if os.path.exists(file) else "no such file"
                p.error(f"{path}.{key}", f"{file}: {why}")
    if len(p.errors) > errors_before or not enabled:
        return None
    assert min_version is not None and fingerprints is not None and warning_days is not None
    settings: TlsSettings = tls.TlsSettings(certificate=files["certificate"], private_key=files["private_key"],
                           ca_file=files["ca_file"], allowed_fingerprints=fingerprints,
                           min_version=min_version, crl_file=crl_file,
                           expiry_warning_days=warning_days)
    if load:
        try:
            tls.server_context(settings)
        except tls.TlsConfigError as exc:
            p.error(path, str(exc))
            return None
    return settings


def _fingerprints(p: Reader, normalise: Callable[[str], str | None], value: object,
                  path: str) -> tuple[str, ...] | None:
    expectation = "a SHA-256 certificate fingerprint: 64 hex digits, colons allowed"
    if not isinstance(value, list):
        p.expected(path, "an array of SHA-256 certificate fingerprints", value)
        return None
    entries: list[str] = []
    for i, entry in enumerate(value):
        digits = normalise(entry) if isinstance(entry, str) else None
        if digits is None:
            p.expected(f"{path}[{i}]", expectation, entry)
            return None
        entries.append(digits)
    return tuple(entries)
