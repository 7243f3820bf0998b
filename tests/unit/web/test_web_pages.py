"""The page's HTML (rtu/web/pages.py): escaping, the read-only notice, no inline code."""

from __future__ import annotations

import re
from typing import Any

from rtu.web import pages

STATUS: dict[str, Any] = {
    "iec104": {"listen": "127.0.0.1:2404", "listening": True, "connections": 1,
               "max_connections": 4, "refused": 0, "switchovers": 0},
    "masters": [{"name": "104:127.0.0.1:5000", "data_transfer": True, "queued": 2,
                 "unacknowledged": 1, "overflowed": 0}],
    "iec101": None,
    "groups": [{"name": "iec104", "backlog": 0, "overflowed": 0,
                "sessions": [{"name": "104:127.0.0.1:5000", "queued": 2}]}],
    "last_error": "modbus: <script>alert(1)</script> & \"x\"", "reload_error": None,
}


def no_inline_code(html: str) -> None:
    assert not re.search(r"<script(?![^>]*\bsrc=\"/static/app\.js\")", html)
    assert " style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no event handler attributes


def test_values_are_escaped() -> None:
    html = pages.links_live(STATUS)
    assert "<script>alert" not in html
    assert "modbus: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;" in html
    assert "data transfer" in html and "1 of 4" in html and "off (no [iec101] section)" in html


def test_layout_says_read_only_and_loads_only_the_package_files() -> None:
    html = pages.links_page(STATUS, "RTU <x>", user="al&ce")
    assert pages.READ_ONLY in html and "RTU &lt;x&gt;" in html and "al&amp;ce" in html
    assert set(re.findall(r'(?:src|href)="([^"]+)"', html)) == {
        "/static/app.css", "/static/icon.svg", "/static/app.js", "/", "/points", "/links",
        "/events", "/frames"}
    assert 'data-stream="/api/stream/status?view=links"' in html
    assert '<a href="/links" aria-current="page">' in html
    no_inline_code(html)


def test_points_page_rows_and_filter() -> None:
    rows = [{"name": "di01", "ioa": 1001, "kind": "single", "value": True, "quality": "ok",
             "time": "2026-01-01T00:00:00.000Z", "source": "sim"},
            {"name": "ai1", "ioa": 3001, "kind": "float", "value": 51.57331, "quality": "IV",
             "time": "-", "source": "sim"}]
    html = pages.points_page(rows, "RTU", "d*<")
    assert '<tr data-key="di01"><td data-col="name">di01</td><td data-col="ioa">1001</td>' in html
    assert '<td data-col="value">true</td>' in html  # as the live updates show it
    assert '<td data-col="value">51.5733</td>' in html
    assert 'value="d*&lt;"' in html and "filter=d%2A%3C" in html
    assert "2 points" in html
    no_inline_code(html)


def test_events_page_newest_first_and_empty() -> None:
    rows = [{"time": "t1", "name": "a"}, {"time": "t2", "name": "b"}]
    html = pages.events_page(rows, "RTU", {"point": "a*", "kind": ""}, "recent changes")
    assert html.index(">t2<") < html.index(">t1<")
    assert "/api/stream/events?point=a%2A" in html
    assert "no event yet" in pages.events_page([], "RTU", {}, "x")


def test_frames_page_without_and_with_a_monitor() -> None:
    assert "No frame monitor is attached" in pages.frames_page(None, "RTU")
    assert "data-stream" not in pages.frames_page(None, "RTU")
    html = pages.frames_page([{"time": "t", "link": "l", "direction": "rx", "frame": "I(0,0)",
                               "type": "C_IC_NA_1", "cot": "ACTIVATION", "ca": 1,
                               "objects": "IOA 0: qoi=20"}], "RTU")
    assert 'data-stream="/api/stream/frames"' in html and "C_IC_NA_1" in html
    assert "IOA 0: qoi=20" in html and 'name="direction"' in html


def test_overview_flags_an_unhealthy_station() -> None:
    overview = {"host": "h", "version": "1", "config": "/etc/rtu/rtu.toml",
                "config_sha256": "ab" * 32, "common_address": 1, "points": 2, "uptime": 90061.0,
                "clock": {"system": "s", "station": "t", "synchronised": True, "offset": -1.5,
                          "time_invalid_until_sync": False},
                "health": {"healthy": False, "failure": "tasks: <x>", "watchdog_sec": 10.0,
                           "pings": 3},
                "sources": [{"name": "sim", "running": True, "restarts": 0}],
                "journal": None, "queued_events": 0, "reloads": 0, "reload_error": None,
                "last_error": None}
    html = pages.overview_page(overview)
    assert "UNHEALTHY: tasks: &lt;x&gt;" in html and 'class="facts bad"' in html
    assert "1 d 01:01:01" in html and "-1.500 s" in html and "ab" * 32 in html
    # the fixture has no system clock state: shown as not synchronised, tags not valid
    assert "<dt>system clock synchronised (NTP)</dt><dd>no</dd>" in html
    assert "<dt>time tags valid (no IV)</dt><dd>no</dd>" in html
    assert "off ([journal] enabled = false)" in html
