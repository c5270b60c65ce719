"""The API server's TLS identity: a CA of its own and a serving certificate for the loopback names.

Bearer tokens need TLS on the wire for more than secrecy: client-go (so kubectl and helm) does not
send a bearer token to an ``http://`` server at all, so an authenticating sandbox has to serve
HTTPS. Each sandbox makes its own CA (EC P-256, ten years) and a serving certificate for
``127.0.0.1``, ``::1``, ``localhost`` and the bound address; the kubeconfig carries the CA as
``certificate-authority-data``, so clients verify the server instead of skipping verification.
With a data directory the key pair persists (key files 0600) and restarts keep the same CA —
kubeconfigs written before stay valid.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pathlib
import ssl
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = datetime.timedelta(days=3650)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "kuberun sandbox"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _write(path: pathlib.Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _generate(host: str) -> tuple[bytes, bytes, bytes]:
    """(ca_pem, cert_pem, key_pem) for a new CA and a serving certificate it signed."""
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("kuberun-sandbox-ca")).issuer_name(_name("kuberun-sandbox-ca"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now).not_valid_after(now + _VALIDITY)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                    x509.IPAddress(ipaddress.ip_address("::1"))]
    try:
        bound = ipaddress.ip_address(host)
        if x509.IPAddress(bound) not in sans:
            sans.append(x509.IPAddress(bound))
    except ValueError:
        if host != "localhost":
            sans.append(x509.DNSName(host))
    cert = (x509.CertificateBuilder().subject_name(_name("kuberun-sandbox-apiserver")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + _VALIDITY)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return ca.public_bytes(pem), cert.public_bytes(pem), _pem_key(key)


class ServingCertificate:
    """The CA and serving key pair of one API server (kept in ``directory`` when given)."""

    def __init__(self, directory: pathlib.Path | None, host: str = "127.0.0.1") -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if directory is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kuberun-apiserver-tls-")
            directory = pathlib.Path(self._tmp.name)
        directory.mkdir(parents=True, exist_ok=True)
        self.ca_file, self.cert_file, self.key_file = directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key"
        if not (self.ca_file.exists() and self.cert_file.exists() and self.key_file.exists()):
            ca, cert, key = _generate(host)
            _write(self.key_file, key, 0o600)
            _write(self.cert_file, cert, 0o644)
            _write(self.ca_file, ca, 0o644)
        self.ca_pem = self.ca_file.read_text()

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem)

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
