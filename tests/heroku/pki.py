"""The harness's certificate authority: stands in for the public PKI behind herokuapp.com.

One CA per harness state directory; one server certificate for the router, valid for
127.0.0.1, ``localhost`` and each app's ``<app>.localhost`` name. Dynos and clients trust
it through ``SSL_CERT_FILE`` (a bundle of the system's CAs plus this one), which Python's
``ssl.create_default_context()`` (the console's Raptor client) and httpx both honour: no code path of the
apps learns about the harness.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

SYSTEM_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    bundle: Path
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the harness CA (for the harness's own clients)."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_pki(directory: Path, app_names: list[str]) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA(organization_name="raxx heroku-local harness")
    names = ["127.0.0.1", "localhost", *(f"{name}.localhost" for name in app_names)]
    cert = ca.issue_cert(*names)
    ca_file = directory / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert_file, key_file = directory / "router.pem", directory / "router.key"
    cert.private_key_pem.write_to_path(str(key_file))
    key_file.chmod(0o600)
    cert_file.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    bundle = directory / "trust-bundle.pem"
    system = SYSTEM_BUNDLE.read_bytes() if SYSTEM_BUNDLE.exists() else b""
    bundle.write_bytes(system + b"\n" + ca_file.read_bytes())
    return Pki(ca_file=ca_file, bundle=bundle, cert_file=cert_file, key_file=key_file)
