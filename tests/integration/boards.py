"""Helpers of the container tests (test_nspawn.py, test_fleet.py, test_boards.py): cached Debian
trees and bundles built by the project's own scripts, and booted systemd-nspawn containers
driven via nsenter.

Everything heavy is cached outside the checkout: trees in /var/cache/rtu-trees
(deploy/debian-tree.sh, keyed by architecture and package list), bundles in
/var/cache/rtu-test-bundles (deploy/bundle.sh, keyed by the project's files), so a warm run
only boots and installs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLES = Path(os.environ.get("RTU_TEST_BUNDLES", "/var/cache/rtu-test-bundles"))
KEEP_BUNDLES = 12  # older bundles in BUNDLES are deleted: each code change makes new ones
#: the tree that boots a systemd with an sshd: the service test (test_nspawn.py) and the Ansible
#: fleet (test_fleet.py) share it (one debootstrap, one cache entry)
SYSTEMD_PACKAGES = ("systemd,systemd-sysv,dbus,udev,python3,python3-venv,procps,iproute2,"
                    "openssh-server")


def why_not(*tools: tuple[str, str]) -> str | None:
    """Why the board tests cannot run here, or None."""
    if os.environ.get("RTU_SKIP_NSPAWN") == "1":
        return "RTU_SKIP_NSPAWN=1"
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (debootstrap, systemd-nspawn)"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap"),
                          ("nsenter", "util-linux"), *tools):
        if shutil.which(tool) is None:
            return f"{tool} not installed (Debian package {package}; scripts/setup-test installs it)"
    return None


def run(cmd: list[str], timeout: float, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                          **kw)  # type: ignore[call-overload]


def host_arch() -> str:
    """This machine's Debian architecture (amd64, arm64 ...): its trees boot natively."""
    result = run(["dpkg", "--print-architecture"], timeout=30)
    return result.stdout.strip() if result.returncode == 0 else "amd64"


def tree(arch: str, packages: str) -> Path:
    """A cached bookworm tree of ``arch`` (skips the test, with the reason, where it cannot be
    built: no binfmt_misc for a foreign architecture, no mirror)."""
    result = run([str(ROOT / "deploy" / "debian-tree.sh"), arch, packages], timeout=3000)
    if result.returncode != 0:
        pytest.skip(f"cannot build the bookworm/{arch} tree: {result.stderr.strip()[-700:]}")
    return Path(result.stdout.strip().splitlines()[-1])


def bundle(arch: str, source: Path = ROOT) -> Path:
    """The offline bundle for ``arch`` of the project at ``source`` (deploy/bundle.sh)."""
    BUNDLES.mkdir(parents=True, exist_ok=True)
    result = run([str(source / "deploy" / "bundle.sh"), "-o", str(BUNDLES), arch], timeout=3000)
    if result.returncode == 2:
        pytest.skip(f"cannot build a bundle for {arch} here: {result.stderr.strip()[-700:]}")
    assert result.returncode == 0, f"deploy/bundle.sh {arch} failed:\n{result.stderr[-3000:]}"
    made = Path(result.stdout.strip().splitlines()[-1])
    old = sorted(BUNDLES.glob("rtu-bundle-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    for stale in old[:-KEEP_BUNDLES]:
        if stale != made:
            stale.unlink(missing_ok=True)
    return made


def copy_with_version(tmp: Path, version: str) -> Path:
    """A copy of the project whose pyproject.toml says ``version`` (a second release)."""
    dest = tmp / f"rtu-{version}"
    for name in ("rtu", "hal", "deploy", "systemd", "docs"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("README.md", "LICENSE"):
        shutil.copy2(ROOT / name, dest / name)
    text = (ROOT / "pyproject.toml").read_text()
    (dest / "pyproject.toml").write_text(text.replace('\nversion = "0.1.0"\n',
                                                      f'\nversion = "{version}"\n', 1))
    assert f'version = "{version}"' in (dest / "pyproject.toml").read_text()
    return dest


class Container:
    """A tree booted with systemd-nspawn (``--volatile=overlay``: the cached tree stays pristine;
    ``--private-network``: its loopback is its own), driven with nsenter."""

    def __init__(self, rootfs: Path, name: str, log: Path, binds: tuple[str, ...] = ()) -> None:
        self.name = name
        self.log = log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "--quiet", "-D", str(rootfs), "--boot", "--register=no",
             "--keep-unit", "--volatile=overlay", "--private-network", f"--machine={name}",
             f"--hostname={name}", "--console=passive", *binds],
            stdin=subprocess.DEVNULL, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.leader = 0
        self._forwarder: subprocess.Popen[bytes] | None = None

    def boot(self, timeout: float = 120.0) -> str:
        """Wait for the container's systemd; its state ("running", "degraded") or a reason."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.leader:
            if self.proc.poll() is not None:
                return f"systemd-nspawn exited with {self.proc.returncode}: {self.tail()}"
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            for pid in children.read_text().split() if children.exists() else []:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    self.leader = int(pid)
            time.sleep(0.2)
        if not self.leader:
            return f"no systemd in the container after {timeout:.0f} s: {self.tail()}"
        while True:
            left = deadline - time.monotonic()
            result = self.sh("systemctl is-system-running --wait", timeout=max(5.0, left))
            state = result.stdout.strip()
            if state in ("running", "degraded") or left <= 0:
                return state or f"{result.stderr.strip()} {self.tail()}"
            time.sleep(0.5)

    def sh(self, script: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return run(["nsenter", "-t", str(self.leader), "-a", "--", "/usr/bin/env", "-i", env,
                    "/bin/sh", "-c", script], timeout=timeout)

    def ok(self, script: str, timeout: float = 60.0) -> str:
        result = self.sh(script, timeout)
        assert result.returncode == 0, f"{self.name}: {script!r} failed ({result.returncode}):" \
            f"\n{result.stdout}\n{result.stderr}\n--- journal:\n{self.journal()}"
        return result.stdout

    def show(self, *props: str) -> dict[str, str]:
        """rtu.service's systemd properties ``props``."""
        out = self.ok(f"systemctl show rtu.service -p {','.join(props)}")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def wait_for(self, props: dict[str, str], timeout: float) -> dict[str, str]:
        """Poll rtu.service until its properties are ``props`` or ``timeout`` s have passed; the
        last reading (with StatusText, MainPID and NRestarts)."""
        deadline = time.monotonic() + timeout
        while True:
            now = self.show(*props, "StatusText", "MainPID", "NRestarts")
            if all(now.get(k) == v for k, v in props.items()) or time.monotonic() > deadline:
                return now
            time.sleep(0.3)

    def journal(self) -> str:
        if not self.leader:
            return ""
        return self.sh("journalctl -u rtu.service --no-pager -n 60 -o short-monotonic",
                       timeout=30).stdout

    def tail(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-800:]

    def forward_ssh(self) -> int:
        """A host port on 127.0.0.1 that reaches the container's sshd (its 127.0.0.1:22)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        inner = f"nsenter -t {self.leader} -n socat STDIO TCP\\:127.0.0.1\\:22"
        self._forwarder = subprocess.Popen(
            ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork", f"EXEC:{inner}"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.1)
        raise AssertionError(f"the ssh forwarder of {self.name} does not listen on {port}")

    def poweroff(self) -> None:
        if self._forwarder is not None and self._forwarder.poll() is None:
            os.killpg(self._forwarder.pid, signal.SIGTERM)
            self._forwarder.wait(10)
        if self.leader and self.proc.poll() is None:
            self.sh("systemctl poweroff --no-block", timeout=20)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._log_file.close()
