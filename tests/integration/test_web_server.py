"""The web page served by a real Supervisor's loop (bench profile) over loopback HTTP(S):
headers, pages, live streams and their bounds, authentication, TLS; and `rtu check` refusing
an exposed page. Requests come from the standard library's http.client, not our code."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import http.client
import json
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed")

from rtu.config import bench_config, parse_config
from rtu.sources.simulated.source import SimulatedField
from rtu.web.auth import hash_password
from rtu.web.server import CSP, WebServer
from rtu.web.settings import WebSettings
from rtu.web.view import StationView
from tests.integration.certs import make_pki
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import free_tcp_port
from tests.unit.test_config import SRC, minimal, single_error

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


class Page:
    """A WebServer on an OutstationThread's loop."""

    def __init__(self, rtu: OutstationThread, settings: WebSettings) -> None:
        self.rtu = rtu

        async def start() -> WebServer:
            server = WebServer(StationView(rtu.sup), settings)
            await server.start()
            return server

        self.server: WebServer = rtu.run(start())
        self.port = self.server.port

    def close(self) -> None:
        self.rtu.run(self.server.close())

    def connection(self, context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
        if context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10,
                                               context=context)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def get(self, path: str, *, method: str = "GET", headers: dict[str, str] | None = None,
            context: ssl.SSLContext | None = None) -> tuple[int, dict[str, str], str]:
        conn = self.connection(context)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            body = response.read().decode()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            conn.close()


@pytest.fixture
def rtu() -> Iterator[OutstationThread]:
    with OutstationThread(bench_config(), free_tcp_port()) as outstation:
        yield outstation


@pytest.fixture
def page(rtu: OutstationThread) -> Iterator[Page]:
    p = Page(rtu, WebSettings(port=0, max_clients=2, client_queue=16))
    yield p
    p.close()


class Stream:
    """A server-sent event stream read with http.client."""

    def __init__(self, page: Page, path: str) -> None:
        self.conn = page.connection()
        self.conn.request("GET", path)
        self.response = self.conn.getresponse()

    def next(self, kind: str, timeout: float = 10.0) -> object:
        deadline = time.monotonic() + timeout
        event, data = "", ""
        while time.monotonic() < deadline:
            line = self.response.readline().decode()
            if not line:
                raise AssertionError("the stream ended")
            line = line.rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and event:
                if event == kind:
                    return json.loads(data)
                event, data = "", ""
        raise AssertionError(f"no {kind!r} event within {timeout} s")

    def close(self) -> None:
        self.conn.close()


def test_pages_headers_and_read_only(page: Page) -> None:
    for path, title in [("/", "Overview"), ("/points", "Points"), ("/links", "Links"),
                        ("/events", "Sequence of events"), ("/frames", "Frame monitor")]:
        status, headers, body = page.get(path)
        assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
        assert f"<h1>{title}</h1>" in body and "Read-only" in body
        assert headers["content-security-policy"] == CSP and "'unsafe-inline'" not in CSP
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["server"] == "rtu"
        # no inline script or style, no external resource
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", body)
        assert " style=" not in body and "<style" not in body
        assert not re.search(r"(src|href)=\"(https?:)?//", body)
        assert "<form" not in body or 'method="get"' in body  # filters only: nothing posted
    status, headers, body = page.get("/points")
    assert re.search(r'<tr data-key="di01"><td data-col="name">di01</td>'
                     r'<td data-col="ioa">1001</td>', body)
    for name, kind in [("app.js", "text/javascript"), ("app.css", "text/css")]:
        status, headers, _ = page.get(f"/static/{name}")
        assert status == 200 and headers["content-type"].startswith(kind)


def test_only_get_and_errors_keep_the_headers(page: Page) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, headers, _ = page.get("/points", method=method)
        assert status == 405 and headers["x-frame-options"] == "DENY"
    status, headers, body = page.get("/nope")
    assert status == 404 and "content-security-policy" in headers and "404" in body
    status, _, _ = page.get("/static/../config.py")
    assert status == 404
    status, _, body = page.get("/api/points?filter=" + "x" * 300)
    assert status == 400 and "longer than" in json.loads(body)["error"]
    status, _, _ = page.get("/", method="HEAD")
    assert status == 200
    status, headers, _ = page.get("/api/stream/points", method="HEAD")
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert page.server.streams == 0


def test_host_header_must_be_loopback_on_a_loopback_bind(page: Page,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    status, _, body = page.get("/", headers={"Host": "attacker.example:8080"})
    assert status == 421 and "ssh -L" in body
    conn = page.connection()
    try:
        conn.putrequest("GET", "/", skip_host=True)  # no Host header at all
        conn.endheaders()
        assert conn.getresponse().status == 400  # aiohttp's parser refuses it
    finally:
        conn.close()
    # the peer's malformed request is logged at DEBUG only (a peer cannot flood the journal)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    for host in ("localhost:8080", f"127.0.0.1:{page.port}", "[::1]:8080", "LOCALHOST"):
        assert page.get("/", headers={"Host": host})[0] == 200


def test_json_api(page: Page, rtu: OutstationThread) -> None:
    rtu.call(rtu.sup.provided(SimulatedField).set, "ai2", 42.5)
    _, _, body = page.get("/api/points?filter=ai2")
    assert [(r["name"], r["ioa"], r["value"]) for r in json.loads(body)] == [("ai2", 3002, 42.5)]
    status = json.loads(page.get("/api/status")[2])
    assert status["points"] == len(bench_config().points) and status["web"]["max_clients"] == 2
    overview = json.loads(page.get("/api/overview")[2])
    assert overview["config"] == "<bench>" and re.fullmatch(r"[0-9a-f]{64}",
                                                           overview["config_sha256"])
    events = json.loads(page.get("/api/events?point=ai2")[2])
    assert events and events[-1]["name"] == "ai2" and events[-1]["value"] == 42.5


def test_point_stream_snapshot_then_live_changes(page: Page, rtu: OutstationThread) -> None:
    stream = Stream(page, "/api/stream/points?filter=di0*")
    try:
        assert stream.response.getheader("Content-Type") == "text/event-stream"
        snapshot = stream.next("snapshot")
        assert isinstance(snapshot, list) and {r["name"] for r in snapshot} == {
            f"di0{i}" for i in range(1, 10)}
        rtu.call(rtu.sup.provided(SimulatedField).set, "ai1", 5.0)  # not matching the filter: not sent
        rtu.call(rtu.sup.provided(SimulatedField).set, "di01", True)
        row = stream.next("point")
        assert isinstance(row, dict) and (row["name"], row["ioa"], row["value"]) == (
            "di01", 1001, True)
    finally:
        stream.close()


def test_event_stream_filters(page: Page, rtu: OutstationThread) -> None:
    stream = Stream(page, "/api/stream/events?point=ai*&cause=spontaneous")
    try:
        stream.next("snapshot")
        rtu.call(rtu.sup.provided(SimulatedField).set, "di05", True)
        rtu.call(rtu.sup.provided(SimulatedField).set, "ai3", 12.0)
        row = stream.next("event")
        assert isinstance(row, dict) and (row["name"], row["value"]) == ("ai3", 12.0)
    finally:
        stream.close()


def test_status_stream_sends_the_links_fragment(page: Page) -> None:
    stream = Stream(page, "/api/stream/status?view=links")
    try:
        fragment = stream.next("fragment")
        assert isinstance(fragment, dict) and fragment["id"] == "live-links"
        assert "no master connected" in fragment["html"]
    finally:
        stream.close()


def test_live_streams_are_bounded(page: Page) -> None:
    streams = [Stream(page, "/api/stream/points") for _ in range(2)]
    try:
        for s in streams:
            s.next("snapshot")
        status, headers, body = page.get("/api/stream/points")
        assert status == 503 and headers["retry-after"] == "10" and "max_clients" in body
        assert page.server.refused_streams == 1 and page.server.streams == 2
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 10
    while page.server.streams and time.monotonic() < deadline:
        page.get("/api/status")  # a closed client is noticed at the next write
        time.sleep(0.1)
    stream = Stream(page, "/api/stream/points")
    try:
        stream.next("snapshot")
    finally:
        stream.close()


def test_frames_page_without_a_monitor_says_so(page: Page) -> None:
    page.server.frames = None
    _, _, body = page.get("/frames")
    assert "No frame monitor is attached" in body
    assert page.get("/api/stream/frames")[0] == 404


def test_frames_page_shows_a_masters_frames_live_and_leaves_the_tap_when_closed(
        page: Page, rtu: OutstationThread) -> None:
    from rtu.tap import TAP

    assert TAP.watchers == []  # nobody on the frames page: the links' fast path
    assert page.get("/api/stream/frames?direction=up")[0] == 400
    assert page.get("/frames?type=NOPE")[0] == 400
    stream = Stream(page, "/api/stream/frames?direction=tx")
    master = socket.create_connection(("127.0.0.1", rtu.port), timeout=5)
    try:
        assert stream.next("snapshot") == []
        deadline = time.monotonic() + 5
        while not TAP.watchers and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(TAP.watchers) == 1
        master.sendall(bytes.fromhex("680407000000"))  # STARTDT act
        row = stream.next("frame")
        assert isinstance(row, dict) and row["direction"] == "tx"  # the filter: tx only
        assert row["frame"] == "U STARTDT con" and row["link"].startswith("104:127.0.0.1:")
        # a general interrogation: its confirmation and the points, decoded in columns
        master.sendall(bytes.fromhex("680e00000000" "64010600" "0100" "000000" "14"))
        types: set[str] = set()
        while "M_SP_NA_1" not in types:
            row = stream.next("frame")
            assert isinstance(row, dict)
            types.add(row["type"])
            if row["type"] == "M_SP_NA_1":
                assert row["cot"] == "INTERROGATED_BY_STATION" and row["ca"] == 1
                assert row["objects"].startswith("IOA ")
        assert "C_IC_NA_1" in types
        rows = json.loads(page.get("/api/frames?type=C_IC_NA_1")[2])
        assert [r["cot"] for r in rows][:2] == ["ACTIVATION", "ACTIVATION_CON"]  # rx, tx
        _, _, body = page.get("/frames")
        assert "STARTDT act" in body and "INTERROGATED_BY_STATION" in body
    finally:
        master.close()
        stream.close()
    deadline = time.monotonic() + 5
    while TAP.watchers and time.monotonic() < deadline:
        time.sleep(0.02)
    assert TAP.watchers == []  # the last view went: the tap is left alone again


def test_basic_authentication(rtu: OutstationThread) -> None:
    users = (("alice", hash_password("s3cret", n=16)),)
    page = Page(rtu, WebSettings(port=0, users=users))
    try:
        status, headers, _ = page.get("/")
        assert status == 401 and headers["www-authenticate"].startswith("Basic realm=")
        bad = "Basic " + base64.b64encode(b"alice:wrong").decode()
        assert page.get("/points", headers={"Authorization": bad})[0] == 401
        good = "Basic " + base64.b64encode(b"alice:s3cret").decode()
        status, _, body = page.get("/", headers={"Authorization": good})
        assert status == 200 and '<span class="user">alice</span>' in body
        assert page.get("/static/app.css")[0] == 401  # everything needs it
    finally:
        page.close()


def test_tls_with_client_certificates(rtu: OutstationThread, tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    settings = WebSettings(port=0, certificate=str(pki.server.cert),
                           private_key=str(pki.server.key), ca_file=str(pki.ca.cert))
    page = Page(rtu, settings)
    try:
        client = ssl.create_default_context(cafile=str(pki.ca.cert))
        client.load_cert_chain(str(pki.master.cert), str(pki.master.key))
        status, headers, _ = page.get("/", context=client)
        assert status == 200 and headers["strict-transport-security"].startswith("max-age=")
        anonymous = ssl.create_default_context(cafile=str(pki.ca.cert))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            page.get("/", context=anonymous)
        foreign = ssl.create_default_context(cafile=str(pki.ca.cert))
        foreign.load_cert_chain(str(pki.foreign_master.cert), str(pki.foreign_master.key))
        with pytest.raises((ssl.SSLError, ConnectionError)):
            page.get("/", context=foreign)
    finally:
        page.close()


def test_reload_that_rebuilds_moves_the_page_to_the_new_database(page: Page,
                                                                 rtu: OutstationThread) -> None:
    stream = Stream(page, "/api/stream/points?filter=di01")
    stream.next("snapshot")
    rtu.sup.web = page.server  # as open_web() would have set it
    more = bench_config()
    extra = dataclasses.replace(more.points[0], name="extra", ioa=9999)
    rtu.run(rtu.sup.reload(dataclasses.replace(more, points=(*more.points, extra),
                                               iec104=rtu.sup.config.iec104)))
    with pytest.raises(AssertionError, match="the stream ended"):
        stream.next("point", timeout=5)  # the old stream was closed
    stream.close()
    stream = Stream(page, "/api/stream/points?filter=di01")
    try:
        stream.next("snapshot")
        rtu.call(rtu.sup.provided(SimulatedField).set, "di01", True)
        assert stream.next("point")["name"] == "di01"  # type: ignore[index]
        assert json.loads(page.get("/api/events?point=di01")[2])[-1]["value"] is True
        assert "extra" in page.get("/points")[2]
    finally:
        stream.close()
        rtu.sup.web = None


# -- the [web] rules that need certificates or `rtu check` ---------------------------------------
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "web-users"
    path.write_text(f"alice:{hash_password('pw', n=16).encode()}\n")
    os.chmod(path, 0o600)
    return path


def web_doc(**web: object) -> dict[str, object]:
    data = minimal()
    data["web"] = web
    return data


def test_exposed_page_needs_tls_and_users(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    cert = {"certificate": str(pki.server.cert), "private_key": str(pki.server.key)}
    assert "is not a loopback address" in single_error(web_doc(listen="0.0.0.0:8443",
                                                               tls=True, **cert))
    web = parse_config(web_doc(listen="0.0.0.0:8443", tls=True,
                               users_file=str(users_file(tmp_path)), **cert), SRC).web
    assert web is not None and web.tls and [n for n, _ in web.users] == ["alice"]


def test_tls_reuses_the_station_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    data = web_doc(listen="0.0.0.0:8443", tls=True, client_certificates=True)
    data["iec104"] = {"tls": {"certificate": str(pki.server.cert),
                              "private_key": str(pki.server.key), "ca_file": str(pki.ca.cert)}}
    web = parse_config(data, SRC).web
    assert web is not None and (web.certificate, web.private_key, web.ca_file) == (
        str(pki.server.cert), str(pki.server.key), str(pki.ca.cert))


def run_rtu(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtu", *args], capture_output=True, text=True,
                          timeout=60, check=False, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_rtu_check_refuses_an_exposed_page(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text('[web]\nlisten = "0.0.0.0:8080"\n')
    result = run_rtu("check", str(site))
    assert result.returncode == 2
    assert "web.listen: 0.0.0.0 is not a loopback address" in result.stderr
    site.write_text(f'[web]\nlisten = "0.0.0.0:8080"\nusers_file = "{users_file(tmp_path)}"\n')
    result = run_rtu("check", str(site))
    assert result.returncode == 2 and "is not a loopback address" in result.stderr  # no TLS
    site.write_text('[web]\nlisten = "127.0.0.1:8080"\n')
    assert run_rtu("check", str(site)).returncode == 0
    refused = run_rtu("run", "--web", "0.0.0.0:8080", "--listen", "127.0.0.1:0")
    assert refused.returncode == 2 and "--web: 0.0.0.0 is not a loopback address" in refused.stderr


def test_rtu_web_user_writes_a_private_users_file(tmp_path: Path) -> None:
    path = tmp_path / "users"
    result = subprocess.run([sys.executable, "-m", "rtu", "web-user", str(path), "bob"],
                            input="pa55word\n", capture_output=True, text=True, timeout=60,
                            check=False, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0 and "user bob added" in result.stdout, result.stderr
    assert oct(path.stat().st_mode & 0o777) == "0o600" and path.read_text().startswith("bob:scrypt$")


def test_aiohttp_is_imported_only_when_the_page_is_enabled() -> None:
    probe = ("import asyncio, dataclasses, sys\n"
             "from rtu.config import bench_config\n"
             "from rtu.supervisor import Supervisor\n"
             "import rtu.cli\n"
             "async def main():\n"
             "    config = bench_config()\n"
             "    config = dataclasses.replace(config, iec104=dataclasses.replace(\n"
             "        config.iec104, port=0))\n"
             "    sup = Supervisor(config)\n"
             "    await sup.start()\n"
             "    await sup.close()\n"
             "asyncio.run(main())\n"
             "print('aiohttp' in sys.modules, 'rtu.web.server' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            timeout=60, check=False, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_reload_starts_moves_and_stops_the_page(rtu: OutstationThread) -> None:
    first, second = free_tcp_port(), free_tcp_port()
    base = rtu.sup.config
    plan = rtu.run(rtu.sup.reload(dataclasses.replace(base, web=WebSettings(port=first))))
    assert "web" in plan  # applied live: the field side and its queues stay
    assert rtu.sup.web is not None and rtu.sup.web.port == first
    old = rtu.sup.web
    plan = rtu.run(rtu.sup.reload(dataclasses.replace(base, web=WebSettings(port=second))))
    assert "web" in plan and rtu.sup.web is not old and rtu.sup.web.port == second
    with urllib.request.urlopen(f"http://127.0.0.1:{second}/api/status", timeout=5) as answer:
        assert answer.status == 200
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{first}/", timeout=5)
    rtu.run(rtu.sup.reload(dataclasses.replace(base, web=None)))
    assert rtu.sup.web is None
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{second}/", timeout=5)


def test_a_view_that_falls_behind_is_told_what_was_dropped(rtu: OutstationThread) -> None:
    page = Page(rtu, WebSettings(port=0, client_queue=16))
    stream = Stream(page, "/api/stream/events?point=di01")
    try:
        stream.next("snapshot")

        def burst() -> None:  # 1,000 changes in one turn of the loop: the stream cannot send
            for i in range(1000):
                rtu.sup.provided(SimulatedField).set("di01", i % 2 == 0)

        rtu.call(burst)
        dropped = stream.next("dropped")
        assert dropped == {"dropped": 1000 - 16}
        values = [stream.next("event")["value"] for _ in range(16)]  # type: ignore[index]
        assert values == [i % 2 == 0 for i in range(1000 - 16, 1000)]  # the newest kept
        assert json.loads(page.get("/api/status")[2])["web"]["dropped"] == 1000 - 16
    finally:
        stream.close()
        page.close()


def test_links_page_shows_the_last_connection_errors(page: Page, rtu: OutstationThread) -> None:
    with socket.create_connection(("127.0.0.1", rtu.port), timeout=5) as peer:
        peer.sendall(b"\x16\x03\x01\x00\x05hello")  # not an APDU (a TLS hello, say)
        peer.settimeout(5)
        with contextlib.suppress(ConnectionError):
            assert peer.recv(100) == b""  # the outstation closes the connection
    deadline = time.monotonic() + 5
    errors: list[dict[str, object]] = []
    while not errors and time.monotonic() < deadline:
        errors = json.loads(page.get("/api/status")[2])["iec104"]["errors"]
        time.sleep(0.05)
    assert errors and str(errors[0]["link"]).startswith("104:127.0.0.1:")
    assert errors[0]["error"] and isinstance(errors[0]["time"], float)
    _, _, body = page.get("/links")
    assert "Recent connection errors" in body and str(errors[0]["link"]) in body


def test_event_filters_the_page_cannot_read_are_refused(page: Page) -> None:
    for path in ("/events?since=yesterday", "/api/events?until=soon",
                 "/api/stream/events?since=later"):
        status, _, body = page.get(path)
        assert status == 400 and "not a time" in body, (path, body)
