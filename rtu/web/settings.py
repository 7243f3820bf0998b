"""The ``[web]`` section: the local diagnostics page (docs/web.md); standard library only.

Off without the section (or with ``enabled = false``). Keys::

    [web]
    listen = "127.0.0.1:8080"   # HOST:PORT; loopback by default: reach it with ssh -L
    tls = false                 # HTTPS with the station certificate of [iec104.tls]
    certificate = "..."         # or with these (PEM; relative: beside the configuration file)
    private_key = "..."
    users_file = "web-users"    # users with salted scrypt hashes (rtu web-user), mode 0600
    client_certificates = false # or: clients present a certificate of [iec104.tls] ca_file
    max_clients = 4             # live views (server-sent event streams) at once
    client_queue = 256          # updates queued per live view; beyond, the oldest are dropped
    recent_events = 1000        # point changes kept for the events page; 0: none kept

A listen address that is not loopback is refused unless ``tls = true`` and an authentication
(``users_file`` or ``client_certificates``) are configured: ``rtu check`` says so.

Every key is declared once, in :data:`WEB_TABLE` (what ``rtu config-schema`` shows);
:func:`parse_web` is called by the document's parser (rtu/config/document.py), so errors read
like every other: ``FILE:LINE: web.listen: ...``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import replace
from importlib.util import find_spec
from typing import TYPE_CHECKING, Final, Protocol

from rtu.config.reader import MISSING, Reader, parse_listen
from rtu.config.schema import Table, boolean, integer, string, table
from rtu.frozen import frozen

if TYPE_CHECKING:
    import ssl  # loaded only for a page served with TLS (rtu/startup.py)

    from rtu.web.auth import PasswordHash  # the module is read only with a users_file

__all__ = ["WEB", "WEB_TABLE", "WebSettings", "is_loopback", "parse_web", "web_tls_context",
           "with_listen"]

DEFAULT_LISTEN: Final = "127.0.0.1:8080"
_PATH: Final = "the path of a file (relative: beside the configuration file)"
WEB_TABLE: Final = Table("[web]", (
    boolean("enabled", True),
    string("listen", DEFAULT_LISTEN, doc="HOST:PORT such as 127.0.0.1:8080 or [::1]:8080"),
    boolean("tls", False),  # HTTPS with the station certificate of [iec104.tls]
    string("certificate", doc=_PATH),  # PEM; default: [iec104.tls] certificate
    string("private_key", doc=_PATH),  # PEM; default: [iec104.tls] private_key
    string("users_file", doc=_PATH),  # NAME:scrypt$... lines, mode 0600 (rtu web-user)
    boolean("client_certificates", False),  # chaining to [iec104.tls] ca_file
    integer("max_clients", 4, 1, 64),  # live views (event streams) at once
    integer("client_queue", 256, 16, 100_000),  # updates queued per live view
    integer("recent_events", 1000, 0, 100_000),  # point changes kept for the events page
))
WEB: Final = table("web", WEB_TABLE)
_EXPOSED: Final = ("{host} is not a loopback address: serving the page beyond this machine "
                   "needs tls = true and users (users_file) or client_certificates = true in "
                   "[web]; or keep 127.0.0.1 and use an SSH tunnel (ssh -L "
                   "8080:127.0.0.1:8080 rtu@station)")
_NO_AIOHTTP: Final = ("the web page needs aiohttp: install the outstation with its `web` extra "
                      "(pip install 'rtu-outstation[web]')")
_TLS_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"


class StationTls(Protocol):
    """What is reused of [iec104.tls] (rtu.servers.tls.TlsSettings)."""

    @property
    def certificate(self) -> str: ...
    @property
    def private_key(self) -> str: ...
    @property
    def ca_file(self) -> str: ...


@frozen
class WebSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    certificate: str = ""  # PEM; "" = plain HTTP (loopback only)
    private_key: str = ""
    ca_file: str = ""  # client certificates must chain to it; "" = none asked for
    users: tuple[tuple[str, PasswordHash], ...] = ()  # empty = no password asked for
    users_file: str = ""
    max_clients: int = 4
    client_queue: int = 256
    recent_events: int = 1000  # point changes the events page keeps (0: only while watched)

    @property
    def tls(self) -> bool:
        return bool(self.certificate)

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def parse_web(p: Reader, value: object, station_tls: StationTls | None) -> WebSettings | None:
    """[web] -> WebSettings, or None when absent or disabled (errors reported to ``p``).

    ``station_tls``: [iec104.tls] when configured, whose certificate and key are reused.
    """
    if value is MISSING:
        return None
    tbl = WEB_TABLE.open(p, value, "web")
    before = len(p.errors)
    enabled = WEB_TABLE.key("enabled").read(p, tbl, "web")
    if not enabled:
        return None
    host, port = "127.0.0.1", 8080
    listen = WEB_TABLE.key("listen").read(p, tbl, "web")
    if listen is not None:
        try:
            host, port = parse_listen(listen)
        except ValueError as exc:
            p.error("web.listen", str(exc))
    tls, client_certs, max_clients, queue, recent = (
        WEB_TABLE.key(key).read(p, tbl, "web")
        for key in ("tls", "client_certificates", "max_clients", "client_queue",
                    "recent_events"))
    config_dir = os.path.dirname(p.source)
    files: dict[str, str] = {}
    for key in ("certificate", "private_key", "users_file"):
        text = WEB_TABLE.key(key).read(p, tbl, "web")
        if isinstance(text, str) and text:
            files[key] = os.path.join(config_dir, os.path.expanduser(text))
        elif isinstance(text, str):
            p.expected(f"web.{key}", _PATH, text)
    certificate = private_key = ca_file = ""
    if tls:
        certificate = files.get("certificate", station_tls.certificate if station_tls else "")
        private_key = files.get("private_key", station_tls.private_key if station_tls else "")
        if not certificate or not private_key:
            p.error("web.tls", "needs the station certificate and key: configure [iec104.tls] "
                               "(reused) or web.certificate and web.private_key")
    elif "certificate" in files or "private_key" in files:
        p.error("web.certificate", "given but web.tls is false: set tls = true to use it")
    if client_certs:
        if not tls:
            p.error("web.client_certificates", "needs tls = true")
        elif station_tls is None:
            p.error("web.client_certificates", "needs [iec104.tls] ca_file: the CA client "
                                               "certificates must chain to")
        else:
            ca_file = station_tls.ca_file
    users: dict[str, PasswordHash] = {}
    if "users_file" in files:
        from rtu.web.auth import UsersFileError, read_users_file

        try:
            users = read_users_file(files["users_file"])
        except UsersFileError as exc:
            p.error("web.users_file", str(exc))
    if not is_loopback(host) and not (tls and (client_certs or "users_file" in files)):
        p.error("web.listen", _EXPOSED.format(host=host))
    if find_spec("aiohttp") is None:
        p.error("web", _NO_AIOHTTP)
    if len(p.errors) > before or max_clients is None or queue is None or recent is None:
        return None
    settings = WebSettings(host=host, port=port, certificate=certificate,
                           private_key=private_key, ca_file=ca_file,
                           users=tuple(sorted(users.items())),
                           users_file=files.get("users_file", ""), max_clients=max_clients,
                           client_queue=queue, recent_events=recent)
    if settings.tls:
        try:
            web_tls_context(settings)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            p.error("web.tls", f"certificate {certificate} with private key {private_key} does "
                               f"not load: {getattr(exc, 'strerror', None) or exc}")
            return None
    return settings


def with_listen(settings: WebSettings | None, text: str) -> WebSettings:
    """``rtu run --web HOST:PORT``: the page on that address (the [web] section's other
    settings kept, defaults without one); ValueError when the address is malformed, or is not
    loopback while the section gives no TLS and authentication."""
    host, port = parse_listen(text)
    base = settings if settings is not None else WebSettings()
    if find_spec("aiohttp") is None:
        raise ValueError(_NO_AIOHTTP)
    if not is_loopback(host) and not (base.tls and (base.users or base.ca_file)):
        raise ValueError(_EXPOSED.format(host=host))
    return replace(base, host=host, port=port)


def web_tls_context(settings: WebSettings) -> ssl.SSLContext:
    """The HTTPS server context: TLS 1.2 or newer, forward-secret AEAD ciphers; a client
    certificate is required when ``ca_file`` is set."""
    import ssl

    from rtu.startup import tls

    tls()  # ssl given to asyncio too, which the page's server hands the context to
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(_TLS_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    context.load_cert_chain(settings.certificate, settings.private_key)
    if settings.ca_file:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=settings.ca_file)
    return context
