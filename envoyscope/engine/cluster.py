"""From a cluster name to the endpoint Envoy connects to, and how (TLS).

Envoy: ``ClusterManagerImpl::getThreadLocalCluster`` (unknown cluster -> 503 NC), the cluster's discovery type
(``EdsClusterImpl``, ``StaticClusterImpl``, ``StrictDnsClusterImpl``, ``LogicalDnsCluster``,
``OriginalDstCluster``), then the load balancer's choice among healthy hosts of the best priority
(``LoadBalancerBase::chooseHostSet``), then the transport socket for that host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoyscope.engine.not_serving import missing_cluster
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.engine.subset import choose_subset
from envoyscope.engine.tls import TlsContext, endpoint_match_labels, resolve_transport_socket, tls_without_endpoint
from envoyscope.model.clusters_status import ClustersStatus, HostStatus
from envoyscope.model.dump import ConfigDump

UNHEALTHY_EDS = ("UNHEALTHY", "DRAINING", "TIMEOUT")


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: str  # ip:port, hostname:port for DNS clusters, unix://path
    ip: str
    port: int | None
    weight: int = 1
    priority: int = 0
    locality: str = ""
    healthy: bool = True
    health: str = "HEALTHY"
    labels: tuple[tuple[str, str], ...] = ()  # envoy.transport_socket_match metadata
    hostname: str = ""
    path: str = ""
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ClusterResult:
    cluster: str
    found: bool
    cluster_type: str
    endpoints: tuple[Endpoint, ...]
    chosen: Endpoint | None
    tls: TlsContext | None
    steps: tuple[Step, ...]
    outcome: str | None = None  # unknown_cluster | no_healthy_upstream | None when an endpoint was chosen
    response_flags: str = ""


def _cluster_type(cluster: dict[str, Any]) -> str:
    if "cluster_type" in cluster:
        return str((cluster["cluster_type"] or {}).get("name", "custom"))
    return str(cluster.get("type", "STATIC"))


def _address(address: dict[str, Any]) -> tuple[str, str, int | None]:
    sock = address.get("socket_address")
    if isinstance(sock, dict):
        host = str(sock.get("address", ""))
        port = sock.get("port_value")
        port_int = int(port) if port is not None else None
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return shown, host, port_int
    if "pipe" in address:
        path = str(address["pipe"].get("path", ""))
        return f"unix://{path}", "", None
    if "envoy_internal_address" in address:
        internal = address["envoy_internal_address"]
        name = internal.get("server_listener_name", "")
        return f"envoy://{name}/{internal.get('endpoint_id', '')}", "", None
    return "?", "", None


def _locality(locality: dict[str, Any] | None) -> str:
    if not locality:
        return ""
    return "/".join(str(locality.get(k, "")) for k in ("region", "zone", "sub_zone")).rstrip("/")


def endpoints_of_assignment(assignment: dict[str, Any], path: str) -> list[Endpoint]:
    """Every lb_endpoint of a ClusterLoadAssignment, with priority, locality, weight and EDS health."""
    out = []
    for lindex, group in enumerate(assignment.get("endpoints") or ()):
        priority = int(group.get("priority", 0) or 0)
        locality = _locality(group.get("locality"))
        for eindex, lb in enumerate(group.get("lb_endpoints") or ()):
            endpoint = lb.get("endpoint") or {}
            shown, ip, port = _address(endpoint.get("address") or {})
            health = str(lb.get("health_status", "HEALTHY") or "HEALTHY")
            labels = endpoint_match_labels(lb)
            out.append(
                Endpoint(
                    address=shown,
                    ip=ip,
                    port=port,
                    weight=int(lb.get("load_balancing_weight", 1) or 1),
                    priority=priority,
                    locality=locality,
                    healthy=health not in UNHEALTHY_EDS,
                    health=health,
                    labels=tuple((str(k), str(v)) for k, v in labels.items()),
                    hostname=str(endpoint.get("hostname", "")),
                    path=f"{path}.endpoints[{lindex}].lb_endpoints[{eindex}]",
                    raw=lb,
                )
            )
    return out


def _apply_status(endpoints: list[Endpoint], status: ClustersStatus | None, cluster: str) -> list[Endpoint]:
    """Overlay what ``/clusters`` says about each host's health (active HC, outlier ejection, EDS)."""
    if status is None:
        return endpoints
    hosts: dict[str, HostStatus] = {host.address: host for host in status.hosts_of(cluster)}
    if not hosts:
        return endpoints
    out = []
    for ep in endpoints:
        host = hosts.get(ep.address)
        if host is None:
            out.append(ep)
            continue
        health = host.eds_health if not host.flags else "/".join(host.flags)
        out.append(Endpoint(**{**_fields(ep), "healthy": host.healthy, "health": health, "weight": host.weight}))
    return out


def _fields(ep: Endpoint) -> dict[str, Any]:
    return {name: getattr(ep, name) for name in Endpoint.__slots__}  # type: ignore[attr-defined]


def _status_only_endpoints(status: ClustersStatus, cluster: str) -> list[Endpoint]:
    out = []
    for host in status.hosts_of(cluster):
        ip, _, port = host.address.rpartition(":")
        out.append(Endpoint(address=host.address, ip=ip.strip("[]"), port=int(port) if port.isdigit() else None,
                            weight=host.weight, priority=host.priority, locality=host.locality,
                            healthy=host.healthy, health=host.eds_health if not host.flags else "/".join(host.flags),
                            hostname=host.hostname, path="/clusters"))
    return out


def find_endpoints(dump: ConfigDump, cluster: dict[str, Any], path: str, original_dst: tuple[str, int] | None
                   ) -> tuple[list[Endpoint], str]:
    """The hosts a cluster has, by discovery type, and a sentence saying where they came from."""
    name = str(cluster.get("name", ""))
    kind = _cluster_type(cluster)
    if kind == "ORIGINAL_DST":
        if original_dst is None:
            return [], "ORIGINAL_DST cluster: the host is the connection's original destination (unknown here)"
        ip, port = original_dst
        override = (cluster.get("original_dst_lb_config") or {}).get("upstream_port_override")
        if isinstance(override, dict):
            override = override.get("value")
        port = int(override) if override else port
        shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        how = f" (its port replaced by upstream_port_override {port})" if override else ""
        return [Endpoint(address=shown, ip=ip, port=port, path=path)], (
            f"ORIGINAL_DST cluster: Envoy connects to the original destination {shown}{how}")
    if kind == "EDS":
        service = (cluster.get("eds_cluster_config") or {}).get("service_name") or name
        assignment = dump.endpoint(service)
        if assignment is not None:
            eps = endpoints_of_assignment(assignment.raw, assignment.path)
            return _apply_status(eps, dump.clusters_status, name), (
                f"EDS cluster: {len(eps)} endpoint(s) from the ClusterLoadAssignment `{service}`")
        if dump.clusters_status is not None and dump.clusters_status.hosts_of(name):
            eps = _status_only_endpoints(dump.clusters_status, name)
            return eps, f"EDS cluster: {len(eps)} host(s) from /clusters (the dump has no EDS for `{service}`)"
        if not dump.has("endpoints") and dump.clusters_status is None:
            return [], ("EDS cluster: endpoints unknown — the dump was taken without ?include_eds and no "
                        "/clusters output was given")
        return [], f"EDS cluster: EDS gave `{service}` no endpoints"
    assignment_raw = cluster.get("load_assignment") or {}
    eps = endpoints_of_assignment(assignment_raw, f"{path}.load_assignment")
    if kind in ("STRICT_DNS", "LOGICAL_DNS"):
        names = ", ".join(ep.address for ep in eps) or "nothing"
        return _apply_status(eps, dump.clusters_status, name), (
            f"{kind} cluster: Envoy resolves {names} by DNS and connects to the address it gets")
    return _apply_status(eps, dump.clusters_status, name), f"{kind} cluster: {len(eps)} endpoint(s) in load_assignment"


def assume_endpoint(result: ClusterResult, cluster: dict[str, Any], path: str, endpoint: Endpoint,
                    why: str) -> ClusterResult:
    """An endpoints_unknown result continued with an endpoint the caller vouches for (marked as assumed)."""
    step = Step("endpoint", endpoint.address, f"assumed {endpoint.address}: {why}", path)
    tls, tls_step = resolve_transport_socket(cluster, dict(endpoint.labels), path)
    return ClusterResult(result.cluster, True, result.cluster_type, (endpoint,), endpoint, tls,
                         (result.steps[0], result.steps[1], step, tls_step))


def choose_endpoint(endpoints: list[Endpoint], random_value: int) -> tuple[Endpoint | None, list[Endpoint]]:
    """LoadBalancerBase::chooseHostSet, simplified: the best priority with a healthy host, then by weight.

    ``random_value`` picks among that priority's healthy hosts in proportion to their weights, so a trace is
    reproducible; a real load balancer spreads requests over all of them (the step lists every one).
    """
    healthy = [ep for ep in endpoints if ep.healthy]
    if not healthy:
        return None, []
    best = min(ep.priority for ep in healthy)
    pool = [ep for ep in healthy if ep.priority == best]
    total = sum(ep.weight for ep in pool)
    pick = random_value % total if total else 0
    for ep in pool:
        if pick < ep.weight:
            return ep, pool
        pick -= ep.weight
    return pool[0], pool


def resolve_cluster(dump: ConfigDump, name: str, *, original_dst: tuple[str, int] | None = None,
                    random_value: int = 0, metadata_match: dict[str, Any] | None = None) -> ClusterResult:
    """Cluster lookup, its endpoints, the chosen one, and the TLS Envoy uses toward it.

    ``metadata_match`` is the route's: with ``lb_subset_config`` it narrows the hosts (``SubsetLoadBalancer``)."""
    resource = dump.cluster(name)
    if resource is None:
        near = tuple(NearMiss(c.name, "similar name", c.path) for c in dump.clusters if _similar(c.name, name))[:5]
        held, held_misses = missing_cluster(dump, name)  # warming or rejected: in the dump, not in use
        step = Step("cluster", None, f"no cluster named `{name}` in this proxy (NC){held}", "", held_misses + near)
        return ClusterResult(name, False, "", (), None, None, (step,), outcome="unknown_cluster",
                             response_flags="NC")
    cluster = resource.raw
    kind = _cluster_type(cluster)
    where = f"the {resource.state} cluster" if resource.state != "dynamic_active" else "cluster"
    cluster_step = Step("cluster", name, f"{where} `{name}` ({kind})", resource.path, raw=cluster)
    endpoints, why = find_endpoints(dump, cluster, resource.path, original_dst)
    candidates = endpoints
    if cluster.get("lb_subset_config") and endpoints:
        subset = choose_subset(cluster["lb_subset_config"], endpoints, metadata_match)
        candidates = subset.hosts
        why = f"{why}; lb_subset_config: {subset.reason}"
    chosen, pool = choose_endpoint(candidates, random_value)
    misses = tuple(NearMiss(ep.address, f"not healthy: {ep.health}", ep.path) for ep in endpoints if not ep.healthy)
    if chosen is None and kind == "EDS" and "endpoints unknown" in why:
        step = Step("endpoint", None, f"{why}: envoyscope cannot tell which endpoint Envoy picks, nor whether any is "
                                      "healthy (capture with /config_dump?include_eds or add /clusters)",
                    resource.path)
        tls, tls_step = tls_without_endpoint(cluster, resource.path)
        return ClusterResult(name, True, kind, (), None, tls, (cluster_step, step, tls_step),
                             outcome="endpoints_unknown")
    if chosen is None:
        reason = f"{why}; no healthy endpoint (UH, no healthy upstream)"
        step = Step("endpoint", None, reason, resource.path, misses)
        return ClusterResult(name, True, kind, tuple(endpoints), None, None, (cluster_step, step),
                             outcome="no_healthy_upstream", response_flags="UH")
    others = f" (one of {len(pool)} healthy: {', '.join(ep.address for ep in pool)})" if len(pool) > 1 else ""
    step = Step("endpoint", chosen.address, f"{why}; chosen {chosen.address}{others}", chosen.path, misses,
                raw=chosen.raw)
    tls, tls_step = resolve_transport_socket(cluster, dict(chosen.labels), resource.path)
    return ClusterResult(name, True, kind, tuple(endpoints), chosen, tls, (cluster_step, step, tls_step))


def _similar(a: str, b: str) -> bool:
    pa, pb = a.split("|"), b.split("|")
    return len(pa) == 4 and len(pb) == 4 and (pa[3] == pb[3] or pa[1:3] == pb[1:3] and pa[0] == pb[0])
