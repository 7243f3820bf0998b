"""The station certificate's dates and master certificate revocation (IEC 62351-3), with
certificates made by the openssl command: `rtu check` and start-up report an expired, not yet
valid or expiring station certificate; failed handshakes say so; a CRL refuses a revoked master
with a clear line; a reload reads the files again (rotation without a restart)."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import ssl
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rtu.config import AppConfig, bench_config, load_config
from rtu.servers.iec104 import Iec104Server
from rtu.servers.tls import TlsSettings, certificate_finding, certificate_validity
from tests.integration.certs import Identity, Pki, dated_leaf, make_pki, revocation_list
from tests.integration.outstation_thread import OutstationThread
from tests.integration.peers import free_tcp_port, wait_log
from tests.integration.test_event_journal import REPO
from tests.integration.test_reload import Running

pytestmark = pytest.mark.integration
TLS_LOGGER = "rtu.servers"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def settings(pki: Pki, station: Identity | None = None, **kw: object) -> TlsSettings:
    station = station or pki.server
    return TlsSettings(certificate=str(station.cert), private_key=str(station.key),
                       ca_file=str(pki.ca.cert), **kw)  # type: ignore[arg-type]


def with_tls(tls: TlsSettings) -> AppConfig:
    base = bench_config()
    assert base.iec104 is not None
    return dataclasses.replace(base, iec104=dataclasses.replace(base.iec104, tls=tls))


def openssl_dates(cert: Path) -> tuple[datetime, datetime]:
    out = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-dates"],
                         capture_output=True, text=True, check=True, timeout=30).stdout
    fields = dict(line.split("=", 1) for line in out.splitlines())

    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)

    return parse(fields["notBefore"]), parse(fields["notAfter"])


def test_the_dates_read_are_openssls_and_the_thresholds_hold(pki: Pki, tmp_path: Path) -> None:
    old = dated_leaf(tmp_path, "old", pki.ca, "20200101000000Z", "20200201000000Z")
    late = dated_leaf(tmp_path, "late", pki.ca, "20610101000000Z", "20620101000000Z")
    for cert in (pki.server.cert, old.cert, late.cert):  # UTCTime and GeneralizedTime (2050+)
        validity = certificate_validity(str(cert))
        assert (validity.not_before, validity.not_after) == openssl_dates(cert)
    long = dated_leaf(tmp_path, "long", pki.ca, "20240101000000Z", "20990101000000Z")
    end = certificate_validity(str(long.cert)).not_after
    tls = settings(pki, long)
    assert certificate_finding(tls, end - timedelta(days=31)) is None
    kind, text = certificate_finding(tls, end - timedelta(days=10)) or ("", "")
    assert kind == "warning" and "in 10 days" in text and "renew it" in text
    assert certificate_finding(settings(pki, long, expiry_warning_days=5),
                               end - timedelta(days=10)) is None
    kind, text = certificate_finding(tls, end) or ("", "")
    assert kind == "error" and "expired on" in text
    kind, text = certificate_finding(settings(pki, late)) or ("", "")
    assert kind == "error" and "not valid before 2061-01-01" in text


def write_site(tmp_path: Path, tls: TlsSettings, extra: str = "") -> Path:
    site = tmp_path / "site.toml"
    site.write_text(f"""
[station]
common_address = 1
[iec104]
listen = "127.0.0.1:{free_tcp_port()}"
[iec104.tls]
certificate = "{tls.certificate}"
private_key = "{tls.private_key}"
ca_file = "{tls.ca_file}"
{extra}
[[points]]
name = "p"
ioa = 1
kind = "single"
source = "sim"
""")
    return site


def rtu_check(site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rtu", "check", str(site)], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True,
                          text=True, timeout=60, check=False)


def test_rtu_check_reports_the_station_certificate_dates(pki: Pki, tmp_path: Path) -> None:
    old = dated_leaf(tmp_path, "old", pki.ca, "20200101000000Z", "20200201000000Z")
    result = rtu_check(write_site(tmp_path, settings(pki, old)))
    assert result.returncode == 1 and "expired on 2020-02-01 00:00 UTC" in result.stderr
    # the test PKI is valid for 30 days: inside the default threshold, a warning only
    result = rtu_check(write_site(tmp_path, settings(pki)))
    assert result.returncode == 0 and "warning: the station certificate" in result.stderr
    result = rtu_check(write_site(tmp_path, settings(pki), "expiry_warning_days = 7"))
    assert result.returncode == 0 and "warning" not in result.stderr


def handshake(port: int, pki: Pki, who: Identity) -> ssl.SSLSocket | None:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca.cert))
    context.check_hostname = False
    context.load_cert_chain(str(who.cert), str(who.key))
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        tls = context.wrap_socket(raw)
        tls.sendall(bytes.fromhex("680443000000"))  # TESTFR act: TLS 1.3 reports a refusal here
        if tls.recv(6) != bytes.fromhex("680483000000"):
            tls.close()
            return None
        return tls
    except (ssl.SSLError, OSError):
        raw.close()
        return None


def test_an_expired_station_certificate_is_reported_at_start_and_in_failed_handshakes(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    old = dated_leaf(tmp_path, "old", pki.ca, "20200101000000Z", "20200201000000Z")
    caplog.set_level(logging.INFO, TLS_LOGGER)
    with OutstationThread(with_tls(settings(pki, old)), free_tcp_port()) as rtu:
        wait_log(caplog, "the station certificate", "expired on 2020-02-01")
        assert handshake(rtu.port, pki, pki.master) is None  # the master refuses us
        wait_log(caplog, "TLS handshake with 104:127.0.0.1:", "(the station certificate",
                 "expired on 2020-02-01")
        # and it looks again daily while the outstation runs
        server = rtu.sup.server(Iec104Server)
        assert server is not None
        due = rtu.call(lambda: server._certificate_timer.when() - rtu.loop.time())  # type: ignore[union-attr]
        assert 86_000 < due <= 86_400


def test_a_revoked_master_is_refused_with_a_clear_line(
        pki: Pki, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    crl = revocation_list(tmp_path, pki.ca, (pki.other_master,))
    caplog.set_level(logging.INFO, TLS_LOGGER)
    with OutstationThread(with_tls(settings(pki, crl_file=str(crl))), free_tcp_port()) as rtu:
        good = handshake(rtu.port, pki, pki.master)
        assert good is not None
        good.close()
        assert handshake(rtu.port, pki, pki.other_master) is None
        wait_log(caplog, "the master's certificate is revoked (crl_file)")


def test_a_crl_file_that_holds_no_crl_is_a_configuration_error(pki: Pki,
                                                               tmp_path: Path) -> None:
    result = rtu_check(write_site(tmp_path, settings(pki), f'crl_file = "{pki.ca.cert}"'))
    assert result.returncode == 2 and "holds no PEM CRL" in result.stderr


def test_a_reload_reads_certificates_and_crls_again(pki: Pki, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    for ident, name in ((pki.server, "station"),):
        shutil.copy(ident.cert, live / f"{name}.crt")
        shutil.copy(ident.key, live / f"{name}.key")
    shutil.copy(revocation_list(tmp_path, pki.ca, ()), live / "crl.pem")
    site = write_site(tmp_path, TlsSettings(str(live / "station.crt"), str(live / "station.key"),
                                            str(pki.ca.cert)), f'crl_file = "{live}/crl.pem"')
    running = Running(load_config(site))
    try:
        port = running.sup.config.iec104.port  # type: ignore[union-attr]
        first = handshake(port, pki, pki.other_master)
        assert first is not None
        before = first.getpeercert(binary_form=True)
        first.close()
        # rotation: a new station certificate and a CRL revoking master-2, in place
        fresh = dated_leaf(tmp_path, "station-2", pki.ca, "20240101000000Z", "20990101000000Z")
        shutil.copy(fresh.cert, live / "station.crt")
        shutil.copy(fresh.key, live / "station.key")
        shutil.copy(revocation_list(tmp_path, pki.ca, (pki.other_master,)), live / "crl.pem")
        running.run(running.sup.reload())
        assert handshake(port, pki, pki.other_master) is None  # revoked now
        second = handshake(port, pki, pki.master)
        assert second is not None
        assert second.getpeercert(binary_form=True) != before  # the new certificate
        second.close()
    finally:
        running.close()
