"""Certificates as a dump carries them (PEM in a secret's or a TLS context's ``inline_bytes``), decoded.

`decode_certificate` reads the first PEM certificate of a blob with `cryptography`: subject, SANs, serial (in
istioctl's form: lowercase hex, zero-padded to 32 digits), validity, whether it is a CA, its SPIFFE trust domain.
Validity against a date is a function of that date (`valid_on`, `days_left`): no clock is read here.

`redact` blanks private keys, passwords and other secret material in any JSON before it is printed, the way
Envoy's admin does (``[redacted]``), so no output of envoyscope ever shows them whatever the input held.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import warnings
from dataclasses import dataclass
from typing import Any

REDACTED = "[redacted]"


@dataclass(frozen=True, slots=True)
class CertInfo:
    subject: str
    issuer: str
    sans: tuple[str, ...]
    serial: str  # lowercase hex, at least 32 digits, as istioctl prints it
    not_before: dt.datetime  # aware, UTC
    not_after: dt.datetime
    is_ca: bool
    trust_domain: str = ""  # the host of a spiffe:// URI SAN

    @property
    def kind(self) -> str:
        """istioctl's TYPE column: ``CA`` or ``Cert Chain``."""
        return "CA" if self.is_ca else "Cert Chain"

    def valid_on(self, when: dt.date) -> bool:
        """Whether the certificate is valid at an instant (a datetime) or on a whole day (a date)."""
        if isinstance(when, dt.datetime):
            instant = when if when.tzinfo else when.replace(tzinfo=dt.UTC)
            return self.not_before < instant < self.not_after
        return self.not_before.date() <= when and when < self.not_after.date()

    def days_left(self, when: dt.date) -> int:
        """Days from ``when`` to the end of validity (negative once expired)."""
        day = when.date() if isinstance(when, dt.datetime) else when
        return (self.not_after.date() - day).days

    @property
    def spiffe_id(self) -> str:
        """The first ``spiffe://`` URI SAN: the identity of an Istio or SPIRE workload certificate."""
        return next((san for san in self.sans if san.lower().startswith("spiffe://")), "")

    @property
    def identity(self) -> str:
        """Who the certificate names: its SPIFFE ID (Istio's workload certificates have an empty subject), else
        its subject, else its first SAN."""
        return self.spiffe_id or self.subject or (self.sans[0] if self.sans else "")

    def validity(self, today: dt.date, captured: dt.datetime | None = None) -> Validity:
        """Days left and validity today and, when the capture moment is known, at capture."""
        return Validity(self.days_left(today), self.valid_on(today),
                        self.days_left(captured) if captured else None,
                        self.valid_on(captured) if captured else None,
                        captured.date() if captured else None, today)


def _days(left: int) -> str:
    if left < 0:
        return f"expired {-left} day{'s' if left != -1 else ''} ago"
    return f"{left} day{'s' if left != 1 else ''} left"


@dataclass(frozen=True, slots=True)
class Validity:
    """A certificate's validity today and at capture (``None`` there when the capture moment is not known)."""

    days_left: int
    valid: bool
    days_left_at_capture: int | None
    valid_at_capture: bool | None
    captured_on: dt.date | None
    today: dt.date

    @property
    def differs(self) -> bool:
        """Whether capture and today are different days (then both are worth saying)."""
        return self.captured_on is not None and self.captured_on != self.today

    @property
    def expired_at_capture(self) -> bool:
        return self.valid_at_capture is False

    @property
    def bad(self) -> bool:
        """Not valid today or not valid at capture: never to be shown as fine."""
        return not self.valid or self.expired_at_capture

    def cell(self) -> str:
        """For a table: ``12``, or ``12 at capture, -880 today`` when the days differ."""
        if not self.differs or self.days_left_at_capture is None:
            return str(self.days_left)
        return f"{self.days_left_at_capture} at capture, {self.days_left} today"

    def words(self) -> str:
        """``12 days left``, or ``at capture 2020-05-14: 1 day left; today: expired 880 days ago``."""
        if not self.differs or self.days_left_at_capture is None:
            return _days(self.days_left)
        then = _days(self.days_left_at_capture)
        if not self.valid_at_capture and self.days_left_at_capture >= 0:
            then = "not yet valid"
        return f"at capture {self.captured_on}: {then}; today: {_days(self.days_left)}"


def rfc3339(moment: dt.datetime) -> str:
    """``2023-05-16T01:32:52Z``, as Go's time.RFC3339 prints a UTC time."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_serial(number: int) -> str:
    """Go's ``%032x`` of a big integer: lowercase hex padded with zeros to 32 characters (sign included)."""
    return format(number, "032x")


def data_source_bytes(source: Any) -> bytes | None:
    """The bytes of a DataSource held in the dump (``inline_bytes`` is base64, ``inline_string`` is text)."""
    if not isinstance(source, dict):
        return None
    if isinstance(source.get("inline_bytes"), str):
        try:
            return base64.b64decode(source["inline_bytes"], validate=True)
        except (binascii.Error, ValueError):
            return None
    if isinstance(source.get("inline_string"), str):
        return source["inline_string"].encode()
    return None


def decode_certificate(data: bytes) -> CertInfo | None:
    """The first PEM certificate in ``data``, or None when there is none or it cannot be parsed."""
    from cryptography import x509  # imported here: 70 ms that only certificate views should pay
    from cryptography.x509.oid import NameOID

    start = data.find(b"-----BEGIN CERTIFICATE-----")
    if start < 0:
        return None
    end = data.find(b"-----END CERTIFICATE-----", start)
    if end < 0:
        return None
    pem = data[start:end + len(b"-----END CERTIFICATE-----")] + b"\n"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. negative serial numbers: still worth showing
            cert = x509.load_pem_x509_certificate(pem)
            serial = cert.serial_number
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
            subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
    except ValueError:
        return None
    sans: list[str] = []
    trust_domain = ""
    try:
        alt_names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        alt_names = None
    if alt_names is not None:
        for uri in alt_names.get_values_for_type(x509.UniformResourceIdentifier):
            sans.append(uri)
            if uri.lower().startswith("spiffe://"):
                trust_domain = uri[len("spiffe://"):].split("/", 1)[0]
        sans.extend(alt_names.get_values_for_type(x509.DNSName))
        sans.extend(str(ip) for ip in alt_names.get_values_for_type(x509.IPAddress))
        sans.extend(alt_names.get_values_for_type(x509.RFC822Name))
    try:
        is_ca = bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        is_ca = False
    if not subject:
        common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        subject = str(common[0].value) if common else ""
    return CertInfo(subject=subject, issuer=issuer, sans=tuple(sans), serial=go_serial(serial),
                    not_before=not_before, not_after=not_after, is_ca=is_ca, trust_domain=trust_domain)


# (parent field, field) pairs whose DataSource values are secret; None = under any parent.
_SECRET_FIELDS = {
    (None, "private_key"),
    (None, "password"),
    (None, "pkcs12"),
    (None, "session_ticket_keys"),
    ("generic_secret", "secret"),
    (None, "hmac_secret"),
    (None, "client_secret"),
    (None, "token_secret"),
}


def _is_secret_field(parent: str | None, key: str) -> bool:
    return (None, key) in _SECRET_FIELDS or (parent, key) in _SECRET_FIELDS


def redact(value: Any, parent: str | None = None) -> Any:
    """A copy of ``value`` with every private key, password and secret blanked to ``[redacted]``."""
    if isinstance(value, list):
        return [redact(item, parent) for item in value]
    if not isinstance(value, dict):
        return _scrub_text(value) if isinstance(value, str) else value
    out = {}
    for key, child in value.items():
        out[key] = _blank(child) if _is_secret_field(parent, key) else redact(child, key)
    return out


# A PEM private key anywhere in a string (a certificate_chain holding cert and key, a key pasted in metadata…),
# and strings that are base64 of one (inline_bytes); an unterminated block is cut to the end of the string.
_PEM_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]{40,}")


def scrub_private_keys(value: Any) -> Any:
    """A copy of ``value`` in which no string holds a private key, whatever field it is in."""
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, list | tuple):
        return [scrub_private_keys(item) for item in value]
    if isinstance(value, dict):
        return {key: scrub_private_keys(child) for key, child in value.items()}
    return value


def _scrub_text(text: str) -> str:
    if "PRIVATE KEY" in text:
        text = _PEM_KEY.sub(REDACTED, text)
    if len(text) >= 40 and _BASE64.fullmatch(text):
        try:
            decoded = base64.b64decode("".join(text.split()), validate=True)
        except ValueError:
            return text
        if b"PRIVATE KEY" in decoded:
            return REDACTED
    return text


def _blank(value: Any) -> Any:
    """Every string and number inside a secret field replaced, keeping the shape (and any SDS name)."""
    if isinstance(value, dict):
        return {k: (v if k in ("@type", "name", "sds_config") else _blank(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(item) for item in value]
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return REDACTED
    return value
