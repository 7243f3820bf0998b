"""What a reload would change (``rtu diff FILE``), shown before it is done.

The running outstation answers the operator socket's ``config`` command with
:func:`summary` of its configuration; ``rtu diff`` builds the same summary of FILE and
:func:`compare` sets one against the other with the rules a reload follows (rtu/reload.py):
which sections apply live, which servers restart, whether the field side is rebuilt (every
source then starts again), which relay outputs are rebuilt (those whose settings changed:
an unchanged relay keeps its object and its state), and which points are added, removed or
changed. The summary is JSON: a section is compared by a hash of its parsed settings, so two
files that say the same in other words show no change.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from typing import Any, Final

from rtu.config import AppConfig
from rtu.points.csvfile import COLUMNS, point_rows
from rtu.reload import LIVE_FIELDS

__all__ = ["compare", "summary"]

_NOT_SECTIONS: Final = frozenset({"source", "origin", "points", "relays", "sections"})
_SERVERS: Final = {"iec104": "104 server (listener reopened, masters reconnect)",
                   "iec101": "101 line (serial port reopened)",
                   "field_sizes": "101 line (serial port reopened)"}


def _fingerprint(value: object) -> str:
    return hashlib.sha256(repr(value).encode()).hexdigest()[:16]


def summary(config: AppConfig) -> dict[str, Any]:
    """``config`` as JSON, in the form :func:`compare` takes."""
    from rtu.components import components

    return {
        "path": config.source,
        "hash": config.digest or None,  # SHA-256 of the main file (config_sha256)
        # the registered components' own sections ([modbus], [iec61850], [dlms] ...) by name
        "sections": {**{f.name: _fingerprint(getattr(config, f.name))
                        for f in dataclasses.fields(config) if f.name not in _NOT_SECTIONS},
                     **{name: _fingerprint(value) for name, value in config.sections.items()}},
        "points": {row["name"]: row for row in point_rows(config.points)},
        "relays": {r.name: _fingerprint(r) for r in config.relays},
        "components": [c.name for c in components() if c.uses(config)],
        "reload_policy": config.service.reload,
        "journal": [config.journal.enabled, config.journal.path],
    }


def compare(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Lines saying what a reload from ``old`` to ``new`` changes (["nothing changed"])."""
    out: list[str] = []
    old_sections, new_sections = old["sections"], new["sections"]
    changed = [name for name in new_sections if old_sections.get(name) != new_sections[name]]
    if old["points"] != new["points"]:
        changed.append("points")
    if old["relays"] != new["relays"]:
        changed.append("relays")
    if not changed:
        return ["nothing changed" + (f" (hash {str(new['hash'])[:16]})" if new["hash"] else "")]
    rebuild = any(name not in LIVE_FIELDS for name in changed)
    live = [name for name in changed if name in LIVE_FIELDS and name not in _SERVERS]
    if old["journal"] != new["journal"]:
        out.append("REFUSED: journal.enabled or journal.path changed: a reload keeps the "
                   "running configuration; restart the service to apply it")
    if rebuild and new["reload_policy"] == "live-only":
        out.append("REFUSED: the field side would be rebuilt, and [service] reload = "
                   "\"live-only\": restart the service to apply it")
    out.append("sections changed: " + ", ".join(changed))
    if live:
        out.append("applied live: " + ", ".join(live))
    servers = sorted({_SERVERS[name] for name in changed if name in _SERVERS})
    for server in servers:
        out.append(f"server restarted: {server}")
    if rebuild:
        before, after = set(old["components"]), list(new["components"])
        out.append("field side rebuilt (queued events carried over; sources start again and "
                   "read their points anew): " + (", ".join(after) or "no sources"))
        for name in sorted(set(after) - before):
            out.append(f"  source added: {name}")
        for name in sorted(before - set(after)):
            out.append(f"  source removed: {name}")
        out.extend(_relays(old["relays"], new["relays"]))
    out.extend(_points(old["points"], new["points"]))
    return out


def _relays(old: Mapping[str, str], new: Mapping[str, str]) -> list[str]:
    out = []
    rebuilt = sorted(n for n in new if n in old and old[n] != new[n])
    if rebuilt:
        out.append("outputs rebuilt (settings changed: may switch to their initial state): "
                   + ", ".join(rebuilt))
    added = sorted(set(new) - set(old))
    if added:
        out.append("outputs added: " + ", ".join(added))
    removed = sorted(set(old) - set(new))
    if removed:
        out.append("outputs removed (released): " + ", ".join(removed))
    kept = sorted(n for n in new if old.get(n) == new[n])
    if kept:
        out.append(f"outputs kept as they are: {len(kept)}")
    return out


def _points(old: Mapping[str, Mapping[str, str]],
            new: Mapping[str, Mapping[str, str]]) -> list[str]:
    out = []
    added = [n for n in new if n not in old]
    removed = [n for n in old if n not in new]
    if added:
        out.append(f"points added ({len(added)}): " + ", ".join(
            f"{n} (ioa {new[n]['ioa']})" for n in added))
    if removed:
        out.append(f"points removed ({len(removed)}): " + ", ".join(
            f"{n} (ioa {old[n]['ioa']})" for n in removed))
    changes = []
    for name in new:
        if name in old and old[name] != new[name]:
            what = [f"{c} {old[name].get(c) or '-'!s} -> {new[name].get(c) or '-'!s}"
                    for c in COLUMNS if old[name].get(c) != new[name].get(c)]
            changes.append(f"  {name}: " + "; ".join(what))
    if changes:
        out.append(f"points changed ({len(changes)}):")
        out.extend(changes)
    return out
