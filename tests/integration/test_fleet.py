"""Fleet roll-out with Ansible (deploy/ansible) against two booted bookworm containers.

Two systemd-nspawn containers of a cached amd64 tree with openssh-server (deploy/debian-tree.sh)
boot with private networks; each one's sshd is reached from here over SSH through a forwarder
on a 127.0.0.1 port. ansible-core (its own venv, .venv-ansible, made by scripts/setup-test)
runs the playbooks with an inventory of those ports. Two bundles (deploy/bundle.sh amd64) are
the software: this checkout (0.1.0) and a copy of it as 0.1.0.post1; both are cached in
/var/cache/rtu-test-bundles. In order:

1. a good roll-out: install from the bundle, a configuration from the template with a
   per-host common address; each board runs it (hash, health) with `rtu` on PATH;
2. a re-run changes nothing (changed=0 on every board);
3. a configuration that the board's `rtu check` refuses: nothing changes on the board, the
   roll-out stops there (the second board is not touched);
4. a configuration that passes the check but fails on the board (its 104 port is taken by
   sshd): it is rolled back to the previous one, which runs again; the roll-out stops;
5. a software upgrade to 0.1.0.post1, then rollback.yml: back on 0.1.0, state kept;
   an extra whose wheel is missing fails the installer loudly and switches nothing; a
   roll-back to a release that cannot read the state directory's format is refused;
6. report.yml: one table with each board's version, configuration hash and health.

Skipped with the reason where it cannot run: not root, tools missing, no ansible venv, no
mirror for debootstrap. RTU_SKIP_NSPAWN=1 skips it on purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration import boards

pytestmark = pytest.mark.integration

ROOT = boards.ROOT
ANSIBLE = Path(os.environ.get("RTU_TEST_ANSIBLE_VENV", ROOT / ".venv-ansible")) / "bin"
PLAYBOOKS = ROOT / "deploy" / "ansible"
TEMPLATE = PLAYBOOKS / "templates" / "rtu.toml.j2"
UPGRADE = "0.1.0.post1"

_REASON = boards.why_not(("socat", "socat"), ("ssh", "openssh-client"),
                         ("ssh-keygen", "openssh-client"))
if _REASON is None and not (ANSIBLE / "ansible-playbook").exists():
    _REASON = f"no {ANSIBLE}/ansible-playbook (scripts/setup-test makes .venv-ansible)"
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)


@dataclass
class Fleet:
    boxes: dict[str, boards.Container]
    ports: dict[str, int]
    work: Path
    key: Path
    bundle_v1: Path
    bundle_v2: Path
    host_vars: dict[str, dict[str, object]] = field(default_factory=dict)

    def playbook(self, name: str, host_vars: dict[str, dict[str, object]] | None = None,
                 **extra: object) -> subprocess.CompletedProcess[str]:
        inventory = {"all": {"children": {"rtu": {"hosts": {
            host: {"ansible_host": "127.0.0.1", "ansible_port": self.ports[host],
                   "ansible_user": "root", "ansible_ssh_private_key_file": str(self.key),
                   "ansible_python_interpreter": "/usr/bin/python3",
                   **(host_vars or self.host_vars).get(host, {})}
            for host in self.boxes}}}}}
        (self.work / "inventory.json").write_text(json.dumps(inventory))
        (self.work / "extra.json").write_text(json.dumps({
            "rtu_verify_retries": 10, "rtu_report": str(self.work / "report.txt"), **extra}))
        env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_NOCOLOR": "1",
               "ANSIBLE_PIPELINING": "True", "ANSIBLE_RETRY_FILES_ENABLED": "False",
               "ANSIBLE_HOME": str(self.work / "ansible-home"),
               "ANSIBLE_LOCAL_TEMP": str(self.work / "ansible-tmp"),
               "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s "
                                   "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no",
               "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCALHOST_WARNING": "False"}
        return boards.run([str(ANSIBLE / "ansible-playbook"), "-i",
                           str(self.work / "inventory.json"), str(PLAYBOOKS / name),
                           "-e", f"@{self.work / 'extra.json'}"], timeout=900, env=env)

    def status(self, host: str) -> dict[str, object]:
        out = self.boxes[host].ok("rtu status --json")
        status = json.loads(out)
        assert isinstance(status, dict)
        return status

    def file_sha256(self, host: str) -> str:
        return self.boxes[host].ok("sha256sum /etc/rtu/rtu.toml").split()[0]


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP: host -> {ok, changed, failed, ...} (summed over the plays)."""
    totals: dict[str, dict[str, int]] = {}
    for host, counts in re.findall(r"(?m)^(\S+)\s+:\s+(ok=.*)$", output):
        row = totals.setdefault(host, {})
        for key, value in re.findall(r"(\w+)=(\d+)", counts):
            row[key] = row.get(key, 0) + int(value)
    return totals


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    rootfs = boards.tree("amd64", boards.SYSTEMD_PACKAGES)
    bundle_v1 = boards.bundle("amd64")
    work = tmp_path_factory.mktemp("fleet")
    bundle_v2 = boards.bundle("amd64", boards.copy_with_version(work, UPGRADE))
    key = work / "id_ed25519"
    boards.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], timeout=30)
    public = key.with_suffix(".pub").read_text().strip()
    boxes: dict[str, boards.Container] = {}
    ports: dict[str, int] = {}
    try:
        for host in ("board1", "board2"):
            box = boards.Container(rootfs, f"rtu{host}{os.getpid()}", work / f"{host}.log")
            boxes[host] = box
            state = box.boot()
            if state not in ("running", "degraded"):
                pytest.skip(f"the container does not boot here: {state}")
            box.ok(f"mkdir -p -m 700 /root/.ssh && echo '{public}' > /root/.ssh/authorized_keys"
                   " && systemctl start ssh.service")
            ports[host] = box.forward_ssh()
        yield Fleet(boxes, ports, work, key, bundle_v1, bundle_v2, host_vars={
            "board1": {"rtu_common_address": 11}, "board2": {"rtu_common_address": 12}})
    finally:
        for box in boxes.values():
            box.poweroff()


def good_rollout(fleet: Fleet) -> subprocess.CompletedProcess[str]:
    return fleet.playbook("site.yml", rtu_bundle=str(fleet.bundle_v1),
                          rtu_config_template=str(TEMPLATE))


def test_good_rollout(fleet: Fleet) -> None:
    result = good_rollout(fleet)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    for host, address in (("board1", 11), ("board2", 12)):
        status = fleet.status(host)  # `rtu` is on PATH
        assert status["common_address"] == address
        assert status["config_sha256"] == fleet.file_sha256(host)
        assert status["health"]["healthy"] is True and status["reload_error"] is None  # type: ignore[index]
        assert fleet.boxes[host].ok("rtu --version").strip() == "rtu 0.1.0"
        release = fleet.boxes[host].ok("readlink /opt/rtu/current").strip()
        assert release.startswith("releases/0.1.0-")
        # no compiler came with it
        assert fleet.boxes[host].sh("command -v gcc cc").stdout.strip() == ""


def test_rerun_changes_nothing(fleet: Fleet) -> None:
    result = good_rollout(fleet)
    assert result.returncode == 0, result.stdout[-6000:]
    counts = recap(result.stdout)
    assert set(counts) >= {"board1", "board2"}, result.stdout[-3000:]
    assert counts["board1"]["changed"] == 0 and counts["board2"]["changed"] == 0, \
        result.stdout[-6000:]


def test_config_refused_by_rtu_check_changes_nothing_and_stops(fleet: Fleet) -> None:
    before = {host: fleet.file_sha256(host) for host in fleet.boxes}
    result = fleet.playbook("site.yml", host_vars={
        "board1": {"rtu_common_address": 70000}, "board2": {"rtu_common_address": 22}},
        rtu_config_template=str(TEMPLATE))
    assert result.returncode != 0, result.stdout[-4000:]
    assert "rtu check" in result.stdout and "common_address" in result.stdout, \
        result.stdout[-4000:]
    for host in fleet.boxes:  # board1 refused it; board2 (a later batch) was not touched
        assert fleet.file_sha256(host) == before[host]
        assert fleet.status(host)["config_sha256"] == before[host]
    assert "board2" not in recap(result.stdout), "the roll-out went on after a failure"


def test_config_failing_on_the_board_is_rolled_back(fleet: Fleet) -> None:
    before = {host: fleet.file_sha256(host) for host in fleet.boxes}
    # valid for `rtu check`, but 127.0.0.1:22 is sshd's in the container: the reload fails
    result = fleet.playbook("site.yml", host_vars={
        "board1": {"rtu_common_address": 11, "rtu_listen": "127.0.0.1:22"},
        "board2": {"rtu_common_address": 12, "rtu_listen": "127.0.0.1:22"}},
        rtu_config_template=str(TEMPLATE))
    assert result.returncode != 0, result.stdout[-4000:]
    assert "ROLLED BACK: board1" in result.stdout, result.stdout[-6000:]
    for host in fleet.boxes:
        assert fleet.file_sha256(host) == before[host]
        status = fleet.status(host)
        assert status["config_sha256"] == before[host]
        assert status["health"]["healthy"] is True  # type: ignore[index]
    assert "board2" not in recap(result.stdout), "the roll-out went on after a failure"


def test_upgrade_then_roll_back(fleet: Fleet) -> None:
    result = fleet.playbook("site.yml", rtu_bundle=str(fleet.bundle_v2))
    assert result.returncode == 0, result.stdout[-6000:]
    for host, box in fleet.boxes.items():
        assert box.ok("rtu --version").strip() == f"rtu {UPGRADE}"
        assert box.ok("readlink /opt/rtu/previous").strip().startswith("releases/0.1.0-")
        assert fleet.status(host)["health"]["healthy"] is True  # type: ignore[index]
    journals = {host: box.ok("ls /var/lib/rtu") for host, box in fleet.boxes.items()}
    assert all("events.sqlite3" in j and "FORMAT" in j for j in journals.values()), journals

    result = fleet.playbook("rollback.yml")
    assert result.returncode == 0, result.stdout[-6000:]
    for host, box in fleet.boxes.items():
        assert box.ok("rtu --version").strip() == "rtu 0.1.0"
        assert box.ok("readlink /opt/rtu/previous").strip().startswith(f"releases/{UPGRADE}-")
        assert fleet.status(host)["health"]["healthy"] is True  # type: ignore[index]
        assert box.ok("ls /var/lib/rtu") == journals[host]  # the state directory is kept


def test_an_extra_that_cannot_be_installed_fails_loudly(fleet: Fleet) -> None:
    """A bundle missing the systemd extra's wheel: install.sh names the package, switches
    nothing and leaves the running release running."""
    box = fleet.boxes["board1"]
    before = box.ok("readlink /opt/rtu/current").strip()
    releases = box.ok("ls /opt/rtu/releases")
    result = box.sh(
        "set -e; src=$(ls -d /var/cache/rtu-bundles/rtu-bundle-0.1.0-amd64-*/ | head -n 1);"
        " rm -rf /tmp/broken; cp -a \"$src\" /tmp/broken;"
        " rm /tmp/broken/wheels/systemd_python-*.whl;"
        " sed -i 's/^content=.*/content=0123456789abcdef/' /tmp/broken/BUNDLE;"
        " /tmp/broken/deploy/install.sh --extras systemd", timeout=300)
    assert result.returncode == 1, result.stderr
    assert "FAILED: extra 'systemd' cannot be installed" in result.stderr, result.stderr
    assert "systemd-python" in result.stderr and "has no usable wheel" in result.stderr
    assert "done" not in result.stderr.splitlines()[-1]
    assert box.ok("readlink /opt/rtu/current").strip() == before
    assert box.ok("ls /opt/rtu/releases") == releases  # no half-made release left behind
    assert box.ok("systemctl is-active rtu.service").strip() == "active"


def test_rollback_refused_when_the_previous_release_cannot_read_the_state(fleet: Fleet) -> None:
    box = fleet.boxes["board1"]
    before = box.ok("readlink /opt/rtu/current").strip()
    box.ok("cp /var/lib/rtu/FORMAT /tmp/FORMAT && echo 'rtu-state-format 2' > /var/lib/rtu/FORMAT")
    try:
        result = box.sh("/opt/rtu/current/share/deploy/install.sh --rollback", timeout=120)
    finally:
        box.ok("cp /tmp/FORMAT /var/lib/rtu/FORMAT")
    assert result.returncode == 1, result.stderr
    assert "reads state formats up to 1, but /var/lib/rtu is format 2" in result.stderr, \
        result.stderr
    assert box.ok("readlink /opt/rtu/current").strip() == before


def test_fleet_report(fleet: Fleet) -> None:
    result = fleet.playbook("report.yml")
    assert result.returncode == 0, result.stdout[-6000:]
    lines = (fleet.work / "report.txt").read_text().splitlines()
    assert lines[0].split()[:5] == ["BOARD", "RELEASE", "VERSION", "CONFIG", "ON_DISK"], lines
    rows = {line.split()[0]: line for line in lines[1:] if line.strip()}
    assert set(rows) == {"board1", "board2"}, lines
    for host, row in rows.items():
        digest = fleet.file_sha256(host)
        assert digest[:12] in row and " same " in row and "healthy" in row, row
        assert " 0.1.0 " in row, row
    assert hashlib.sha256(b"").hexdigest()[:12] not in "\n".join(lines)
