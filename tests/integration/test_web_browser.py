"""The web page in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against `rtu run --web` on the bench profile, with c104 (lib60870-C) as the 104
master. A screenshot of each page is written under the test's tmp directory for review."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.integration.peers import C104Master, free_tcp_port

pytestmark = pytest.mark.integration
pytest.importorskip("aiohttp", reason="the web extra (aiohttp) is not installed")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="Playwright is not installed (test extra)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip("Debian's chromium is not installed (scripts/setup-test installs it)",
                allow_module_level=True)
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Station:
    def __init__(self, tmp: Path, web: str = "", *, soe: bool = False) -> None:
        self.port = free_tcp_port()
        self.web_port = free_tcp_port()
        self.socket = tmp / "ctl" / "control.sock"
        text = resources.files("rtu.examples").joinpath("bench.toml").read_text()
        text = text.replace('listen = "127.0.0.1:2404"', f'listen = "127.0.0.1:{self.port}"')
        text += f'\n[service]\ncontrol_socket = "{self.socket}"\n'
        if soe:  # a state directory of its own: the sequence-of-events log is on ("auto")
            text += f'state_directory = "{tmp / "state"}"\n'
        text += web
        self.site = tmp / "site.toml"
        self.site.write_text(text)
        self.env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.log = open(tmp / "rtu.log", "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rtu", "run", "--config", str(self.site),
             "--web", f"127.0.0.1:{self.web_port}"],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"{'https' if 'tls = true' in web else 'http'}://127.0.0.1:{self.web_port}"
        deadline = time.monotonic() + 30
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
        while True:
            try:
                with urllib.request.urlopen(self.url + "/api/status", timeout=2,
                                            context=insecure) as answer:
                    if answer.status == 200:
                        break
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, and asking for a password
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError("rtu run --web did not come up: "
                                     + (tmp / "rtu.log").read_text()[-2000:])
            time.sleep(0.1)

    def sim_set(self, name: str, value: str) -> None:
        result = subprocess.run([sys.executable, "-m", "rtu", "sim", "set", name, value,
                                 "--socket", str(self.socket)], env=self.env,
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 0, result.stderr

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    s = Station(tmp_path)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def logging_station(tmp_path: Path) -> Iterator[Station]:
    s = Station(tmp_path, soe=True)
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
            args=ARGS, viewport={"width": 1280, "height": 900}, timeout=60_000)
        try:
            yield context
        finally:
            context.close()


def shoot(page: Any, tmp_path: Path, name: str) -> Path:
    directory = tmp_path / "screenshots"
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000
    print(f"screenshot: {path}")
    return path


def open_page(context: Any, url: str, problems: list[str]) -> Any:
    page = context.new_page()
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    return page


def test_points_update_live_and_every_page_renders(station: Station, browser: Any,
                                                   tmp_path: Path) -> None:
    expect = sync_api.expect
    problems: list[str] = []
    page = open_page(browser, station.url + "/points", problems)
    row = page.locator('#points tr[data-key="di01"]')
    expect(row.locator('td[data-col="ioa"]')).to_have_text("1001")
    expect(row.locator('td[data-col="value"]')).to_have_text("false")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    page.evaluate("window.notReloaded = true")
    station.sim_set("di01", "on")
    expect(row.locator('td[data-col="value"]')).to_have_text("true", timeout=10_000)
    assert page.evaluate("window.notReloaded === true")  # live, not a reload
    expect(page.locator(".readonly")).to_contain_text("Read-only")
    shoot(page, tmp_path, "points")

    for path, name, check in [("/", "overview", "#live-overview"),
                              ("/events", "events", '#events td[data-col="name"]'),
                              ("/frames", "frames", "#frames")]:
        page.goto(station.url + path)
        expect(page.locator(check).first).to_be_visible()
        shoot(page, tmp_path, name)
    page.goto(station.url + "/events?point=di01")
    expect(page.locator("#events tr").first.locator('td[data-col="value"]')).to_have_text("true")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    station.sim_set("di01", "off")
    expect(page.locator("#events tr").first.locator('td[data-col="value"]')).to_have_text(
        "false", timeout=10_000)
    assert not [p for p in problems if "Content Security Policy" in p or "Refused" in p], problems
    assert not problems, problems


def test_links_page_shows_a_connected_c104_master(station: Station, browser: Any,
                                                  tmp_path: Path) -> None:
    expect = sync_api.expect
    problems: list[str] = []
    page = open_page(browser, station.url + "/links", problems)
    expect(page.locator("#live-links")).to_contain_text("no master connected")
    with C104Master(station.port, ca=1) as master:
        master.wait_connected(10)
        # the open page learns of the master by itself (live status, every 2 s)
        expect(page.locator("#live-links")).to_contain_text("data transfer", timeout=15_000)
        expect(page.locator("#live-links")).to_contain_text("1 of 4")
        shoot(page, tmp_path, "links")
    assert not problems, problems


def test_the_page_fits_a_phone(station: Station, browser: Any, tmp_path: Path) -> None:
    problems: list[str] = []
    page = open_page(browser, station.url + "/points", problems)
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(station.url + "/points")
    sync_api.expect(page.locator('#points tr[data-key="di01"]')).to_be_visible()
    # the page does not scroll sideways; the wide table scrolls inside its own box
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shoot(page, tmp_path, "points-phone")
    page.goto(station.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shoot(page, tmp_path, "overview-phone")
    assert not problems, problems


def test_https_with_a_password_in_the_browser(tmp_path: Path) -> None:
    """The exposed configuration (TLS with the station certificate, users with scrypt hashes),
    kept on loopback here: the browser signs in with HTTP Basic and the live view works."""
    from rtu.web.auth import set_user
    from tests.integration.certs import make_pki

    pki = make_pki(tmp_path / "pki")
    users = tmp_path / "web-users"
    set_user(str(users), "tech", "correct horse", n=2**10)
    web = (f'\n[web]\nlisten = "127.0.0.1:0"\ntls = true\ncertificate = "{pki.server.cert}"\n'
           f'private_key = "{pki.server.key}"\nusers_file = "{users}"\n')
    station = Station(tmp_path, web)
    try:
        with sync_api.sync_playwright() as playwright:
            for credentials, status in [(None, 401), ({"username": "tech",
                                                      "password": "wrong"}, 401),
                                        ({"username": "tech", "password": "correct horse"},
                                         200)]:
                context = playwright.chromium.launch_persistent_context(
                    str(tmp_path / f"profile-{status}-{bool(credentials)}"),
                    executable_path=CHROMIUM, headless=True, args=ARGS,
                    ignore_https_errors=True, http_credentials=credentials, timeout=60_000)
                try:
                    page = context.new_page()
                    if status == 401:
                        # refused: Chromium shows the 401 (no credentials) or gives up on
                        # credentials the server keeps refusing; either way no point table
                        try:
                            refused = page.goto(station.url + "/points")
                        except sync_api.Error as exc:
                            assert "INVALID_AUTH_CREDENTIALS" in str(exc)
                        else:
                            assert refused is not None and refused.status == 401
                            assert page.locator("#points").count() == 0
                        continue
                    response = page.goto(station.url + "/points")
                    assert response is not None and response.status == status
                    if status == 200:
                        assert response.headers["strict-transport-security"]
                        sync_api.expect(page.locator(".user")).to_have_text("tech")
                        sync_api.expect(page.locator("#live")).to_have_text("live",
                                                                            timeout=10_000)
                        station.sim_set("di02", "on")
                        sync_api.expect(page.locator(
                            '#points tr[data-key="di02"] td[data-col="value"]')).to_have_text(
                            "true", timeout=10_000)
                        shoot(page, tmp_path, "points-https-signed-in")
                finally:
                    context.close()
    finally:
        station.close()


def test_events_page_reads_the_sequence_of_events_log(logging_station: Station, browser: Any,
                                                      tmp_path: Path) -> None:
    """With [soe] on, the events page is the log: an event of `rtu sim set` appears live
    (within a second of the log's write) with its type and cause, then which master it reached
    once a c104 master has received and acknowledged it; its history answers the filters."""
    expect = sync_api.expect
    station = logging_station
    problems: list[str] = []
    page = open_page(browser, station.url + "/events?point=di01", problems)
    expect(page.locator(".source")).to_contain_text("sequence-of-events log")
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    with C104Master(station.port, ca=1) as master:
        master.wait_connected(10)
        station.sim_set("di01", "on")
        first = page.locator("#events tr").first
        expect(first.locator('td[data-col="name"]')).to_have_text("di01", timeout=10_000)
        expect(first.locator('td[data-col="value"]')).to_have_text("on")
        expect(first.locator('td[data-col="type"]')).to_have_text("M_SP_TB_1")
        expect(first.locator('td[data-col="cause"]')).to_have_text("SPONTANEOUS")
        # c104 acknowledges what it received; the log records it and the row follows
        expect(first.locator('td[data-col="masters"]')).to_contain_text("104:127.0.0.1:",
                                                                     timeout=20_000)
        shoot(page, tmp_path, "events-soe")
    # the history, filtered on the server (SQL), after a reload of the page
    page.goto(station.url + "/events?point=di01&kind=M_SP_TB_1&cause=spontaneous&since=10m")
    expect(page.locator('#events td[data-col="value"]').first).to_have_text("on")
    page.goto(station.url + "/events?point=di02")
    expect(page.locator("#events tr.empty")).to_be_visible()
    assert not problems, problems


def test_frames_page_shows_a_c104_masters_interrogation_live(station: Station, browser: Any,
                                                            tmp_path: Path) -> None:
    expect = sync_api.expect
    problems: list[str] = []
    page = open_page(browser, station.url + "/frames", problems)
    expect(page.locator("#live")).to_have_text("live", timeout=10_000)
    page.evaluate("window.notReloaded = true")
    with C104Master(station.port, ca=1) as master:
        master.wait_connected(10)
        assert master.interrogation()
        frames = page.locator("#frames")
        expect(frames.locator('td[data-col="type"]', has_text="C_IC_NA_1").first).to_be_visible(
            timeout=10_000)
        answer = frames.locator("tr", has=page.locator('td[data-col="cot"]',
                                                       has_text="INTERROGATED_BY_STATION"))
        expect(answer.first).to_be_visible(timeout=10_000)
        expect(answer.first.locator('td[data-col="ca"]')).to_have_text("1")
        expect(answer.first.locator('td[data-col="objects"]')).to_contain_text("IOA ")
        expect(frames.locator('td[data-col="frame"]', has_text="STARTDT").first).to_be_visible()
        assert page.evaluate("window.notReloaded === true")  # live, not a reload
        shoot(page, tmp_path, "frames")
        # a filter: only what the outstation sent of one type
        page.goto(station.url + "/frames?direction=tx&type=C_IC_NA_1")
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        assert master.interrogation()
        rows = page.locator("#frames tr")
        expect(rows.first.locator('td[data-col="cot"]')).to_contain_text("ACTIVATION",
                                                                         timeout=10_000)
        for i in range(rows.count()):
            assert rows.nth(i).locator('td[data-col="direction"]').inner_text() == "tx"
            assert rows.nth(i).locator('td[data-col="type"]').inner_text() == "C_IC_NA_1"
        shoot(page, tmp_path, "frames-filtered")
    page.goto(station.url + "/")
    expect(page.locator("#live-overview")).to_contain_text("health:link:104:iec104")
    shoot(page, tmp_path, "overview-health")
    assert not problems, problems
