"""sd_notify through systemd-python when it is installed and systemd asked for it; else nothing."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; False when not running under systemd."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    try:
        from systemd import daemon  # type: ignore[import-not-found, attr-defined, unused-ignore]
    except ImportError:
        log.debug("systemd-python not installed; %s not sent", state)
        return False
    return bool(daemon.notify(state))
