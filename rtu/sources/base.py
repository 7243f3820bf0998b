"""What every field source looks like to the supervisor."""

from __future__ import annotations

from typing import Protocol


class Source(Protocol):
    """A reader feeding the point database. ``run`` loops until cancelled; if it raises, the
    supervisor logs the error and restarts it with backoff (the source should have marked its
    points IV/NT first, where it can)."""

    name: str

    async def run(self) -> None: ...
