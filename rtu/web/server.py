"""The web page's server: aiohttp in the outstation's own event loop (docs/web.md).

Imported only when the page is enabled (``[web]`` or ``rtu run --web``). Pages are rendered on
the server (rtu/web/pages.py); live values arrive over server-sent events (``/api/stream/*``)
that ``static/app.js`` applies. GET and HEAD only: nothing here changes anything.

Bounds (DESIGN rule 12): at most ``max_clients`` live streams (the next gets 503 and is
counted in ``refused_streams``); each stream has an :class:`~rtu.web.feeds.Outbox` of
``client_queue`` updates (a point's newer value replaces its older one; beyond, the oldest are
dropped, counted in ``dropped`` and the view is told); a stream whose client does not take a
write within :data:`WRITE_TIMEOUT` is closed; request bodies are refused (GET only, 4 KiB
``client_max_size``); idle keep-alive connections close after :data:`KEEPALIVE_TIMEOUT`.

Security: the headers of :data:`SECURITY_HEADERS` on every answer (a Content Security Policy
without 'unsafe-inline', no framing, nosniff, no referrer); on a loopback bind the Host header
must name a loopback address or ``localhost`` (a DNS-rebinding page cannot read it); with
``users_file`` every request needs HTTP Basic credentials (only ever over TLS beyond loopback,
which the [web] section enforces).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from rtu.monitor import Sizes101
from rtu.points.model import PointChanged
from rtu.web import pages
from rtu.web.auth import Authenticator
from rtu.web.feeds import (
    EventLog,
    FrameFeed,
    Outbox,
    RecentEvents,
    Row,
    Unsubscribe,
    event_filter,
    point_json_value,
    quality_text,
    time_text,
)
from rtu.web.frames import FRAME_FILTERS, TapFrames, frame_filter
from rtu.web.settings import WebSettings, is_loopback, web_tls_context
from rtu.web.view import StationView

log = logging.getLogger(__name__)

KEEPALIVE: Final = 15.0  # seconds between comment lines on an idle stream
WRITE_TIMEOUT: Final = 10.0  # seconds a stream client has to take one write
STATUS_INTERVAL: Final = 2.0  # seconds between status refreshes while a status view is open
KEEPALIVE_TIMEOUT: Final = 15.0  # seconds an idle HTTP keep-alive connection stays open
RECENT_LIMIT: Final = 200  # events or frames in a page and in a stream's first snapshot
STATIC: Final = {"app.css": "text/css", "app.js": "text/javascript",
                 "icon.svg": "image/svg+xml"}
CSP: Final = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), usb=(), serial=()",
    "Cache-Control": "no-store",
}
_LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
USER: Final = web.RequestKey("user", str)  # who signed in (HTTP Basic), for the page header
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _PeerErrors(logging.Filter):
    """aiohttp logs a malformed request at ERROR with a traceback; it is the peer's error
    (DESIGN rule 4): it goes to DEBUG, so that a peer cannot flood the journal. Failures of
    our own handlers still reach the log as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            log.debug("web page: malformed request refused: %s", str(exc).replace("\n", " "))
            return False
        return True


_PEER_ERRORS: Final = _PeerErrors()


class _Stream:
    def __init__(self, maxlen: int) -> None:
        self.outbox = Outbox(maxlen)
        self.wake = asyncio.Event()
        self.outbox.wake = self.wake.set
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True
        self.wake.set()


class WebServer:
    """The diagnostics page of one supervisor, served on ``settings.host:port``."""

    def __init__(self, view: StationView, settings: WebSettings) -> None:
        self.view = view
        self.settings = settings
        self.events: EventLog = self._event_log()
        # the links' frames (rtu/monitor.py's tap, watched only while a frames view is open)
        self.frames: FrameFeed | None = TapFrames(_sizes101(view))
        self.auth = Authenticator(dict(settings.users)) if settings.users else None
        self.refused_streams = 0
        self.dropped = 0
        self._streams: set[_Stream] = set()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._static = {name: resources.files("rtu.web").joinpath("static", name).read_bytes()
                        for name in STATIC}

    def _event_log(self) -> EventLog:
        """The sequence-of-events log when the outstation keeps one, else the page's ring."""
        soe = getattr(self.view.sup, "soe", None)
        if soe is not None:
            from rtu.web.soefeed import SoeEvents

            return SoeEvents(soe)
        return RecentEvents(self.view.db, self.settings.recent_events)

    # -- life --------------------------------------------------------------------------------
    @property
    def streams(self) -> int:
        return len(self._streams)

    @property
    def port(self) -> int:
        """The bound port (``port = 0`` in the settings: the one the system chose)."""
        server = self._site._server if self._site is not None else None
        sockets = getattr(server, "sockets", None) or []
        return int(sockets[0].getsockname()[1]) if sockets else self.settings.port

    def app(self) -> web.Application:
        app = web.Application(client_max_size=4096,
                              middlewares=[self._errors, self._host_check, self._authenticate])
        app.on_response_prepare.append(_add_headers)
        routes = [("/", self.overview), ("/points", self.points), ("/links", self.links),
                  ("/events", self.events_page), ("/frames", self.frames_page),
                  ("/static/{name}", self.static), ("/favicon.ico", self.favicon), ("/api/overview", self.api_overview),
                  ("/api/status", self.api_status), ("/api/points", self.api_points),
                  ("/api/events", self.api_events), ("/api/frames", self.api_frames),
                  ("/api/stream/status", self.stream_status),
                  ("/api/stream/points", self.stream_points),
                  ("/api/stream/events", self.stream_events),
                  ("/api/stream/frames", self.stream_frames)]
        for path, handler in routes:
            app.router.add_get(path, handler)
        return app

    async def start(self) -> None:
        """Listen; OSError when the address cannot be bound."""
        server_log = logging.getLogger("aiohttp.server")
        if _PEER_ERRORS not in server_log.filters:
            server_log.addFilter(_PEER_ERRORS)
        context = web_tls_context(self.settings) if self.settings.tls else None
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False,
                               keepalive_timeout=KEEPALIVE_TIMEOUT, shutdown_timeout=1.0,
                               handler_cancellation=True,  # a client gone ends its stream
                               max_line_size=4096, max_field_size=8190)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port, ssl_context=context,
                           backlog=16)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        auth = ("client certificates" if self.settings.ca_file
                else f"{len(self.settings.users)} users" if self.settings.users else "none")
        log.info("web page: %s://%s:%d/ (read-only; authentication: %s)", self.settings.scheme,
                 self.settings.host, self.port, auth)

    def rebind(self) -> None:
        """A reload rebuilt the field side: follow the new database; the open streams end
        (the browsers reconnect and get the new state)."""
        events = self.events
        if isinstance(events, RecentEvents):
            events.rebind(self.view.db)
        if isinstance(self.frames, TapFrames):
            self.frames.rebind(_sizes101(self.view))
        for stream in list(self._streams):
            stream.stop()

    async def close(self) -> None:
        for stream in list(self._streams):
            stream.stop()
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()
        close = getattr(self.events, "close", None)
        if callable(close):
            close()
        if isinstance(self.frames, TapFrames):
            self.frames.close()

    # -- middlewares ---------------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            text = exc.text or exc.reason
            if text.startswith(f"{exc.status}:"):
                text = exc.reason
            if request.path.startswith("/api/"):
                return web.json_response({"error": text}, status=exc.status,
                                         headers=_passed_headers(exc))
            return web.Response(text=pages.error_page(exc.status, exc.reason, text),
                                status=exc.status, content_type="text/html",
                                headers=_passed_headers(exc))

    @web.middleware
    async def _host_check(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_loopback(self.settings.host):
            host = request.headers.get("Host", "").lower()  # not request.host: no DNS
            name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
            if name not in _LOOPBACK_NAMES and name != self.settings.host:
                raise web.HTTPMisdirectedRequest(
                    text="this page answers only to localhost or 127.0.0.1 (use an SSH "
                         "tunnel: ssh -L 8080:127.0.0.1:8080 ...)")
        return await handler(request)

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.auth is not None:
            user = await self.auth.check(request.headers.get("Authorization"))
            if user is None:
                raise web.HTTPUnauthorized(
                    text="sign in with a user of the station's web users file",
                    headers={"WWW-Authenticate": 'Basic realm="rtu", charset="UTF-8"'})
            request[USER] = user
        return await handler(request)

    # -- pages -------------------------------------------------------------------------------
    def _station(self) -> str:
        status = {"host": self.view.host,
                  "common_address": self.view.sup.config.station.common_address}
        return pages.station_name(status)

    async def overview(self, request: web.Request) -> web.Response:
        return _html(pages.overview_page(self.view.overview(), user=request.get(USER)))

    async def points(self, request: web.Request) -> web.Response:
        pattern = _query(request, "filter") or "*"
        return _html(pages.points_page(self.view.points(pattern), self._station(), pattern,
                                       user=request.get(USER)))

    async def links(self, request: web.Request) -> web.Response:
        return _html(pages.links_page(self.view.status(), self._station(),
                                      user=request.get(USER)))

    async def events_page(self, request: web.Request) -> web.Response:
        filters = self._event_filters(request)
        rows = await self._recent_events(filters)
        log_ = self.events
        return _html(pages.events_page(rows, self._station(), filters, log_.describe(),
                                       columns=log_.columns, names=log_.filters,
                                       user=request.get(USER)))

    async def frames_page(self, request: web.Request) -> web.Response:
        filters = _frame_filters(request)
        rows = self._recent_frames(filters) if self.frames is not None else None
        return _html(pages.frames_page(rows, self._station(), filters,
                                       user=request.get(USER)))

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in self._static:
            raise web.HTTPNotFound(text=f"no file {name!r}")
        charset = "utf-8" if STATIC[name].startswith("text/") else None
        return web.Response(body=self._static[name], content_type=STATIC[name],
                            charset=charset)

    async def favicon(self, request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/static/icon.svg")

    # -- JSON ---------------------------------------------------------------------------------
    async def api_overview(self, request: web.Request) -> web.Response:
        return web.json_response(self.view.overview())

    async def api_status(self, request: web.Request) -> web.Response:
        status = self.view.status()
        status["web"] = {"streams": self.streams, "max_clients": self.settings.max_clients,
                         "refused_streams": self.refused_streams, "dropped": self.dropped}
        return web.json_response(status)

    async def api_points(self, request: web.Request) -> web.Response:
        return web.json_response(self.view.points(_query(request, "filter") or "*"))

    async def api_events(self, request: web.Request) -> web.Response:
        return web.json_response(await self._recent_events(self._event_filters(request)))

    async def api_frames(self, request: web.Request) -> web.Response:
        if self.frames is None:
            raise web.HTTPNotFound(text="no frame monitor is attached")
        return web.json_response(self._recent_frames(_frame_filters(request)))

    async def _recent_events(self, filters: dict[str, str],
                             limit: int = RECENT_LIMIT) -> list[Row]:
        try:
            return await self.events.query(filters, limit)
        except ValueError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None
        except OSError as exc:
            raise web.HTTPServiceUnavailable(text=str(exc)) from None

    def _recent_frames(self, filters: dict[str, str]) -> list[Row]:
        assert self.frames is not None
        keep = _checked(frame_filter, filters)
        return [row for row in self.frames.recent(RECENT_LIMIT) if keep(row)]

    def _event_filters(self, request: web.Request) -> dict[str, str]:
        return {name: _query(request, name) for name in self.events.filters}

    # -- live streams ------------------------------------------------------------------------
    async def stream_status(self, request: web.Request) -> web.StreamResponse:
        which = _query(request, "view")
        render = pages.links_live if which == "links" else None

        def fragment() -> tuple[str, str]:
            if render is not None:
                return "live-links", render(self.view.status())
            return "live-overview", pages.overview_live(self.view.overview())

        async def refresh(stream: _Stream) -> None:
            last = ""
            while True:
                try:
                    target, html = fragment()
                except Exception:  # a bug here must not go unnoticed, nor stop the page
                    log.exception("web page: the status view failed; closing it")
                    stream.stop()
                    return
                if html != last:
                    stream.outbox.put("fragment", {"id": target, "html": html}, key="status")
                    last = html
                await asyncio.sleep(STATUS_INTERVAL)

        async def setup(stream: _Stream) -> list[Unsubscribe]:
            task = asyncio.get_running_loop().create_task(refresh(stream))

            def cancel() -> None:
                task.cancel()

            return [cancel]

        return await self._stream(request, setup)

    async def stream_points(self, request: web.Request) -> web.StreamResponse:
        pattern = _query(request, "filter") or "*"

        async def setup(stream: _Stream) -> list[Unsubscribe]:
            db = self.view.db
            names = {p.name for p in db if fnmatch.fnmatchcase(p.name, pattern)}
            stream.outbox.put("snapshot", self.view.points(pattern))

            def changed(change: PointChanged) -> None:
                name = change.point.name
                if name in names:
                    stream.outbox.put("point", change, key=name)

            return [db.subscribe(changed)]

        return await self._stream(request, setup)

    async def stream_events(self, request: web.Request) -> web.StreamResponse:
        filters = self._event_filters(request)
        keep = _checked(event_filter, filters)
        await self._recent_events(filters, 0)  # a filter the log refuses: 400, no stream

        async def setup(stream: _Stream) -> list[Unsubscribe]:
            # subscribed before the snapshot is read, and what arrives meanwhile held back
            # until the snapshot is queued: no event falls between the two (a log's row sent
            # twice carries its id and replaces itself on the page)
            held: list[Row] | None = []

            def new(row: Row) -> None:
                if not keep(row):
                    return
                if held is not None:
                    held.append(row)
                    return
                ident = row.get("id")
                stream.outbox.put("event", row, key=None if ident is None else ("e", ident))

            unsubscribe = self.events.subscribe(new)
            try:
                stream.outbox.put("snapshot", await self.events.query(filters, RECENT_LIMIT))
            except (ValueError, OSError) as exc:
                log.warning("web page: the events view cannot read: %s", exc)
                stream.outbox.put("snapshot", [])
            waiting: list[Row] = held if held is not None else []
            held = None
            for row in waiting:
                new(row)
            return [unsubscribe]

        return await self._stream(request, setup)

    async def stream_frames(self, request: web.Request) -> web.StreamResponse:
        frames = self.frames
        if frames is None:
            raise web.HTTPNotFound(text="no frame monitor is attached")
        keep = _checked(frame_filter, _frame_filters(request))

        async def setup(stream: _Stream) -> list[Unsubscribe]:
            stream.outbox.put("snapshot", [r for r in frames.recent(RECENT_LIMIT) if keep(r)])

            def new(row: Row) -> None:
                if keep(row):
                    stream.outbox.put("frame", row)

            return [frames.subscribe(new)]

        return await self._stream(request, setup)

    async def _stream(self, request: web.Request,
                      setup: Callable[[_Stream], Awaitable[list[Unsubscribe]]]
                      ) -> web.StreamResponse:
        if request.method == "HEAD":  # the headers only: no stream, no slot taken
            return web.Response(content_type="text/event-stream")
        if len(self._streams) >= self.settings.max_clients:
            self.refused_streams += 1
            raise web.HTTPServiceUnavailable(
                text=f"{self.settings.max_clients} live views are open already (web."
                     "max_clients); close one or try again later",
                headers={"Retry-After": "10"})
        stream = _Stream(self.settings.client_queue)
        self._streams.add(stream)
        cleanup: list[Unsubscribe] = []
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "X-Accel-Buffering": "no"})
        try:
            await response.prepare(request)
            await self._write(response, b"retry: 3000\n\n")
            cleanup = await setup(stream)
            reported = 0
            while not stream.stopped:
                if not len(stream.outbox):
                    stream.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(KEEPALIVE):
                            await stream.wake.wait()
                    if stream.stopped:
                        break
                    if not len(stream.outbox):
                        await self._write(response, b": keep-alive\n\n")
                        continue
                chunks = []
                dropped = stream.outbox.dropped
                if dropped > reported:
                    self.dropped += dropped - reported
                    reported = dropped
                    chunks.append(_sse("dropped", {"dropped": dropped}))
                for kind, item in stream.outbox.take():
                    chunks.append(_sse(kind, self._payload(kind, item)))
                await self._write(response, b"".join(chunks))
        except (ConnectionError, TimeoutError, OSError) as exc:
            log.debug("web stream %s ended: %s", request.path, exc or type(exc).__name__)
        finally:
            for unsubscribe in cleanup:
                unsubscribe()
            self._streams.discard(stream)
        return response

    def _payload(self, kind: str, item: object) -> object:
        if isinstance(item, PointChanged):
            point, new = item.point, item.new
            return {"name": point.name, "ioa": point.ioa, "kind": point.kind.value,
                    "value": point_json_value(point, new.value),
                    "quality": quality_text(new.quality),
                    "time": time_text(new.timestamp), "source": point.source or "-"}
        return item

    @staticmethod
    async def _write(response: web.StreamResponse, data: bytes) -> None:
        async with asyncio.timeout(WRITE_TIMEOUT):  # a client that stopped reading
            await response.write(data)


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers["Server"] = "rtu"  # no library version to look up vulnerabilities by
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def _passed_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("WWW-Authenticate", "Retry-After")}


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8")


def _query(request: web.Request, name: str, limit: int = 200) -> str:
    value = request.query.get(name, "")
    if len(value) > limit:
        raise web.HTTPBadRequest(text=f"{name}: longer than {limit} characters")
    return value.strip()


def _frame_filters(request: web.Request) -> dict[str, str]:
    return {name: _query(request, name) for name in FRAME_FILTERS}


def _checked(make: Callable[[dict[str, str]], Callable[[Row], bool]],
             filters: dict[str, str]) -> Callable[[Row], bool]:
    """A filter predicate; a bad filter is the client's error (400 naming it)."""
    try:
        return make(filters)
    except ValueError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None


def _sizes101(view: StationView) -> Sizes101:
    """The 101 line's field sizes, for decoding its frames (defaults without a line)."""
    line = getattr(view.sup, "iec101", None)
    if line is None:
        return Sizes101()
    s = line.settings
    return Sizes101(s.link.address_size, s.cot_size, s.ca_size, s.ioa_size)


def _sse(kind: str, data: object) -> bytes:
    text = json.dumps(data, separators=(",", ":"), default=_json_default)
    return f"event: {kind}\ndata: {text}\n\n".encode()


def _json_default(value: object) -> Any:
    return str(value)
