"""`rtu run` in a subprocess as systemd would run it (NOTIFY_SOCKET, WATCHDOG_USEC), driven by
the operator's `rtu status`, `rtu points`, `rtu sim set` over its unix socket and by SIGHUP;
and rtu.notify's datagrams on a real socket."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from rtu import notify as notify_module
from rtu.config import load_config
from rtu.control import ControlError, find_control_socket
from tests.integration.peers import free_tcp_port

pytestmark = pytest.mark.integration


def rtu(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtu", *args], capture_output=True, text=True,
                          timeout=20, check=False, env=env)


class Notes:
    """The notify socket systemd would listen on, read all the time as systemd does (a socket
    nobody reads fills up and would make the sender wait or drop)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.seen: list[str] = []  # received and not yet matched, in order
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                note = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.seen.append(note)

    def close(self) -> None:
        self._closed.set()
        self._reader.join(2)
        self.sock.close()

    def wait_for(self, pattern: str, timeout: float = 10.0) -> str:
        """The first note not matched before that matches ``pattern`` (it is consumed, with
        the non-matching notes before it)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                for i, note in enumerate(self.seen):
                    if re.fullmatch(pattern, note):
                        del self.seen[:i + 1]
                        return note
                seen = list(self.seen[-10:])
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {pattern!r} within {timeout} s; last notes: {seen}")
            time.sleep(0.01)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    text = resources.files("rtu.examples").joinpath("bench.toml").read_text()
    text = text.replace('listen = "127.0.0.1:2404"', f'listen = "127.0.0.1:{free_tcp_port()}"')
    text += f'\n[service]\ncontrol_socket = "{tmp_path}/ctl/control.sock"\n'
    path = tmp_path / "site.toml"
    path.write_text(text)
    return path


@pytest.fixture
def service(site: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Notes]]:
    notes = Notes(tmp_path / "notify")
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="400000")
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(site)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        notes.wait_for("READY=1")
        yield proc, notes
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        notes.close()


def status(site: Path) -> str:
    result = rtu("status", "--socket", str(site.parent / "ctl" / "control.sock"))
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_operator_commands_sighup_and_notifications(service: tuple[subprocess.Popen[str], Notes],
                                                    site: Path) -> None:
    proc, notes = service
    sock = str(site.parent / "ctl" / "control.sock")
    notes.wait_for("WATCHDOG=1")  # every 0.2 s: half of WATCHDOG_USEC
    assert re.match(rf"STATUS=0 masters connected, {len(load_config(site).points)} points, "
                    r"\d+ queued events",
                    notes.wait_for("STATUS=.*"))
    out = status(site)
    assert "healthy (watchdog 0.4 s" in out and re.search(r"(?m)^simulation +True", out), out

    assert rtu("sim", "set", "di01", "on", "--socket", sock).returncode == 0
    points = rtu("points", "--filter", "di01", "--socket", sock)
    assert re.search(r"(?m)^di01\s+1001\s+single\s+True\s+ok\s+\d{4}-", points.stdout), points
    refused = rtu("sim", "set", "relay1_pos", "on", "--socket", sock)
    assert refused.returncode == 1 and "not simulated" in refused.stderr
    unknown = rtu("sim", "set", "nope", "1", "--socket", sock)
    assert "no point 'nope'" in unknown.stderr

    site.write_text(site.read_text().replace("common_address = 1", "common_address = 7"))
    proc.send_signal(signal.SIGHUP)
    notes.wait_for("RELOADING=1")
    notes.wait_for("READY=1")
    assert "common address 7" in status(site) and "1 reload(s)" in status(site)

    good = site.read_text()
    site.write_text(good + "\n[bogus]\n")
    proc.send_signal(signal.SIGHUP)
    notes.wait_for("RELOADING=1")
    notes.wait_for("READY=1")
    assert "reload failed: invalid configuration" in notes.wait_for("STATUS=.*reload failed.*")
    assert "last reload failed" in status(site) and proc.poll() is None
    notes.wait_for("WATCHDOG=1")  # a refused reload is not unhealthy

    proc.terminate()
    assert proc.wait(10) == 0
    notes.wait_for("STOPPING=1")
    output = proc.stdout.read() if proc.stdout else ""
    assert "reload: station changed" in output and "bogus: unknown key" in output
    assert not Path(sock).exists()  # removed on the way out


def test_without_a_running_outstation_the_client_says_where_it_looked(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path))
    for name in ("RUNTIME_DIRECTORY", "RTU_CONTROL_SOCKET"):
        env.pop(name, None)
    result = rtu("status", env=env)
    assert result.returncode == 1
    assert f"{tmp_path}/rtu/control*.sock" in result.stderr and "is it running?" in result.stderr


def test_a_socket_file_nobody_serves_is_passed_over(tmp_path: Path) -> None:
    """A control socket left by a process that died is not taken for a running outstation."""
    (tmp_path / "rtu").mkdir()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left_over:
        left_over.bind(str(tmp_path / "rtu" / "control.sock"))  # bound, never listening
    with pytest.raises(ControlError, match=f"nobody answers at {tmp_path}/rtu/control.sock"):
        find_control_socket(None, {"XDG_RUNTIME_DIR": str(tmp_path)}, uid=4_000_123)


def test_a_second_instance_does_not_steal_the_socket(service: tuple[subprocess.Popen[str], Notes],
                                                     site: Path, tmp_path: Path) -> None:
    other = site.read_text()
    other = re.sub(r'listen = "127.0.0.1:\d+"', f'listen = "127.0.0.1:{free_tcp_port()}"', other)
    second = tmp_path / "second.toml"
    second.write_text(other)
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(second)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 10
        lines: list[str] = []
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "outstation ready" in line:
                break
        assert any("another outstation is already serving" in line for line in lines), lines
        assert "healthy" in status(site)  # the first one still answers
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> socket.socket:
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    return sock


def test_notify_reaches_the_socket(notify_socket: socket.socket) -> None:
    """Through systemd-python where installed, else the built-in datagram: same bytes."""
    with notify_socket:
        assert notify_module.notify("READY=1") is True
        assert notify_socket.recv(100) == b"READY=1"


def test_notify_fallback_without_systemd_python(notify_socket: socket.socket,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_systemd(name: str, *args: object, **kwargs: object) -> object:
        if name == "systemd" or name.startswith("systemd."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_systemd)
    with notify_socket:
        assert notify_module.notify("STATUS=hello") is True
        assert notify_socket.recv(100) == b"STATUS=hello"


def test_notify_fallback_abstract_and_bad_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"rtu-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify_module._send_datagram("WATCHDOG=1") is True
        assert sock.recv(100) == b"WATCHDOG=1"
    monkeypatch.setenv("NOTIFY_SOCKET", "vsock:2:1234")
    assert notify_module._send_datagram("READY=1") is False


def test_notify_fallback_never_blocks_on_a_full_socket(notify_socket: socket.socket,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A receiver that does not read (its queue holds net.unix.max_dgram_qlen datagrams) must
    not stall the event loop: the sender drops what does not fit, says so, and goes on."""
    with notify_socket:
        started = time.monotonic()
        sent = [notify_module._send_datagram("WATCHDOG=1") for _ in range(200)]
        assert sent[0] is True and sent[-1] is False  # the queue filled up; nothing waited
        assert notify_module._send_datagram("READY=1") is False  # retried briefly, then dropped
        assert time.monotonic() - started < 2.0
        assert "notification socket is full" in caplog.text
        assert notify_socket.recv(100) == b"WATCHDOG=1"  # what fitted was delivered
