"""TLS for the 104 server after IEC 62351-3: mutual certificates, TLS 1.2 or 1.3, pinned masters.

:func:`server_context` builds the ``ssl.SSLContext`` from :class:`TlsSettings` (and is what
``rtu check`` runs, so a missing or unreadable file is reported before the station starts).
:func:`accept` upgrades one accepted TCP connection: the handshake (with its own timeout), then the
optional check of the master's certificate against ``allowed_fingerprints``. Every refusal is
logged at WARNING with the peer and the reason; the caller only sees ``None``.

The handshake runs through ``loop.start_tls`` on the plain accepted transport rather than through
``create_server(ssl=...)``: asyncio's server swallows handshake failures (it logs them only in
debug mode), and an operator needs to see "certificate verify failed from 10.0.0.7".

IEC 62351-3 names port 19998 for 104 over TLS; the listen address stays whatever ``listen`` says.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import re
import ssl
from datetime import UTC, datetime
from typing import Final

from rtu.frozen import frozen
from rtu.startup import tls

log = logging.getLogger(__name__)
tls()  # asyncio was imported without ssl (rtu/startup.py): it needs it from now on

TLS_PORT: Final = 19998  # IEC 62351-3's port for IEC 60870-5-104 over TLS (a hint only)
HANDSHAKE_TIMEOUT: Final = 10.0  # seconds a master has to complete the handshake
MIN_VERSIONS: Final = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
# TLS 1.2: forward secrecy and AEAD only (TLS 1.3's suites are all AEAD and OpenSSL's defaults)
TLS12_CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20:!aNULL:!eNULL"
_HEX_RE: Final = re.compile(r"[0-9a-f]{64}")
_X509_V_ERR_CERT_REVOKED: Final = 23
_PEM_CERT_RE: Final = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----",
                                 re.DOTALL)
CERTIFICATE_CHECK_INTERVAL: Final = 86400.0  # seconds: the running server looks daily


# OpenSSL reason codes an operator will meet, with what they usually mean here
_HINTS: Final = {
    "UNSUPPORTED_PROTOCOL": "the master's TLS version is below min_version",
    "WRONG_VERSION_NUMBER": "not a TLS ClientHello: a master without TLS?",
    "HTTP_REQUEST": "not a TLS ClientHello: a master without TLS?",
    "UNEXPECTED_MESSAGE": "not a TLS ClientHello: a master without TLS?",
    "RECORD_LAYER_FAILURE": "not a TLS ClientHello: a master without TLS?",
    "NO_SHARED_CIPHER": "TLS 1.2 masters need an ECDHE or DHE cipher with AES-GCM or ChaCha20",
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": "the master sent no certificate",
    "TLSV1_ALERT_UNKNOWN_CA": "the master does not trust this station's certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the master rejected this station's certificate",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": "the master rejected this station's certificate",
}


class TlsConfigError(ValueError):
    """A TLS file is missing or does not load; the message names the file and why."""


@frozen
class TlsSettings:
    certificate: str  # PEM: this station's certificate (chain)
    private_key: str  # PEM: its private key (unencrypted)
    ca_file: str  # PEM: the CA certificate(s) master certificates must chain to
    allowed_fingerprints: tuple[str, ...] = ()  # SHA-256 of master certificates; empty = any
    min_version: str = "1.2"  # "1.2" or "1.3"
    crl_file: str = ""  # PEM: certificate revocation lists for master certificates; "" = none
    expiry_warning_days: int = 30  # warn while the station certificate expires within this

    def __post_init__(self) -> None:
        if self.expiry_warning_days < 0:
            raise ValueError(f"expiry_warning_days must be >= 0, got {self.expiry_warning_days}")
        if self.min_version not in MIN_VERSIONS:
            raise ValueError(f"min_version must be \"1.2\" or \"1.3\", got {self.min_version!r}")
        for entry in self.allowed_fingerprints:
            if not _HEX_RE.fullmatch(entry):
                raise ValueError(f"allowed_fingerprints: {entry!r} is not a normalised SHA-256")


def normalise_fingerprint(text: str) -> str | None:
    """64 lower-case hex digits from ``AB:CD:...`` or ``abcd...`` (openssl's forms), else None."""
    # openssl x509 -noout -fingerprint -sha256 prints "sha256 Fingerprint=AB:CD:..."
    digits = re.sub(r"[\s:]", "", text.rsplit("=", 1)[-1]).lower()
    return digits if _HEX_RE.fullmatch(digits) else None


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, 64 lower-case hex digits."""
    return hashlib.sha256(der).hexdigest()


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """The server context: mutual authentication, TLS >= min_version, AEAD/ECDHE ciphers.

    Raises :class:`TlsConfigError` naming the file that failed to load and why.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = MIN_VERSIONS[settings.min_version]
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_ciphers(TLS12_CIPHERS)
    # no TLS 1.2 renegotiation (1.3 has none), no compression, a fresh ECDHE key per handshake
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_SINGLE_ECDH_USE | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.options |= getattr(ssl, "OP_NO_RENEGOTIATION", 0)
    try:
        context.load_cert_chain(settings.certificate, settings.private_key)
    except FileNotFoundError as exc:
        missing = exc.filename or f"{settings.certificate} or {settings.private_key}"
        raise TlsConfigError(f"{missing}: no such file") from exc
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(
            f"certificate {settings.certificate} with private_key {settings.private_key} does "
            f"not load: {_reason(exc)}") from exc
    try:
        context.load_verify_locations(cafile=settings.ca_file)
    except FileNotFoundError as exc:
        raise TlsConfigError(f"{settings.ca_file}: no such file") from exc
    except (ssl.SSLError, OSError) as exc:
        raise TlsConfigError(f"ca_file {settings.ca_file} does not load: {_reason(exc)}") from exc
    if not context.get_ca_certs():
        raise TlsConfigError(f"ca_file {settings.ca_file} holds no CA certificate")
    if settings.crl_file:
        # OpenSSL checks each master certificate against its CA's CRL; a CA of ca_file
        # without a CRL in crl_file then fails every master it issued ("unable to get
        # certificate CRL"): list one CRL per issuing CA
        try:
            with open(settings.crl_file, encoding="ascii", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            raise TlsConfigError(f"crl_file {settings.crl_file}: {exc.strerror}") from exc
        if "-----BEGIN X509 CRL-----" not in text:
            raise TlsConfigError(f"crl_file {settings.crl_file} holds no PEM CRL "
                                 "(-----BEGIN X509 CRL-----)")
        try:
            context.load_verify_locations(cafile=settings.crl_file)
        except (ssl.SSLError, OSError) as exc:
            raise TlsConfigError(f"crl_file {settings.crl_file} does not load: "
                                 f"{_reason(exc)}") from exc
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return context


# -- certificate dates ----------------------------------------------------------------------------
@frozen
class Validity:
    not_before: datetime
    not_after: datetime


def certificate_validity(pem_file: str) -> Validity:
    """The validity period of the first certificate in ``pem_file`` (the station's own, ahead
    of its chain). TlsConfigError if there is none or it does not parse."""
    try:
        with open(pem_file, encoding="ascii", errors="replace") as f:
            text = f.read()
    except OSError as exc:
        raise TlsConfigError(f"{pem_file}: {exc.strerror}") from exc
    found = _PEM_CERT_RE.search(text)
    if found is None:
        raise TlsConfigError(f"{pem_file} holds no PEM certificate")
    try:
        der = base64.b64decode("".join(found.group(1).split()), validate=True)
        return _der_validity(der)
    except (ValueError, IndexError) as exc:
        raise TlsConfigError(f"{pem_file}: the certificate does not parse ({exc})") from exc


def _der_item(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER item at ``pos``."""
    tag = der[pos]
    length = der[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if not 1 <= count <= 4:
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("DER item runs past the end")
    return tag, pos, pos + length


def _der_validity(der: bytes) -> Validity:
    # Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    # signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }  (RFC 5280)
    _, pos, _ = _der_item(der, 0)
    tag, pos, _ = _der_item(der, pos)  # tbsCertificate
    if tag != 0x30:
        raise ValueError("no tbsCertificate")
    tag, start, end = _der_item(der, pos)
    if tag == 0xA0:  # explicit version: then serialNumber
        tag, start, end = _der_item(der, end)
    for _ in range(2):  # signature, issuer
        tag, start, end = _der_item(der, end)
    tag, start, _ = _der_item(der, end)
    if tag != 0x30:
        raise ValueError("no validity")
    times = []
    for _ in range(2):
        tag, a, b = _der_item(der, start)
        times.append(_der_time(tag, der[a:b].decode("ascii")))
        start = b
    return Validity(times[0], times[1])


def _der_time(tag: int, text: str) -> datetime:
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ: 50..99 are 19xx (RFC 5280 4.1.2.5.1)
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:  # GeneralizedTime YYYYMMDDHHMMSSZ
        raise ValueError(f"unknown time type {tag:#x}")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def certificate_finding(settings: TlsSettings, now: datetime | None = None
                        ) -> tuple[str, str] | None:
    """("error", why) for a station certificate that is expired or not yet valid, ("warning",
    why) for one expiring within ``expiry_warning_days``, None when it is fine."""
    now = now or datetime.now(UTC)
    try:
        validity = certificate_validity(settings.certificate)
    except TlsConfigError as exc:
        return "error", str(exc)
    name = settings.certificate
    if now >= validity.not_after:
        return "error", (f"the station certificate {name} expired on "
                         f"{validity.not_after:%Y-%m-%d %H:%M} UTC: every master will refuse it")
    if now < validity.not_before:
        return "error", (f"the station certificate {name} is not valid before "
                         f"{validity.not_before:%Y-%m-%d %H:%M} UTC: masters will refuse it "
                         "until then (or this clock is wrong)")
    left = validity.not_after - now
    if left.total_seconds() < settings.expiry_warning_days * 86400:
        return "warning", (f"the station certificate {name} expires on "
                           f"{validity.not_after:%Y-%m-%d %H:%M} UTC, in {left.days} days "
                           f"(expiry_warning_days {settings.expiry_warning_days}): renew it")
    return None


async def accept(transport: asyncio.Transport, protocol: asyncio.BaseProtocol,
                 context: ssl.SSLContext, allowed: frozenset[str], name: str,
                 timeout: float = HANDSHAKE_TIMEOUT,
                 station_note: str = "") -> asyncio.Transport | None:
    """Run the server handshake on an accepted connection; the TLS transport, or None if refused.

    ``protocol`` receives the decrypted data once this returns a transport. On refusal the
    connection is already closed and a WARNING names ``name`` (the peer) and the reason, plus
    ``station_note`` (what is wrong with this station's certificate, if anything).
    """
    loop = asyncio.get_running_loop()
    try:
        tls = await loop.start_tls(transport, protocol, context, server_side=True,
                                   ssl_handshake_timeout=timeout)
    except asyncio.CancelledError:
        transport.abort()
        raise
    except (OSError, ConnectionError, TimeoutError, ssl.SSLError) as exc:
        log.warning("TLS handshake with %s failed: %s%s", name, _reason(exc),
                     f" ({station_note})" if station_note else "")
        transport.abort()
        return None
    if tls is None:  # the peer went away as the handshake ended
        log.warning("TLS handshake with %s failed: connection closed", name)
        return None
    ssl_object = tls.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if der is None:  # CERT_REQUIRED makes this unreachable; refuse rather than assume
        log.warning("refused TLS connection from %s: no client certificate", name)
        tls.abort()
        return None
    peer_fingerprint = fingerprint(der)
    subject = _subject(ssl_object.getpeercert())
    if allowed and peer_fingerprint not in allowed:
        log.warning("refused TLS connection from %s: certificate %s (SHA-256 %s) is not in "
                    "allowed_fingerprints", name, subject, peer_fingerprint)
        tls.abort()
        return None
    log.info("TLS %s with %s, %s, certificate %s (SHA-256 %s)", ssl_object.version(), name,
             ssl_object.cipher()[0], subject, peer_fingerprint)
    return tls


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        if exc.verify_code == _X509_V_ERR_CERT_REVOKED:
            return (f"the master's certificate is revoked (crl_file): {exc.verify_message} "
                    f"(code {exc.verify_code})")
        return f"certificate verify failed: {exc.verify_message} (code {exc.verify_code})"
    if isinstance(exc, ssl.SSLError):
        if not exc.reason:
            return str(exc)
        text = exc.reason.lower().replace("_", " ")
        hint = _HINTS.get(exc.reason)
        return f"{text} ({hint})" if hint else text
    if isinstance(exc, ConnectionError) and not str(exc):
        return f"the peer closed the connection ({type(exc).__name__})"
    return str(exc) or type(exc).__name__


def _subject(cert: object) -> str:
    """The peer certificate's subject as ``commonName=master-1,organizationName=...`` (getpeercert()'s nested tuples)."""
    if not isinstance(cert, dict):
        return "?"
    parts = [f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn]
    return ",".join(parts) or "?"
