"""A retailer's identity provider for served tests: an RSA signing key published as a JWKS over
https on a loopback port, and tokens signed with it.

Production takes its keys from an https URL only, so the provider has a certificate authority
of its own; a served process trusts it through SSL_CERT_FILE (httpx reads it). Every token it
signs is remembered, so that the suite can prove none of them reached a log line.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

ISSUER = "https://id.retailer.example/"
AUDIENCE = "checkout-bff"
KID = "retailer-1"


class IdentityProvider:
    """The keys, the TLS files and the JWKS endpoint (started with `listen`)."""

    def __init__(self, folder: Path) -> None:
        self.ca_file, self._cert_file, self._key_file = _issue_tls(folder)
        self._signing_key = rsa.generate_private_key(65537, 2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._signing_key.public_key()))
        self.jwks = {"keys": [public | {"kid": KID, "alg": "RS256", "use": "sig"}]}
        self.issued: list[str] = []  # every token signed, for the log check
        self._server: ThreadingHTTPServer | None = None

    def listen(self, port: int = 0) -> str:
        """Serve the JWKS on `port` (0: any free one) in a thread; returns its URL."""
        jwks = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the suite's output stays the test's own

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._cert_file, self._key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        return f"https://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def token(
        self,
        user: str,
        *,
        lifetime: float = 3600,
        staff_of: tuple[str, ...] | None = None,
        **claims: Any,
    ) -> str:
        """An RS256 token for `user` that production accepts, unless `claims` change that
        (a claim given as None is left out). `staff_of` makes it a staff token for those
        stores."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "sub": user,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + int(lifetime),
        }
        if staff_of is not None:
            payload |= {"roles": ["staff"], "stores": list(staff_of)}
        payload = {k: v for k, v in (payload | claims).items() if v is not None}
        token = jwt.encode(payload, self._signing_key, algorithm="RS256", headers={"kid": KID})
        self.issued.append(token)
        return token

    def bearer(self, user: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, **claims)}"}


def _issue_tls(folder: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key) for 127.0.0.1, valid for a day."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hostile suite test CA")])
    ca = (
        _valid_for_a_day(x509.CertificateBuilder(), now)
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _valid_for_a_day(x509.CertificateBuilder(), now)
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def _valid_for_a_day(builder: x509.CertificateBuilder, now: datetime) -> x509.CertificateBuilder:
    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
    )
