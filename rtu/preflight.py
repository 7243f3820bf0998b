"""`rtu check`'s look at the paths `rtu run` will open, without creating or changing anything:
the state directory, the event journal, the TLS files (their contents are loaded by the
configuration check itself), the station certificate's dates and the serial devices (a missing
one is a warning: an adapter may be plugged later; a port claimed twice is an error of the
configuration itself). Each finding is ("error", text) where `rtu run` would fail or run
without something configured, ("warning", text) where it would repair something itself (a
journal file it would move aside)."""

from __future__ import annotations

import os
from pathlib import Path

from rtu.config import AppConfig
from rtu.eventstore import journal_path, unusable_journal_file
from rtu.statedir import directory_problem, state_directory_path

__all__ = ["Finding", "check_paths"]

Finding = tuple[str, str]


def check_paths(config: AppConfig) -> list[Finding]:
    findings: list[Finding] = []
    state = state_directory_path(config.service.state_directory)
    state_problem = directory_problem(state)
    needs_state = config.journal.enabled and not Path(config.journal.path).is_absolute()
    if state_problem is not None:
        findings.append(("error" if needs_state else "warning",
                         f"state directory {state_problem}"
                         + ("; the event journal would run without persistence"
                            if needs_state else "")))
    if config.journal.enabled:
        findings.extend(_journal(journal_path(config.journal.path, state),
                                 checked_parent=needs_state))
    from rtu.config.document import serial_ports

    for key, device in serial_ports(config):
        if not os.path.exists(device):
            findings.append(("warning", (f"{key}: {device}: no such device (yet): `rtu run` "
                                        "retries until it appears (an adapter plugged later)")))
    tls = config.iec104.tls if config.iec104 is not None else None
    if tls is not None:
        for what, name in (("certificate", tls.certificate), ("private key", tls.private_key),
                           ("CA file", tls.ca_file)):
            if name and not os.access(name, os.R_OK):
                findings.append(("error", f"TLS {what} {name}: not readable by this user"))
        from rtu.servers.tls import certificate_finding  # optional: only with [iec104.tls]

        finding = certificate_finding(tls)
        if finding is not None:
            findings.append(finding)
    return findings


def _journal(path: Path, *, checked_parent: bool) -> list[Finding]:
    if not os.path.lexists(path):
        if checked_parent:
            return []  # created in the state directory, checked above
        # `rtu run` creates the state directory, not the directory of an absolute path
        problem = (directory_problem(path.parent) if path.parent.exists()
                   else f"{path.parent}: does not exist")
        if problem is not None:
            return [("error", (f"event journal {path}: its directory {problem}; the outstation "
                              "would run without persistence"))]
        return []
    problem = unusable_journal_file(path)
    if problem is None:
        return []
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return [("error", (f"event journal {path}: {problem}, and it cannot be moved aside "
                          f"({path.parent} is not writable); the outstation would run without "
                          "persistence"))]
    return [("warning", (f"event journal {path}: {problem}; `rtu run` will move it aside and "
                        "start a new journal (its events are lost)"))]
