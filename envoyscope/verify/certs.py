"""Throwaway certificates for a replay: one CA, and leaf certificates with the SANs the dump names.

Made fresh for every replay; the private keys stay in the replay's temporary folder and are never real secrets.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TestCA:
    """A CA that signs every leaf of one replay (so any listener that validates peers trusts the test client)."""

    key: Any = None
    cert: Any = None
    _serial: int = 1000
    leaves: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envoyscope verify test CA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(self._serial).not_valid_before(now)
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def ca_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return str(self.cert.public_bytes(serialization.Encoding.PEM).decode())

    def leaf(self, sans: tuple[str, ...] = ()) -> tuple[str, str]:
        """(certificate PEM, key PEM) for these SANs (``spiffe://…`` URIs, else DNS names)."""
        sans = sans or ("spiffe://cluster.local/ns/default/sa/default",)
        if sans in self.leaves:
            return self.leaves[sans]
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self._serial += 1
        now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [
            x509.UniformResourceIdentifier(s) if "://" in s else x509.DNSName(s) for s in sans]
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "envoyscope verify")])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(self.cert.subject)
                .public_key(key.public_key()).serial_number(self._serial).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(names), critical=False).sign(self.key, hashes.SHA256()))
        pem = serialization.Encoding.PEM
        out = (cert.public_bytes(pem).decode(),
               key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode())
        self.leaves[sans] = out
        return out

    def secret(self, name: str, validation: bool, sans: tuple[str, ...] = ()) -> dict[str, Any]:
        """An SDS Secret of that name: the CA as a validation context, or a leaf certificate."""
        if validation:
            return {"name": name, "validation_context": {"trusted_ca": {"inline_string": self.ca_pem}}}
        cert, key = self.leaf(sans)
        return {"name": name, "tls_certificate": {"certificate_chain": {"inline_string": cert},
                                                  "private_key": {"inline_string": key}}}


def secret_sans(raw: dict[str, Any]) -> tuple[str, ...]:
    """The SANs of the certificate a dump's secret holds, when its PEM is in the dump (else none)."""
    from envoyscope.model.certs import data_source_bytes, decode_certificate

    chain = (raw.get("tls_certificate") or {}).get("certificate_chain")
    data = data_source_bytes(chain) if chain else None
    info = decode_certificate(data) if data else None
    if info is None:
        return ()
    return tuple(str(s) for s in getattr(info, "sans", ()) or ())
