"""Pi platforms, emulated: arm64 and armhf (32-bit) Debian bookworm userlands under qemu-user.

For each architecture: the offline bundle (deploy/bundle.sh ARCH: its wheels built in a cached
bookworm tree of ARCH, emulated) is installed with deploy/install.sh into a second cached tree
of ARCH that has no compiler and no network (systemd-nspawn --private-network: only its own
loopback), then the installed service's command (`rtu run` with the installed
/etc/rtu/rtu.toml, the bench profile) runs there, and a raw-socket master (gi_master.py,
standard library only, run by the board's own Python) asks for a station interrogation on
its loopback and must get ACT_CON, every monitored point and ACT_TERM.

The userland runs under qemu-user through binfmt_misc (Debian's qemu-user-static, installed by
scripts/setup-test); the test skips, with the reason, where binfmt_misc cannot be used. The
container is not booted (systemd as PID 1 under qemu-user is not what is tested here: the
unit is proven by test_nspawn.py and test_fleet.py); the installer then enables the unit
without starting it. Trees are cached in /var/cache/rtu-trees and bundles in
/var/cache/rtu-test-bundles: a warm run only installs and runs (about a minute per
architecture, emulated).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rtu.config import bench_config
from tests.integration import boards
from tests.integration.outstation_thread import station_gi_objects

pytestmark = pytest.mark.integration

BOARD_PACKAGES = "python3,python3-venv,procps,iproute2"
MACHINE = {"arm64": "aarch64", "armhf": "armv7l"}

_REASON = boards.why_not()
if _REASON is not None:
    pytest.skip(_REASON, allow_module_level=True)

SCRIPT = """
set -eu
mkdir -p /tmp/bundle && tar -C /tmp/bundle -xzf /bundle.tar.gz
if command -v gcc cc >/dev/null 2>&1; then echo "a compiler is installed" >&2; exit 9; fi
/tmp/bundle/rtu-bundle-*/deploy/install.sh --no-start --no-hw-watchdog >&2
echo "machine=$(uname -m)"
echo "version=$(rtu --version)"
echo "release=$(readlink /opt/rtu/current)"
rtu check /etc/rtu/rtu.toml >&2
rtu run --config /etc/rtu/rtu.toml >/tmp/rtu.log 2>&1 &
RTU=$!
python3 /gi_master.py 127.0.0.1 2404 1 240 >/tmp/gi.json || { cat /tmp/rtu.log >&2; exit 8; }
echo "gi=$(cat /tmp/gi.json)"
kill -TERM $RTU
wait $RTU && echo "rtu_exit=0" || echo "rtu_exit=$?"
"""


@pytest.mark.parametrize("arch", ["arm64", "armhf"])
def test_bundle_installs_offline_and_answers_a_gi(arch: str, tmp_path: Path) -> None:
    board = boards.tree(arch, BOARD_PACKAGES)
    archive = boards.bundle(arch)
    script = tmp_path / "board.sh"
    script.write_text(SCRIPT)
    result = boards.run(
        ["systemd-nspawn", "--quiet", "-D", str(board), "--register=no", "--keep-unit",
         "--volatile=overlay", "--private-network", "--pipe", "--as-pid2",
         f"--machine=rtu{arch}{os.getpid()}",
         f"--bind-ro={archive}:/bundle.tar.gz", f"--bind-ro={script}:/board.sh",
         f"--bind-ro={Path(__file__).with_name('gi_master.py')}:/gi_master.py",
         "/bin/sh", "/board.sh"],
        timeout=1500, stdin=open(os.devnull))  # noqa: SIM115
    assert result.returncode == 0, f"{arch}: exit {result.returncode}\n{result.stdout}\n" \
        f"{result.stderr[-4000:]}"
    facts = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    assert facts["machine"] == MACHINE[arch]
    assert facts["version"].startswith("rtu ") and facts["release"].startswith("releases/")
    assert "install: done" in result.stderr
    gi = json.loads(facts["gi"])
    expected = station_gi_objects(bench_config())  # station 1 (CA 1): the GI is sent there
    assert gi["startdt"] and gi["actcon"] and gi["actterm"], gi
    assert gi["objects"] == expected, gi
    assert facts["rtu_exit"] == "0", result.stdout
