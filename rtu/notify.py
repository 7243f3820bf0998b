"""sd_notify through systemd-python when it is installed and systemd asked for it; else nothing.

systemd-python is the optional extra ``rtu-outstation[systemd]`` (deploy/install.sh installs
it). Where it is missing (it builds from source against libsystemd) but systemd still set
``NOTIFY_SOCKET``, the datagram is sent by hand: one ``AF_UNIX`` datagram to that socket, the
whole protocol of sd_notify(3). A Type=notify unit thus never hangs in "activating" for the
want of a C extension.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; False when not running under systemd."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    try:
        from systemd import daemon  # type: ignore[import-not-found, attr-defined, unused-ignore]
    except ImportError:
        return _send_datagram(state)
    return bool(daemon.notify(state))


_fallback_logged = False
_ATTEMPTS = 5
_RETRY_PAUSE = 0.01  # seconds


def _send_datagram(state: str) -> bool:
    """sd_notify(3) without libsystemd: ``state`` as one datagram to ``$NOTIFY_SOCKET``."""
    global _fallback_logged
    import socket

    path = os.environ.get("NOTIFY_SOCKET", "")
    if not _fallback_logged:
        _fallback_logged = True
        log.info("systemd-python not installed; notifying systemd through %s directly", path)
    address = "\0" + path[1:] if path.startswith("@") else path  # @: abstract namespace
    if not address.startswith(("/", "\0")):
        log.warning("NOTIFY_SOCKET=%r is not a unix socket path; %s not sent", path, state)
        return False
    # Never block the event loop: a receiver whose queue is full (net.unix.max_dgram_qlen,
    # often 10) would hold a blocking sendto, and with it the loop, until it reads. A WATCHDOG=1
    # that does not fit is dropped (the next one follows within half the watchdog period); the
    # other states are tried a few more times within 50 ms.
    attempts = 1 if state.startswith("WATCHDOG=") else _ATTEMPTS
    try:
        with socket.socket(socket.AF_UNIX,
                           socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK) as sock:
            for attempt in range(attempts):
                try:
                    sock.sendto(state.encode(), address)
                    return True
                except BlockingIOError:
                    if attempt + 1 < attempts:
                        time.sleep(_RETRY_PAUSE)
    except OSError as exc:
        log.warning("cannot notify systemd (%s): %s", state.split("=", 1)[0], exc)
        return False
    log.warning("cannot notify systemd (%s): its notification socket is full",
                state.split("=", 1)[0])
    return False
