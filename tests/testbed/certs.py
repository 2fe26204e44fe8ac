"""A throwaway certificate authority and a server certificate for 127.0.0.1/localhost."""

from __future__ import annotations

import subprocess
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


def make_certs(directory: Path) -> ServerCerts:
    directory.mkdir(parents=True, exist_ok=True)
    certs = ServerCerts(
        ca_cert=directory / "ca.pem", server_cert=directory / "server.pem",
        server_key=directory / "server.key", self_signed_cert=directory / "self.pem",
        self_signed_key=directory / "self.key",
    )
    if certs.server_cert.exists() and certs.self_signed_cert.exists():
        return certs
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
    return certs
