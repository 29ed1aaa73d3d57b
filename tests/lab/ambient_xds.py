"""A waypoint's resources as istiod builds them (pilot/pkg/networking/core/listener_waypoint.go, cluster_waypoint.go),
for a stock Envoy: the three listeners ``connect_terminate`` (HBONE on 15008 → ``main_internal``), ``main_internal``
(an internal listener choosing its chain by destination VIP:port or pod IP and ALPN) and ``connect_originate`` (an
internal listener tunnelling to the destination's ztunnel on 15008), the ``main_internal``, ``encap`` and
``connect_originate`` clusters, and ``inbound-vip|port|subset|host`` clusters whose EDS endpoints are internal
addresses ``connect_originate/IP:port`` carrying the destination in ``envoy.filters.listener.original_dst``.

Istio-only extensions (peer metadata, stats, metadata exchange) are left out: Envoy 1.40 from PyPI lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.lab.istio import ADS, HTTP_INSPECTOR, T

TD = "cluster.local"
ORIGINAL_DST = "envoy.filters.listener.original_dst"
HCM_TYPE = T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {"name": "envoy.filters.http.router",
          "typed_config": {"@type": T + "envoy.extensions.filters.http.router.v3.Router"}}
SFS_HTTP = T + "envoy.extensions.filters.http.set_filter_state.v3.Config"
SFS_NET = T + "envoy.extensions.filters.network.set_filter_state.v3.Config"


@dataclass
class Service:
    host: str
    vip: str
    port: int
    protocol: str  # http | tcp
    pods: dict[str, list[str]]  # subset → pod IPs
    routes: list[dict[str, Any]] = field(default_factory=list)  # HTTP routes (Envoy form); default: all to "http"
    waypoint: str = ""  # the pods' own waypoint (IP:15008), in their endpoint metadata: HBONE goes there instead
    policies: list[dict[str, Any]] = field(default_factory=list)  # HTTP filters before the router (RBAC)


def _state(key: str, fmt: str, factory: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"object_key": key, "format_string": {"text_format_source": {"inline_string": fmt}},
                           "shared_with_upstream": "ONCE"}
    if factory:
        out["factory_key"] = factory
    return out


def connect_tls(server: bool) -> dict[str, Any]:
    """Istio's HBONE TLS: the workload certificate (SDS ``default``), ROOTCA, TLS 1.3, ALPN h2."""
    common: dict[str, Any] = {
        "tls_params": {"tls_minimum_protocol_version": "TLSv1_3", "tls_maximum_protocol_version": "TLSv1_3"},
        "alpn_protocols": ["h2"],
        "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": dict(ADS)}],
        "combined_validation_context": {
            "default_validation_context": {} if server else {"match_typed_subject_alt_names": [
                {"san_type": "URI", "matcher": {"prefix": f"spiffe://{TD}/ns/default/sa/"}}]},
            "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": dict(ADS)}},
    }
    if server:
        return {"name": "tls", "typed_config": {"@type": T + "envoy.extensions.transport_sockets.tls.v3."
                                                "DownstreamTlsContext", "common_tls_context": common,
                                                "require_client_certificate": True}}
    return {"name": "tls", "typed_config": {"@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
                                            "common_tls_context": common}}


AUTHORITY_STATE = "io.istio.connect_authority"


def connect_terminate(authority: bool = False) -> dict[str, Any]:
    """authority: also keep the CONNECT authority as ``io.istio.connect_authority`` (recent istiod), which
    main_internal's hostname fallback reads."""
    states = [_state(AUTHORITY_STATE, "%REQ(:AUTHORITY)%", "envoy.string")] if authority else []
    hcm = {"@type": HCM_TYPE, "stat_prefix": "connect_terminate",
           "route_config": {"name": "default", "virtual_hosts": [{"name": "default", "domains": ["*"], "routes": [
               {"match": {"connect_matcher": {}}, "route": {"cluster": "main_internal", "upgrade_configs": [
                   {"upgrade_type": "CONNECT", "connect_config": {}}]}}]}]},
           "http_filters": [
               {"name": "connect_authority", "typed_config": {"@type": SFS_HTTP, "on_request_headers": [
                   _state("envoy.filters.listener.original_dst.local_ip", "%REQ(:AUTHORITY)%"),
                   _state("envoy.filters.listener.original_dst.remote_ip", "%DOWNSTREAM_REMOTE_ADDRESS%"),
                   _state("io.istio.peer_principal", "%DOWNSTREAM_PEER_URI_SAN%", "envoy.string"),
                   _state("io.istio.local_principal", "%DOWNSTREAM_LOCAL_URI_SAN%", "envoy.string"), *states]}},
               ROUTER],
           "use_remote_address": False, "stream_idle_timeout": "0s",
           "upgrade_configs": [{"upgrade_type": "CONNECT"}],
           "http2_protocol_options": {"allow_connect": True, "max_concurrent_streams": 100}}
    return {"name": "connect_terminate", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15008}},
            "filter_chains": [{"name": "default", "transport_socket": connect_tls(server=True), "filters": [
                {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
            "connection_balance_config": {"exact_balance": {}}}


def _vip_cluster_name(svc: Service, subset: str | None = None) -> str:
    return f"inbound-vip|{svc.port}|{subset or svc.protocol}|{svc.host}"


def _http_chain(svc: Service) -> dict[str, Any]:
    name = _vip_cluster_name(svc)
    routes = svc.routes or [{"name": "default", "match": {"prefix": "/"}, "route": {"cluster": name, "timeout": "0s"}}]
    return {"name": name, "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE, "stat_prefix": f"inbound_0.0.0.0_{svc.port}",
        "route_config": {"name": name, "virtual_hosts": [
            {"name": f"inbound|http|{svc.port}", "domains": ["*"], "routes": routes}], "validate_clusters": False},
        "http_filters": [*svc.policies, ROUTER], "use_remote_address": False, "normalize_path": True,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED"}}]}


def _tcp_proxy(cluster: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": cluster,
        "cluster": cluster}}


CONNECT_AUTHORITY_NET = {"name": "connect_authority", "typed_config": {"@type": SFS_NET, "on_new_connection": [
    _state("envoy.filters.listener.original_dst.local_ip",
           "%FILTER_STATE(envoy.filters.listener.original_dst.local_ip:PLAIN)%")]}}


def _action(chain: str) -> dict[str, Any]:
    return {"action": {"name": chain, "typed_config": {"@type": T + "google.protobuf.StringValue", "value": chain}}}


def _input(kind: str) -> dict[str, Any]:
    name = {"DestinationIPInput": "ip", "DestinationPortInput": "port",
            "ApplicationProtocolInput": "application-protocol"}[kind]
    return {"name": name, "typed_config": {"@type": T + f"envoy.extensions.matching.common_inputs.network.v3.{kind}"}}


def main_internal(services: list[Service], pod_ips: list[str]) -> dict[str, Any]:
    chains: list[dict[str, Any]] = []
    ranges = []
    hostnames: dict[str, Any] = {}
    tcp_ports = sorted({s.port for s in services if s.protocol == "tcp"})
    for svc in services:
        chain = _http_chain(svc) if svc.protocol == "http" else {
            "name": _vip_cluster_name(svc), "filters": [_tcp_proxy(_vip_cluster_name(svc))]}
        chains.append(chain)
        if not svc.vip:  # a host without a VIP: the CONNECT authority names it (on_no_match below)
            hostnames[f"{svc.host}:{svc.port}"] = _action(chain["name"])
            continue
        ranges.append({"ranges": [{"address_prefix": svc.vip, "prefix_len": 32}], "on_match": {"matcher": {
            "matcher_tree": {"input": _input("DestinationPortInput"),
                             "exact_match_map": {"map": {str(svc.port): _action(chain["name"])}}}}}})
    direct_http = {"name": "direct-http", "filters": [CONNECT_AUTHORITY_NET, {
        "name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": HCM_TYPE, "stat_prefix": "inbound_0.0.0.0_0",
            "route_config": {"name": "encap", "virtual_hosts": [{"name": "inbound|http|0", "domains": ["*"], "routes": [
                {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": "encap", "timeout": "0s"}}]}],
                "validate_clusters": False},
            "http_filters": [ROUTER], "use_remote_address": False}}]}
    chains += [{"name": "direct-tcp", "filters": [CONNECT_AUTHORITY_NET, _tcp_proxy("encap")]}, direct_http]
    ranges.append({"ranges": [{"address_prefix": ip, "prefix_len": 32} for ip in pod_ips], "on_match": {"matcher": {
        "matcher_tree": {"input": _input("ApplicationProtocolInput"), "exact_match_map": {"map": {
            "'h2c'": _action("direct-http"), "'http/1.1'": _action("direct-http")}}},
        "on_no_match": _action("direct-tcp")}}})
    inspector = dict(HTTP_INSPECTOR)
    if tcp_ports:  # Istio turns the HTTP inspector off for ports it knows are TCP
        rules = [{"destination_port_range": {"start": p, "end": p + 1}} for p in tcp_ports]
        inspector["filter_disabled"] = rules[0] if len(rules) == 1 else {"or_match": {"rules": rules}}
    matcher: dict[str, Any] = {"matcher_tree": {"input": _input("DestinationIPInput"), "custom_match": {
        "name": "ip", "typed_config": {"@type": T + "xds.type.matcher.v3.IPMatcher", "range_matchers": ranges}}}}
    if hostnames:  # no VIP matched: the chain by the CONNECT authority istiod kept in filter state
        matcher["on_no_match"] = {"matcher": {"matcher_tree": {"input": {"name": "authority", "typed_config": {
            "@type": T + "envoy.extensions.matching.common_inputs.network.v3.FilterStateInput",
            "key": AUTHORITY_STATE}}, "exact_match_map": {"map": hostnames}}}}
    return {"name": "main_internal", "internal_listener": {}, "traffic_direction": "INBOUND",
            "listener_filters": [{"name": ORIGINAL_DST, "typed_config": {
                "@type": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}, inspector],
            "filter_chains": chains, "filter_chain_matcher": matcher}


def connect_originate() -> dict[str, Any]:
    return {"name": "connect_originate", "use_original_dst": False, "internal_listener": {},
            "listener_filters": [{"name": ORIGINAL_DST, "typed_config": {
                "@type": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}],
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "connect_originate", "cluster": "connect_originate",
                "tunneling_config": {"hostname": "%DOWNSTREAM_LOCAL_ADDRESS%"}}}]}]}


INTERNAL_UPSTREAM = {"name": "internal_upstream", "typed_config": {
    "@type": T + "envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
    "passthrough_metadata": [{"kind": {"host": {}}, "name": ORIGINAL_DST}],
    "transport_socket": {"name": "raw_buffer", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}}


def _internal_cluster(name: str, listener: str) -> dict[str, Any]:
    return {"name": name, "type": "STATIC", "connect_timeout": "10s", "load_assignment": {"cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"envoy_internal_address": {
                "server_listener_name": listener}}}}]}]}, "transport_socket": INTERNAL_UPSTREAM}


def clusters(services: list[Service]) -> list[dict[str, Any]]:
    out = [_internal_cluster("main_internal", "main_internal"), _internal_cluster("encap", "connect_originate"), {
        "name": "connect_originate", "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "10s",
        "cleanup_interval": "60s",
        "original_dst_lb_config": {"upstream_port_override": 15008, "metadata_key": {
            "key": ORIGINAL_DST, "path": [{"key": "waypoint"}]}},
        "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": T + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"idle_timeout": "3600s"},
            "explicit_http_config": {"http2_protocol_options": {"allow_connect": True}}}},
        "transport_socket": connect_tls(server=False)}]
    for svc in services:
        for subset in [None, *[s for s in svc.pods if s != svc.protocol]]:
            name = _vip_cluster_name(svc, subset)
            out.append({"name": name, "type": "EDS", "connect_timeout": "10s",
                        "eds_cluster_config": {"eds_config": dict(ADS), "service_name": name},
                        "transport_socket": INTERNAL_UPSTREAM, "metadata": {"filter_metadata": {"istio": {"services": [
                            {"host": svc.host, "name": svc.host.split(".")[0], "namespace": "default"}]}}}})
    return out


def endpoints(services: list[Service]) -> list[dict[str, Any]]:
    out = []
    for svc in services:
        for subset in [None, *[s for s in svc.pods if s != svc.protocol]]:
            ips = [ip for s, pods in svc.pods.items() if subset is None or s == subset for ip in pods]
            out.append({"cluster_name": _vip_cluster_name(svc, subset), "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"envoy_internal_address": {
                    "server_listener_name": "connect_originate", "endpoint_id": f"{ip}:{svc.port}"}}},
                 "metadata": {"filter_metadata": {ORIGINAL_DST: {
                     "local": f"{ip}:{svc.port}", **({"waypoint": svc.waypoint} if svc.waypoint else {})}}}}
                for ip in ips]}]})
    return out


def route(name: str, cluster: str, *, prefix: str = "/", header: tuple[str, str] | None = None) -> dict[str, Any]:
    match: dict[str, Any] = {"prefix": prefix}
    if header:
        match["headers"] = [{"name": header[0], "string_match": {"exact": header[1]}}]
    return {"name": name, "match": match, "route": {"cluster": cluster, "timeout": "0s"}}


def ingress_gateway(routes: list[dict[str, Any]], targets: dict[str, tuple[str, str]]) -> tuple[
        list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """An ingress gateway whose services are served by a waypoint (Istio's ``istio.io/ingress-use-waypoint``):
    ``0.0.0.0_8080`` routes to ``outbound|port||host`` clusters whose endpoint is the internal address
    ``connect_originate/VIP:port`` with the waypoint in its metadata, so the gateway's own connect_originate tunnels
    to the waypoint (HBONE, CONNECT VIP:port). ``targets``: cluster → (VIP:port, waypoint IP:15008)."""
    hcm = {"@type": HCM_TYPE, "stat_prefix": "outbound_0.0.0.0_8080",
           "route_config": {"name": "http.8080", "virtual_hosts": [
               {"name": "bookinfo.example.com:8080", "domains": ["bookinfo.example.com", "bookinfo.example.com:*"],
                "routes": routes}], "validate_clusters": False},
           "http_filters": [ROUTER], "use_remote_address": True, "normalize_path": True}
    listener = {"name": "0.0.0.0_8080", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "traffic_direction": "OUTBOUND", "filter_chains": [{"filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}
    clusters = connect_originate_cluster()
    assignments = []
    for name, (destination, waypoint) in targets.items():
        clusters.append({"name": name, "type": "EDS", "connect_timeout": "10s",
                         "eds_cluster_config": {"eds_config": dict(ADS), "service_name": name},
                         "transport_socket": INTERNAL_UPSTREAM})
        assignments.append({"cluster_name": name, "endpoints": [{"lb_endpoints": [{
            "endpoint": {"address": {"envoy_internal_address": {"server_listener_name": "connect_originate",
                                                                "endpoint_id": destination}}},
            "metadata": {"filter_metadata": {ORIGINAL_DST: {"local": destination, "waypoint": waypoint}}}}]}]})
    return [listener, connect_originate()], clusters, assignments


def connect_originate_cluster() -> list[dict[str, Any]]:
    """The gateway's connect_originate cluster: the waypoint's, verbatim."""
    return [c for c in clusters([]) if c["name"] == "connect_originate"]


RBAC_TYPE = T + "envoy.extensions.filters.http.rbac.v3.RBAC"
PEER_PRINCIPAL = "io.istio.peer_principal"


def peer_principal(spiffe: str) -> dict[str, Any]:
    """``source.principals`` at a waypoint, as istiod generates it there: the HBONE client's identity is filter
    state ``io.istio.peer_principal`` (set on connect_terminate, shared with main_internal), not the internal
    connection's TLS."""
    return {"filter_state": {"key": PEER_PRINCIPAL, "string_match": {"exact": spiffe}}}


def authenticated(spiffe: str) -> dict[str, Any]:
    """The sidecar form of the same principal (the connection's own client certificate)."""
    return {"authenticated": {"principal_name": {"exact": spiffe}}}


def rbac(action: str, policies: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]) -> dict[str, Any]:
    """One RBAC filter as istiod writes it for AuthorizationPolicies of one action (DENY before ALLOW)."""
    return {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC_TYPE, "rules": {
        "action": action, "policies": {name: {"permissions": perms, "principals": prins}
                                       for name, (perms, prins) in policies.items()}}}}
