"""What start-up leaves out: OpenSSL's libraries until something needs TLS.

asyncio imports :mod:`ssl` when it is imported itself (``try: import ssl`` in three of its
modules), and :mod:`hashlib` loads OpenSSL's libcrypto for SHA-256. Together they cost about
4.5 MiB of resident memory and a few milliseconds of every start, for an outstation that runs
TLS only when ``[iec104] tls`` or ``[web] tls`` says so. So:

* :func:`import_asyncio` (called first thing by ``rtu.cli``) imports asyncio with ``ssl``
  hidden, which asyncio takes for a Python without ssl: it keeps ``ssl = None`` in
  ``asyncio.base_events``, ``asyncio.selector_events`` and ``asyncio.sslproto``;
* :func:`tls` imports :mod:`ssl` and gives it back to those modules (the same names asyncio's
  own ``import ssl`` would have set, unchanged from Python 3.11 to 3.13). Every module that
  makes an ``SSLContext`` for the loop gets ``ssl`` from here (rtu/servers/tls.py,
  rtu/web/settings.py); tests/unit/test_startup.py runs a TLS handshake through asyncio
  after it;
* :func:`sha256` hashes with the interpreter's built-in SHA-256 unless :mod:`hashlib` is
  loaded already (the same digest; OpenSSL's is faster, about 1.7 GB/s against 0.3 GB/s,
  which matters only for the cache key of a very large point list).
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hashlib import _Hash

# asyncio's modules that import ssl when they are imported, and keep None without it
_ASYNCIO_SSL_USERS = ("asyncio.base_events", "asyncio.selector_events", "asyncio.sslproto")
# the interpreter's own SHA-256 module: _sha2 from Python 3.12, _sha256 before
_BUILTIN_SHA256 = ("_sha2", "_sha256")


def import_asyncio() -> None:
    """Import asyncio without :mod:`ssl`, unless either is imported already (then nothing
    changes: whatever imported ssl first wanted it)."""
    if "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
    try:
        import asyncio
        import asyncio.sslproto  # noqa: F401  (imported by asyncio today; made sure of)
    finally:
        del sys.modules["ssl"]


def tls() -> ModuleType:
    """:mod:`ssl`, given to asyncio if :func:`import_asyncio` left it out. Call it before
    an ``SSLContext`` is handed to the loop."""
    import ssl

    for name in _ASYNCIO_SSL_USERS:
        module = sys.modules.get(name)
        if module is not None and getattr(module, "ssl", ssl) is None:
            module.ssl = ssl  # type: ignore[attr-defined]
    sslproto = sys.modules.get("asyncio.sslproto")
    if sslproto is not None and not hasattr(sslproto, "SSLAgainErrors"):
        # what asyncio.sslproto defines at import when it has ssl
        sslproto.SSLAgainErrors = (  # type: ignore[attr-defined]
            ssl.SSLWantReadError, ssl.SSLSyscallError)
    return ssl


def sha256(data: bytes = b"") -> _Hash:
    """A SHA-256 object: hashlib's (OpenSSL) when hashlib is imported, else the built-in."""
    if "hashlib" not in sys.modules:
        for name in _BUILTIN_SHA256:
            try:
                module = importlib.import_module(name)
            except ImportError:
                continue
            made: _Hash = module.sha256(data)
            return made
    import hashlib

    return hashlib.sha256(data)
