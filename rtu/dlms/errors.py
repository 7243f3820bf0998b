"""The two error kinds of the DLMS/COSEM core (DESIGN.md rule 4)."""

from __future__ import annotations


class RemoteProtocolError(Exception):
    """The meter (or a pushing device) sent something malformed or unexpected: the driver logs
    it and ends the session; it never reaches the supervisor."""


class LocalProtocolError(Exception):
    """Our own misuse of the core (a call out of order, a value that cannot be encoded): a
    bug."""
