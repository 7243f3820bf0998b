"""Users of the web page: scrypt hashes, the users file and HTTP Basic checks (rtu/web/auth.py)."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
from pathlib import Path

import pytest

from rtu.web import auth
from rtu.web.auth import (
    Authenticator,
    UsersFileError,
    hash_password,
    parse_basic,
    parse_hash,
    parse_users,
    read_users_file,
    set_user,
    verify_password,
)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_hash_round_trip_and_salt() -> None:
    one = hash_password("secret", n=16)
    two = hash_password("secret", n=16)
    assert one.salt != two.salt and one.key != two.key  # salted
    assert parse_hash(one.encode()) == one
    assert verify_password(one, "secret") and not verify_password(one, "Secret")


def test_default_cost_is_the_rfc_7914_interactive_one() -> None:
    stored = hash_password("x")
    assert (stored.n, stored.r, stored.p, len(stored.salt), len(stored.key)) == (
        2**14, 8, 1, 16, 32)
    assert stored.encode().startswith("scrypt$16384$8$1$")


@pytest.mark.parametrize("text", ["plain", "scrypt$15$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                                  "scrypt$1048576$128$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==",
                                  "scrypt$16$8$1$AA$AAAAAAAAAAAAAAAAAAAAAA==",
                                  "scrypt$16$8$1$AAAAAAAAAAA=$!!!!"])
def test_malformed_hashes_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hash(text)


def test_parse_users_names_the_line() -> None:
    good = hash_password("pw", n=16).encode()
    assert set(parse_users(f"# c\n\nalice:{good}\nbob:{good}\n")) == {"alice", "bob"}
    with pytest.raises(UsersFileError, match="line 2: user 'alice' appears twice"):
        parse_users(f"alice:{good}\nalice:{good}\n")
    with pytest.raises(UsersFileError, match="line 1: expected NAME"):
        parse_users("no colon here\n")


def test_users_file_mode_and_size(tmp_path: Path) -> None:
    path = tmp_path / "users"
    assert set_user(str(path), "alice", "pw", n=16)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(read_users_file(str(path))) == {"alice"}
    assert not set_user(str(path), "alice", "new", n=16)  # replaced, not added
    assert set_user(str(path), "bob", "pw2", n=16)
    users = read_users_file(str(path))
    assert verify_password(users["alice"], "new") and verify_password(users["bob"], "pw2")
    os.chmod(path, 0o644)
    with pytest.raises(UsersFileError, match="0644"):
        read_users_file(str(path))
    with pytest.raises(UsersFileError, match="chmod 600"):
        set_user(str(path), "carol", "pw", n=16)
    big = tmp_path / "big"
    big.write_text("#" * (auth.MAX_FILE_OCTETS + 1))
    os.chmod(big, 0o600)
    with pytest.raises(UsersFileError, match="larger than"):
        read_users_file(str(big))
    empty = tmp_path / "empty"
    empty.write_text("# nobody yet\n")
    os.chmod(empty, 0o600)
    with pytest.raises(UsersFileError, match="no user"):
        read_users_file(str(empty))
    with pytest.raises(UsersFileError, match="regular file"):
        read_users_file(str(tmp_path))


def test_set_user_refuses_bad_names_and_passwords(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="user name"):
        set_user(str(tmp_path / "u"), "a b", "pw")
    with pytest.raises(ValueError, match="password"):
        set_user(str(tmp_path / "u"), "a", "")


@pytest.mark.parametrize("header", [None, "", "Bearer x", "Basic !!!", "Basic " +
                                    base64.b64encode(b"nocolon").decode(),
                                    "Basic " + base64.b64encode(b"bad name:pw").decode(),
                                    "Basic " + base64.b64encode(b"a:").decode(),
                                    "Basic " + "A" * 10000])
def test_parse_basic_refuses_malformed_headers(header: str | None) -> None:
    assert parse_basic(header) is None


def test_parse_basic() -> None:
    assert parse_basic(basic("alice", "p:w é")) == ("alice", "p:w é")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_authenticator_caches_good_passwords_and_limits_failures() -> None:
    clock = Clock()
    users = {"alice": hash_password("pw", n=16)}
    checker = Authenticator(users, clock=clock)
    calls: list[str] = []
    real = auth.verify_password

    def counting(stored: auth.PasswordHash, password: str) -> bool:
        calls.append(password)
        return real(stored, password)

    async def scenario() -> None:
        auth.verify_password = counting
        try:
            assert await checker.check(basic("alice", "pw")) == "alice"
            assert await checker.check(basic("alice", "pw")) == "alice"
            assert calls == ["pw"]  # the second came from the cache
            assert await checker.check(basic("alice", "wrong")) is None
            assert await checker.check(basic("mallory", "pw")) is None  # unknown user
            assert await checker.check("Basic garbage") is None
            for _ in range(auth.MAX_FAILURES - 2):  # with the two above: the limit
                assert await checker.check(basic("alice", "guess")) is None
            before = len(calls)
            assert await checker.check(basic("alice", "pw2")) is None
            assert checker.refused == 1 and len(calls) == before  # no scrypt run
            assert await checker.check(basic("alice", "pw")) == "alice"  # cached: still in
            clock.now += auth.FAILURE_WINDOW + 1
            assert await checker.check(basic("alice", "wrong")) is None
            assert len(calls) == before + 1  # tried again after the window
            clock.now += auth.CACHE_SECONDS
            assert await checker.check(basic("alice", "pw")) == "alice"
            assert len(calls) == before + 2  # the cache entry had expired
        finally:
            auth.verify_password = real

    asyncio.run(scenario())
    assert checker.failures == auth.MAX_FAILURES + 1
