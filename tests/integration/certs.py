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
