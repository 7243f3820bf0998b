"""Users of the web page: salted scrypt hashes in a file only the service may read.

The users file (``[web] users_file``) holds one user per line, ``NAME:HASH``; blank lines and
lines starting with ``#`` are ignored. HASH is ``scrypt$N$R$P$SALT$KEY`` with SALT and KEY in
base64 (``rtu web-user FILE NAME`` writes such lines): RFC 7914 scrypt, by default N = 2**14,
r = 8, p = 1 (16 MiB of memory for about a tenth of a second on a Pi 4), a 16-octet random salt
and a 32-octet key. Like the DLMS credentials file, a users file that grants any permission to
group or others is refused.

:class:`Authenticator` checks HTTP Basic credentials (only ever sent over TLS: the ``[web]``
section refuses a non-loopback bind without it). Bounds: one scrypt runs at a time (in a
thread); a good password is remembered for :data:`CACHE_SECONDS` as a keyed digest (never the
password), so the page's requests do not each pay for scrypt; after :data:`MAX_FAILURES` wrong
passwords within :data:`FAILURE_WINDOW` seconds every further uncached attempt is refused
without running scrypt until the window has passed (counted in ``refused``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import stat
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

from rtu.frozen import frozen

DEFAULT_N: Final = 2**14
DEFAULT_R: Final = 8
DEFAULT_P: Final = 1
SALT_OCTETS: Final = 16
KEY_OCTETS: Final = 32
MAX_FILE_OCTETS: Final = 64 * 1024
MAX_USERS: Final = 100
MAX_SCRYPT_MEMORY: Final = 64 * 1024 * 1024  # octets: N * r * 128 above this is refused
CACHE_SECONDS: Final = 600.0
MAX_FAILURES: Final = 10
FAILURE_WINDOW: Final = 60.0
MAX_PASSWORD_OCTETS: Final = 1024
NAME_RE: Final = re.compile(r"[A-Za-z0-9_.@-]{1,64}")
_HASH_RE: Final = re.compile(r"scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/=]{4,88})"
                             r"\$([A-Za-z0-9+/=]{4,88})")


class UsersFileError(ValueError):
    """The users file is missing, too open, too big or malformed; the message says which."""


@frozen
class PasswordHash:
    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def encode(self) -> str:
        salt = base64.b64encode(self.salt).decode()
        key = base64.b64encode(self.key).decode()
        return f"scrypt${self.n}${self.r}${self.p}${salt}${key}"


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                  salt: bytes | None = None) -> PasswordHash:
    salt = secrets.token_bytes(SALT_OCTETS) if salt is None else salt
    key = _scrypt(password.encode("utf-8"), salt, n, r, p, KEY_OCTETS)
    return PasswordHash(n, r, p, salt, key)


def verify_password(stored: PasswordHash, password: str) -> bool:
    candidate = _scrypt(password.encode("utf-8"), stored.salt, stored.n, stored.r, stored.p,
                        len(stored.key))
    return hmac.compare_digest(candidate, stored.key)


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=length,
                          maxmem=MAX_SCRYPT_MEMORY + 1024 * 1024)


def parse_hash(text: str) -> PasswordHash:
    """``scrypt$N$R$P$SALT$KEY`` -> PasswordHash; ValueError says what is wrong."""
    match = _HASH_RE.fullmatch(text)
    if match is None:
        raise ValueError("expected scrypt$N$R$P$SALT$KEY (write it with `rtu web-user`)")
    n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16:
        raise ValueError("scrypt parameters: N must be a power of two >= 2, r 1..32, p 1..16")
    if n * r * 128 > MAX_SCRYPT_MEMORY:
        raise ValueError(f"scrypt parameters need more than {MAX_SCRYPT_MEMORY >> 20} MiB "
                         "(N * r * 128 octets)")
    try:
        salt = base64.b64decode(match.group(4), validate=True)
        key = base64.b64decode(match.group(5), validate=True)
    except binascii.Error:
        raise ValueError("salt and key must be base64") from None
    if len(salt) < 8 or len(key) < 16:
        raise ValueError("salt must be at least 8 octets and key at least 16")
    return PasswordHash(n, r, p, salt, key)


def parse_users(text: str) -> dict[str, PasswordHash]:
    """The users of a users file's text; UsersFileError names the line at fault."""
    users: dict[str, PasswordHash] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, colon, encoded = line.partition(":")
        if not colon or not NAME_RE.fullmatch(name):
            raise UsersFileError(f"line {number}: expected NAME:scrypt$..., NAME of letters, "
                                 "digits, '_', '.', '@' or '-' (at most 64)")
        if name in users:
            raise UsersFileError(f"line {number}: user {name!r} appears twice")
        try:
            users[name] = parse_hash(encoded)
        except ValueError as exc:  # never echo the line: it holds a hash
            raise UsersFileError(f"line {number} (user {name!r}): {exc}") from None
        if len(users) > MAX_USERS:
            raise UsersFileError(f"more than {MAX_USERS} users")
    return users


def read_users_file(path: str) -> dict[str, PasswordHash]:
    """Read and check the users file: a regular file, mode without group/other bits, at most
    :data:`MAX_FILE_OCTETS`, at least one user. UsersFileError says why not."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read the users file: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UsersFileError(f"{path}: expected a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise UsersFileError(f"{path}: expected a file only the service can read (chmod "
                                 f"600), got mode {mode:04o}: it grants access to group or "
                                 "others")
        if info.st_size > MAX_FILE_OCTETS:
            raise UsersFileError(f"{path}: larger than {MAX_FILE_OCTETS} octets")
        data = os.read(fd, MAX_FILE_OCTETS + 1)
    except OSError as exc:
        raise UsersFileError(f"{path}: cannot read the users file: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsersFileError(f"{path}: expected UTF-8 text") from None
    try:
        users = parse_users(text)
    except UsersFileError as exc:
        raise UsersFileError(f"{path}: {exc}") from None
    if not users:
        raise UsersFileError(f"{path}: no user (add one with `rtu web-user {path} NAME`)")
    return users


def set_user(path: str, name: str, password: str, *, n: int = DEFAULT_N) -> bool:
    """Add ``name`` to the users file or replace its password (the file is created mode 0600
    and rewritten whole); True if the user was new. ValueError for a bad name or password."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r}: a user name is 1..64 letters, digits, '_', '.', '@' or '-'")
    if not password or len(password.encode("utf-8")) > MAX_PASSWORD_OCTETS:
        raise ValueError(f"the password must be 1..{MAX_PASSWORD_OCTETS} octets")
    lines: list[str] = []
    if os.path.exists(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            raise UsersFileError(f"{path}: mode {mode:04o} grants access to group or others; "
                                 "chmod 600 it (its hashes may have been read) first")
        lines = _lines(path)
        parse_users("\n".join(lines))  # a malformed file is refused, not rewritten
    encoded = hash_password(password, n=n).encode()
    new = True
    for i, line in enumerate(lines):
        if line.split(":", 1)[0].strip() == name:
            lines[i] = f"{name}:{encoded}"
            new = False
    if new:
        lines.append(f"{name}:{encoded}")
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, ("\n".join(lines) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return new


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


class Authenticator:
    """HTTP Basic credentials against the users of a users file (see the module docstring)."""

    def __init__(self, users: Mapping[str, PasswordHash], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.users = dict(users)
        self._clock = clock
        self._key = secrets.token_bytes(32)  # keys the cache digests; lives in memory only
        self._cache: dict[str, tuple[bytes, float]] = {}  # user -> (digest, expiry)
        self._failures: deque[float] = deque()
        self._lock = asyncio.Lock()
        self.refused = 0  # attempts refused without scrypt while too many failures
        self.failures = 0  # wrong user or password

    async def check(self, header: str | None) -> str | None:
        """The user an ``Authorization`` header authenticates, or None."""
        credentials = parse_basic(header)
        if credentials is None:
            return None
        name, password = credentials
        now = self._clock()
        digest = hmac.new(self._key, f"{name}:{password}".encode(), hashlib.sha256).digest()
        cached = self._cache.get(name)
        if cached is not None and cached[1] > now and hmac.compare_digest(cached[0], digest):
            return name
        while self._failures and self._failures[0] <= now - FAILURE_WINDOW:
            self._failures.popleft()
        if len(self._failures) >= MAX_FAILURES:
            self.refused += 1
            return None
        stored = self.users.get(name)
        async with self._lock:  # one scrypt at a time: 16 MiB and a core each
            if stored is None:
                # the same work for an unknown user, so that timing does not tell names apart
                await asyncio.to_thread(hash_password, password, salt=b"\0" * SALT_OCTETS)
                ok = False
            else:
                ok = await asyncio.to_thread(verify_password, stored, password)
        if not ok:
            self.failures += 1
            self._failures.append(self._clock())
            return None
        if len(self._cache) >= MAX_USERS:
            self._cache.clear()
        self._cache[name] = (digest, self._clock() + CACHE_SECONDS)
        return name


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``Basic base64(user:password)`` -> (user, password), or None when malformed."""
    if not header or len(header) > 4 * MAX_PASSWORD_OCTETS:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    if not colon or not NAME_RE.fullmatch(name) or not password:
        return None
    return name, password
