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
    envoys = [d for d in dumps if d.ztunnel is None] or dumps  # a ztunnel's config starts a trace when asked to
    if len(envoys) == 1:
        return envoys[0]
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
        if peer is None or peer is proxy or not peer.identity.instance_ips or not peer.readable():
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


# A client outside the cluster, for a trace that starts at a gateway: documentation addresses (RFC 5737 TEST-NET-3,
# RFC 3849), which no real client has, so nothing in a dump is written for them by accident.
OUTSIDE_CLIENT = {4: "203.0.113.10", 6: "2001:db8::10"}


def source_address(request: TraceRequest, start: ConfigDump, dst_ip: str) -> tuple[str, str]:
    """The client's address as the first proxy sees it, and the assumption that says so ('' when given).

    A sidecar's client is its own app (the pod's IP); a gateway's is someone else — never the gateway itself, whose
    own address would make the connection local (``source_type`` SAME_IP_OR_LOOPBACK) and match the filter chains,
    RBAC rules and forwarded-for headers written for the pod network."""
    if request.source_ip:
        return request.source_ip, ""
    if start.identity.proxy_type == "sidecar":
        return (start.identity.instance_ips[0] if start.identity.instance_ips else "10.0.0.1"), ""
    outside = OUTSIDE_CLIENT[6 if ":" in dst_ip else 4]
    who = "outside the cluster" if start.identity.is_gateway else "other than the proxy itself"
    return outside, (f"source IP {outside}: a client {who} (a documentation address standing for any; "
                     f"--source-ip gives the real one)")


def _service_port(request: TraceRequest, start: ConfigDump, dst_ip: str) -> tuple[int, str] | None:
    """A trace that starts at a gateway on a port nothing listens on: the Service port's targetPort, when the
    Kubernetes Service or the dump's virtual hosts say it (not when the pod's own IP is asked for with --ip)."""
    from envoyscope.engine.listener import find_bound_listener
    from envoyscope.engine.service_port import map_service_port

    if not start.identity.is_gateway or (request.ip and request.ip in start.identity.instance_ips):
        return None
    if find_bound_listener(list(start.active_listeners()), dst_ip, request.port, bound_only=True) is not None:
        return None
    return map_service_port(start, request.port, request.host)


def _ztunnel_vip(zt_dump: ConfigDump, host: str) -> tuple[str, str] | None:
    """A service's VIP from ztunnel's service table, as the mesh's DNS would answer."""
    assert zt_dump.ztunnel is not None
    service = zt_dump.ztunnel.service_by_host(host)
    if service is None or not service.vips:
        return None
    return service.vips[0], (f"{service.vips[0]}: the VIP of service {service.hostname} in "
                             f"{zt_dump.identity.name}'s config")


def trace(request: TraceRequest, dumps: list[ConfigDump], *, proxy_ips: dict[str, str] | None = None) -> Trace:
    """Follow ``request`` from its first proxy until it leaves the proxies given, or fails."""
    from envoyscope.engine import hbone

    start = pick_start(dumps, request.from_proxy)
    assumptions = list(request.assumed)  # what the request's description left unsaid
    if request.inbound:
        wire, notes = inbound_wire(request, start)
        assumptions.extend(notes)
        return _follow(request, dumps, start, wire, "inbound", assumptions, proxy_ips)
    # a waypoint is reached over HBONE for the services and pods it serves; its own IP is an ordinary destination
    waypoint = hbone.is_waypoint(start) and request.ip not in start.identity.instance_ips
    zt_dump = start if start.ztunnel else next((d for d in dumps if d.ztunnel is not None), None) if waypoint else None
    vip = hbone.waypoint_vip(start, request.host, request.port) if waypoint and not request.ip else None
    zt_vip = _ztunnel_vip(zt_dump, request.host) if zt_dump is not None and not request.ip else None
    by_name = (hbone.waypoint_hostname(start, request.host, request.port)
               if waypoint and vip is None and zt_vip is None and not request.ip else None)
    if request.ip:
        dst_ip = request.ip
    elif by_name is not None:
        dst_ip = request.host  # the CONNECT authority is host:port
        assumptions.append(by_name)
    elif zt_vip is not None:
        dst_ip = zt_vip[0]
        assumptions.append(f"destination IP {zt_vip[1]}")
    elif vip is not None:
        dst_ip = vip[0]
        assumptions.append(f"destination IP {vip[1]}")
    elif start.identity.proxy_type != "sidecar" and start.identity.instance_ips and not waypoint:
        dst_ip = start.identity.instance_ips[0]
        assumptions.append(f"destination IP {dst_ip}: the connection arrives at the gateway pod "
                           f"{start.identity.name} itself")
    else:
        dst_ip, why = assume_destination_ip(request.host, request.port, dumps, start)
        assumptions.append(f"destination IP {why}")
    src_ip, why_src = source_address(request, start, dst_ip)
    if why_src:
        assumptions.append(why_src)
    wire = first_wire(request, dst_ip, src_ip)
    mapped = None if waypoint else _service_port(request, start, dst_ip)
    if mapped is not None:
        wire = wire.with_(dst_port=mapped[0])
        assumptions.append(mapped[1])
    entry = "outbound" if start.identity.proxy_type == "sidecar" else "direct"
    hops: list[Hop] = []
    proxy = start
    if zt_dump is not None:  # ztunnel decides first: which waypoint, if any, and where the HBONE goes
        from envoyscope.engine.ztunnel import NOT_PROVEN, ztunnel_start

        assumptions.append(f"hop 1 is {zt_dump.identity.name}'s decision, {NOT_PROVEN}")
        first, ended, peer, hbone_in = ztunnel_start(request, zt_dump, dst_ip, src_ip,
                                                     proxies_by_ip(dumps, proxy_ips))
        hops.append(first)
        if ended is not None or peer is None or hbone_in is None:
            return Trace(request=request, hops=tuple(hops), outcome=ended or Outcome("unsupported", "no peer"),
                         assumptions=tuple(assumptions))
        proxy, wire, entry = peer, hbone_in, "direct"
    elif waypoint:
        wire, entry, how = hbone.waypoint_start(request, start, dst_ip, src_ip)
        assumptions.append(how)
    return _follow(request, dumps, proxy, wire, entry, assumptions, proxy_ips, hops)


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
            assumptions: list[str], proxy_ips: dict[str, str] | None, hops: list[Hop] | None = None) -> Trace:
    """Hop after hop from ``start`` (after the ``hops`` already decided, e.g. ztunnel's), until the request
    leaves the proxies given or an outcome ends it."""
    from envoyscope.engine import hbone
    from envoyscope.engine import hop as hop_engine  # hop builds Hop and Outcome objects of this module

    by_ip = proxies_by_ip(dumps, proxy_ips)
    hops = list(hops or ())
    proxy = start
    seen: set[tuple[str, ...]] = set()
    outcome = Outcome("loop", f"more than {MAX_HOPS} hops")
    for _ in range(MAX_HOPS):
        key: tuple[str, ...] = (proxy.identity.name, wire.dst_ip, str(wire.dst_port))
        if entry.startswith("internal:"):  # each internal listener may see the same destination once
            key = (*key, entry)
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
        if result.internal is not None and result.next_wire is not None:  # same proxy, its internal listener
            wire, entry = result.next_wire, f"internal:{result.internal}"
            continue
        assert result.next_wire is not None and result.endpoint_ip is not None
        next_wire = result.next_wire
        next_proxy = by_ip.get(f"{result.endpoint_ip}:{next_wire.dst_port}") or by_ip.get(result.endpoint_ip)
        if next_proxy is None and not is_ip(result.endpoint_ip):
            next_proxy, _why = proxy_by_hostname(dumps, result.endpoint_ip)
            if next_proxy is not None and next_proxy.identity.instance_ips:  # what DNS answers for that name
                next_wire = next_wire.with_(dst_ip=next_proxy.identity.instance_ips[0])
        if next_proxy is not None and not next_proxy.readable():
            next_proxy = None  # a proxy whose dump cannot be read is followed as if it were not given (its note says)
        if next_proxy is None or (next_proxy is proxy and entry == "inbound"
                                  and (result.hop.cluster or "").startswith("inbound|")):
            # An inbound cluster's connection (from 127.0.0.6) is not intercepted again: it reaches the app.
            outcome = hbone.leaves_hbone(result) if next_wire.inner is not None else hop_engine.leaves(result)
            break
        proxy, wire = next_proxy, next_wire
        entry = "inbound" if next_proxy.identity.proxy_type == "sidecar" else "direct"
    return Trace(request=request, hops=tuple(hops), outcome=outcome, assumptions=tuple(assumptions))
