"""Test certificates made at test time with the ``openssl`` command line (no keys in the tree).

``make_pki(directory)`` writes a CA, the station's server certificate, a master certificate, a
second master certificate from the same CA (valid, but not pinned by the tests), and a master
certificate from another CA, all EC P-256 and valid for 30 days.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Identity:
    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, 64 lower-case hex digits."""
        der = ssl.PEM_cert_to_DER_cert(self.cert.read_text())
        return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class Pki:
    ca: Identity
    server: Identity
    master: Identity
    other_master: Identity  # same CA as master, not in allowed_fingerprints in the tests
    foreign_ca: Identity
    foreign_master: Identity  # signed by foreign_ca: fails verification


_LEAF_EXTENSIONS = """\
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyAgreement
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = IP:127.0.0.1,DNS:localhost
"""


def _openssl(*args: str | Path) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                            timeout=30, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed:\n{result.stderr}")


def _ca(directory: Path, name: str) -> Identity:
    ident = Identity(directory / f"{name}.crt", directory / f"{name}.key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ident.key, "-out", ident.cert, "-days", "30", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return ident


def _leaf(directory: Path, name: str, ca: Identity) -> Identity:
    ident = Identity(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    ext = directory / "leaf.ext"
    ext.write_text(_LEAF_EXTENSIONS)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ident.key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial",
             "-out", ident.cert, "-days", "30", "-extfile", ext)
    return ident


def make_pki(directory: Path) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "test-ca")
    foreign_ca = _ca(directory, "foreign-ca")
    return Pki(
        ca=ca,
        server=_leaf(directory, "rtu-server", ca),
        master=_leaf(directory, "master-1", ca),
        other_master=_leaf(directory, "master-2", ca),
        foreign_ca=foreign_ca,
        foreign_master=_leaf(directory, "intruder", foreign_ca),
    )


_CA_CONFIG = """\
[ca]
default_ca = test
[test]
database = {db}
new_certs_dir = {out}
serial = {serial}
default_md = sha256
policy = any
copy_extensions = none
default_crl_days = 30
[any]
commonName = supplied
[leaf]
""" + _LEAF_EXTENSIONS.replace("authorityKeyIdentifier = keyid\n", "")


def _ca_tool(directory: Path, ca: Identity) -> Path:
    """An ``openssl ca`` configuration for ``ca`` (its database in ``directory``)."""
    config = directory / f"{ca.cert.stem}-ca.cnf"
    if not config.exists():
        db = directory / f"{ca.cert.stem}-index.txt"
        db.write_text("")
        serial = directory / f"{ca.cert.stem}-serial"
        serial.write_text("1000\n")
        config.write_text(_CA_CONFIG.format(db=db, out=directory, serial=serial))
    return config


def dated_leaf(directory: Path, name: str, ca: Identity, start: str, end: str) -> Identity:
    """A leaf certificate of ``ca`` valid from ``start`` to ``end`` (YYYYMMDDHHMMSSZ), which
    ``openssl x509 -req`` cannot make: an expired one, or one not valid yet."""
    ident = Identity(directory / f"{name}.crt", directory / f"{name}.key")
    csr = directory / f"{name}.csr"
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", ident.key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("ca", "-batch", "-notext", "-config", _ca_tool(directory, ca), "-cert", ca.cert,
             "-keyfile", ca.key, "-in", csr, "-out", ident.cert, "-startdate", start,
             "-enddate", end, "-extensions", "leaf")
    return ident


def revocation_list(directory: Path, ca: Identity, revoked: tuple[Identity, ...]) -> Path:
    """A PEM CRL of ``ca`` listing ``revoked``."""
    config = _ca_tool(directory, ca)
    for ident in revoked:
        _openssl("ca", "-config", config, "-cert", ca.cert, "-keyfile", ca.key,
                 "-revoke", ident.cert)
    crl = directory / f"{ca.cert.stem}-{len(revoked)}.crl.pem"
    _openssl("ca", "-config", config, "-cert", ca.cert, "-keyfile", ca.key, "-gencrl",
             "-out", crl)
    return crl
