"""[web]: parsing, the loopback rule `rtu check` enforces, the users file and TLS reuse."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from rtu.config import ConfigError, load_config, parse_config
from rtu.web.auth import hash_password
from rtu.web.settings import WebSettings, is_loopback, with_listen
from tests.unit.test_config import SRC, minimal, single_error


def doc(**web: Any) -> dict[str, Any]:
    data = minimal()
    data["web"] = web
    return data


def users_file(tmp_path: Path, mode: int = 0o600) -> Path:
    path = tmp_path / "web-users"
    path.write_text(f"# users\nalice:{hash_password('pw', n=16).encode()}\n")
    os.chmod(path, mode)
    return path


def test_absent_or_disabled_is_off() -> None:
    assert parse_config(minimal(), SRC).web is None
    assert parse_config(doc(enabled=False, listen="0.0.0.0:80"), SRC).web is None


def test_defaults_bind_loopback() -> None:
    web = parse_config(doc(), SRC).web
    assert web == WebSettings()
    assert (web.host, web.port, web.tls, web.max_clients, web.client_queue) == (
        "127.0.0.1", 8080, False, 4, 256)


def test_keys_and_ranges() -> None:
    web = parse_config(doc(listen="[::1]:0", max_clients=2, client_queue=16), SRC).web
    assert web is not None and (web.host, web.port, web.max_clients) == ("::1", 0, 2)
    assert single_error(doc(max_clients=0)).startswith(f"{SRC}: web.max_clients: expected an "
                                                       "integer 1..64")
    assert "web.client_queue" in single_error(doc(client_queue=1))
    assert "web.listen" in single_error(doc(listen="8080"))
    assert "unknown key" in single_error(doc(lisen="127.0.0.1:1"))


@pytest.mark.parametrize("listen", ["0.0.0.0:8080", "10.1.2.3:443", "[::]:8080",
                                    "station.example:8080"])
def test_non_loopback_without_tls_and_auth_is_refused(listen: str) -> None:
    line = single_error(doc(listen=listen))
    assert line.startswith(f"{SRC}: web.listen: ") and "is not a loopback address" in line
    assert "tls = true" in line and "ssh -L" in line


def test_non_loopback_with_users_but_no_tls_is_refused(tmp_path: Path) -> None:
    line = single_error(doc(listen="0.0.0.0:8443", users_file=str(users_file(tmp_path))))
    assert "is not a loopback address" in line


def test_tls_without_a_certificate_is_refused() -> None:
    assert "needs the station certificate" in single_error(doc(tls=True))
    assert "needs tls = true" in single_error(doc(client_certificates=True))
    assert "web.tls is false" in single_error(doc(certificate="a.pem", private_key="b.pem"))


def test_a_certificate_that_does_not_load_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    line = single_error(doc(tls=True, certificate=str(bad), private_key=str(bad)))
    assert line.startswith(f"{SRC}: web.tls: certificate {bad}")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_users_file_open_to_others_is_refused(tmp_path: Path, mode: int) -> None:
    line = single_error(doc(users_file=str(users_file(tmp_path, mode))))
    assert "web.users_file" in line and "chmod 600" in line and f"{mode:04o}" in line


def test_users_file_missing_or_malformed(tmp_path: Path) -> None:
    assert "cannot read the users file" in single_error(doc(users_file=str(tmp_path / "no")))
    path = tmp_path / "u"
    path.write_text("alice:plaintext\n")
    os.chmod(path, 0o600)
    line = single_error(doc(users_file=str(path)))
    assert "line 1 (user 'alice')" in line and "plaintext" not in line.split("line 1")[1]


def test_relative_paths_are_beside_the_config_file(tmp_path: Path) -> None:
    users_file(tmp_path)
    site = tmp_path / "site.toml"
    site.write_text('[web]\nusers_file = "web-users"\n')
    web = load_config(site).web
    assert web is not None and web.users_file == str(tmp_path / "web-users")


def test_with_listen_for_the_command_line() -> None:
    assert with_listen(None, "127.0.0.1:0") == WebSettings(port=0)
    kept = with_listen(WebSettings(max_clients=9), "localhost:9000")
    assert (kept.host, kept.port, kept.max_clients) == ("localhost", 9000, 9)
    with pytest.raises(ValueError, match="not a loopback address"):
        with_listen(None, "0.0.0.0:8080")
    with pytest.raises(ValueError, match="missing port"):
        with_listen(None, "8080")
    secured = WebSettings(certificate="c", private_key="k", ca_file="ca")
    assert with_listen(secured, "0.0.0.0:1").host == "0.0.0.0"


def test_is_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.1.2.3") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("host")


def test_config_error_lists_web_with_other_errors() -> None:
    data = doc(listen="0.0.0.0:1", max_clients=0)
    with pytest.raises(ConfigError) as info:
        parse_config(data, SRC)
    assert len(info.value.errors) == 2


def test_recent_events() -> None:
    web = parse_config(doc(recent_events=0), SRC).web
    assert web is not None and web.recent_events == 0
    assert WebSettings().recent_events == 1000
    assert "web.recent_events: expected an integer 0..100000" in single_error(
        doc(recent_events=-1))
