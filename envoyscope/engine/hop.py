"""One proxy's part of a trace: listener, filter chain, network filter, route, cluster, endpoint, TLS.

The order is Envoy's: ``ConnectionHandlerImpl`` (listener, original-destination hand-off), listener filters,
``FilterChainManagerImpl::findFilterChain``, the network filter chain (``TcpProxy::Filter::onNewConnection`` or
the HTTP connection manager, then ``ConfigImpl::route``), ``ClusterManagerImpl`` and the load balancer, then the
upstream transport socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from envoyscope.engine.cluster import ClusterResult, Endpoint, assume_endpoint, resolve_cluster
from envoyscope.engine.downstream_tls import DownstreamTls, terminate_tls
from envoyscope.engine.filter_chain import select_filter_chain
from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict, Peer
from envoyscope.engine.http_filters.run import FilterRun, downstream_remote_ip, run_http_filters, run_network_filters
from envoyscope.engine.internal_listener import (
    handoff,
    internal_address,
    internal_from_shown,
    original_dst_from_metadata,
    shared_filter_state,
)
from envoyscope.engine.listener import select_listener
from envoyscope.engine.network_filters import filter_kind, network_action, pick_weighted
from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.engine.steps import Step
from envoyscope.engine.tls import TlsContext
from envoyscope.model.dump import ConfigDump
from envoyscope.model.duration import duration_ms
from envoyscope.model.names import BLACKHOLE, PASSTHROUGH, parse_cluster_name

if TYPE_CHECKING:  # trace imports this module; these names are only needed for types
    from envoyscope.engine.trace import Hop, Outcome


@dataclass(frozen=True, slots=True)
class HopResult:
    hop: Hop
    outcome: Outcome | None = None
    next_wire: Wire | None = None
    endpoint_ip: str | None = None
    cluster: ClusterResult | None = None
    assumption: str | None = None  # an endpoint the dump does not hold, taken from the other sources
    internal: str | None = None  # next_wire goes to this internal listener of the same proxy


# What tcp_proxy decides when it accepts the connection, before any TLS handshake of the client can end.
CONNECT_TIME_OUTCOMES = ("unknown_cluster", "no_healthy_upstream", "blackhole")

# For a cluster whose endpoints the dump does not hold: an endpoint among the other sources and why, or None.
GuessEndpoint = Callable[[str], "tuple[Endpoint, str] | None"]


class _Builder:
    """Collects a hop's facts and steps as the decisions are made."""

    def __init__(self, proxy: ConfigDump, wire: Wire) -> None:
        self.proxy = proxy
        self.wire = wire
        self.steps: list[Step] = []
        self.facts: dict[str, Any] = {}
        self.guess: GuessEndpoint | None = None
        self.chain: dict[str, Any] | None = None
        self.hcm: dict[str, Any] | None = None
        self.connect_terminated = False  # the router ends an HTTP CONNECT: upstream gets the tunnelled bytes

    def step(self, step: Step) -> None:
        self.steps.append(step)

    def hop(self) -> Hop:
        from envoyscope.engine.trace import Hop

        return Hop(proxy=self.proxy.identity.name, wire=self.wire, steps=tuple(self.steps), **self.facts)

    def end(self, kind: str, detail: str, flags: str = "", code: int | None = None,
            cluster: ClusterResult | None = None) -> HopResult:
        from envoyscope.engine.trace import Outcome

        return HopResult(self.hop(), Outcome(kind, detail, flags, code), cluster=cluster)

    def end_by(self, verdict: FilterVerdict, note: str = "") -> HopResult:
        """The hop ends where a filter answered (RBAC's 403 or closed connection, a JWT 401, a fault abort)."""
        from envoyscope.engine.trace import Outcome

        return HopResult(self.hop(), Outcome(verdict.outcome or "denied", verdict.reason + note,
                                             verdict.response_flags or "", verdict.response_code,
                                             verdict.response_code_details, verdict.connection_termination_details))


def run_hop(proxy: ConfigDump, wire: Wire, entry: str, request: TraceRequest,
            guess: GuessEndpoint | None = None) -> HopResult:
    """Everything one proxy does with one connection (and the request on it)."""
    b = _Builder(proxy, wire)
    b.guess = guess
    if entry.startswith("internal:"):
        from envoyscope.engine.internal_listener import select_internal_listener

        listener, step = select_internal_listener(proxy, entry.removeprefix("internal:"), wire)
    else:
        listener, step = select_listener(proxy, wire, entry)
    b.step(step)
    if listener is None:
        return b.end("no_listener", step.reason)
    b.facts["listener"] = listener.name
    chain, chain_label, steps = select_filter_chain(listener, wire)
    for s in steps:
        b.step(s)
    if chain is None:
        why = steps[-1].reason
        closes = "" if "closes the connection" in why else "; Envoy closes the connection"
        return b.end("no_filter_chain", f"listener `{listener.name}`: {why}{closes}", flags="NR")
    b.facts["filter_chain"] = chain_label
    b.chain = chain
    chain_path = _chain_path(listener.path, steps)
    downstream, tls_step = terminate_tls(chain, chain_path, wire, proxy)
    failed = downstream is not None and downstream.failure
    if tls_step is not None:
        b.facts["downstream_tls"] = downstream
        b.step(tls_step)
    action = network_action(chain, proxy, chain_path, sni=wire.sni)
    if failed and action.kind != "tcp_proxy":
        return b.end("tls_handshake_failed", f"filter chain {chain_label} of `{listener.name}`: {tls_step.reason}"
                     if tls_step else "the TLS handshake fails")
    peer = client_peer(downstream, wire)
    from envoyscope.engine.listener_filters import detect

    server_name = detect(listener.raw, wire).server_name or None  # what tls_inspector read: RBAC's SNI
    if peer is not None:
        b.facts["peer"] = peer
    network_run = None
    before = _filters_before_terminal(chain)
    if before and not failed:  # a chain whose handshake fails never reads the client's bytes
        network_run = run_network_filters(before, FilterContext(
            wire=wire, peer=peer, downstream_tls=downstream is not None, http=False,
            requested_server_name=server_name), chain_path)
        b.facts["network_filters"] = network_run.verdicts
        for s in network_run.steps:
            b.step(s)
        if network_run.ending is not None and action.kind != "tcp_proxy":
            return b.end_by(network_run.ending)
    b.step(action.step)
    if action.kind == "tcp_proxy":
        cluster = pick_weighted(action.clusters, request.random_value)
        result = _to_cluster(b, proxy, wire, cluster, request, http=False)
        if result.next_wire is not None and (action.step.raw or {}).get("tunneling_config"):
            from envoyscope.engine.hbone import tunnel

            result = tunnel(result, action.step.raw, wire)
        connect_time = result.outcome is not None and result.outcome.kind in CONNECT_TIME_OUTCOMES
        if network_run is not None and network_run.ending is not None and not connect_time:
            # tcp_proxy connects upstream on accept and reads the client's bytes once connected: only then does
            # the network RBAC filter decide (onData), and close the connection
            return b.end_by(network_run.ending, " (tcp_proxy had already connected upstream; the decision comes "
                                                "with the client's first bytes)")
        if not failed or (result.outcome is not None and result.outcome.kind in CONNECT_TIME_OUTCOMES):
            return result
        # tcp_proxy connects upstream as soon as the connection is accepted; then the handshake fails
        return b.end("tls_handshake_failed", f"filter chain {chain_label} of `{listener.name}`: "
                     f"{tls_step.reason if tls_step else 'the TLS handshake fails'} (tcp_proxy had already "
                     "connected upstream)")
    if action.kind != "http":
        return b.end("unsupported", action.step.reason)
    if wire.transport == "tls" and not action.terminates_tls:
        return b.end("reset", "TLS bytes reach an http_connection_manager that does not terminate TLS: "
                              "the HTTP codec fails and Envoy resets the connection")
    if wire.transport == "tls" and wire.http is None and request.scheme != "https":
        return b.end("reset", "the TLS payload is not HTTP, but the chain decrypts it into an "
                              "http_connection_manager: the codec fails and Envoy resets the connection")
    if wire.transport != "tls" and wire.http is None:
        return b.end("reset", "non-HTTP bytes reach an http_connection_manager: the codec fails and Envoy "
                              "resets the connection")
    b.facts["route_config"] = action.route_config_name
    if action.route_config is None:
        ended = _http_filters(b, action.hcm, None, wire, request, (peer, server_name), downstream, action.step.path)
        if ended is not None:
            return ended
        return b.end("no_route", f"route configuration `{action.route_config_name}` is not in this dump "
                                 "(RDS not received?): Envoy answers 404", flags="NR", code=404)
    from envoyscope.engine.path_normalization import normalize_request_path
    from envoyscope.engine.route import route_request

    normalized, norm_step = normalize_request_path(action.hcm, wire.path, action.step.path)
    if norm_step is not None:
        b.step(norm_step)
        wire = wire.with_(path=normalized)
    routed = route_request(action.route_config, wire, request, action.hcm, listener_port=wire.dst_port)
    for s in routed.steps:
        b.step(s)
    if routed.virtual_host is not None:
        b.facts["virtual_host"] = routed.virtual_host
    if routed.route is not None:
        b.facts["route"] = routed.route
    if routed.kind == "reset":  # the HCM's codec cannot read the bytes (h2c into HTTP1, HTTP/1.1 into HTTP2)
        return b.end("reset", routed.detail, flags="DPE", code=routed.code)
    if routed.kind == "cluster" and routed.cluster:
        b.facts["cluster"] = routed.cluster  # the HCM resolves the route's cluster before the filters run
    ended = _http_filters(b, action.hcm, (routed, action.route_config), wire, request, (peer, server_name),
                          downstream, action.step.path)
    if ended is not None:
        return ended
    if routed.kind == "no_route":
        return b.end("no_route", routed.detail, flags="NR", code=404)
    if routed.kind == "direct_response" and routed.virtual_host == "block_all":
        return b.end("blackhole", "REGISTRY_ONLY: the host is not in the mesh's registry, so Istio's `block_all` "
                                  f"virtual host answers HTTP {routed.code}", code=routed.code)
    if routed.kind in ("direct_response", "redirect"):
        return b.end(routed.kind, routed.detail, code=routed.code)
    if routed.kind != "cluster" or routed.cluster is None:
        return b.end("unsupported", routed.detail)
    next_wire = wire.with_(authority=routed.authority or wire.authority, path=routed.path or wire.path,
                           headers=wire.headers if routed.headers is None else routed.headers)
    from envoyscope.engine.subset import route_metadata_match

    b.hcm = action.hcm
    b.connect_terminated = wire.method == "CONNECT" and any(
        str(u.get("upgrade_type", "")).upper() == "CONNECT" and "connect_config" in u
        for u in (routed.action or {}).get("upgrade_configs") or ())
    return _to_cluster(b, proxy, next_wire, routed.cluster, request, http=True, hcm=action.hcm,
                       metadata_match=route_metadata_match(routed.action, routed.cluster))


def client_peer(downstream: DownstreamTls | None, wire: Wire) -> Peer | None:
    """The client certificate's identity as the filters see it: only when this proxy terminates TLS, asks for a
    client certificate (a validation context or ``require_client_certificate``) and the client presents one."""
    if downstream is None or downstream.failure or wire.transport != "tls" or not wire.client_cert:
        return None
    if downstream.trusted_ca is None and not downstream.require_client_certificate:
        return None
    return Peer(tuple(s for s in wire.client_sans if "://" in s), tuple(s for s in wire.client_sans if "://" not in s),
                wire.client_subject)


def _filters_before_terminal(chain: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain's network filters before tcp_proxy / the HCM (sni_cluster is part of tcp_proxy's step)."""
    out = []
    for filt in chain.get("filters") or ():
        kind = filter_kind(filt)
        if kind in ("TcpProxy", "HttpConnectionManager"):
            break
        if kind != "SniCluster" and "sni_cluster" not in str(filt.get("name", "")):
            out.append(filt)
    return out


def _route_timeout_ms(route: dict[str, Any] | None) -> int | None:
    """The route's timeout (15 s when unset; ``0s`` disables it)."""
    if route is None:
        return None
    try:
        ms = duration_ms((route.get("route") or {}).get("timeout", "15s"))
    except ValueError:
        return None
    return ms or None


def _http_filters(b: _Builder, hcm: dict[str, Any] | None, routed_and_config: tuple[Any, dict[str, Any]] | None,
                  wire: Wire, request: TraceRequest, who: tuple[Peer | None, str | None],
                  downstream: DownstreamTls | None, path: str = "") -> HopResult | None:
    """Run the HCM's HTTP filters (after the route is chosen, before the router); the hop's end if one answers."""
    if not hcm or not (hcm.get("http_filters") or ()):
        return None
    route = vhost = config = None
    if routed_and_config is not None:
        routed, config = routed_and_config
        for step in routed.steps:
            if step.kind == "virtual_host" and isinstance(step.raw, dict):
                vhost = step.raw
            if step.kind == "route" and isinstance(step.raw, dict):
                route = step.raw
    route_md = ((route or {}).get("metadata") or {}).get("filter_metadata") or {}
    peer, server_name = who
    ctx = FilterContext(wire=wire, route=route, virtual_host=vhost, route_config=config, peer=peer,
                        requested_server_name=server_name,
                        random_value=request.random_value, route_timeout_ms=_route_timeout_ms(route), now=request.now,
                        downstream_tls=downstream is not None and wire.transport == "tls",
                        remote_ip=downstream_remote_ip(hcm, wire), filter_metadata_route=dict(route_md))
    run: FilterRun = run_http_filters(hcm, ctx, path or "http_connection_manager")
    b.facts["http_filters"] = run.verdicts
    for s in run.steps:
        b.step(s)
    if run.ending is not None:
        return b.end_by(run.ending)
    return None


def _chain_path(listener_path: str, steps: list[Step]) -> str:
    chosen = [s for s in steps if s.kind == "filter_chain"]
    return chosen[-1].path if chosen and chosen[-1].path else listener_path


def _istio_alpn(hcm: dict[str, Any] | None, tls: TlsContext | None) -> TlsContext | None:
    """Istio's ``istio.alpn`` HTTP filter replaces the ALPN of an Istio mTLS upstream (``istio-http/1.1``…)."""
    if hcm is None or tls is None or tls.mode != "ISTIO_MUTUAL":
        return tls
    from envoyscope.model.typed import alpn_override

    for filt in hcm.get("http_filters") or ():
        typed = filt.get("typed_config") or {}
        if str(typed.get("@type", "")).endswith("alpn.v2alpha1.FilterConfig"):
            override = alpn_override(typed, "HTTP11")
            if override:
                return replace(tls, alpn=override)
    return tls


def _alpn_fallback(cluster: dict[str, Any] | None, tls: TlsContext | None) -> TlsContext | None:
    """An HTTP upstream over TLS with no ``alpn_protocols`` offers the codec's protocols: Envoy's connection pool
    passes them as the ALPN fallback (``TransportSocketOptionsImpl``): ``http/1.1``, ``h2``, or both for
    ``auto_config``."""
    if cluster is None or tls is None or tls.mode == "plaintext" or tls.alpn:
        return tls
    options = ((cluster.get("typed_extension_protocol_options") or {})
               .get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions") or {})
    if "auto_config" in options:
        return replace(tls, alpn=("h2", "http/1.1"))
    explicit = options.get("explicit_http_config") or {}
    if "http2_protocol_options" in explicit or "http2_protocol_options" in cluster:
        return replace(tls, alpn=("h2",))
    return replace(tls, alpn=("http/1.1",))


def _to_cluster(b: _Builder, proxy: ConfigDump, wire: Wire, cluster_name: str, request: TraceRequest,
                *, http: bool, hcm: dict[str, Any] | None = None,
                metadata_match: dict[str, Any] | None = None) -> HopResult:
    b.facts["cluster"] = cluster_name
    if cluster_name == BLACKHOLE and proxy.cluster(BLACKHOLE) is not None:
        b.step(Step("cluster", BLACKHOLE, "BlackHoleCluster has no endpoints: the request goes nowhere"))
        detail = ("BlackHoleCluster: Envoy answers HTTP 503 (no host to send to)" if http
                  else "BlackHoleCluster: the connection is closed (REGISTRY_ONLY, or nothing else matched)")
        return b.end("blackhole", detail, flags="UH", code=503 if http else None)
    original = (wire.dst_ip, wire.dst_port)
    resource = proxy.cluster(cluster_name)
    override = original_dst_from_metadata(resource.raw, wire) if resource is not None and wire.metadata else None
    if override is not None:
        original = override[0]
    result = resolve_cluster(proxy, cluster_name, original_dst=original, random_value=request.random_value,
                             metadata_match=metadata_match)
    if override is not None:  # say where the host came from, in the endpoint step
        result = replace(result, steps=tuple(replace(s, reason=f"{override[1]}; {s.reason}") if s.kind == "endpoint"
                                             else s for s in result.steps))
    assumption = None
    guessed = b.guess(cluster_name) if result.outcome == "endpoints_unknown" and b.guess else None
    if guessed is not None and resource is not None:
        endpoint, why = guessed
        result = assume_endpoint(result, resource.raw, resource.path, endpoint, why)
        assumption = f"endpoint {endpoint.address} of `{cluster_name}` on {proxy.identity.name}: {why}"
    for s in result.steps:
        b.step(s)
    if result.outcome == "endpoints_unknown":
        if result.tls is not None:
            b.facts["tls"] = result.tls
        unknown = next(s for s in result.steps if s.kind == "endpoint")
        return b.end(result.outcome, unknown.reason, cluster=result)
    if result.outcome is not None:
        code = 503 if http else None
        answer = "Envoy answers HTTP 503" if http else "tcp_proxy closes the downstream connection"
        return b.end(result.outcome, f"{result.steps[-1].reason}: {answer}", flags=result.response_flags, code=code,
                     cluster=result)
    assert result.chosen is not None
    b.facts["endpoint"] = result.chosen.address  # ip:port; hostname:port for DNS clusters
    b.facts["tls"] = (_alpn_fallback(resource.raw if resource else None, _istio_alpn(hcm, result.tls)) if http
                      else result.tls)
    if cluster_name == PASSTHROUGH:
        return b.end("passthrough", f"PassthroughCluster: forwarded unchanged to the original destination "
                                    f"{result.chosen.address}", cluster=result)
    tls = b.facts["tls"]
    upstream_tls = tls is not None and tls.mode != "plaintext"
    internal = internal_address(result.chosen.raw) or internal_from_shown(result.chosen.address)
    if internal is not None:
        return _to_internal(b, proxy, wire, resource.raw if resource else {}, result, internal[0], http=http,
                            assumption=assumption)
    next_wire = wire.with_(
        dst_ip=result.chosen.ip or result.chosen.address,
        dst_port=result.chosen.port or wire.dst_port,
        src_ip=(proxy.identity.instance_ips or ("",))[0] or wire.src_ip,
        transport="tls" if upstream_tls or (not http and wire.transport == "tls") else "raw_buffer",
        sni=(tls.sni if upstream_tls and tls else wire.sni if not http else None),
        alpn=(tls.alpn if upstream_tls and tls else wire.alpn if not http else ()),
        http=("http/1.1" if http else wire.http),
        # Istio mTLS presents the proxy's workload certificate, which the next sidecar or gateway trusts;
        # other TLS presents a certificate when the cluster's context has one (trust is the receiver's call).
        client_cert=_client_cert(tls) if upstream_tls else (wire.client_cert if not http else ""),
        client_sans=_client_sans(proxy, tls) if upstream_tls else (wire.client_sans if not http else ()),
        client_subject="" if upstream_tls or http else wire.client_subject,
    )
    return HopResult(b.hop(), None, next_wire=next_wire, endpoint_ip=result.chosen.ip or None, cluster=result,
                     assumption=assumption)


def _to_internal(b: _Builder, proxy: ConfigDump, wire: Wire, cluster: dict[str, Any], result: ClusterResult,
                 target: str, *, http: bool, assumption: str | None) -> HopResult:
    """The chosen endpoint is an internal listener of this proxy: the hop goes on there (`internal_listener`)."""
    assert result.chosen is not None
    tls = b.facts.get("tls")
    if b.connect_terminated and b.wire.inner is not None:
        payload = b.wire.inner  # the router ended the CONNECT: what flows upstream is the tunnel's content
    elif http:
        payload = wire.with_(transport="tls" if tls is not None and tls.mode != "plaintext" else "raw_buffer",
                             sni=tls.sni if tls is not None else None, alpn=tls.alpn if tls is not None else (),
                             http="http/1.1", inner=None)
    else:
        payload = wire
    peer = b.facts.get("peer")
    shared, notes = shared_filter_state(b.chain, b.hcm, b.wire, b.wire if b.hcm is not None else None,
                                        peer.uri_sans if peer is not None else None)
    next_wire, step = handoff(proxy, cluster, result.chosen.raw, target, payload, shared, notes)
    b.step(step)
    if next_wire is None:
        return b.end("no_healthy_upstream", f"{step.reason}: Envoy answers HTTP 503" if http else step.reason,
                     flags="UF", code=503 if http else None, cluster=result)
    return HopResult(b.hop(), None, next_wire=next_wire, endpoint_ip=None, cluster=result, assumption=assumption,
                     internal=target)


def _client_sans(proxy: ConfigDump, tls: TlsContext | None) -> tuple[str, ...]:
    """Istio mTLS presents the proxy's workload certificate: its SPIFFE identity is the next hop's principal."""
    if tls is None or tls.mode != "ISTIO_MUTUAL":
        return ()
    from envoyscope.engine.spiffe import workload_principal

    principal, _why = workload_principal(proxy)
    return (principal,) if principal else ()


def _client_cert(tls: TlsContext | None) -> str:
    if tls is None:
        return ""
    if tls.mode == "ISTIO_MUTUAL":
        return "validated"
    return "offered" if tls.client_cert else ""  # a certificate whose trust by the receiver is not known


def leaves(result: HopResult) -> Outcome:
    """The outcome when the chosen endpoint is not a proxy we have: inside the mesh or outside it."""
    from envoyscope.engine.trace import Outcome

    cluster = result.cluster
    assert cluster is not None and cluster.chosen is not None
    chosen = cluster.chosen
    tls = cluster.tls
    labels = dict(chosen.labels)
    name = parse_cluster_name(cluster.cluster)
    mode = tls.mode if tls else "plaintext"
    wire = result.hop.wire
    if mode == "plaintext" and wire.transport == "tls" and cluster.cluster != PASSTHROUGH and (
            result.hop.route_config is None):  # tcp_proxy: the bytes go on as they came (an HTTP hop decrypted them)
        mode = f"the app's own TLS passed through (SNI {wire.sni or 'none'})"
    target = chosen.address
    if cluster.cluster.startswith("inbound|"):
        return Outcome("mesh_internal", f"delivered to the workload's application at {target} (inbound cluster "
                                        f"`{cluster.cluster}`, {mode})")
    if labels.get("tlsMode") == "istio" or mode == "ISTIO_MUTUAL":
        return Outcome("mesh_internal", f"reaches {target} ({name.host or cluster.cluster}) inside the mesh, "
                                        f"{mode}")
    via = f" ({name.host})" if name.host and name.host not in target else ""
    return Outcome("external", f"reaches {target}{via} outside the mesh, {mode}")
