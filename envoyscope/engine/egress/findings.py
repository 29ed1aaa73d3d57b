"""Detectors: the misconfigurations that break egress, each with a stable code, a severity and the config behind it.

Row detectors look at one traced destination (and, where the question is "what if the app did the other
thing", trace that variant with the same engine). Proxy detectors read the proxy's config as a whole: rejected
or warming resources, certificates at capture time, EDS clusters without endpoints, routes to missing clusters,
``/clusters`` health (ejections, panic mode) and locality failover without outlier detection.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.egress.destinations import Destination, outbound_policy
from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import Trace, trace
from envoyscope.errors import EnvoyscopeError
from envoyscope.model.certs import data_source_bytes, decode_certificate
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import parse_cluster_name

SEVERITIES = ("info", "warning", "error")
# Every code a finding can carry, with what it means (the README's table is checked against this).
CODES = {
    "no_ca_validation": "TLS is originated without verifying the server certificate",
    "double_tls": "the sidecar originates TLS where an app speaking TLS itself would be wrapped again",
    "sni_mismatch": "the SNI a proxy sends (or a gateway chain matches) does not fit the chain or host it reaches",
    "bypasses_egress_gateway": "a destination other proxies reach through the egress gateway leaves this one directly",
    "plaintext_external": "HTTP or TCP leaves the mesh with no TLS on any hop",
    "port_collision": "a TCP service cannot be told apart from another on the same port: another cluster takes it",
    "unknown_cluster": "a route or chain names a cluster the proxy does not have",
    "no_healthy_upstream": "a cluster has no healthy endpoint",
    "all_hosts_ejected": "outlier detection ejected every host of a cluster",
    "panic_mode": "fewer healthy hosts than the panic threshold: Envoy balances over all hosts, healthy or not",
    "failover_without_outlier_detection": "locality failover is configured but no outlier detection moves traffic",
    "allow_any": "the mesh lets unknown hosts out through PassthroughCluster",
    "rejected_config": "Envoy rejected a resource (error_state): the previous version, or nothing, is in use",
    "warming_config": "a resource is still warming: Envoy does not use it yet",
    "certificate_expired": "a certificate had expired when the dump was captured",
    "certificate_expiring": "a certificate expired within 30 days of the capture",
    "eds_without_endpoints": "an EDS cluster has no endpoints",
}


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: str  # info | warning | error
    detail: str
    config: str = ""  # the resource (or path) that shows it

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "detail": self.detail, "config": self.config or None}


def unique_findings(pairs: list[tuple[str, Finding]]) -> list[tuple[str, Finding]]:
    """(where, finding) pairs with each finding (code and detail) kept once, in order."""
    seen: set[tuple[str, str]] = set()
    unique = []
    for where, finding in pairs:
        if (finding.code, finding.detail) not in seen:
            seen.add((finding.code, finding.detail))
            unique.append((where, finding))
    return unique


def _originated(result: Trace) -> list[tuple[str, str, str | None, str]]:
    """(proxy, mode, validation, cluster) for every hop that originates TLS."""
    return [(h.proxy, h.tls.mode, h.tls.validation, h.cluster or "") for h in result.hops
            if h.tls is not None and h.tls.mode in ("SIMPLE", "MUTUAL")]


def _variant(dest: Destination, scheme: str, result: Trace, dumps: list[ConfigDump],
             proxy_ips: dict[str, str] | None) -> Trace | None:
    req = result.request
    try:
        return trace(TraceRequest(dest.host, dest.port, ip=req.ip or result.hops[0].wire.dst_ip, scheme=scheme,
                                  from_proxy=req.from_proxy), dumps, proxy_ips=proxy_ips)
    except EnvoyscopeError:
        return None


def row_findings(dest: Destination, exit_kind: str, result: Trace, dumps: list[ConfigDump],
                 proxy_ips: dict[str, str] | None = None) -> Iterator[Finding]:
    where = f"{dest.host}:{dest.port}"
    for proxy, mode, validation, cluster in _originated(result):
        if validation is None:
            yield Finding("no_ca_validation", "warning", f"{proxy} originates {mode} TLS to {where} without a "
                          "validation context: any server certificate is accepted", cluster)
    any_tls = any(h.wire.transport == "tls" or (h.tls is not None and h.tls.mode != "plaintext") for h in result.hops)
    if exit_kind in ("direct", "passthrough", "egress_gateway") and not any_tls and not dest.catch_all:
        yield Finding("plaintext_external", "warning", f"{dest.protocol.upper()} to {where} leaves the mesh in "
                      "plaintext on every hop", result.hops[-1].cluster or "")
    first_originates = bool(result.hops) and result.hops[0].tls is not None and result.hops[0].tls.mode in (
        "SIMPLE", "MUTUAL")
    sidecar = next((d for d in dumps if d.identity.name == (result.hops[0].proxy if result.hops else "")), None)
    if dest.protocol == "http" and first_originates and sidecar and sidecar.identity.proxy_type == "sidecar":
        variant = _variant(dest, "tls", result, dumps, proxy_ips)
        if variant is not None and variant.outcome.kind in ("reset", "tls_handshake_failed", "no_filter_chain"):
            yield Finding("double_tls", "warning", f"the sidecar originates TLS to {where}, so an app that speaks TLS "
                          f"there itself fails: {variant.outcome.kind} ({variant.outcome.detail}); the app must send "
                          "plain HTTP and let the proxy originate TLS", result.hops[0].cluster or "")
    if dest.protocol == "tls" and exit_kind in ("direct", "egress_gateway") and sidecar_first(result, dumps):
        plain = _variant(dest, "http", result, dumps, proxy_ips)
        if plain is not None and plain.outcome.kind in ("no_filter_chain", "reset", "tls_handshake_failed"):
            yield Finding("double_tls", "info", f"{where} is configured for TLS from the app; an app sending plain "
                          f"HTTP there fails: {plain.outcome.kind} (to have the proxy originate TLS, declare the "
                          "port HTTP with a DestinationRule tls.mode SIMPLE)", result.hops[0].listener or "")
    for index, hop in enumerate(result.hops[1:], 1):
        if result.outcome.kind == "no_filter_chain" and hop is result.hops[-1] and hop.wire.sni:
            sender = result.hops[index - 1].proxy
            yield Finding("sni_mismatch", "error", f"{sender} sends SNI {hop.wire.sni}, which no filter chain of "
                          f"`{hop.listener}` on {hop.proxy} matches: the connection is closed", hop.listener or "")
    first = result.hops[0] if result.hops else None
    if dest.protocol == "tcp" and not dest.catch_all and first is not None and first.cluster:
        reached = parse_cluster_name(first.cluster)
        if reached.host and reached.host.lower() != dest.host.lower():
            yield Finding("port_collision", "warning", f"TCP to {where} is taken by `{first.cluster}` on "
                          f"`{first.listener}`: on port {dest.port} the two services cannot be told apart "
                          "(give the ServiceEntry addresses)", first.listener or "")
    if result.outcome.kind == "unknown_cluster":
        yield Finding("unknown_cluster", "error", result.outcome.detail, result.hops[-1].cluster or "")
    if result.outcome.kind == "no_healthy_upstream":
        yield Finding("no_healthy_upstream", "error", result.outcome.detail, result.hops[-1].cluster or "")


def sidecar_first(result: Trace, dumps: list[ConfigDump]) -> bool:
    first = result.hops[0].proxy if result.hops else ""
    return any(d.identity.name == first and d.identity.proxy_type == "sidecar" for d in dumps)


def capture_date(dump: ConfigDump, today: dt.date) -> dt.date:
    """When the dump was taken (`envoyscope.model.captured`: the source's record, else the newest update or
    certificate it holds), else ``today``."""
    from envoyscope.model.captured import capture_moment

    captured = capture_moment(dump)
    return captured.at.date() if captured else today


def proxy_findings(dump: ConfigDump, today: dt.date | None = None) -> Iterator[Finding]:
    yield from _config_health(dump)
    yield from _certificates(dump, capture_date(dump, today or dt.date.today()))
    yield from _routes_to_missing_clusters(dump)
    if dump.identity.proxy_type == "gateway":
        yield from _gateway_sni_hosts(dump)
    yield from _endpoint_health(dump)
    if outbound_policy(dump) == "ALLOW_ANY":
        yield Finding("allow_any", "info", "outboundTrafficPolicy ALLOW_ANY: a host the mesh does not know leaves "
                      "through PassthroughCluster on any port (plaintext on 80 and other HTTP ports)",
                      "virtualOutbound")


def _config_health(dump: ConfigDump) -> Iterator[Finding]:
    for kind in ("listener", "cluster", "route_config"):
        for resource in dump.of_kind(kind):
            if resource.error_state:
                details = str(resource.error_state.get("details", "")).strip() or "no details"
                yield Finding("rejected_config", "error", f"Envoy rejected {kind} `{resource.name}`: {details}",
                              resource.path)
            elif "warming" in resource.state:
                yield Finding("warming_config", "warning", f"{kind} `{resource.name}` is warming: Envoy does not "
                              "use it yet", resource.path)


def _certificates(dump: ConfigDump, when: dt.date) -> Iterator[Finding]:
    for secret in dump.secrets:
        data = data_source_bytes((secret.raw.get("tls_certificate") or {}).get("certificate_chain"))
        cert = decode_certificate(data) if data else None
        if cert is None:
            continue
        left = cert.days_left(when)
        lifetime = (cert.not_after - cert.not_before).days
        if left < 0:
            yield Finding("certificate_expired", "error", f"secret `{secret.name}` ({cert.subject or cert.sans}) "
                          f"expired {-left} days before the capture ({when})", secret.path)
        elif left < min(30, lifetime * 0.2):  # a 24-hour Istio workload certificate with a day left is normal
            yield Finding("certificate_expiring", "warning", f"secret `{secret.name}` expires {left} days after "
                          f"the capture ({when})", secret.path)


def _gateway_sni_hosts(dump: ConfigDump) -> Iterator[Finding]:
    """A gateway chain matching SNI names whose HTTP routes serve none of those hosts: a client that sends the SNI
    gets a 404 (or the route of another host), one that sends the host gets no chain."""
    from envoyscope.engine.egress.destinations import hcm_route_configs

    for listener in dump.active_listeners():
        for index, chain in enumerate(listener.raw.get("filter_chains") or ()):
            names = [str(n).lower() for n in (chain.get("filter_chain_match") or {}).get("server_names") or ()]
            for config_name, config in hcm_route_configs(chain, dump):
                domains = {str(d).lower().rsplit(":", 1)[0] if str(d).count(":") == 1 else str(d).lower()
                           for v in config.get("virtual_hosts") or () for d in v.get("domains") or ()}
                if "*" in domains or not names:
                    continue
                served = [n for n in names if n in domains or any(
                    d.startswith("*.") and n.endswith(d[1:]) for d in domains)]
                if not served:
                    yield Finding("sni_mismatch", "warning", f"filter chain {chain.get('name') or index} of "
                                  f"`{listener.name}` matches SNI {', '.join(names)}, but its routes "
                                  f"(`{config_name}`) serve {', '.join(sorted(domains)) or 'no host'}",
                                  listener.path)


def _routes_to_missing_clusters(dump: ConfigDump) -> Iterator[Finding]:
    if not dump.clusters:
        return
    names = {c.name for c in dump.clusters}
    seen: set[tuple[str, str, str]] = set()
    for config in dump.route_configs:
        for vhost in config.raw.get("virtual_hosts") or ():
            for index, route in enumerate(vhost.get("routes") or ()):
                action = route.get("route") or {}
                wanted = [action["cluster"]] if "cluster" in action else [
                    w.get("name", "") for w in (action.get("weighted_clusters") or {}).get("clusters") or ()]
                for name in wanted:
                    key = (config.name, str(vhost.get("name")), name)
                    if name and name not in names and key not in seen:
                        seen.add(key)
                        label = route.get("name") or index
                        yield Finding("unknown_cluster", "error", f"route `{label}` of virtual host "
                                      f"`{vhost.get('name')}` names cluster `{name}`, which the proxy does not have "
                                      "(503 NC)", config.name)


def _endpoint_health(dump: ConfigDump) -> Iterator[Finding]:
    status = dump.clusters_status
    for cluster in dump.clusters:
        raw = cluster.raw
        if raw.get("type") == "EDS" and dump.has("endpoints") and cluster.name.startswith("outbound|"):
            assignment = dump.endpoint(((raw.get("eds_cluster_config") or {}).get("service_name")) or cluster.name)
            groups = (assignment.raw.get("endpoints") or []) if assignment else []
            if not any(g.get("lb_endpoints") for g in groups):
                yield Finding("eds_without_endpoints", "warning", f"EDS cluster `{cluster.name}` has no endpoints: "
                              "requests to it get 503 (UH)", cluster.path)
            priorities = {int(g.get("priority", 0) or 0) for g in groups if g.get("lb_endpoints")}
            if len(priorities) > 1 and not raw.get("outlier_detection"):
                yield Finding("failover_without_outlier_detection", "warning", f"cluster `{cluster.name}` has "
                              f"endpoints at priorities {sorted(priorities)} but no outlier_detection: traffic "
                              "never fails over to them while the first priority's hosts answer with errors",
                              cluster.path)
        hosts = status.hosts_of(cluster.name) if status else ()
        if not hosts:
            continue
        healthy = [h for h in hosts if h.healthy]
        if all(h.outlier_failed for h in hosts):
            yield Finding("all_hosts_ejected", "error", f"every host of `{cluster.name}` is ejected by outlier "
                          f"detection ({len(hosts)} hosts)", cluster.name)
        elif not healthy:
            yield Finding("no_healthy_upstream", "error", f"no host of `{cluster.name}` is healthy "
                          f"({len(hosts)} hosts)", cluster.name)
        elif len(healthy) / len(hosts) * 100 < _panic_threshold(raw):
            yield Finding("panic_mode", "warning", f"`{cluster.name}`: {len(healthy)} of {len(hosts)} hosts healthy, "
                          f"under the panic threshold {_panic_threshold(raw):g}%: Envoy sends to all hosts",
                          cluster.name)


def _panic_threshold(cluster: dict[str, Any]) -> float:
    value = (cluster.get("common_lb_config") or {}).get("healthy_panic_threshold")
    if isinstance(value, dict):
        value = value.get("value")
    return float(value) if value is not None else 50.0
