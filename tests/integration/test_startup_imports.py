"""Nothing optional is imported before READY=1 unless the configuration uses it (issue 21).

`rtu run` runs in a fresh interpreter (this test process has imported everything already)
until READY=1, where it prints ``sorted(sys.modules)`` and ends: first with a file of
simulated points and a 104 server only, from the file and then from the validated-config
cache (a restart), then with the bench profile. Each import left out is start-up time and
resident memory (OpenSSL's and SQLite's libraries are megabytes of it), so the lists below
are what no such start may load. Also here: TLS still works through asyncio after
rtu/startup.py imported asyncio without ssl, on every Python this machine has.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.certs import make_pki

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]

# what a start may never load unless configured: TLS, the journal's and SOE's SQLite, the
# gateways and their libraries, board drivers, the web page, the monitor, the 101 line
NEVER = (
    "ssl", "_ssl", "hashlib", "_hashlib", "difflib", "zoneinfo", "csv",
    "pymodbus", "serial", "RPi", "gpiod", "spidev", "smbus2", "open61850", "aiohttp",
    "hal.modbus", "hal.gpio", "hal.gpio_gpiod", "hal.gpio_rpi", "hal.adc", "hal.dlms",
    "rtu.dlms", "rtu.sources.gpio.source", "rtu.sources.adc.source",
    # a component's package is its registration line (rtu/components.py): its modules are not
    *(f"rtu.sources.{kind}.{module}" for kind in ("modbus", "iec61850", "dlms")
      for module in ("config", "source")),
    "rtu.monitor", "rtu.iec.cs101.ft12", "rtu.iec.cs101.link", "rtu.servers.iec101",
    "rtu.servers.tls", "rtu.web", "rtu.configdiff", "rtu.eventstore",
)
# the minimal configuration keeps no state directory: no sequence-of-events log either
MINIMAL_NEVER = (*NEVER, "sqlite3", "_sqlite3", "rtu.sources.gpio.config",
                 "rtu.sources.adc.config")
# the bench profile serves a Modbus device of its own: pymodbus comes after READY=1; its
# state directory keeps the sequence-of-events log (sqlite3)
BENCH_NEVER = tuple(m for m in NEVER if not m.startswith(("hal.modbus", "rtu.sources.modbus.")))

RUN_UNTIL_READY = """
import json, os, sys, threading, time
from pathlib import Path
import rtu.cli  # first, as the `rtu` entry point and `python -m rtu` do
import rtu.supervisor
cache = Path(os.environ["STATE_DIRECTORY"], "config.cache")
def wait_for_cache():  # a first start: until the cache is written after READY=1
    deadline = time.monotonic() + 60
    while not cache.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    os._exit(0)
def notify(state):
    if state == "READY=1":
        print(json.dumps(sorted(sys.modules)), flush=True)
        if not os.environ.get("WAIT_FOR_CACHE"):
            os._exit(0)
        threading.Thread(target=wait_for_cache, daemon=True).start()
rtu.supervisor.notify = notify
sys.exit(rtu.cli.main(sys.argv[1:]))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def modules_at_ready(config: Path, state: Path, *, wait_for_cache: bool = False) -> set[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "STATE_DIRECTORY": str(state), "XDG_RUNTIME_DIR": str(state),
           "WAIT_FOR_CACHE": "1" if wait_for_cache else ""}
    done = subprocess.run([sys.executable, "-c", RUN_UNTIL_READY, "run", "--config", str(config),
                           "--listen", f"127.0.0.1:{free_port()}"], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if m in names or m.startswith(tuple(n + "." for n in names)))


MINIMAL = """
[station]
common_address = 1
[iec104]
listen = "127.0.0.1:2404"
[soe]
enabled = false
[[relays]]
name = "k1"
driver = "sim"
[[points]]
name = "k1_pos"
ioa = 100
kind = "single"
[[points]]
name = "k1_cmd"
ioa = 200
kind = "single_command"
target = "k1"
feedback = "k1_pos"
[[points]]
name = "sp1"
ioa = 1001
kind = "single"
source = "sim"
[[points]]
name = "me1"
ioa = 2001
kind = "float"
source = "sim"
range = [0.0, 100.0]
"""


def test_simulated_points_and_104_import_nothing_optional(tmp_path: Path) -> None:
    config = tmp_path / "rtu.toml"
    config.write_text(MINIMAL)
    state = tmp_path / "state"
    state.mkdir()
    first = modules_at_ready(config, state, wait_for_cache=True)
    assert {"rtu.supervisor", "rtu.servers.iec104", "rtu.sources.simulated.source",
            "tomllib"} <= first  # the check below can fail: these are what ran
    assert loaded(first, MINIMAL_NEVER) == []
    assert (state / "config.cache").exists()
    restart = modules_at_ready(config, state)
    assert "tomllib" not in restart  # started from the cached validated configuration
    assert "rtu.servers.iec104" in restart
    assert loaded(restart, MINIMAL_NEVER) == []


def test_the_bench_profile_imports_nothing_optional_before_ready(tmp_path: Path) -> None:
    config = ROOT / "rtu" / "examples" / "bench.toml"
    state = tmp_path / "state"
    state.mkdir()
    first = modules_at_ready(config, state, wait_for_cache=True)
    assert {"rtu.sources.modbus.source", "hal.modbus_served", "sqlite3"} <= first
    assert loaded(first, BENCH_NEVER) == []
    restart = modules_at_ready(config, state)
    assert "tomllib" not in restart
    assert loaded(restart, BENCH_NEVER) == []


TLS_THROUGH_ASYNCIO = """
import sys
from rtu.startup import import_asyncio, tls
import_asyncio()
import asyncio
assert "ssl" not in sys.modules and "_ssl" not in sys.modules, "ssl was imported"
cert, key = sys.argv[1], sys.argv[2]
ssl = tls()
server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_context.load_cert_chain(cert, key)
client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
client_context.load_verify_locations(cafile=sys.argv[3])
client_context.check_hostname = False

async def main():
    async def echo(reader, writer):
        writer.write(await reader.readexactly(5))
        await writer.drain()
        writer.close()
    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
        writer.write(b"hello")
        answer = await reader.readexactly(5)
        version = writer.get_extra_info("ssl_object").version()
        writer.close()
    server.close()
    print(answer.decode(), version)
asyncio.run(main())
"""


def _pythons() -> list[str]:
    """This interpreter and any other CPython 3.11 or later installed on the machine (the
    system's, pyenv's): asyncio's ssl names are what rtu/startup.py gives back."""
    found = [sys.executable]
    pyenv = Path.home() / ".pyenv" / "versions"
    candidates = [*sorted(Path("/usr/bin").glob("python3.1[1-9]")),
                  *(sorted(v / "bin" / "python3" for v in pyenv.glob("3.1[1-9]*"))
                    if pyenv.is_dir() else [])]
    for path in candidates:
        if os.access(path, os.X_OK) and subprocess.run(
                [str(path), "-c", "import sys; assert sys.version_info >= (3, 11)"],
                capture_output=True, timeout=30, check=False).returncode == 0:
            found.append(str(path))
    return list(dict.fromkeys(found))


ASYNCIO_NAMES = """
import json, sys
if sys.argv[1] == "hidden":
    from rtu.startup import import_asyncio, tls
    import_asyncio()
    assert "ssl" not in sys.modules, "ssl was imported"
    tls()
import asyncio, asyncio.sslproto
names = {}
for name, module in sorted(sys.modules.items()):
    if name.startswith("asyncio") and module is not None:
        names[name] = {k: v is None for k, v in vars(module).items() if not k.startswith("__")}
print(json.dumps(names))
"""


def test_asyncio_after_tls_has_every_name_a_normal_import_gives() -> None:
    """Whatever asyncio defines or leaves None depending on ssl (today ``ssl`` in three modules
    and ``SSLAgainErrors``): after ``import_asyncio()`` and ``tls()`` every asyncio module has
    the same names, set (not None) where a normal import sets them, on each CPython found. A
    Python whose asyncio keeps something else from ssl fails here, not in a handshake."""
    for python in _pythons():
        seen = {}
        for how in ("normal", "hidden"):
            done = subprocess.run([python, "-I", "-c",
                                   f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                                   + ASYNCIO_NAMES, how],
                                  capture_output=True, text=True, timeout=60, check=False)
            assert done.returncode == 0, (python, how, done.stderr[-2000:])
            seen[how] = json.loads(done.stdout)
        normal, hidden = seen["normal"], seen["hidden"]
        assert sorted(hidden) == sorted(normal), python
        for module, names in normal.items():
            missing = sorted(set(names) - set(hidden[module]))
            assert missing == [], (python, module, missing)
            none_now = sorted(k for k, was_none in names.items()
                              if not was_none and hidden[module][k])
            assert none_now == [], (python, module, none_now)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls_works_through_asyncio_imported_without_ssl(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    for python in _pythons():
        done = subprocess.run([python, "-I", "-c",
                               f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
                               + TLS_THROUGH_ASYNCIO,
                               str(pki.server.cert), str(pki.server.key), str(pki.ca.cert)],
                              capture_output=True, text=True, env=env, timeout=60, check=False)
        assert done.returncode == 0, (python, done.stderr[-2000:])
        assert done.stdout.split()[0] == "hello", (python, done.stdout)
        assert done.stdout.split()[1].startswith("TLSv1."), (python, done.stdout)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_rtu_run_serves_104_over_tls(tmp_path: Path) -> None:
    """The real entry point (asyncio imported without ssl, rtu/servers/tls.py giving it back):
    a TLS master completes the handshake, starts data transfer and gets a GI."""
    import ssl
    import time

    from tests.integration.peers import build_asdu
    from tests.integration.test_tls import TlsRaw104Client, client_context

    pki = make_pki(tmp_path)
    port = free_port()
    config = tmp_path / "rtu.toml"
    config.write_text(MINIMAL.replace('listen = "127.0.0.1:2404"\n', (
        f'listen = "127.0.0.1:{port}"\n[iec104.tls]\ncertificate = "{pki.server.cert}"\n'
        f'private_key = "{pki.server.key}"\nca_file = "{pki.ca.cert}"\n'
        f'allowed_fingerprints = ["{pki.master.fingerprint}"]\n')))
    state = tmp_path / "state"
    state.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT),
           "STATE_DIRECTORY": str(state), "XDG_RUNTIME_DIR": str(state)}
    proc = subprocess.Popen([sys.executable, "-m", "rtu", "run", "--config", str(config)],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), 0.5):
                    break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "not listening"
                time.sleep(0.05)
        with TlsRaw104Client(port, client_context(pki, pki.master)) as client:
            assert isinstance(client.sock, ssl.SSLSocket)
            client.startdt()
            client.send_asdu(build_asdu("C_IC_NA_1", 6, 1, [(0, bytes([20]))]))
            client.recv_until(lambda a: a.get("type") == "C_IC_NA_1" and a.get("cot") == 10)
    finally:
        proc.terminate()
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate(timeout=5)
    assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]
