"""The web page's HTML, rendered on the server; no aiohttp here.

Every value is escaped (:func:`esc`); no inline script or style anywhere (the Content Security
Policy forbids them): the behaviour is in ``static/app.js``, the looks in ``static/app.css``.
Sections that change while the page is open are rendered by the same functions for the first
view and for the live updates (the stream sends them as HTML fragments with their element id).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, Final
from urllib.parse import urlencode

from rtu.web.feeds import time_text

NAV: Final = (("/", "Overview"), ("/points", "Points"), ("/links", "Links"),
              ("/events", "Events"), ("/frames", "Frames"))
READ_ONLY: Final = ("Read-only: this page shows the station; it cannot send a command, a "
                    "set-point or a configuration change.")
POINT_COLUMNS: Final = ("name", "ioa", "kind", "value", "quality", "time", "source")
EVENT_COLUMNS: Final = ("time", "name", "ioa", "kind", "value", "quality", "cause")
FRAME_COLUMNS: Final = ("time", "link", "direction", "frame", "type", "cot", "ca", "objects")
_EVENT_FILTERS: Final = {  # label, placeholder
    "point": ("point", "glob or IOA, e.g. di*"),
    "kind": ("kind", "e.g. single, event, M_SP_TB_1"),
    "cause": ("cause", "e.g. spontaneous"),
    "quality": ("quality", "e.g. IV, ok"),
    "since": ("since", "e.g. 10m, 2026-12-05T10:00"),
    "until": ("until", "ISO time or age"),
}
_FRAME_FILTERS: Final = {
    "link": ("link", "glob, e.g. 104:*"),
    "direction": ("direction", "rx or tx"),
    "type": ("type", "e.g. M_SP_TB_1 or 30"),
    "ioa": ("IOA", "e.g. 1001"),
}


def esc(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):  # as the live updates show them (JSON)
        return "true" if value else "false"
    if isinstance(value, float):
        return escape(f"{value:.6g}")
    return escape(str(value), quote=True)


def layout(title: str, path: str, station: str, body: str, *, stream: str = "",
           user: str | None = None) -> str:
    current = ' aria-current="page"'
    nav = "".join(f'<a href="{href}"{current if href == path else ""}>{esc(label)}</a>'
                  for href, label in NAV)
    who = f'<span class="user">{esc(user)}</span>' if user else ""
    stream_attr = f' data-stream="{esc(stream)}"' if stream else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · {esc(station)}</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        '<link rel="icon" href="/static/icon.svg" type="image/svg+xml">'
        '<script src="/static/app.js" defer></script>'
        f"</head><body{stream_attr}>"
        f'<header><div class="station">{esc(station)}</div>'
        f'<span id="live" class="live" data-state="off">static</span>{who}'
        f'<nav>{nav}</nav></header>'
        f'<p class="readonly" role="note">{esc(READ_ONLY)}</p>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>\n"
    )


def table(columns: Sequence[str], rows: Iterable[Mapping[str, Any]], *, row_key: str = "",
          body_id: str = "", empty: str = "nothing to show") -> str:
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    lines = []
    for row in rows:
        key = f' data-key="{esc(row.get(row_key))}"' if row_key else ""
        cells = "".join(f'<td data-col="{esc(c)}">{esc(row.get(c))}</td>' for c in columns)
        lines.append(f"<tr{key}>{cells}</tr>")
    if not lines:
        lines.append(f'<tr class="empty"><td colspan="{len(columns)}">{esc(empty)}</td></tr>')
    tbody_id = f' id="{esc(body_id)}"' if body_id else ""
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f'<tbody{tbody_id}>{"".join(lines)}</tbody></table></div>')


def facts(items: Iterable[tuple[str, object]], *, cls: str = "facts") -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items)
    return f'<dl class="{cls}">{rows}</dl>'


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days} d " if days else "") + f"{hours:02d}:{minutes:02d}:{secs:02d}"


# -- overview ----------------------------------------------------------------------------------
def overview_live(o: Mapping[str, Any]) -> str:
    """The parts of the overview that change: health, clock, journal, sources."""
    health = o["health"]
    state = ("healthy" if health["healthy"] else f"UNHEALTHY: {health['failure']}")
    dog = (f"{health['watchdog_sec']:g} s, {health['pings']} pings" if health["watchdog_sec"]
           else "no systemd watchdog")
    clock = o["clock"]
    out = ['<section><h2>Health</h2>',
           facts([("state", state), ("watchdog", dog), ("uptime", _duration(o["uptime"])),
                  ("queued events", o["queued_events"]), ("reloads", o["reloads"]),
                  ("last reload error", o["reload_error"]), ("last error", o["last_error"])],
                 cls="facts" + ("" if health["healthy"] else " bad")),
           "</section>",
           ('<section><h2>Health points</h2><p class="source">The outstation\'s own state as '
            'signals; a point with <code>source = "health:SIGNAL"</code> reports one to the '
            "masters.</p>"),
           table(("signal", "state", "points"), o.get("health_signals", ()),
                 row_key="signal", empty="no health signal in this configuration"),
           "</section>",
           "<section><h2>Clock</h2>",
           facts([("system time (UTC)", clock["system"]), ("station time", clock["station"]),
                  ("synchronised by a master", "yes" if clock["synchronised"] else "no"),
                  ("system clock synchronised (NTP)",
                   "yes" if clock.get("system_synchronised") else "no"),
                  ("time tags valid (no IV)", "yes" if clock.get("valid") else "no"),
                  ("offset from system time", f"{clock['offset']:+.3f} s"),
                  ("time tags invalid until synchronised",
                   "yes" if clock["time_invalid_until_sync"] else "no")]),
           "</section>"]
    journal = o["journal"]
    out.append("<section><h2>Event journal</h2>")
    if journal:
        out.append(facts([("file", journal.get("path")), ("stored", journal.get("stored")),
                          ("pending", journal.get("pending")),
                          ("restored at start-up", journal.get("restored")),
                          ("overflowed", journal.get("overflowed")),
                          ("commits", journal.get("commits")),
                          ("failures", journal.get("failures")),
                          ("last error", journal.get("last_error"))]))
    else:
        out.append("<p>off ([journal] enabled = false)</p>")
    soe = o.get("soe")
    out.append("</section><section><h2>Sequence-of-events log</h2>")
    if soe:
        out.append(facts([("file", soe.get("path")), ("logged", soe.get("logged")),
                          ("pending", soe.get("pending")), ("dropped", soe.get("dropped")),
                          ("pruned", soe.get("pruned")), ("failed writes", soe.get("failures")),
                          ("last error", soe.get("last_error"))]))
    else:
        out.append('<p>off ([soe] enabled, "auto": on with a state directory)</p>')
    out.append("</section><section><h2>Sources</h2>")
    out.append(table(("name", "running", "restarts", "state"),
                     [{**s, "state": s.get("state") or "-"} for s in o["sources"]]))
    out.append("</section>")
    return "".join(out)


def overview_page(o: Mapping[str, Any], *, user: str | None = None) -> str:
    station = facts([("host", o["host"]), ("software version", o["version"]),
                     ("configuration file", o["config"]),
                     ("configuration SHA-256", o["config_sha256"]),
                     ("common address", o["common_address"]), ("points", o["points"])])
    body = (f"<section><h2>Station</h2>{station}</section>"
            f'<div id="live-overview" data-live="overview">{overview_live(o)}</div>')
    return layout("Overview", "/", station_name(o), body, stream="/api/stream/status",
                  user=user)


def station_name(o: Mapping[str, Any]) -> str:
    return f"RTU {o['host']} · CA {o['common_address']}"


# -- points ------------------------------------------------------------------------------------
def points_page(rows: Sequence[Mapping[str, Any]], station: str, pattern: str, *,
                user: str | None = None) -> str:
    query = urlencode({"filter": pattern}) if pattern != "*" else ""
    form = ('<form class="filters" method="get" action="/points">'
            '<label>name <input name="filter" type="search" placeholder="glob, e.g. di*" '
            f'value="{esc("" if pattern == "*" else pattern)}"></label>'
            '<button type="submit">Filter</button></form>')
    body = (form + f'<p class="count">{len(rows)} points</p>'
            + table(POINT_COLUMNS, rows, row_key="name", body_id="points",
                    empty="no point matches"))
    stream = "/api/stream/points" + (f"?{query}" if query else "")
    return layout("Points", "/points", station, body, stream=stream, user=user)


# -- links -------------------------------------------------------------------------------------
def links_live(status: Mapping[str, Any]) -> str:
    out = ["<section><h2>IEC 60870-5-104</h2>"]
    iec104 = status.get("iec104")
    if iec104:
        out.append(facts([("listen", iec104["listen"]),
                          ("listening", "yes" if iec104["listening"] else "NO"),
                          ("connections",
                           f"{iec104['connections']} of {iec104['max_connections']}"),
                          ("refused", iec104["refused"]),
                          ("redundancy switchovers", iec104["switchovers"])]))
        masters = [{**m, "state": "data transfer" if m["data_transfer"] else "stopped",
                    "last error": m.get("last_error")} for m in status["masters"]]
        out.append(table(("name", "state", "queued", "unacknowledged", "overflowed",
                          "last error"), masters, row_key="name",
                         empty="no master connected"))
        errors = [{**e, "time": _time(e.get("time"))} for e in iec104.get("errors", ())]
        if errors:
            out.append("<h3>Recent connection errors</h3>")
            out.append(table(("time", "link", "error"), errors))
    else:
        out.append("<p>off ([iec104] enabled = false)</p>")
    out.append("</section><section><h2>IEC 60870-5-101</h2>")
    iec101 = status.get("iec101")
    if iec101:
        stats = iec101.get("statistics") or {}
        out.append(facts([("device", iec101["device"]), ("mode", iec101["mode"]),
                          ("port", "open" if iec101["open"] else "NOT OPEN"),
                          ("link", "up" if iec101["link_up"] else "down"),
                          ("reopens", iec101["reopens"]),
                          ("last error", _last_error(iec101.get("last_error"))),
                          *sorted((str(k), v) for k, v in stats.items())]))
    else:
        out.append("<p>off (no [iec101] section)</p>")
    out.append("</section><section><h2>Event groups</h2>")
    groups = [{"group": g["name"], "backlog": g["backlog"], "overflowed": g["overflowed"],
               "sessions": ", ".join(f"{s['name']} ({s['queued']} queued)"
                                     for s in g["sessions"]) or "-"}
              for g in status["groups"]]
    out.append(table(("group", "backlog", "overflowed", "sessions"), groups))
    out.append("</section><section><h2>Errors</h2>")
    out.append(facts([("last error", status.get("last_error")),
                      ("last reload error", status.get("reload_error"))]))
    out.append("</section>")
    return "".join(out)


def _time(value: object) -> str:
    return time_text(float(value)) if isinstance(value, (int, float)) else "-"


def _last_error(entry: Mapping[str, Any] | None) -> str:
    return f"{_time(entry.get('time'))} {entry.get('error')}" if entry else "-"


def links_page(status: Mapping[str, Any], station: str, *, user: str | None = None) -> str:
    body = f'<div id="live-links" data-live="links">{links_live(status)}</div>'
    return layout("Links", "/links", station, body, stream="/api/stream/status?view=links",
                  user=user)


# -- events ------------------------------------------------------------------------------------
def filter_form(action: str, fields: Mapping[str, tuple[str, str]], names: Sequence[str],
                filters: Mapping[str, str]) -> str:
    inputs = "".join(
        f'<label>{esc(fields[name][0])} <input name="{esc(name)}" type="search" '
        f'placeholder="{esc(fields[name][1])}" value="{esc(filters.get(name, ""))}"></label>'
        for name in names if name in fields)
    return (f'<form class="filters" method="get" action="{esc(action)}">{inputs}'
            '<button type="submit">Filter</button></form>')


def events_page(rows: Sequence[Mapping[str, Any]], station: str, filters: Mapping[str, str],
                source: str, *, columns: Sequence[str] = EVENT_COLUMNS,
                names: Sequence[str] = ("point", "kind", "cause", "quality"),
                user: str | None = None) -> str:
    query = urlencode({k: v for k, v in filters.items() if v})
    keyed = bool(rows) and "id" in rows[0]
    body = (filter_form("/events", _EVENT_FILTERS, names, filters)
            + f'<p class="source">{esc(source)}</p>'
            + table(columns, list(reversed(rows)), body_id="events", empty="no event yet",
                    row_key="id" if keyed else ""))
    stream = "/api/stream/events" + (f"?{query}" if query else "")
    return layout("Sequence of events", "/events", station, body, stream=stream, user=user)


# -- frames ------------------------------------------------------------------------------------
def frames_page(rows: Sequence[Mapping[str, Any]] | None, station: str,
                filters: Mapping[str, str] | None = None, *,
                user: str | None = None) -> str:
    if rows is None:
        body = ('<p class="notice">No frame monitor is attached to this outstation: the live '
                "frames of the 104 connections and the 101 line are shown here once one is "
                "(docs/web.md).</p>")
        return layout("Frame monitor", "/frames", station, body, user=user)
    filters = filters or {}
    query = urlencode({k: v for k, v in filters.items() if v})
    body = (filter_form("/frames", _FRAME_FILTERS, tuple(_FRAME_FILTERS), filters)
            + '<p class="source">Every frame of the 104 connections and the 101 line, decoded '
              "(newest first). Frames are taken from the links only while a frames view is "
              "open; those before are the last seen while one was.</p>"
            + table(FRAME_COLUMNS, list(reversed(rows)), body_id="frames",
                    empty="no frame yet"))
    stream = "/api/stream/frames" + (f"?{query}" if query else "")
    return layout("Frame monitor", "/frames", station, body, stream=stream, user=user)


def error_page(status: int, reason: str, text: str) -> str:
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{status} {esc(reason)}</title>"
            '<link rel="stylesheet" href="/static/app.css"></head>'
            f"<body><main><h1>{status} {esc(reason)}</h1><p>{esc(text)}</p>"
            '<p><a href="/">Overview</a></p></main></body></html>\n')
