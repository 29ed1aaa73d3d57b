"""Small dumps built in the test, in Envoy's /config_dump shape, and test certificates made with `cryptography`."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document

ADMIN = "type.googleapis.com/envoy.admin.v3."


def config_dump(*, clusters: list[dict[str, Any]] | None = None, warming_clusters: list[dict[str, Any]] | None = None,
                static_clusters: list[dict[str, Any]] | None = None, listeners: list[dict[str, Any]] | None = None,
                routes: list[dict[str, Any]] | None = None, static_routes: list[dict[str, Any]] | None = None,
                endpoints: list[dict[str, Any]] | None = None, secrets: list[dict[str, Any]] | None = None,
                bootstrap: dict[str, Any] | None = None, source: str = "test.json") -> ConfigDump:
    configs: list[dict[str, Any]] = []
    if bootstrap is not None:
        configs.append({"@type": ADMIN + "BootstrapConfigDump", "bootstrap": bootstrap})
    if clusters is not None or static_clusters is not None or warming_clusters is not None:
        configs.append({"@type": ADMIN + "ClustersConfigDump",
                        "static_clusters": [{"cluster": c} for c in static_clusters or []],
                        "dynamic_active_clusters": [{"cluster": c} for c in clusters or []],
                        "dynamic_warming_clusters": [{"cluster": c} for c in warming_clusters or []]})
    if listeners is not None:
        configs.append({"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": [
            {"name": lst.get("name", ""), "active_state": {"listener": lst}} for lst in listeners]})
    if routes is not None or static_routes is not None:
        configs.append({"@type": ADMIN + "RoutesConfigDump",
                        "static_route_configs": [{"route_config": r} for r in static_routes or []],
                        "dynamic_route_configs": [{"route_config": r} for r in routes or []]})
    if endpoints is not None:
        configs.append({"@type": ADMIN + "EndpointsConfigDump",
                        "dynamic_endpoint_configs": [{"endpoint_config": e} for e in endpoints]})
    if secrets is not None:
        configs.append({"@type": ADMIN + "SecretsConfigDump", "dynamic_active_secrets": secrets})
    return parse_document({"configs": configs}, source)


def sock(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}


def make_cert(*, not_before: dt.datetime, not_after: dt.datetime, serial: int = 0x1234,
              ca: bool = False, uri: str | None = None, dns: str | None = None, cn: str | None = None) -> bytes:
    """A self-signed PEM certificate with the given validity, serial and SANs."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(serial).not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    sans: list[x509.GeneralName] = []
    if uri:
        sans.append(x509.UniformResourceIdentifier(uri))
    if dns:
        sans.append(x509.DNSName(dns))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
