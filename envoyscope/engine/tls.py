"""The TLS an upstream connection gets: Envoy's transport socket selection and what it says.

Envoy: ``Upstream::TransportSocketMatcherImpl::resolve`` picks, per endpoint, the first
``transport_socket_matches`` entry whose ``match`` is a subset of the endpoint's
``envoy.transport_socket_match`` metadata, else the cluster's ``transport_socket``. Istio's auto mTLS puts
``tlsMode-istio`` (match ``tlsMode: istio``) first and plaintext after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoyscope.engine.steps import NearMiss, Step

TLS_SOCKETS = ("envoy.transport_sockets.tls", "tls")
MATCH_FILTER = "envoy.transport_socket_match"


@dataclass(frozen=True, slots=True)
class TlsContext:
    """What the upstream connection looks like on the wire.

    mode: plaintext | SIMPLE | MUTUAL | ISTIO_MUTUAL | (other transport socket's name)
    """

    mode: str
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    client_cert: str | None = None  # ``sds:default``, ``file:/etc/certs/cert.pem``, ``inline``
    validation: str | None = None  # ``sds:ROOTCA``, ``file:/etc/ca.pem``, plus the SANs it verifies
    verify_sans: tuple[str, ...] = ()
    socket_name: str = ""  # which transport socket (match name or "transport_socket")

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "sni": self.sni,
            "alpn": list(self.alpn),
            "client_cert": self.client_cert,
            "validation": self.validation,
            "verify_sans": list(self.verify_sans),
        }


PLAINTEXT = TlsContext(mode="plaintext")


def source_of(item: dict[str, Any]) -> str:
    """Where a certificate or CA comes from: a file, SDS, or inline bytes (never the bytes)."""
    if "filename" in item:
        return f"file:{item['filename']}"
    if "inline_string" in item or "inline_bytes" in item:
        return "inline"
    if "environment_variable" in item:
        return f"env:{item['environment_variable']}"
    return "?"


def _client_cert(common: dict[str, Any]) -> str | None:
    for sds in common.get("tls_certificate_sds_secret_configs") or ():
        return f"sds:{sds.get('name', '')}"
    for cert in common.get("tls_certificates") or ():
        return source_of(cert.get("certificate_chain") or {})
    return None


def validation_of(common: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    context: dict[str, Any] = {}
    source = None
    combined = common.get("combined_validation_context")
    if isinstance(combined, dict):
        context = combined.get("default_validation_context") or {}
        sds = combined.get("validation_context_sds_secret_config") or {}
        if sds:
            source = f"sds:{sds.get('name', '')}"
    elif isinstance(common.get("validation_context"), dict):
        context = common["validation_context"]
    elif isinstance(common.get("validation_context_sds_secret_config"), dict):
        source = f"sds:{common['validation_context_sds_secret_config'].get('name', '')}"
    if context.get("trusted_ca"):
        source = source_of(context["trusted_ca"])
    sans: list[str] = []
    for matcher in context.get("match_typed_subject_alt_names") or ():
        sans.extend(_string_match(matcher.get("matcher") or {}))
    for matcher in context.get("match_subject_alt_names") or ():
        sans.extend(_string_match(matcher))
    sans.extend(str(s) for s in context.get("verify_subject_alt_name") or ())
    return source, tuple(sans)


def _string_match(matcher: dict[str, Any]) -> list[str]:
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in matcher:
            return [matcher[key] if key == "exact" else f"{key}:{matcher[key]}"]
    if "safe_regex" in matcher:
        return [f"regex:{matcher['safe_regex'].get('regex', '')}"]
    return []


def _is_istio_mtls(common: dict[str, Any], cert: str | None, validation: str | None) -> bool:
    alpn = common.get("alpn_protocols") or ()
    return cert == "sds:default" and (validation == "sds:ROOTCA" or "istio" in " ".join(alpn))


def describe_socket(socket: dict[str, Any] | None, name: str = "transport_socket") -> TlsContext:
    """Read one transport socket: plaintext, or TLS with its mode, SNI, ALPN, client cert and validation."""
    if not socket:
        return TlsContext(mode="plaintext", socket_name=name)
    socket_name = str(socket.get("name", ""))
    typed = socket.get("typed_config") or {}
    type_url = str(typed.get("@type", ""))
    if type_url.endswith("InternalUpstreamTransport"):  # to an internal listener: what it wraps is the socket
        return describe_socket(typed.get("transport_socket"), name)
    if socket_name not in TLS_SOCKETS and not type_url.endswith("UpstreamTlsContext"):
        if socket_name.endswith("raw_buffer") or type_url.endswith("RawBuffer"):
            return TlsContext(mode="plaintext", socket_name=name)
        return TlsContext(mode=socket_name or type_url or "unknown", socket_name=name)
    common = typed.get("common_tls_context") or {}
    cert = _client_cert(common)
    validation, sans = validation_of(common)
    mode = "MUTUAL" if cert else "SIMPLE"
    if _is_istio_mtls(common, cert, validation):
        mode = "ISTIO_MUTUAL"
    return TlsContext(
        mode=mode,
        sni=typed.get("sni") or None,
        alpn=tuple(common.get("alpn_protocols") or ()),
        client_cert=cert,
        validation=validation,
        verify_sans=sans,
        socket_name=name,
    )


def endpoint_match_labels(lb_endpoint: dict[str, Any]) -> dict[str, Any]:
    metadata = (lb_endpoint.get("metadata") or {}).get("filter_metadata") or {}
    return dict(metadata.get(MATCH_FILTER) or {})


def resolve_transport_socket(cluster: dict[str, Any], labels: dict[str, Any] | None, path: str) -> tuple[
        TlsContext, Step]:
    """TransportSocketMatcherImpl::resolve for one endpoint's ``envoy.transport_socket_match`` labels."""
    labels = labels or {}
    misses: list[NearMiss] = []
    for index, match in enumerate(cluster.get("transport_socket_matches") or ()):
        wanted = match.get("match") or {}
        name = str(match.get("name", index))
        missing = [f"{k}={v}" for k, v in wanted.items() if labels.get(k) != v]
        if not missing:
            tls = describe_socket(match.get("transport_socket"), name=name)
            reason = (f"transport_socket_matches `{name}` matches the endpoint's labels "
                      f"{_labels(labels)}: {tls.mode}")
            return tls, Step("tls", name, reason, f"{path}.transport_socket_matches[{index}]", tuple(misses))
        misses.append(NearMiss(name, f"wants {', '.join(missing)}; endpoint has {_labels(labels)}",
                               f"{path}.transport_socket_matches[{index}]"))
    socket = cluster.get("transport_socket")
    tls = describe_socket(socket, name="transport_socket")
    if socket:
        reason = f"the cluster's transport_socket: {tls.mode}"
    else:
        reason = "the cluster has no transport_socket: plaintext"
    if misses:
        reason += " (no transport_socket_matches entry matched)"
    return tls, Step("tls", tls.mode, reason, f"{path}.transport_socket" if socket else path, tuple(misses))


def tls_without_endpoint(cluster: dict[str, Any], path: str) -> tuple[TlsContext | None, Step]:
    """The upstream TLS when the endpoints are unknown: the cluster decides it alone unless it has
    ``transport_socket_matches`` (Istio's auto mTLS), whose choice depends on each endpoint's labels."""
    matches = cluster.get("transport_socket_matches") or ()
    if not matches:
        tls, step = resolve_transport_socket(cluster, None, path)
        return tls, Step("tls", step.matched, f"{step.reason} (whichever endpoint Envoy picks)", step.path)
    options = []
    for index, match in enumerate(matches):
        wanted = ", ".join(f"{k}={v}" for k, v in (match.get("match") or {}).items())
        mode = describe_socket(match.get("transport_socket"), str(index)).mode
        options.append(f"{wanted or 'other endpoints'} → {mode}")
        if not wanted:  # an empty match takes every endpoint left: the cluster's own socket is never used
            break
    else:
        options.append(f"other endpoints → {describe_socket(cluster.get('transport_socket')).mode}")
    return None, Step("tls", "by endpoint", "depends on the endpoint's labels (transport_socket_matches): "
                                   + "; ".join(options), f"{path}.transport_socket_matches")


def _labels(labels: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in labels.items()) + "}" if labels else "no labels"
