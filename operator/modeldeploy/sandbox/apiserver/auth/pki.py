"""The sandbox's certificate authority and keys, kept in DIR/pki/ across restarts.

Like a kubeadm cluster: one CA signs the API server's serving certificate and the client
certificates (CN = user name, O = groups); an RSA key signs service-account tokens.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from modeldeploy.sandbox import certs

PKI_DIR = "pki"
ADMIN_USER = "kubernetes-admin"
MASTERS_GROUP = "system:masters"
# The names a kubeadm API server certificate carries (cmd/kubeadm/app/phases/certs/pkiutil).
SERVING_DNS_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
SERVING_IPS = ("127.0.0.1",)
_VALID_DAYS = 3650


@dataclass(frozen=True)
class Pki:
    """The files of the sandbox's CA, serving certificate, admin credential and token key."""

    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def serving_cert(self) -> Path:
        return self.directory / "apiserver.crt"

    @property
    def serving_key(self) -> Path:
        return self.directory / "apiserver.key"

    @property
    def admin_cert(self) -> Path:
        return self.directory / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.directory / "admin.key"

    @property
    def service_account_key(self) -> Path:
        return self.directory / "sa.key"

    @classmethod
    def ensure(cls, sandbox_dir: Path) -> Pki:
        """The PKI in `sandbox_dir`, created on first use; existing files are kept."""
        pki = cls(sandbox_dir / PKI_DIR)
        pki.directory.mkdir(parents=True, exist_ok=True)
        if not (pki.ca_cert.exists() and pki.ca_key.exists()):
            pki._create_ca()
        if not pki.serving_cert.exists():
            pki.issue(
                pki.serving_cert,
                pki.serving_key,
                "kube-apiserver",
                (),
                server=True,
            )
        if not pki.admin_cert.exists():
            pki.issue(pki.admin_cert, pki.admin_key, ADMIN_USER, (MASTERS_GROUP,))
        if not pki.service_account_key.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            certs.write_key(pki.service_account_key, key)
        return pki

    def _create_ca(self) -> None:
        key = certs.new_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "modeldeploy-sandbox-ca")])
        certs.write_key(self.ca_key, key)
        certs.write_certificate(self.ca_cert, certs.certificate(name, key, _VALID_DAYS))

    def issue(
        self,
        cert_path: Path,
        key_path: Path,
        common_name: str,
        organizations: tuple[str, ...],
        server: bool = False,
    ) -> None:
        """Sign a certificate for `common_name` (a user, with `organizations` as its groups)."""
        ca_key = serialization.load_pem_private_key(self.ca_key.read_bytes(), password=None)
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        ca_cert = x509.load_pem_x509_certificate(self.ca_cert.read_bytes())
        key = certs.new_key()
        attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        cert = certs.certificate(
            x509.Name(attributes),
            key,
            _VALID_DAYS,
            issuer=ca_cert,
            issuer_key=ca_key,
            usage=certs.SERVER if server else certs.CLIENT,
            dns_names=SERVING_DNS_NAMES if server else (),
            ips=SERVING_IPS if server else (),
        )
        certs.write_key(key_path, key)
        certs.write_certificate(cert_path, cert)

    def server_context(self) -> ssl.SSLContext:
        """TLS for the API server: its certificate, and client certificates checked when sent."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca_cert))
        context.load_cert_chain(str(self.serving_cert), str(self.serving_key))
        context.verify_mode = ssl.CERT_OPTIONAL
        return context

    def client_context(self, with_admin: bool = True) -> ssl.SSLContext:
        """TLS for a client of the API server, trusting the CA (and as the admin by default).

        Served over plain HTTP (debugging), there is no CA: the context is then unused."""
        context = ssl.create_default_context(
            cafile=str(self.ca_cert) if self.ca_cert.exists() else None
        )
        if with_admin and self.admin_cert.exists():
            context.load_cert_chain(str(self.admin_cert), str(self.admin_key))
        return context
