"""Write an Istio-shaped sidecar /config_dump?include_eds of about 60 MB for the benchmarks.

9,000 EDS services, each a cluster (with Istio's auto-mTLS transport_socket_matches, circuit breakers and
metadata) with 3 endpoints, shaped as istiod gives them to a sidecar:

- ``virtualOutbound`` (0.0.0.0:15001, use_original_dst) with the blackhole and Passthrough catch-all chains,
  and the PassthroughCluster / BlackHoleCluster (ALLOW_ANY);
- services 0–2,999 are HTTP: port 8000 + i // 100, one ``0.0.0.0_<port>`` listener per port (30) whose
  http_connection_manager takes RDS ``<port>``, a route configuration of 100 virtual hosts (3,000 in all);
- services 3,000–4,499 are TCP: one ``<vip>_<port>`` listener each (1,500) with a tcp_proxy to the service;
- the rest have a cluster only (as services a sidecar reaches through a gateway would).

`service`, `port`, `vip` and `cluster_name` say what a trace to service i must reach. Deterministic.
Usage: python bench/gen_dump.py [OUT] (default bench/out/big.config_dump.json)
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

T = "type.googleapis.com/"
CLUSTERS, VHOSTS, ROUTE_CONFIGS, LISTENERS, ENDPOINTS = 9000, 3000, 30, 1500, 3
PER_ROUTE_CONFIG = VHOSTS // ROUTE_CONFIGS
TCP = range(VHOSTS, VHOSTS + LISTENERS)  # the services with a `<vip>_<port>` TCP listener


def service(i: int) -> str:
    return f"svc-{i:05d}.ns-{i % 97:02d}.svc.cluster.local"


def port(i: int) -> int:
    """HTTP services share 30 ports (one route configuration each); the others use 9000–9006."""
    return 8000 + i // PER_ROUTE_CONFIG if i < VHOSTS else 9000 + i % 7


def vip(i: int) -> str:
    return f"10.96.{i // 250}.{i % 250}"


def cluster_name(i: int) -> str:
    return f"outbound|{port(i)}||{service(i)}"


def istio_mtls() -> dict[str, Any]:
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
            "alpn_protocols": ["istio-peer-exchange", "istio"],
            "tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": {
                "api_config_source": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [
                    {"envoy_grpc": {"cluster_name": "sds-grpc"}}], "set_node_on_first_message_only": True},
                "initial_fetch_timeout": "0s", "resource_api_version": "V3"}}],
            "combined_validation_context": {"default_validation_context": {"match_subject_alt_names": [
                {"exact": "spiffe://cluster.local/ns/default/sa/default"}]},
                "validation_context_sds_secret_config": {"name": "ROOTCA", "sds_config": {
                    "api_config_source": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [
                        {"envoy_grpc": {"cluster_name": "sds-grpc"}}], "set_node_on_first_message_only": True},
                    "initial_fetch_timeout": "0s", "resource_api_version": "V3"}}}},
        "sni": "outbound_.80_._.svc.cluster.local"}}


def cluster(i: int) -> dict[str, Any]:
    name = cluster_name(i)
    return {"@type": T + "envoy.config.cluster.v3.Cluster", "name": name, "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "initial_fetch_timeout": "0s",
                                                  "resource_api_version": "V3"}, "service_name": name},
            "connect_timeout": "10s", "lb_policy": "LEAST_REQUEST",
            "circuit_breakers": {"thresholds": [{"max_connections": 4294967295, "max_pending_requests": 4294967295,
                                                 "max_requests": 4294967295, "max_retries": 4294967295,
                                                 "track_remaining": True}]},
            "common_lb_config": {"locality_weighted_lb_config": {}},
            "typed_extension_protocol_options": {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": T + "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "use_downstream_protocol_config": {"http_protocol_options": {}, "http2_protocol_options": {}}}},
            "metadata": {"filter_metadata": {"istio": {"services": [
                {"host": service(i), "name": f"svc-{i:05d}", "namespace": f"ns-{i % 97:02d}"}],
                "default_original_port": port(i)}}},
            "filters": [{"name": "istio.metadata_exchange", "typed_config": {
                "@type": T + "envoy.tcp.metadataexchange.config.MetadataExchange", "protocol": "istio-peer-exchange"}}],
            "transport_socket_matches": [{"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
                                          "transport_socket": istio_mtls()},
                                         {"name": "tlsMode-disabled", "match": {},
                                          "transport_socket": {"name": "envoy.transport_sockets.raw_buffer",
                                                               "typed_config": {"@type": T + "envoy.extensions."
                                                                                "transport_sockets.raw_buffer.v3."
                                                                                "RawBuffer"}}}]}


def assignment(i: int, rng: random.Random) -> dict[str, Any]:
    name = cluster_name(i)
    return {"@type": T + "envoy.config.endpoint.v3.ClusterLoadAssignment", "cluster_name": name, "endpoints": [{
        "locality": {"region": "us-west1", "zone": f"us-west1-{'abc'[i % 3]}"}, "lb_endpoints": [{
            "endpoint": {"address": {"socket_address": {"address": f"10.{rng.randrange(256)}.{rng.randrange(256)}."
                                                                   f"{rng.randrange(1, 255)}", "port_value": 8080}},
                         "health_check_config": {}},
            "health_status": "HEALTHY",
            "metadata": {"filter_metadata": {"envoy.transport_socket_match": {"tlsMode": "istio"},
                                             "istio": {"workload": f"svc-{i:05d}-v1;ns-{i % 97:02d};svc;v1;cluster"}}},
            "load_balancing_weight": 1} for _ in range(ENDPOINTS)], "load_balancing_weight": ENDPOINTS}],
        "policy": {"overprovisioning_factor": 140}}


def route_config(r: int) -> dict[str, Any]:
    vhosts = []
    for v in range(PER_ROUTE_CONFIG):
        i = r * PER_ROUTE_CONFIG + v
        host, p = service(i), port(i)
        short = host.split(".")[0]
        names = [host, short, f"{short}.ns-{i % 97:02d}", vip(i)]
        vhosts.append({"name": f"{host}:{p}", "domains": [d for name in names for d in (name, f"{name}:{p}")],
                       "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {
                           "cluster": cluster_name(i), "timeout": "0s", "retry_policy": {
                               "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-"
                                           "codes", "num_retries": 2, "retriable_status_codes": [503],
                               "host_selection_retry_max_attempts": "5"}, "max_grpc_timeout": "0s"},
                                   "decorator": {"operation": f"{host}:{p}/*"}}],
                       "include_request_attempt_count": True})
    vhosts.append({"name": "allow_any", "domains": ["*"], "routes": [{"name": "allow_any", "match": {"prefix": "/"},
                                                                      "route": {"cluster": "PassthroughCluster",
                                                                                "timeout": "0s"}}]})
    return {"@type": T + "envoy.config.route.v3.RouteConfiguration", "name": str(8000 + r),
            "virtual_hosts": vhosts, "validate_clusters": False}


def _access_log() -> list[dict[str, Any]]:
    return [{"name": "envoy.access_loggers.file", "typed_config": {
        "@type": T + "envoy.extensions.access_loggers.file.v3.FileAccessLog", "path": "/dev/stdout",
        "log_format": {"text_format_source": {"inline_string": "[%START_TIME%] %UPSTREAM_CLUSTER% "
                                                               "%RESPONSE_FLAGS%\n"}}}}]


def _tcp_proxy(cluster: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": cluster,
        "cluster": cluster, "access_log": _access_log()}}


def listener(i: int) -> dict[str, Any]:
    """The TCP listener of service i: `<vip>_<port>`, not bound (virtualOutbound hands connections to it)."""
    return {"@type": T + "envoy.config.listener.v3.Listener", "name": f"{vip(i)}_{port(i)}",
            "address": {"socket_address": {"address": vip(i), "port_value": port(i)}},
            "filter_chains": [{"filters": [{"name": "istio.stats", "typed_config": {
                "@type": T + "stats.PluginConfig"}}, _tcp_proxy(cluster_name(i))]}],
            "bind_to_port": False, "traffic_direction": "OUTBOUND"}


def http_listener(p: int) -> dict[str, Any]:
    """`0.0.0.0_<port>`: HTTP to any address on the port, routed by RDS `<port>`."""
    return {"@type": T + "envoy.config.listener.v3.Listener", "name": f"0.0.0.0_{p}",
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": p}},
            "filter_chains": [{"filter_chain_match": {"transport_protocol": "raw_buffer",
                                                      "application_protocols": ["http/1.1", "h2c"]},
                               "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                                   "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3."
                                                "HttpConnectionManager",
                                   "stat_prefix": f"outbound_0.0.0.0_{p}",
                                   "rds": {"config_source": {"ads": {}, "initial_fetch_timeout": "0s",
                                                             "resource_api_version": "V3"},
                                           "route_config_name": str(p)},
                                   "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                                       "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
                                   "access_log": _access_log(), "use_remote_address": False,
                                   "normalize_path": True}}]}],
            "listener_filters": [
                {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
                    "@type": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}},
                {"name": "envoy.filters.listener.http_inspector", "typed_config": {
                    "@type": T + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}],
            "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True,
            "bind_to_port": False, "traffic_direction": "OUTBOUND"}


def virtual_outbound() -> dict[str, Any]:
    """0.0.0.0:15001, where iptables sends every outbound connection; use_original_dst picks the listener."""
    return {"@type": T + "envoy.config.listener.v3.Listener", "name": "virtualOutbound",
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15001}},
            "filter_chains": [{"name": "virtualOutbound-blackhole", "filter_chain_match": {"destination_port": 15001},
                               "filters": [_tcp_proxy("BlackHoleCluster")]},
                              {"name": "virtualOutbound-catchall-tcp", "filters": [_tcp_proxy("PassthroughCluster")]}],
            "use_original_dst": True, "traffic_direction": "OUTBOUND"}


def special_clusters() -> list[dict[str, Any]]:
    return [{"@type": T + "envoy.config.cluster.v3.Cluster", "name": "BlackHoleCluster", "type": "STATIC",
             "connect_timeout": "10s", "load_assignment": {"cluster_name": "BlackHoleCluster"}},
            {"@type": T + "envoy.config.cluster.v3.Cluster", "name": "PassthroughCluster", "type": "ORIGINAL_DST",
             "connect_timeout": "10s", "lb_policy": "CLUSTER_PROVIDED", "original_dst_lb_config": {}}]


def build() -> dict[str, Any]:
    rng = random.Random(7)
    stamp = "2026-11-01T12:00:00.000Z"
    node = {"id": "sidecar~10.1.2.3~bench-0.default~default.svc.cluster.local", "cluster": "bench.default",
            "metadata": {"ISTIO_VERSION": "1.22.3", "NAMESPACE": "default", "INSTANCE_IPS": "10.1.2.3",
                         "MESH_ID": "cluster.local"}}
    return {"configs": [
        {"@type": T + "envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": node}, "last_updated": stamp},
        {"@type": T + "envoy.admin.v3.ClustersConfigDump", "version_info": "1", "static_clusters": [
            {"cluster": c, "last_updated": stamp} for c in special_clusters()], "dynamic_active_clusters": [
            {"version_info": "1", "cluster": cluster(i), "last_updated": stamp} for i in range(CLUSTERS)]},
        {"@type": T + "envoy.admin.v3.ListenersConfigDump", "version_info": "1", "dynamic_listeners": [
            {"name": item["name"], "active_state": {"version_info": "1", "listener": item, "last_updated": stamp}}
            for item in [virtual_outbound()] + [http_listener(8000 + r) for r in range(ROUTE_CONFIGS)]
            + [listener(i) for i in TCP]]},
        {"@type": T + "envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs": [
            {"version_info": "1", "route_config": route_config(r), "last_updated": stamp}
            for r in range(ROUTE_CONFIGS)]},
        {"@type": T + "envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": [
            {"version_info": "1", "endpoint_config": assignment(i, rng), "last_updated": stamp}
            for i in range(CLUSTERS)]},
    ]}


def main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else Path(__file__).parent / "out" / "big.config_dump.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build(), indent=1))
    print(f"{out}: {out.stat().st_size / 1e6:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
