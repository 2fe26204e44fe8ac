"""A throwaway certificate authority and server certificates for 127.0.0.1/localhost.

Besides the good certificate: one no client should trust (self-signed), and two signed by
the trusted test CA that a client must still refuse: one for another host name and one
that has expired. Those two are made with `cryptography` (openssl 3.0's command line
cannot date a certificate in the past).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

# the shared folder's name carries this: a folder made by an older test bed (without the
# newer certificates) is never taken for a complete one
VERSION = 2
WRONG_NAME = "imap.wrong-name.example"


@dataclass(frozen=True)
class ServerCerts:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    self_signed_cert: Path  # not signed by the CA: clients must refuse it
    self_signed_key: Path
    wrong_name_cert: Path  # signed by the CA, for WRONG_NAME only (not 127.0.0.1/localhost)
    wrong_name_key: Path
    expired_cert: Path  # signed by the CA, for 127.0.0.1/localhost, expired a day ago
    expired_key: Path

    @property
    def all_files(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.server_cert, self.server_key, self.self_signed_cert,
                self.self_signed_key, self.wrong_name_cert, self.wrong_name_key,
                self.expired_cert, self.expired_key)

    def pair(self, kind: str) -> tuple[Path, Path]:
        """(certificate, key) of a kind: "ca", "self-signed", "wrong-name" or "expired"."""
        return {"ca": (self.server_cert, self.server_key),
                "self-signed": (self.self_signed_cert, self.self_signed_key),
                "wrong-name": (self.wrong_name_cert, self.wrong_name_key),
                "expired": (self.expired_cert, self.expired_key)}[kind]

    def issue(self, host: str, directory: Path) -> tuple[Path, Path]:
        """(certificate, key) from the test CA for `host` (e.g. mta-sts.bank.example),
        written to `directory`: for a server a client reaches by that name."""
        cert, key = directory / f"{host}.pem", directory / f"{host}.key"
        _signed_by_ca(self.ca_cert.parent, cert, key, [x509.DNSName(host)], days=(-1, 30))
        return cert, key


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _certs_in(directory: Path) -> ServerCerts:
    return ServerCerts(
        ca_cert=directory / "ca.pem", server_cert=directory / "server.pem",
        server_key=directory / "server.key", self_signed_cert=directory / "self.pem",
        self_signed_key=directory / "self.key", wrong_name_cert=directory / "wrong-name.pem",
        wrong_name_key=directory / "wrong-name.key", expired_cert=directory / "expired.pem",
        expired_key=directory / "expired.key",
    )


def _complete(certs: ServerCerts) -> bool:
    return all(path.exists() for path in certs.all_files)


def make_certs(directory: Path) -> ServerCerts:
    """The certificates in `directory`, made once. Test workers run at once (xdist), so
    each builds in a private folder and renames it into place: the first rename wins and
    nobody ever reads a half-written set."""
    certs = _certs_in(directory)
    if _complete(certs):
        return certs
    building = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
    try:
        _build(building)
        try:
            os.rename(building, directory)
        except OSError:  # another worker's set is already in place: use that one
            if not _complete(certs):  # a stale, incomplete set: replace it
                shutil.rmtree(directory, ignore_errors=True)
                os.rename(building, directory)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return certs


def _build(directory: Path) -> None:
    certs = _certs_in(directory)
    ca_key = directory / "ca.key"
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", str(ca_key), "-out", str(certs.ca_cert), "-subj", "/CN=mailferry test CA")
    csr = directory / "server.csr"
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(certs.server_key),
         "-out", str(csr), "-subj", "/CN=localhost")
    ext = directory / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(certs.ca_cert), "-CAkey",
         str(ca_key), "-CAcreateserial", "-days", "3650", "-out", str(certs.server_cert),
         "-extfile", str(ext))
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", str(certs.self_signed_key), "-out", str(certs.self_signed_cert),
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")
    _signed_by_ca(directory, certs.wrong_name_cert, certs.wrong_name_key,
                  names=[x509.DNSName(WRONG_NAME)], days=(-1, 3650))
    _signed_by_ca(directory, certs.expired_cert, certs.expired_key,
                  names=[x509.DNSName("localhost"),
                         x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))], days=(-30, -1))
    for path in directory.iterdir():
        path.chmod(0o644)
    directory.chmod(0o755)


def _signed_by_ca(directory: Path, cert_path: Path, key_path: Path,
                  names: list[x509.GeneralName], days: tuple[int, int]) -> None:
    """A server certificate from the test CA for `names`, valid from/to `days` from now."""
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    ca_cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = dt.datetime.now(dt.UTC)
    first = names[0].value
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(first))]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + dt.timedelta(days=days[0]))
            .not_valid_after(now + dt.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
