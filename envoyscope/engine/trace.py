"""Follow a request through every proxy on its way, the way Envoy would.

At each proxy: the listener that takes the connection (after the original-destination hand-off), its filter
chain, the network filter (tcp_proxy, or http_connection_manager then virtual host and route), the cluster,
the endpoint and the upstream TLS. When the endpoint is another proxy given as a source (an egress gateway,
a sidecar), the trace goes on there with what this hop sends; otherwise it ends with an `Outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoyscope.engine.destination import assume_destination_ip
from envoyscope.engine.downstream_tls import DownstreamTls
from envoyscope.engine.http_filters.base import FilterVerdict, Peer
from envoyscope.engine.request import TraceRequest, Wire, first_wire, is_ip
from envoyscope.engine.steps import Step
from envoyscope.engine.tls import TlsContext
from envoyscope.errors import TraceError
from envoyscope.model.dump import ConfigDump

MAX_HOPS = 8

# Outcome kinds: stable names, documented in the README.
OUTCOME_KINDS = {
    "external": "leaves the mesh to an address outside it",
    "mesh_internal": "reaches a workload inside the mesh (not given as a source)",
    "passthrough": "PassthroughCluster: forwarded to the original destination unchanged",
    "blackhole": "REGISTRY_ONLY: Istio's block_all answers 502, or BlackHoleCluster closes the connection",
    "no_listener": "no listener takes the connection: refused",
    "no_filter_chain": "no filter chain matches: the connection is closed",
    "no_route": "no virtual host or route matches: 404 (NR)",
    "unknown_cluster": "the route names a cluster the proxy does not have: 503 (NC)",
    "no_healthy_upstream": "the cluster has no healthy endpoint: 503 (UH)",
    "endpoints_unknown": "the cluster is chosen, but the dump holds no endpoints for it (taken without EDS)",
    "direct_response": "the route answers by itself",
    "redirect": "the route answers with a redirect",
    "tls_handshake_failed": "the listener's TLS handshake fails (plaintext into a TLS chain, no client certificate "
                            "where one is required): Envoy closes the connection",
    "reset": "the connection would be reset (e.g. TLS bytes into an HTTP filter)",
    "unsupported": "a filter envoyscope does not follow; the trace stops there",
    "loop": "the trace came back to a proxy it already crossed",
    "denied": "a policy filter (RBAC) denies it: HTTP 403 `RBAC: access denied`, or the connection is closed",
    "unauthenticated": "jwt_authn rejects the request's token (missing, malformed, expired, wrong issuer): 401",
    "fault_abort": "fault injection answers instead of the upstream (the abort's status, FI)",
}


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: str
    detail: str
    response_flags: str = ""
    response_code: int | None = None
    response_code_details: str | None = None  # what Envoy logs as %RESPONSE_CODE_DETAILS%, when known
    connection_termination_details: str | None = None  # %CONNECTION_TERMINATION_DETAILS%, when known

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "detail": self.detail, "response_flags": self.response_flags or None,
                               "response_code": self.response_code}
        if self.response_code_details is not None:
            out["response_code_details"] = self.response_code_details
        if self.connection_termination_details is not None:
            out["connection_termination_details"] = self.connection_termination_details
        return out


@dataclass(frozen=True, slots=True)
class Hop:
    proxy: str
    wire: Wire
    listener: str | None = None
    filter_chain: str | None = None
    route_config: str | None = None
    virtual_host: str | None = None
    route: str | None = None
    cluster: str | None = None
    endpoint: str | None = None
    tls: TlsContext | None = None
    downstream_tls: DownstreamTls | None = None
    steps: tuple[Step, ...] = ()
    http_filters: tuple[FilterVerdict, ...] = ()  # the HCM's filters before the router, as evaluated
    network_filters: tuple[FilterVerdict, ...] = ()  # the chain's filters before tcp_proxy / the HCM
    peer: Peer | None = None  # the downstream client certificate's identity, as this proxy's filters see it

    def to_json(self) -> dict[str, Any]:
        return {
            "proxy": self.proxy,
            "listener": self.listener,
            "filter_chain": self.filter_chain,
            "route_config": self.route_config,
            "virtual_host": self.virtual_host,
            "route": self.route,
            "cluster": self.cluster,
            "endpoint": self.endpoint,
            "tls": self.tls.to_json() if self.tls else None,
            "downstream_tls": self.downstream_tls.to_json() if self.downstream_tls else None,
            "received": {
                "destination": f"{self.wire.dst_ip}:{self.wire.dst_port}",
                "source": self.wire.src_ip,
                "transport": self.wire.transport,
                "sni": self.wire.sni,
                "alpn": list(self.wire.alpn),
                "http": self.wire.http,
                "authority": self.wire.authority if self.wire.http else None,
                "path": self.wire.path if self.wire.http else None,
            },
            "steps": [step.to_json() for step in self.steps],
            **({"network_filters": [v.to_json() for v in self.network_filters]} if self.network_filters else {}),
            **({"http_filters": [v.to_json() for v in self.http_filters]} if self.http_filters else {}),
            **({"peer_principal": self.peer.principal} if self.peer is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class Trace:
    request: TraceRequest
    hops: tuple[Hop, ...]
    outcome: Outcome
    assumptions: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "request": self.request.to_json(),
            "assumptions": list(self.assumptions),
            "hops": [hop.to_json() for hop in self.hops],
            "outcome": self.outcome.to_json(),
        }


def pick_start(dumps: list[ConfigDump], wanted: str | None) -> ConfigDump:
    """``--from``: a proxy by pod name, ``pod.namespace``, node id or IP; default the one sidecar given."""
    if not dumps:
        raise TraceError("no proxy to start from: give at least one dump")
    if wanted:
        def names(dump: ConfigDump) -> set[str]:
            ident = dump.identity
            stem = dump.source.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0]
            return {n for n in (ident.name, ident.pod, ident.node_id, dump.source, stem, *ident.instance_ips) if n}

        exact = [d for d in dumps if wanted in names(d)]
        prefix = [d for d in dumps if d.identity.pod and d.identity.pod.startswith(wanted)]
        inside = [d for d in dumps if any(wanted.lower() in n.lower() for n in names(d))]
        for found in (exact, prefix, inside):  # the closest kind of match that names one proxy wins
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise TraceError(f"--from {wanted}: {len(found)} proxies match ("
                                 f"{', '.join(d.identity.name for d in found)}); give more of the name")
        known = ", ".join(d.identity.name for d in dumps)
        raise TraceError(f"--from {wanted}: no such proxy among the sources ({known})")
    sidecars = [d for d in dumps if d.identity.proxy_type == "sidecar"]
    if len(sidecars) == 1:
        return sidecars[0]
    if len(dumps) == 1:
        return dumps[0]
    known = ", ".join(d.identity.name for d in dumps)
    raise TraceError(f"several proxies could start this request; pick one with --from ({known})")


def proxies_by_ip(dumps: list[ConfigDump], extra: dict[str, str] | None = None) -> dict[str, ConfigDump]:
    """Which proxy answers at which IP: bootstrap instance IPs, plus ``--proxy NAME=IP`` (or ``NAME=IP:PORT``)."""
    table: dict[str, ConfigDump] = {}
    for dump in dumps:
        for ip in dump.identity.instance_ips:
            table.setdefault(ip, dump)
    for name, ip in (extra or {}).items():
        for dump in dumps:
            if name in (dump.identity.name, dump.identity.pod, dump.source):
                table[ip] = dump
    return table


def proxy_by_hostname(dumps: list[ConfigDump], host: str) -> tuple[ConfigDump | None, str]:
    """A DNS endpoint that names a proxy given in SOURCE: a pod DNS name or a Kubernetes service name.

    ``a-b-c-d.NS.pod.DOMAIN`` is the pod with IP a.b.c.d; ``POD.SVC.NS.svc.DOMAIN`` (a headless service) the pod
    POD; ``SVC.NS.svc.DOMAIN`` a pod of namespace NS whose ``app`` (or ``istio``) label, workload name or pod name
    prefix is SVC. The service port is taken as the pod's port (a Service's targetPort is not in any dump).
    """
    labels = host.rstrip(".").lower().split(".")
    if len(labels) >= 3 and labels[2] == "pod":
        ip = labels[0].replace("-", ".")
        for dump in dumps:
            if ip in dump.identity.instance_ips and dump.identity.namespace.lower() == labels[1]:
                return dump, f"the pod DNS name {host} is {dump.identity.name}'s IP {ip}"
        return None, ""
    if "svc" not in labels or labels.index("svc") < 2:
        return None, ""
    at = labels.index("svc")
    namespace, service = labels[at - 1], labels[at - 2]
    pod = labels[at - 3] if at >= 3 else None
    for dump in dumps:
        ident = dump.identity
        if ident.namespace.lower() != namespace:
            continue
        if pod is not None and ident.pod.lower() == pod:
            return dump, f"{host} names the pod {ident.name} (headless service {service})"
        names = {ident.label("app"), ident.label("istio"), ident.label("service.istio.io/canonical-name")}
        if pod is None and (service in names or ident.pod.lower().startswith(service + "-")):
            return dump, f"{host} is the service {service}.{namespace}, which selects the pod {ident.name}"
    return None, ""


def _target_port(peer: ConfigDump, service_port: int) -> tuple[int, str]:
    """The pod port a Service port maps to, as the pod's own sidecar names it: Istio's inbound route
    configuration ``inbound|<pod port>||`` holds a virtual host ``inbound|http|<service port>``."""
    for config in peer.route_configs:
        parts = config.name.split("|")
        if len(parts) == 4 and parts[0] == "inbound" and parts[1].isdigit():
            for vhost in config.raw.get("virtual_hosts") or ():
                if str(vhost.get("name", "")).rsplit("|", 1)[-1] == str(service_port):
                    return int(parts[1]), (f"{parts[1]}: {peer.identity.name}'s route configuration `{config.name}` "
                                           f"serves service port {service_port}")
    inbound = {int(p[1]) for c in peer.clusters if len(p := c.name.split("|")) == 4 and p[0] == "inbound"
               and p[1].isdigit()}
    if len(inbound) == 1:
        only = inbound.pop()
        return only, f"{only}: the only inbound port of {peer.identity.name}"
    return service_port, f"{service_port} assumed to be the pod's (the Service's targetPort is in no dump)"


def _peer_endpoints(dumps: list[ConfigDump], proxy: ConfigDump, wire: Wire) -> Any:
    """For a cluster without endpoints in the dump: the proxy among the sources its service names, if any."""
    from envoyscope.engine.cluster import Endpoint
    from envoyscope.model.names import parse_cluster_name

    def guess(cluster_name: str) -> tuple[Endpoint, str] | None:
        name = parse_cluster_name(cluster_name)
        if not name.host:
            return None
        peer, why = proxy_by_hostname(dumps, name.host)
        if peer is None or peer is proxy or not peer.identity.instance_ips:
            return None
        ip = peer.identity.instance_ips[0]
        port, port_why = _target_port(peer, name.port or wire.dst_port)
        labels = (("tlsMode", "istio"),) if peer.identity.proxy_type == "sidecar" else ()
        address = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        sidecar = ", with tlsMode=istio as an injected pod has" if labels else ""
        return (Endpoint(address=address, ip=ip, port=port, labels=labels),
                f"the dump holds no endpoints for it; {why}, so the trace goes on there (which endpoint IP Envoy "
                f"picks is unknown; port {port_why}{sidecar})")
    return guess


def trace(request: TraceRequest, dumps: list[ConfigDump], *, proxy_ips: dict[str, str] | None = None) -> Trace:
    """Follow ``request`` from its first proxy until it leaves the proxies given, or fails."""
    start = pick_start(dumps, request.from_proxy)
    assumptions: list[str] = []
    if request.inbound:
        wire, notes = inbound_wire(request, start)
        assumptions.extend(notes)
        return _follow(request, dumps, start, wire, "inbound", assumptions, proxy_ips)
    if request.ip:
        dst_ip = request.ip
    elif start.identity.proxy_type != "sidecar" and start.identity.instance_ips:
        dst_ip = start.identity.instance_ips[0]
        assumptions.append(f"destination IP {dst_ip}: the connection arrives at the gateway pod "
                           f"{start.identity.name} itself")
    else:
        dst_ip, why = assume_destination_ip(request.host, request.port, dumps, start)
        assumptions.append(f"destination IP {why}")
    src_ip = request.source_ip or (start.identity.instance_ips[0] if start.identity.instance_ips else "10.0.0.1")
    wire = first_wire(request, dst_ip, src_ip)
    entry = "outbound" if start.identity.proxy_type == "sidecar" else "direct"
    return _follow(request, dumps, start, wire, entry, assumptions, proxy_ips)


def inbound_wire(request: TraceRequest, proxy: ConfigDump) -> tuple[Wire, list[str]]:
    """``--inbound``: the connection as iptables hands it to the proxy's inbound listener (15006): to the pod's IP and
    the pod port the Service port maps to; with ``--principal`` as Istio mutual TLS from a client sidecar whose
    certificate carries that identity (SNI ``outbound_.PORT_._.FQDN``, Istio's ALPN), else plaintext."""
    assumptions = []
    if request.ip:
        dst_ip = request.ip
    elif proxy.identity.instance_ips:
        dst_ip = proxy.identity.instance_ips[0]
        assumptions.append(f"destination IP {dst_ip}: {proxy.identity.name}'s own address (--inbound)")
    else:
        raise TraceError(f"--inbound: {proxy.identity.name} has no instance IP in its bootstrap; give --ip")
    port, port_why = _target_port(proxy, request.port)
    assumptions.append(f"pod port {port_why}")
    src_ip = request.source_ip or "10.0.0.1"
    if not request.source_ip:
        assumptions.append("source IP 10.0.0.1 (give --source-ip for the client's pod IP)")
    wire = first_wire(request, dst_ip, src_ip).with_(dst_port=port)
    if request.principal and not request.is_tls:
        host = request.host if "." in request.host and request.host.endswith(".svc.cluster.local") else (
            f"{request.host}.svc.cluster.local" if request.host.count(".") == 1 else request.host)
        http = request.http_version
        wire = wire.with_(transport="tls", sni=f"outbound_.{request.port}_._.{host}",
                          alpn=("istio-peer-exchange", "istio-http/1.1" if http else "istio", "istio"),
                          http="http/1.1" if http else None, client_cert="validated",
                          client_sans=(request.principal,))
        assumptions.append(f"Istio mutual TLS from a client sidecar whose certificate says {request.principal}")
    return wire, assumptions


def _follow(request: TraceRequest, dumps: list[ConfigDump], start: ConfigDump, wire: Wire, entry: str,
            assumptions: list[str], proxy_ips: dict[str, str] | None) -> Trace:
    from envoyscope.engine import hop as hop_engine  # hop builds Hop and Outcome objects of this module

    by_ip = proxies_by_ip(dumps, proxy_ips)
    hops: list[Hop] = []
    proxy = start
    seen: set[tuple[str, str, int]] = set()
    outcome = Outcome("loop", f"more than {MAX_HOPS} hops")
    for _ in range(MAX_HOPS):
        key = (proxy.identity.name, wire.dst_ip, wire.dst_port)
        if key in seen:
            outcome = Outcome("loop", f"{proxy.identity.name} receives the same connection again")
            break
        seen.add(key)
        result = hop_engine.run_hop(proxy, wire, entry, request, guess=_peer_endpoints(dumps, proxy, wire))
        hops.append(result.hop)
        if result.assumption:
            assumptions.append(result.assumption)
        for verdict in (*result.hop.network_filters, *result.hop.http_filters):
            assumptions.extend(a for a in verdict.assumptions if a not in assumptions)
        if result.outcome is not None:
            outcome = result.outcome
            break
        assert result.next_wire is not None and result.endpoint_ip is not None
        next_wire = result.next_wire
        next_proxy = by_ip.get(f"{result.endpoint_ip}:{next_wire.dst_port}") or by_ip.get(result.endpoint_ip)
        if next_proxy is None and not is_ip(result.endpoint_ip):
            next_proxy, _why = proxy_by_hostname(dumps, result.endpoint_ip)
            if next_proxy is not None and next_proxy.identity.instance_ips:  # what DNS answers for that name
                next_wire = next_wire.with_(dst_ip=next_proxy.identity.instance_ips[0])
        if next_proxy is None or (next_proxy is proxy and entry == "inbound"
                                  and (result.hop.cluster or "").startswith("inbound|")):
            # An inbound cluster's connection (from 127.0.0.6) is not intercepted again: it reaches the app.
            outcome = hop_engine.leaves(result)
            break
        proxy, wire = next_proxy, next_wire
        entry = "inbound" if next_proxy.identity.proxy_type == "sidecar" else "direct"
    return Trace(request=request, hops=tuple(hops), outcome=outcome, assumptions=tuple(assumptions))
