"""Semantic changes of every kind, made in place in a /config_dump (snake_case v3, decoded JSON) and its
/clusters, each returning what the diff must report: an `Expect` (or None when the dump has no such thing)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Expect:
    kind: str
    names: tuple[str, ...]  # the change's name is one of these (a swap of two named routes moves one of them)
    change: str
    paths: frozenset[str] = frozenset()  # fields the change must have (among others)


def section(doc: Doc, name: str) -> Doc | None:
    return next((c for c in doc["configs"] if c["@type"].endswith("." + name)), None)


def listeners(doc: Doc) -> Iterator[Doc]:
    for entry in (section(doc, "ListenersConfigDump") or {}).get("dynamic_listeners", []):
        if "active_state" in entry:
            yield entry["active_state"]["listener"]


def route_configs(doc: Doc) -> Iterator[Doc]:
    for entry in (section(doc, "RoutesConfigDump") or {}).get("dynamic_route_configs", []):
        yield entry["route_config"]


def clusters(doc: Doc) -> list[Doc]:
    return [e["cluster"] for e in (section(doc, "ClustersConfigDump") or {}).get("dynamic_active_clusters", [])]


def proxy_name(doc: Doc) -> str:
    from envoyscope.model.identity import identity_from_bootstrap

    return identity_from_bootstrap((section(doc, "BootstrapConfigDump") or {}).get("bootstrap")).name


def bootstrap(doc: Doc) -> Expect:
    node = section(doc, "BootstrapConfigDump")["bootstrap"]["node"]  # type: ignore[index]
    node.setdefault("metadata", {})["ISTIO_VERSION"] = "9.9.9"
    return Expect("bootstrap", (proxy_name(doc),), "modified", frozenset({"node.metadata.ISTIO_VERSION"}))


def listener_modified(doc: Doc) -> Expect:
    first = next(listeners(doc))
    first["per_connection_buffer_limit_bytes"] = 65431
    return Expect("listener", (first["name"],), "modified", frozenset({"per_connection_buffer_limit_bytes"}))


def listener_added(doc: Doc) -> Expect:
    wrapper = section(doc, "ListenersConfigDump")["dynamic_listeners"]  # type: ignore[index]
    entry = copy.deepcopy(next(e for e in wrapper if "active_state" in e))
    entry["name"] = entry["active_state"]["listener"]["name"] = "192.0.2.9_9999"
    entry["active_state"]["listener"]["address"] = {"socket_address": {"address": "192.0.2.9", "port_value": 9999}}
    wrapper.append(entry)
    return Expect("listener", ("192.0.2.9_9999",), "added")


def filter_chain_modified(doc: Doc) -> Expect | None:
    """A named chain if there is one, else an unnamed one (named by its match: `match_label`)."""
    from envoyscope.engine.diff.canonical import canonical
    from envoyscope.engine.diff.resources import match_label

    found = [(listener, chain) for listener in listeners(doc) for chain in listener.get("filter_chains", [])
             if chain.get("filters")]
    if not found:
        return None
    listener, chain = next(((lis, c) for lis, c in found if c.get("name")), found[0])
    chain["transport_socket_connect_timeout"] = "7s"
    label = chain.get("name") or match_label(canonical(chain.get("filter_chain_match", {})))
    return Expect("filter_chain", (f"{listener['name']}/{label}",), "modified",
                  frozenset({"transport_socket_connect_timeout"}))


def route_config_modified(doc: Doc) -> Expect | None:
    config = next(route_configs(doc), None)
    if config is None:
        return None
    config["max_direct_response_body_size_bytes"] = 12345
    return Expect("route_config", (config["name"],), "modified", frozenset({"max_direct_response_body_size_bytes"}))


def virtual_host_modified(doc: Doc) -> Expect | None:
    for config in route_configs(doc):
        for host in config.get("virtual_hosts", []):
            host["domains"] = [*host.get("domains", []), "added.example.com"]
            return Expect("virtual_host", (f"{config['name']}/{host['name']}",), "modified", frozenset({"domains"}))
    return None


def _route_label(host: str, route: Doc, index: int) -> str:
    return f"{host}/{route.get('name') or f'#{index + 1}'}"


def routes_swapped(doc: Doc) -> list[Expect]:
    """The first two routes of a virtual host swapped: order is what first-match routing reads."""
    for config in route_configs(doc):
        for host in config.get("virtual_hosts", []):
            routes = host.get("routes", [])
            if len(routes) >= 2 and routes[0] != routes[1]:
                routes[0], routes[1] = routes[1], routes[0]
                label = f"{config['name']}/{host['name']}"
                names = [r.get("name") for r in routes]
                if all(names) and len(set(names)) == len(names):
                    return [Expect("route", (_route_label(label, routes[0], 0), _route_label(label, routes[1], 1)),
                                   "modified", frozenset({"position"}))]
                return [Expect("route", (_route_label(label, routes[i], i),), "modified") for i in (0, 1)]
    return []


def route_timeout(doc: Doc, skip_host: str) -> Expect | None:
    for config in route_configs(doc):
        for host in config.get("virtual_hosts", []):
            label = f"{config['name']}/{host['name']}"
            if label == skip_host or len(host.get("routes", [])) > 1:
                continue
            for index, route in enumerate(host.get("routes", [])):
                if "route" in route:
                    route["route"]["timeout"] = "33s"
                    return Expect("route", (_route_label(label, route, index),), "modified",
                                  frozenset({"route.timeout"}))
    return None


def cluster_modified(doc: Doc) -> Expect:
    cluster = clusters(doc)[0]
    cluster["connect_timeout"] = "10s" if cluster.get("connect_timeout") != "10s" else "11s"
    return Expect("cluster", (cluster["name"],), "modified", frozenset({"connect_timeout"}))


def cluster_removed(doc: Doc, keep: set[str]) -> Expect:
    entries = section(doc, "ClustersConfigDump")["dynamic_active_clusters"]  # type: ignore[index]
    index = max(i for i, e in enumerate(entries) if e["cluster"]["name"] not in keep)
    name = entries.pop(index)["cluster"]["name"]
    return Expect("cluster", (name,), "removed")


def eds_weight(doc: Doc) -> Expect | None:
    for entry in (section(doc, "EndpointsConfigDump") or {}).get("dynamic_endpoint_configs", []):
        assignment = entry["endpoint_config"]
        for group in assignment.get("endpoints", []):
            for lb in group.get("lb_endpoints", []):
                sock = lb["endpoint"]["address"]["socket_address"]
                lb["load_balancing_weight"] = 7
                address = f"{sock['address']}:{sock['port_value']}"
                return Expect("endpoint", (assignment["cluster_name"],), "modified",
                              frozenset({f"endpoints[{address}].weight"}))
    return None


def host_unhealthy(status: Doc, skip: set[str]) -> Expect | None:
    for cluster in status["cluster_statuses"]:
        if cluster["name"] in skip:
            continue
        for host in cluster.get("host_statuses", []):
            sock = host["address"]["socket_address"]
            host.setdefault("health_status", {})["failed_outlier_check"] = True
            return Expect("endpoint", (cluster["name"],), "modified",
                          frozenset({f"hosts[{sock['address']}:{sock['port_value']}].health"}))
    return None


def new_certificate(common_name: str, days: int) -> tuple[str, str]:
    """A fresh self-signed certificate and its private key, both PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def certificate_renewed(doc: Doc) -> tuple[Expect | None, str]:
    """A secret's certificate replaced by a new one (new serial and expiry) with a new private key, written in
    the dump as Envoy never would (the key in clear): the diff must say the certificate changed, never the key."""
    for entry in (section(doc, "SecretsConfigDump") or {}).get("dynamic_active_secrets", []):
        tls = entry["secret"].get("tls_certificate")
        if tls and "certificate_chain" in tls:
            cert, key = new_certificate("renewed.example.com", 400)
            if "inline_bytes" in tls["certificate_chain"]:
                tls["certificate_chain"] = {"inline_bytes": base64.b64encode(cert.encode()).decode()}
            else:
                tls["certificate_chain"] = {"inline_string": cert}
            tls["private_key"] = {"inline_string": key}
            paths = {f"tls_certificate.certificate_chain.{f}" for f in ("serial", "not_after")}
            return Expect("secret", (entry["secret"]["name"],), "modified", frozenset(paths)), key
    return None, ""
