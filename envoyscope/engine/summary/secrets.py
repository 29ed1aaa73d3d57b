"""The secrets summary: ``RESOURCE NAME  TYPE  STATUS  VALID CERT  SERIAL NUMBER  NOT AFTER  NOT BEFORE``.

Like ``istioctl proxy-config secret``: warming SDS secrets, then active ones, one row per secret (one per trust
domain for a SPIFFE validator), the certificate decoded from its ``inline_bytes``; TRUST DOMAIN is added when
every row has one. VALID CERT is computed for the ``today`` given (a date, or a datetime for an exact instant).
Beyond istioctl: static secrets (status STATIC), certificates written inline in a cluster's or a listener's TLS
context (status INLINE), and with ``-o wide`` DAYS LEFT (at capture and today, when they are different days: see
`envoyscope.model.captured`), IDENTITY (the SPIFFE ID, else the subject: Istio's workload certificates have an
empty subject), SUBJECT and SANS. Private keys are never read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.summary._common import obj, reading, seq, text
from envoyscope.engine.summary.types import Row, Table
from envoyscope.model.captured import capture_moment
from envoyscope.model.certs import CertInfo, data_source_bytes, decode_certificate, rfc3339
from envoyscope.model.dump import ConfigDump, Resource

COLUMNS = ("RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE")
SPIFFE_VALIDATOR = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig"


@dataclass(frozen=True, slots=True)
class SecretItem:
    name: str
    state: str
    cert: CertInfo | None
    trust_domain: str
    ref: tuple[str, str]


def _items_of_secret(resource: Resource, state: str) -> list[SecretItem]:
    raw = resource.raw
    ref = ("secret", resource.name)
    chain = data_source_bytes(obj(obj(raw.get("tls_certificate")).get("certificate_chain")))
    validation = obj(raw.get("validation_context"))
    trusted = data_source_bytes(obj(validation.get("trusted_ca")))
    data = chain or trusted
    if not data:
        validator = obj(obj(validation.get("custom_validator_config")).get("typed_config"))
        if validator.get("@type") == SPIFFE_VALIDATOR:
            items = []
            for domain in seq(validator.get("trust_domains")):
                domain = obj(domain)
                bundle = data_source_bytes(obj(domain.get("trust_bundle")))
                cert = decode_certificate(bundle) if bundle else None
                # istioctl keeps the trust domain only when the bundle decodes
                items.append(SecretItem(resource.name, state, cert, text(domain.get("name")) if cert else "", ref))
            return items
        return [SecretItem(resource.name, state, None, "", ref)]
    cert = decode_certificate(data)
    return [SecretItem(resource.name, state, cert, cert.trust_domain if cert else "", ref)]


def _inline_items(dump: ConfigDump) -> list[SecretItem]:
    """Certificates written inline in TLS contexts of clusters and listeners."""
    items = []
    for resource in [*dump.clusters, *dump.listeners]:
        if resource.state not in ("static", "dynamic_active"):
            continue
        with reading(dump.source, resource):
            for where, socket in _sockets(resource):
                common = obj(obj(obj(socket).get("typed_config")).get("common_tls_context"))
                sources = [obj(c).get("certificate_chain") for c in seq(common.get("tls_certificates"))]
                validation = obj(common.get("validation_context")) or obj(
                    obj(common.get("combined_validation_context")).get("default_validation_context"))
                sources.append(validation.get("trusted_ca"))
                for source in sources:
                    data = data_source_bytes(source)
                    if not data:
                        continue
                    cert = decode_certificate(data)
                    name = f"{resource.kind}/{resource.name}{where}"
                    items.append(SecretItem(name, "INLINE", cert, cert.trust_domain if cert else "",
                                            (resource.kind, resource.name)))
    return items


def _sockets(resource: Resource) -> list[tuple[str, Any]]:
    raw = resource.raw
    if resource.kind == "cluster":
        found = [("", raw.get("transport_socket"))]
        found += [(f"#{text(obj(m).get('name')) or index}", obj(m).get("transport_socket"))
                  for index, m in enumerate(seq(raw.get("transport_socket_matches")))]
        return [(where, s) for where, s in found if isinstance(s, dict)]
    chains = [obj(c) for c in seq(raw.get("filter_chains"))]
    if isinstance(raw.get("default_filter_chain"), dict):
        chains.append(raw["default_filter_chain"])
    return [(f"#{text(c.get('name')) or index}", c["transport_socket"]) for index, c in enumerate(chains)
            if isinstance(c.get("transport_socket"), dict)]


def secret_items(dump: ConfigDump) -> list[SecretItem]:
    items: list[SecretItem] = []
    for state, label in (("dynamic_warming", "WARMING"), ("dynamic_active", "ACTIVE"), ("static", "STATIC")):
        for resource in dump.secrets:
            if resource.state == state:
                with reading(dump.source, resource):
                    shown = "UNINITIALIZED" if label == "ACTIVE" and resource.version_info == "uninitialized" \
                        else label
                    items.extend(_items_of_secret(resource, shown))
    return items + _inline_items(dump)


def summarize_secrets(dump: ConfigDump, *, wide: bool = False, named: bool = False,
                      today: dt.date | None = None) -> Table:
    when = today or dt.date.today()
    captured = capture_moment(dump)
    items = secret_items(dump)
    with_domains = bool(items) and all(item.trust_domain for item in items)
    columns = COLUMNS + (("TRUST DOMAIN",) if with_domains else ()) + (
        ("DAYS LEFT", "IDENTITY", "SUBJECT", "SANS") if wide else ())
    rows = []
    then: dict[bool, list[str]] = {True: [], False: []}  # judged otherwise at capture than today: valid then, not
    for item in items:
        cert = item.cert
        cells: tuple[str, ...] = (
            f"secret/{item.name}" if named and item.state != "INLINE" else item.name,
            cert.kind if cert else "",
            item.state,
            "true" if cert and cert.valid_on(when) else "false",
            cert.serial if cert else "",
            rfc3339(cert.not_after) if cert else "",
            rfc3339(cert.not_before) if cert else "",
        )
        if with_domains:
            cells += (item.trust_domain,)
        validity = cert.validity(when, captured.at if captured else None) if cert else None
        if validity is not None and validity.valid_at_capture is not None and validity.valid_at_capture != (
                cells[3] == "true"):
            then[validity.valid_at_capture].append(item.name)
        if wide:
            cells += (validity.cell() if validity else "", cert.identity if cert else "",
                      cert.subject if cert else "", ",".join(cert.sans) if cert else "")
        rows.append(Row(cells, item.ref))
    notes = []
    if captured is not None and (then[True] or then[False]):
        said = [f"{', '.join(dict.fromkeys(names))} {'was' if len(set(names)) == 1 else 'were'}"
                f"{'' if valid else ' not'} valid" for valid, names in then.items() if names]
        notes.append(f"VALID CERT is for {when}, as istioctl judges it; at capture, {captured.words()}, "
                     f"{' and '.join(said)}" + ("" if wide else " (-o wide: DAYS LEFT at capture and today)"))
    if not dump.has("secrets") and not items:
        notes.append("no secrets section in this dump")
    elif not any(r.state in ("dynamic_warming", "dynamic_active") for r in dump.secrets) and not items:
        notes.append("No active or warming secrets found.")
    return Table("secrets", columns, tuple(rows), tuple(notes))
