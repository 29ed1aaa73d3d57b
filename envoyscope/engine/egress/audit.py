"""The egress audit: for every proxy, every way out of the mesh its config allows, each one a real trace.

A candidate destination (`destinations.py`) is traced from the proxy with the same engine as ``envoyscope
trace``; it becomes a row when the trace leaves the mesh (directly, by passthrough, through an egress gateway),
is blocked, or fails for a host outside the mesh. Traces that stay inside the mesh are not egress and are left
out. Each row carries how it exits, the proxies it crosses, the TLS of every hop and the Istio config behind it,
plus the findings of the detectors (`findings.py`) that concern it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from envoyscope.engine.egress.destinations import Destination, destinations_of, outbound_policy
from envoyscope.engine.egress.findings import Finding, proxy_findings, row_findings, unique_findings
from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import Hop, Trace, trace
from envoyscope.errors import EnvoyscopeError
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import istio_configs, parse_cluster_name

FAILURES_KEPT = ("no_route", "unknown_cluster", "no_filter_chain", "no_listener", "no_healthy_upstream",
                 "tls_handshake_failed", "reset", "endpoints_unknown", "direct_response", "redirect", "unsupported",
                 "loop")


@dataclass(frozen=True, slots=True)
class EgressRow:
    destination: Destination
    exit: str  # egress_gateway | direct | passthrough | blocked | <the failure outcome kind>
    via: tuple[str, ...]
    tls: tuple[str, ...]
    istio_config: tuple[str, ...]
    trace: Trace
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        d = self.destination
        return {"host": d.host, "port": d.port, "protocol": d.protocol, "exit": self.exit, "via": list(self.via),
                "tls": list(self.tls), "istio_config": list(self.istio_config), "named_by": d.named_by,
                "outcome": self.trace.outcome.kind, "findings": [f.to_json() for f in self.findings]}


@dataclass(frozen=True, slots=True)
class ProxyAudit:
    proxy: str
    outbound_policy: str
    destinations: tuple[EgressRow, ...]
    findings: tuple[Finding, ...] = field(default=())

    def all_findings(self) -> list[tuple[str, Finding]]:
        """(``host:port`` or "" for the proxy's own, finding) for every finding of the proxy, each once."""
        out: list[tuple[str, Finding]] = [("", f) for f in self.findings]
        for row in self.destinations:
            out += [(f"{row.destination.host}:{row.destination.port}", f) for f in row.findings]
        return unique_findings(out)

    def to_json(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "outbound_policy": self.outbound_policy,
                "destinations": [row.to_json() for row in self.destinations],
                "findings": [f.to_json() for f in self.findings]}


def _request(dest: Destination, dump: ConfigDump) -> TraceRequest:
    return TraceRequest(dest.host, dest.port, ip=dest.ip, scheme=dest.protocol, from_proxy=dump.identity.name,
                        path=dest.path, headers=dest.headers, sni=dest.sni, client_cert=dest.client_cert)


def is_egress_gateway(name: str) -> bool:
    return "egressgateway" in name.replace("-", "").lower()


def _gateway_cluster(hop: Hop) -> str | None:
    host = parse_cluster_name(hop.cluster or "").host
    return host if host and is_egress_gateway(host) else None


def classify(result: Trace) -> str:
    """How the request leaves: egress_gateway, direct, passthrough, blocked, or the failure's outcome kind."""
    kind = result.outcome.kind
    through_gateway = any(is_egress_gateway(h.proxy) for h in result.hops[1:]) or any(
        _gateway_cluster(h) for h in result.hops)
    if kind == "blackhole":
        return "blocked"
    if kind == "passthrough":
        return "passthrough"
    if kind in ("external", "mesh_internal") and through_gateway:
        return "egress_gateway"
    if kind == "external":
        return "direct"
    return kind


def via(result: Trace) -> tuple[str, ...]:
    crossed = [h.proxy for h in result.hops]
    last = result.hops[-1] if result.hops else None
    if last is not None and result.outcome.kind == "mesh_internal":
        gateway = _gateway_cluster(last)
        if gateway:
            crossed.append(f"{gateway} (not among the sources)")
    return tuple(crossed)


def hop_tls(hop: Hop) -> str:
    """One hop's TLS in words: what it terminates and what it sends on."""
    parts = []
    if hop.downstream_tls is not None:
        parts.append("terminates TLS" + (f" ({hop.downstream_tls.failure})" if hop.downstream_tls.failure else ""))
    tls = hop.tls
    if tls is not None and tls.mode != "plaintext":
        verified = (f"server certificate verified by {tls.validation}" if tls.validation
                    else "server certificate NOT verified")
        parts.append(f"originates {tls.mode} (SNI {tls.sni or 'none'}, {verified})")
    elif hop.wire.transport == "tls" and hop.downstream_tls is None:
        parts.append(f"passes the app's TLS through (SNI {hop.wire.sni or 'none'})")
    elif hop.cluster:
        parts.append("plaintext")
    return f"{hop.proxy}: {'; '.join(parts) or 'nothing sent'}"


def hop_tls_short(hop: Hop) -> str:
    """The same in a table cell: ``mTLS in, SIMPLE out (unverified)``, ``app TLS``, ``plaintext``."""
    parts = []
    if hop.downstream_tls is not None:
        parts.append("TLS in" if not hop.downstream_tls.failure else f"TLS in fails ({hop.downstream_tls.failure})")
    tls = hop.tls
    if tls is not None and tls.mode != "plaintext":
        parts.append(f"{tls.mode} out" + ("" if tls.validation or tls.mode == "ISTIO_MUTUAL" else " (unverified)"))
    elif hop.wire.transport == "tls" and hop.downstream_tls is None:
        parts.append("app TLS")
    elif hop.cluster:
        parts.append("plaintext")
    return ", ".join(parts) or "-"


def _istio_config(result: Trace, dumps: dict[str, ConfigDump]) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for hop in result.hops:
        dump = dumps.get(hop.proxy)
        if dump is None:
            continue
        for step in hop.steps:
            if step.kind in ("route", "cluster") and isinstance(step.raw, dict):
                for config in istio_configs(step.raw):
                    found[f"{config.kind}/{config}"] = None
        cluster = dump.cluster(hop.cluster) if hop.cluster else None
        if cluster is not None:
            for config in istio_configs(cluster.raw):
                found[f"{config.kind}/{config}"] = None
    return tuple(found)


def could_leave(dest: Destination, domain: str) -> bool:
    """Whether tracing can give an egress row: a host outside the mesh's domain, a catch-all, or a mesh host
    whose config sends it to an egress gateway. (A mesh host kept otherwise would only ever be dropped by
    `_leaves_the_mesh`; skipping its trace is what keeps the audit of a 9,000-cluster dump fast.)"""
    if dest.catch_all or not dest.host.lower().rstrip(".").endswith(f".{domain}"):
        return True
    return any(is_egress_gateway(parse_cluster_name(c).host or "") for c in dest.clusters)


def _leaves_the_mesh(dest: Destination, exit_kind: str, result: Trace, domain: str, egress_proxy: bool) -> bool:
    """Egress: it leaves (or is blocked), or it fails on the way out — at an egress gateway, after one, or for a
    target outside the mesh's domain. What stays inside the cluster is not egress: the target is the host of the
    last outbound cluster reached (an ingress gateway's route to a mesh service), else the host asked for."""
    last = parse_cluster_name(result.hops[-1].cluster or "") if result.hops else None
    target = last.host if last is not None and last.direction == "outbound" and last.host else dest.host
    in_mesh = target.lower().rstrip(".").endswith(f".{domain}")  # services and pods
    crossed_gateway = any(is_egress_gateway(h.proxy) or _gateway_cluster(h) for h in result.hops)
    if is_egress_gateway(dest.host.split(".", 1)[0]):
        return False  # the egress gateway's own Service: a hop on the way out, not a destination
    if in_mesh and not crossed_gateway and not egress_proxy and exit_kind in ("direct", "passthrough", "blocked"):
        return False  # a Kubernetes service or pod (sidecar or not): inside the cluster, not egress
    if exit_kind in ("egress_gateway", "direct", "passthrough", "blocked"):
        return True
    if exit_kind == "mesh_internal":
        return False
    return egress_proxy or crossed_gateway or dest.catch_all or not in_mesh


def later_routes(dest: Destination, result: Trace, dumps: dict[str, ConfigDump]) -> list[Destination]:
    """When a later proxy (an egress gateway) chooses by path or header, one request per route of the virtual
    host it reached, so each of its ways out is traced from the start (header-selected subsets)."""
    from envoyscope.engine.egress.destinations import route_request

    if len(result.hops) < 2 or dest.protocol != "http" or dest.headers:
        return []
    last = result.hops[-1]
    dump = dumps.get(last.proxy)
    config = dump.route_config(last.route_config) if dump and last.route_config else None
    if config is None or last.virtual_host is None:
        return []
    out = []
    for vhost in config.raw.get("virtual_hosts") or ():
        if vhost.get("name") != last.virtual_host:
            continue
        for route in vhost.get("routes") or ():
            found = route_request(route)
            if found and (found[0], found[1]) != (dest.path, dest.headers):
                path, headers, name = found
                out.append(Destination(dest.host, dest.port, dest.protocol, f"{dest.named_by}, then route `{name}` "
                                       f"of `{last.virtual_host}` on {last.proxy}", ip=dest.ip, path=path,
                                       headers=headers, clusters=dest.clusters))
    return out


def audit_proxy(dump: ConfigDump, dumps: list[ConfigDump], proxy_ips: dict[str, str] | None = None,
                today: dt.date | None = None) -> ProxyAudit:
    by_name = {d.identity.name: d for d in dumps}
    domain = "cluster.local"
    rows = []
    queue = destinations_of(dump)
    asked = {d.key for d in queue}
    egress_proxy = is_egress_gateway(dump.identity.name)
    while queue:
        dest = queue.pop(0)
        if not egress_proxy and not could_leave(dest, domain):
            continue
        try:
            result = trace(_request(dest, dump), dumps, proxy_ips=proxy_ips)
        except EnvoyscopeError:
            continue
        for extra in later_routes(dest, result, by_name):
            if extra.key not in asked:
                asked.add(extra.key)
                queue.append(extra)
        exit_kind = classify(result)
        if not _leaves_the_mesh(dest, exit_kind, result, domain, egress_proxy):
            continue
        rows.append(EgressRow(dest, exit_kind, via(result), tuple(hop_tls(h) for h in result.hops),
                              _istio_config(result, by_name), result,
                              tuple(row_findings(dest, exit_kind, result, dumps, proxy_ips))))
    return ProxyAudit(dump.identity.name, outbound_policy(dump), tuple(rows), tuple(proxy_findings(dump, today)))


def audit(dumps: list[ConfigDump], proxies: list[ConfigDump] | None = None,
          proxy_ips: dict[str, str] | None = None, today: dt.date | None = None) -> list[ProxyAudit]:
    """Every proxy's audit, then the findings that need all of them (``bypasses_egress_gateway``).

    ``today`` judges certificates of a dump that does not say when it was captured (default: the real today)."""
    return with_cross_findings([audit_proxy(dump, dumps, proxy_ips, today) for dump in (proxies or dumps)])


def with_cross_findings(audits: list[ProxyAudit]) -> list[ProxyAudit]:
    """The audits with the findings that need all of them: ``bypasses_egress_gateway`` on a row that leaves
    directly while other proxies reach the same host and port through the egress gateway."""
    through_gateway = {(r.destination.host.lower(), r.destination.port) for a in audits for r in a.destinations
                       if r.exit == "egress_gateway"}
    out = []
    for one in audits:
        rows = []
        for row in one.destinations:
            key = (row.destination.host.lower(), row.destination.port)
            if row.exit in ("direct", "passthrough") and key in through_gateway:
                extra = Finding("bypasses_egress_gateway", "warning",
                                f"{row.destination.host}:{row.destination.port} leaves {one.proxy} {row.exit} while "
                                "other proxies reach it through the egress gateway", row.trace.hops[0].cluster or "")
                row = replace(row, findings=(*row.findings, extra))
            rows.append(row)
        out.append(replace(one, destinations=tuple(rows)))
    return out


def slim(one: ProxyAudit) -> ProxyAudit:
    """The audit without each hop's steps (which hold the dump's resources): what every command prints and
    `with_cross_findings` reads, small enough to keep for hundreds of proxies."""
    return replace(one, destinations=tuple(
        replace(row, trace=replace(row.trace, hops=tuple(replace(h, steps=()) for h in row.trace.hops)))
        for row in one.destinations))
