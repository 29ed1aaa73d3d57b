"""Builders for Istio-shaped Envoy resources (snake_case v3, as istiod sends them to Envoy 1.2x+).

They follow the shapes of the real dumps in ../shared/fixtures/real-dumps (Istio 1.18–1.22): the virtual outbound
listener on 15001 with its blackhole and catch-all chains, ``0.0.0.0_<port>`` HTTP listeners with
``bind_to_port: false`` and RDS named after the port, ``<ip>_<port>`` TCP listeners, gateways' ``0.0.0.0_8080``
with RDS ``http.8080``, ``outbound|port|subset|host`` clusters, and Istio's ``istio`` filter metadata.
"""

from __future__ import annotations

from typing import Any

T = "type.googleapis.com/"
TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector",
                 "typed_config": {"@type": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
HTTP_INSPECTOR = {"name": "envoy.filters.listener.http_inspector",
                  "typed_config": {"@type": T + "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}
ADS = {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"}
PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"


def node(kind: str, ip: str, pod: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    """An Istio proxy's bootstrap node: ``sidecar~ip~pod.ns~ns.svc.cluster.local`` (``router`` for gateways)."""
    return {
        "id": f"{kind}~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local",
        "cluster": f"{labels.get('app', pod)}.{namespace}",
        "metadata": {
            "NAMESPACE": namespace, "NAME": pod, "LABELS": labels, "INSTANCE_IPS": ip, "ISTIO_VERSION": "1.22.3",
            "MESH_ID": "cluster.local", "CLUSTER_ID": "Kubernetes", "WORKLOAD_NAME": labels.get("app", pod),
            "SERVICE_ACCOUNT": labels.get("app", "default"), "ENVOY_PROMETHEUS_PORT": 15090,
        },
        "locality": {"region": "us-west1", "zone": "us-west1-a"},
    }


def istio_metadata(kind: str, name: str, namespace: str) -> dict[str, Any]:
    return {"filter_metadata": {"istio": {"config": f"/apis/networking.istio.io/v1/namespaces/{namespace}/"
                                                    f"{kind}/{name}"}}}


def tcp_proxy(cluster: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": cluster,
        "cluster": cluster}}


def hcm(stat_prefix: str, route_config_name: str) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "rds": {"config_source": dict(ADS), "route_config_name": route_config_name},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
        "use_remote_address": False, "normalize_path": True, "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "delayed_close_timeout": "0s"}}


def virtual_outbound(allow_any: bool) -> dict[str, Any]:
    catchall = PASSTHROUGH if allow_any else BLACKHOLE
    return {
        "name": "virtualOutbound", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15001}},
        "use_original_dst": True, "traffic_direction": "OUTBOUND",
        "filter_chains": [
            {"name": "virtualOutbound-blackhole", "filter_chain_match": {"destination_port": 15001},
             "filters": [tcp_proxy(BLACKHOLE)]},
            {"name": "virtualOutbound-catchall-tcp", "filters": [tcp_proxy(catchall)]},
        ],
    }


def http_outbound_listener(port: int) -> dict[str, Any]:
    """``0.0.0.0_<port>``: plaintext HTTP (seen by the HTTP inspector) to RDS ``<port>``."""
    return {
        "name": f"0.0.0.0_{port}", "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "bind_to_port": False, "traffic_direction": "OUTBOUND",
        "listener_filters": [TLS_INSPECTOR, HTTP_INSPECTOR], "listener_filters_timeout": "0s",
        "continue_on_listener_filters_timeout": True,
        "filter_chains": [{"filter_chain_match": {"transport_protocol": "raw_buffer",
                                                  "application_protocols": ["http/1.1", "h2c"]},
                           "filters": [hcm(f"outbound_0.0.0.0_{port}", str(port))]}],
    }


def tls_outbound_listener(port: int, sni_clusters: dict[str, str], allow_any: bool) -> dict[str, Any]:
    """``0.0.0.0_<port>`` for TLS by SNI (ServiceEntry protocol TLS/HTTPS), with Istio's fall-through chain."""
    chains: list[dict[str, Any]] = [
        {"filter_chain_match": {"server_names": [sni]}, "filters": [tcp_proxy(cluster)]}
        for sni, cluster in sni_clusters.items()]
    chains.append({"name": "PassthroughFilterChain", "filters": [tcp_proxy(PASSTHROUGH if allow_any else BLACKHOLE)]})
    return {
        "name": f"0.0.0.0_{port}", "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "bind_to_port": False, "traffic_direction": "OUTBOUND", "listener_filters": [TLS_INSPECTOR],
        "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True, "filter_chains": chains,
    }


def tcp_outbound_listener(ip: str, port: int, cluster: str) -> dict[str, Any]:
    """``<ip>_<port>``: a ServiceEntry address for a TCP port."""
    return {
        "name": f"{ip}_{port}", "address": {"socket_address": {"address": ip, "port_value": port}},
        "bind_to_port": False, "traffic_direction": "OUTBOUND", "filter_chains": [{"filters": [tcp_proxy(cluster)]}],
    }


def gateway_http_listener(port: int) -> dict[str, Any]:
    return {"name": f"0.0.0.0_{port}", "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "traffic_direction": "OUTBOUND",
            "filter_chains": [{"filters": [hcm(f"outbound_0.0.0.0_{port}", f"http.{port}")]}]}


def gateway_tls_passthrough_listener(port: int, sni_clusters: dict[str, str]) -> dict[str, Any]:
    return {"name": f"0.0.0.0_{port}", "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "traffic_direction": "OUTBOUND", "listener_filters": [TLS_INSPECTOR],
            "filter_chains": [{"filter_chain_match": {"server_names": [sni]}, "filters": [tcp_proxy(cluster)]}
                              for sni, cluster in sni_clusters.items()]}


def route(name: str, cluster: str | None = None, match: dict[str, Any] | None = None, **action: Any
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "match": match or {"prefix": "/"}}
    if cluster is not None:
        out["route"] = {"cluster": cluster, "timeout": "0s", **action}
    else:
        out.update(action)
    return out


def vhost(name: str, domains: list[str], routes: list[dict[str, Any]], config: tuple[str, str, str] | None = None
          ) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "domains": domains, "routes": routes, "include_request_attempt_count": True}
    if config:
        for r in routes:
            r["metadata"] = istio_metadata(*config)
    return out


def route_config(name: str, vhosts: list[dict[str, Any]], allow_any: bool | None = None) -> dict[str, Any]:
    """A route configuration; sidecar ones end with Istio's catch-all virtual host."""
    vhosts = list(vhosts)
    if allow_any is True:
        vhosts.append(vhost("allow_any", ["*"], [route("allow_any", PASSTHROUGH)]))
    elif allow_any is False:
        vhosts.append(vhost("block_all", ["*"], [route("block_all", None, direct_response={"status": 502})]))
    return {"name": name, "virtual_hosts": vhosts, "validate_clusters": False}


def cluster_name(port: int, host: str, subset: str = "") -> str:
    return f"outbound|{port}|{subset}|{host}"


def dns_cluster(port: int, host: str, *, tls_sni: str | None = None, metadata: dict[str, Any] | None = None
                ) -> dict[str, Any]:
    name = cluster_name(port, host)
    out: dict[str, Any] = {
        "name": name, "type": "STRICT_DNS", "connect_timeout": "10s", "dns_lookup_family": "V4_ONLY",
        "load_assignment": {"cluster_name": name, "endpoints": [{"locality": {}, "lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": host, "port_value": port}}},
             "load_balancing_weight": 1}], "load_balancing_weight": 1}]},
        "metadata": metadata or istio_metadata("serviceentries", host, "default"),
    }
    if tls_sni:
        out["transport_socket"] = simple_tls(tls_sni)
    return out


def eds_cluster(port: int, host: str, subset: str = "", *, transport_socket: dict[str, Any] | None = None,
                metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    name = cluster_name(port, host, subset)
    out: dict[str, Any] = {"name": name, "type": "EDS", "connect_timeout": "10s",
                           "eds_cluster_config": {"eds_config": dict(ADS), "service_name": name},
                           "metadata": metadata or istio_metadata("serviceentries", host, "default")}
    if transport_socket:
        out["transport_socket"] = transport_socket
    return out


def endpoints(cluster: str, hosts: list[tuple[str, int, dict[str, str]]]) -> dict[str, Any]:
    """A ClusterLoadAssignment; labels go to ``istio`` endpoint metadata, as Istio writes them."""
    return {"cluster_name": cluster, "endpoints": [{"locality": {"region": "us-west1", "zone": "us-west1-a"},
                                                    "lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}}},
         "health_status": "HEALTHY",
         "metadata": {"filter_metadata": {"istio": {"workload": labels.get("app", ip)}, **(
             {"envoy.transport_socket_match": {"tlsMode": labels["tlsMode"]}} if "tlsMode" in labels else {})}},
         "load_balancing_weight": 1} for ip, port, labels in hosts], "load_balancing_weight": len(hosts)}]}


def special_clusters() -> list[dict[str, Any]]:
    return [
        {"name": PASSTHROUGH, "type": "ORIGINAL_DST", "connect_timeout": "10s", "lb_policy": "CLUSTER_PROVIDED",
         "original_dst_lb_config": {"use_http_header": False}},
        {"name": BLACKHOLE, "type": "STATIC", "connect_timeout": "10s",
         "load_assignment": {"cluster_name": BLACKHOLE, "endpoints": []}},
    ]


def simple_tls(sni: str) -> dict[str, Any]:
    """TLS origination (DestinationRule ``tls.mode: SIMPLE``): system CAs are not verified, as Istio does by default."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {}, "sni": sni}}


def mutual_tls_files(sni: str, cert: str, key: str, ca: str) -> dict[str, Any]:
    """DestinationRule ``tls.mode: MUTUAL`` with mounted files, which Istio serves by SDS as ``file-cert:`` and
    ``file-root:`` secrets."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "tls_certificate_sds_secret_configs": [{"name": f"file-cert:{cert}~{key}", "sds_config": dict(ADS)}],
            "combined_validation_context": {"default_validation_context": {},
                                            "validation_context_sds_secret_config": {"name": f"file-root:{ca}",
                                                                                      "sds_config": dict(ADS)}},
            "alpn_protocols": ["h2", "http/1.1"]},
        "sni": sni}}


# --- Istio mutual TLS: what istiod writes for ISTIO_MUTUAL, auto mTLS and a sidecar's inbound side ---

ISTIO_ALPN = ["istio-peer-exchange", "istio"]
INBOUND_HTTP_ALPN = ["istio-http/1.0", "istio-http/1.1", "istio-h2"]
ORIGINAL_DST_FILTER = {"name": "envoy.filters.listener.original_dst", "typed_config": {
    "@type": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}


def spiffe(namespace: str, service_account: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{service_account}"


def _istio_common(alpn: list[str], sans: list[str] | None) -> dict[str, Any]:
    validation: dict[str, Any] = {}
    if sans:
        validation["match_subject_alt_names"] = [{"exact": san} for san in sans]
    return {"tls_certificate_sds_secret_configs": [{"name": "default", "sds_config": dict(ADS)}],
            "combined_validation_context": {"default_validation_context": validation,
                                            "validation_context_sds_secret_config": {"name": "ROOTCA",
                                                                                      "sds_config": dict(ADS)}},
            "alpn_protocols": list(alpn)}


def istio_mutual(sni: str, sans: list[str]) -> dict[str, Any]:
    """``tls.mode: ISTIO_MUTUAL`` (or auto mTLS): the workload certificate ``default`` and ``ROOTCA`` by SDS."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": _istio_common(ISTIO_ALPN, sans), "sni": sni}}


def auto_mtls_matches(sni: str, sans: list[str]) -> list[dict[str, Any]]:
    """Auto mTLS: Istio mTLS to endpoints labelled ``tlsMode: istio``, plaintext to the others."""
    return [{"name": "tlsMode-istio", "match": {"tlsMode": "istio"}, "transport_socket": istio_mutual(sni, sans)},
            {"name": "tlsMode-disabled", "match": {}, "transport_socket": {
                "name": "envoy.transport_sockets.raw_buffer", "typed_config": {
                    "@type": T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}]


def downstream_mtls(alpn: list[str]) -> dict[str, Any]:
    """A listener's Istio mTLS: the workload certificate, client certificates required and checked by ROOTCA."""
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": T + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": _istio_common(alpn, None), "require_client_certificate": True}}


def istio_sni(port: int, host: str) -> str:
    return f"outbound_.{port}_._.{host}"


def gateway_mtls_listener(port: int, route_config_name: str) -> dict[str, Any]:
    """A gateway server with ``tls.mode: ISTIO_MUTUAL`` (hosts ``*``): mTLS terminated, then HTTP by RDS."""
    return {"name": f"0.0.0.0_{port}", "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "traffic_direction": "OUTBOUND", "listener_filters": [TLS_INSPECTOR],
            "filter_chains": [{"name": f"0.0.0.0_{port}_mtls", "filter_chain_match": {"transport_protocol": "tls"},
                               "transport_socket": downstream_mtls(["h2", "http/1.1"]),
                               "filters": [hcm(f"outbound_0.0.0.0_{port}", route_config_name)]}]}


def virtual_inbound(http_ports: list[int]) -> dict[str, Any]:
    """``virtualInbound`` on 15006 (iptables sends connections to the pod here; ``original_dst`` restores where they
    were going): per port an Istio-mTLS HTTP chain. Upstream Envoy has no ``istio.alpn`` filter, so the lab's
    clients offer the cluster's own ALPN (``istio-peer-exchange``, ``istio``), which the chains accept as well."""
    chains: list[dict[str, Any]] = [{"name": "virtualInbound-blackhole", "filter_chain_match": {
        "destination_port": 15006}, "filters": [tcp_proxy(BLACKHOLE)]}]
    for port in http_ports:
        chains.append({"name": f"0.0.0.0_{port}", "filter_chain_match": {
            "destination_port": port, "transport_protocol": "tls",
            "application_protocols": INBOUND_HTTP_ALPN + ISTIO_ALPN},
            "transport_socket": downstream_mtls(["h2", "http/1.1"]),
            "filters": [hcm(f"inbound_0.0.0.0_{port}", f"inbound|{port}||")]})
    return {"name": "virtualInbound", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15006}},
            "traffic_direction": "INBOUND", "listener_filters": [ORIGINAL_DST_FILTER, TLS_INSPECTOR, HTTP_INSPECTOR],
            "listener_filters_timeout": "0s", "continue_on_listener_filters_timeout": True, "filter_chains": chains}


def inbound_cluster(port: int) -> dict[str, Any]:
    """``inbound|<port>||``: to the app, at the connection's original destination, from 127.0.0.6."""
    return {"name": f"inbound|{port}||", "type": "ORIGINAL_DST", "connect_timeout": "10s",
            "lb_policy": "CLUSTER_PROVIDED", "upstream_bind_config": {"source_address": {
                "address": "127.0.0.6", "port_value": 0}},
            "metadata": {"filter_metadata": {"istio": {"services": []}}}}


def rbac_filter(action: str, policies: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An AuthorizationPolicy as istiod writes it into the inbound HCM: ``envoy.filters.http.rbac`` with one RBAC
    policy per rule, named ``ns[NS]-policy[NAME]-rule[N]``."""
    return {"name": "envoy.filters.http.rbac", "typed_config": {
        "@type": T + "envoy.extensions.filters.http.rbac.v3.RBAC",
        "rules": {"action": action, "policies": policies},
        "shadow_rules_stat_prefix": "istio_dry_run_allow_" if action == "ALLOW" else "istio_dry_run_deny_"}}


def rbac_rule(methods: list[str] | None = None, principals: list[str] | None = None,
              paths: list[str] | None = None) -> dict[str, Any]:
    """One AuthorizationPolicy rule as istiod translates it: and_rules of or_rules, and_ids of or_ids."""
    rules: list[dict[str, Any]] = []
    if methods:
        rules.append({"or_rules": {"rules": [{"header": {"name": ":method", "string_match": {"exact": m}}}
                                             for m in methods]}})
    if paths:
        rules.append({"or_rules": {"rules": [{"url_path": {"path": {"prefix": p}}} for p in paths]}})
    ids: list[dict[str, Any]] = []
    if principals:
        ids.append({"or_ids": {"ids": [{"authenticated": {"principal_name": {"exact": p}}} for p in principals]}})
    return {"permissions": [{"and_rules": {"rules": rules or [{"any": True}]}}],
            "principals": [{"and_ids": {"ids": ids or [{"any": True}]}}]}
