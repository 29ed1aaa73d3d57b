"""A proxy's own workload identity: the SPIFFE ID its Istio mTLS certificate carries to the next proxy.

Taken from the certificate of its ``default`` SDS secret when the dump holds it (its ``spiffe://`` URI SAN),
else built the way Istio names workloads from the bootstrap's node metadata: ``spiffe://<trust
domain>/ns/<NAMESPACE>/sa/<SERVICE_ACCOUNT>``, with the trust domain of the SAN matchers the proxy's own mTLS
clusters expect (else Istio's default ``cluster.local``).
"""

from __future__ import annotations

from typing import Any

from envoyscope.model.certs import data_source_bytes, decode_certificate
from envoyscope.model.dump import ConfigDump


def _from_secret(proxy: ConfigDump) -> str | None:
    secret = proxy.secret("default")
    if secret is None:
        return None
    data = data_source_bytes((secret.raw.get("tls_certificate") or {}).get("certificate_chain"))
    info = decode_certificate(data) if data else None
    if info is None:
        return None
    return next((s for s in info.sans if s.startswith("spiffe://")), None)


def _trust_domain(proxy: ConfigDump) -> str | None:
    """The trust domain in the first ``spiffe://`` SAN matcher among the proxy's clusters (Istio's mTLS)."""
    for resource in proxy.clusters[:300]:
        found = _first_spiffe(resource.raw.get("transport_socket") or {})
        if found is None:
            for match in resource.raw.get("transport_socket_matches") or ():
                found = _first_spiffe(match.get("transport_socket") or {})
                if found:
                    break
        if found:
            return found.removeprefix("spiffe://").split("/", 1)[0]
    return None


def _first_spiffe(value: Any) -> str | None:
    if isinstance(value, str):
        return value if value.startswith("spiffe://") else None
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    for item in items:
        found = _first_spiffe(item)
        if found:
            return found
    return None


def workload_principal(proxy: ConfigDump) -> tuple[str | None, str]:
    """(the SPIFFE ID, where it comes from); (None, why) when the dump says nothing of it."""
    found = _from_secret(proxy)
    if found:
        return found, f"the URI SAN of {proxy.identity.name}'s `default` certificate"
    metadata = ((proxy.bootstrap or {}).get("node") or {}).get("metadata") or {}
    account = str(metadata.get("SERVICE_ACCOUNT", "") or "")
    namespace = str(metadata.get("NAMESPACE", "") or proxy.identity.namespace or "")
    if not account or not namespace:
        return None, f"{proxy.identity.name}'s bootstrap names no service account"
    domain = _trust_domain(proxy)
    where = "its clusters' SAN matchers" if domain else "Istio's default"
    return (f"spiffe://{domain or 'cluster.local'}/ns/{namespace}/sa/{account}",
            f"{proxy.identity.name}'s node metadata (SERVICE_ACCOUNT, NAMESPACE; trust domain from {where})")
