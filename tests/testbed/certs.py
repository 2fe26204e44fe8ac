"""A throwaway certificate authority and a server certificate for 127.0.0.1/localhost."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServerCerts:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    self_signed_cert: Path  # not signed by the CA: clients must refuse it
    self_signed_key: Path


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def _certs_in(directory: Path) -> ServerCerts:
    return ServerCerts(
        ca_cert=directory / "ca.pem", server_cert=directory / "server.pem",
        server_key=directory / "server.key", self_signed_cert=directory / "self.pem",
        self_signed_key=directory / "self.key",
    )


def make_certs(directory: Path) -> ServerCerts:
    """The certificates in `directory`, made once. Test workers run at once (xdist), so
    each builds in a private folder and renames it into place: the first rename wins and
    nobody ever reads a half-written set."""
    certs = _certs_in(directory)
    if certs.server_cert.exists() and certs.self_signed_cert.exists():
        return certs
    building = Path(tempfile.mkdtemp(prefix=directory.name + ".", dir=directory.parent))
    try:
        _build(building)
        try:
            os.rename(building, directory)
        except OSError:  # another worker's set is already in place: use that one
            if not certs.self_signed_cert.exists():  # a stale, incomplete set: replace it
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
    for path in directory.iterdir():
        path.chmod(0o644)
    directory.chmod(0o755)
