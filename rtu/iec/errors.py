"""The two error kinds of the protocol cores (see DESIGN.md, rule 4)."""

from __future__ import annotations


class RemoteProtocolError(Exception):
    """The peer sent something malformed or out of order; answered as the standard says, never fatal."""


class LocalProtocolError(Exception):
    """We misused a protocol core: a bug in our code."""
