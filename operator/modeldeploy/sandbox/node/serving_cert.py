"""The node's self-signed TLS serving certificate, as a kubelet makes one when it is given none
(`--cert-dir`/kubelet.crt and kubelet.key, CN `<host>@<unix time>`; k8s.io/client-go
util/cert GenerateSelfSignedCertKey): generated once, reused while it covers the names."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CERT_FILE = "kubelet.crt"
KEY_FILE = "kubelet.key"
_VALID_DAYS = 365


def _covers(cert: x509.Certificate, names: Sequence[str], ips: Sequence[str]) -> bool:
    try:
        alternative = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    dns = set(alternative.get_values_for_type(x509.DNSName))
    addresses = {str(a) for a in alternative.get_values_for_type(x509.IPAddress)}
    still_valid = cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC)
    return still_valid and set(names) <= dns and set(ips) <= addresses


def _generate(folder: Path, host: str, names: Sequence[str], ips: Sequence[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{host}@{int(time.time())}")])
    now = datetime.datetime.now(datetime.UTC)
    alternative = [
        *(x509.DNSName(name) for name in names),
        *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / KEY_FILE
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.chmod(key_path, 0o600)
    (folder / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def serving_context(
    folder: Path, host: str, names: Sequence[str], ips: Sequence[str]
) -> ssl.SSLContext:
    """A server TLS context with the certificate in `folder` (made or remade as needed)."""
    cert_path = folder / CERT_FILE
    current = None
    if cert_path.is_file() and (folder / KEY_FILE).is_file():
        current = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if current is None or not _covers(current, names, ips):
        _generate(folder, host, names, ips)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, folder / KEY_FILE)
    return context
