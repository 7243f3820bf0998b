"""The operator client talks only to a socket that is ours (root's, the invoking user's or the
service user's, in a directory others cannot write), and each outstation has its own socket:
planted sockets owned by another uid (the tests run as root and chown to a made-up uid), and
two `python -m rtu run` of one user side by side."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from rtu.control import ControlError, find_control_socket, request
from tests.integration.test_event_journal import REPO, outstation, write_config

pytestmark = pytest.mark.integration

STRANGER = 4_000_321  # a uid that is neither root, us, nor the service user


class Planted:
    """A listening unix socket that answers 'healthy' to anything and counts what it got."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.requests: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    data = conn.recv(4096)
                except TimeoutError:
                    data = b""
                if data:
                    self.requests.append(data)
                    conn.sendall(b'{"ok": true, "result": "healthy"}\n')

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@contextmanager
def planted(path: Path) -> Iterator[Planted]:
    p = Planted(path)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(autouse=True)
def _root_only() -> None:
    if os.geteuid() != 0:
        pytest.skip("plants sockets owned by another uid: needs root")


def test_a_socket_owned_by_another_user_is_refused_before_anything_is_sent(
        tmp_path: Path) -> None:
    with planted(tmp_path / "control.sock") as fake:
        os.chown(fake.path, STRANGER, STRANGER)
        with pytest.raises(ControlError, match=f"owned by uid {STRANGER}, not by root, you"):
            request(fake.path, {"command": "status"})
        assert fake.requests == []


def test_a_directory_of_another_user_or_writable_by_others_is_refused(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    with planted(theirs / "control.sock") as fake:
        os.chown(theirs, STRANGER, STRANGER)
        with pytest.raises(ControlError, match=f"directory {theirs} is owned by uid {STRANGER}"):
            request(fake.path, {"command": "status"})
        os.chown(theirs, 0, 0)
        theirs.chmod(0o777)
        with pytest.raises(ControlError, match="writable by others"):
            request(fake.path, {"command": "status"})
        theirs.chmod(0o1777)  # sticky, as /tmp: others cannot replace our socket
        assert request(fake.path, {"command": "status"}) == "healthy"
        assert len(fake.requests) == 1


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    with planted(tmp_path / "real.sock") as fake:
        (tmp_path / "control.sock").symlink_to(fake.path)
        with pytest.raises(ControlError, match="symbolic link"):
            request(tmp_path / "control.sock", {"command": "status"})
        assert fake.requests == []


def test_the_search_passes_over_a_planted_socket_and_names_it(tmp_path: Path) -> None:
    (tmp_path / "rtu").mkdir()
    with planted(tmp_path / "rtu" / "control.sock") as fake:
        os.chown(fake.path, STRANGER, STRANGER)
        with pytest.raises(ControlError, match=f"refused \\(not trusted\\): {fake.path} is owned"):
            find_control_socket(None, {"XDG_RUNTIME_DIR": str(tmp_path)}, uid=os.getuid())
        assert fake.requests == []


def rtu_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtu", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=30, check=False)


def test_two_outstations_of_one_user_have_their_own_sockets(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    for name in ("RUNTIME_DIRECTORY", "RTU_CONTROL_SOCKET", "STATE_DIRECTORY"):
        monkeypatch.delenv(name, raising=False)
    configs = []
    for site in ("a", "b"):
        (tmp_path / site).mkdir()
        config, _ = write_config(tmp_path / site, 1.0)
        text = config.read_text()
        config.write_text("\n".join(line for line in text.splitlines()
                                    if not line.startswith("control_socket")))
        configs.append(config)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with ExitStack() as stack:
        for config in configs:
            stack.enter_context(outstation(config))
        sockets = sorted((runtime / "rtu").glob("control-*.sock"))
        assert len(sockets) == 2
        both = rtu_cli("status", env=env)
        assert both.returncode == 1 and "several outstations answer" in both.stderr
        seen = set()
        for path in sockets:
            one = rtu_cli("status", "--socket", str(path), env=env)
            assert one.returncode == 0, one.stderr
            seen.add(next(str(c) for c in configs if str(c) in one.stdout))
        assert seen == {str(c) for c in configs}
