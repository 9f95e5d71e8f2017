"""The node's self-signed TLS serving certificate, as a kubelet makes one when it is given none
(`--cert-dir`/kubelet.crt and kubelet.key, CN `<host>@<unix time>`; k8s.io/client-go
util/cert GenerateSelfSignedCertKey): generated once, reused while it covers the names."""

from __future__ import annotations

import datetime
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from modeldeploy.sandbox import certs

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
    key = certs.new_key()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{host}@{int(time.time())}")])
    cert = certs.certificate(
        subject, key, _VALID_DAYS, usage=certs.SERVER, dns_names=names, ips=ips
    )
    folder.mkdir(parents=True, exist_ok=True)
    certs.write_key(folder / KEY_FILE, key)
    certs.write_certificate(folder / CERT_FILE, cert)


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
