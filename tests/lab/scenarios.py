"""The seed scenarios (../shared/seeds/README.md), as the resources istiod would send each proxy.

Every scenario lists its proxies and the requests that show it, written as ``envoyscope trace`` arguments.
`make_sample_dumps` feeds them to real Envoys and records what Envoy does with each request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.lab import istio as I  # noqa: N812 (a short prefix reads better in these tables)

EGRESS_GW = "istio-egressgateway.istio-system.svc.cluster.local"
NGINX = "nginx.external.svc.cluster.local"
CERT_DIR = "/etc/istio/nginx-client-certs"
CA_DIR = "/etc/istio/nginx-ca-certs"


@dataclass
class Proxy:
    name: str  # file name stem in sample_dumps/<scenario>/
    role: str  # sidecar | gateway
    ip: str
    pod: str
    namespace: str
    labels: dict[str, str]
    listeners: list[dict[str, Any]] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # SDS names to serve (certificates made by the lab)

    @property
    def node(self) -> dict[str, Any]:
        return I.node("sidecar" if self.role == "sidecar" else "router", self.ip, self.pod, self.namespace,
                      self.labels)


@dataclass
class Scenario:
    name: str
    title: str
    seed: str
    shows: str
    proxies: list[Proxy]
    requests: list[dict[str, Any]]


def sleep_sidecar(allow_any: bool = True) -> Proxy:
    return Proxy("sleep", "sidecar", "10.244.0.12", "sleep-7f8d9c6b5d-x2x7k", "default",
                 {"app": "sleep", "security.istio.io/tlsMode": "istio"},
                 listeners=[I.virtual_outbound(allow_any)], clusters=I.special_clusters())


def egress_gateway(ip: str = "10.244.0.30") -> Proxy:
    return Proxy("egressgateway", "gateway", ip, "istio-egressgateway-5d8c7b8f9-q2w7x", "istio-system",
                 {"app": "istio-egressgateway", "istio": "egressgateway"}, clusters=I.special_clusters())


def https_passthrough() -> Scenario:
    side = sleep_sidecar()
    sni = {"www.googleapis.com": I.cluster_name(443, "www.googleapis.com")}
    side.listeners.append(I.tls_outbound_listener(443, sni, allow_any=True))
    side.clusters.append(I.dns_cluster(443, "www.googleapis.com"))
    return Scenario(
        "https-passthrough", "HTTPS to www.googleapis.com through a ServiceEntry, routed by SNI", "000",
        "The sidecar cannot read HTTPS: it routes the TLS connection by its SNI to outbound|443||www.googleapis.com "
        "and passes the bytes through; another SNI falls to the PassthroughFilterChain (ALLOW_ANY).",
        [side], [
            {"name": "googleapis by SNI", "to": "www.googleapis.com:443", "scheme": "https", "ip": "142.250.1.1"},
            {"name": "another HTTPS site passes through", "to": "www.example.org:443", "scheme": "https",
             "ip": "93.184.216.34"},
        ])


def tls_origination() -> Scenario:
    side = sleep_sidecar()
    host = "www.googleapis.com"
    side.listeners.append(I.http_outbound_listener(443))
    side.routes.append(I.route_config("443", [I.vhost(f"{host}:443", [host, f"{host}:443"],
                                                      [I.route("default", I.cluster_name(443, host))],
                                                      ("virtualservices", "googleapis", "default"))],
                                      allow_any=True))
    side.clusters.append(I.dns_cluster(443, host, tls_sni=host,
                                       metadata=I.istio_metadata("destinationrules", "googleapis-tls", "default")))
    return Scenario(
        "tls-origination", "TLS origination: plain HTTP from the app, TLS from the sidecar (DestinationRule SIMPLE)",
        "000", "The app sends plain HTTP to port 443; the sidecar routes it and opens TLS with SNI www.googleapis.com.",
        [side], [
            {"name": "plain HTTP to 443 leaves as TLS", "to": f"{host}:443", "path": "/storage/v1/b",
             "ip": "142.250.1.1"},
            {"name": "the app's own TLS to 443 is closed (double TLS)", "to": f"{host}:443", "scheme": "https",
             "ip": "142.250.1.1"},
        ])


def ingress_proxy() -> Scenario:
    gw = Proxy("ingressgateway", "gateway", "10.244.0.20", "istio-ingressgateway-6b7f9c8d4-k8m2p", "istio-system",
               {"app": "istio-ingressgateway", "istio": "ingressgateway"}, clusters=I.special_clusters())
    cnn = {"edition.cnn.com": I.cluster_name(443, "edition.cnn.com")}
    gw.listeners += [I.gateway_http_listener(8080), I.gateway_tls_passthrough_listener(8443, cnn)]
    gw.routes.append(I.route_config("http.8080", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:*"], [
        I.route("httpbin-status", I.cluster_name(80, "httpbin.org"), {"prefix": "/status"},
                host_rewrite_literal="httpbin.org")], ("virtualservices", "httpbin", "default"))]))
    gw.clusters += [I.dns_cluster(80, "httpbin.org"), I.dns_cluster(443, "edition.cnn.com")]
    side = sleep_sidecar()
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:80"], [
        I.route("to-localhost", I.cluster_name(80, "localhost.local"))], ("virtualservices", "httpbin", "default"))],
                                      allow_any=True))
    side.clusters.append({"name": I.cluster_name(80, "localhost.local"), "type": "STATIC", "connect_timeout": "10s",
                          "load_assignment": {"cluster_name": I.cluster_name(80, "localhost.local"), "endpoints": [
                              {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                                  "address": "127.0.0.1", "port_value": 80}}}}]}]},
                          "metadata": I.istio_metadata("serviceentries", "localhost", "default")})
    return Scenario(
        "ingress-proxy", "The ingress gateway as a proxy to external services", "001",
        "Clients call the ingress gateway for httpbin.org (only /status* is routed) and edition.cnn.com:443 (TLS "
        "passthrough by SNI); inside the mesh the same hosts are sent to a localhost.local sink.",
        [gw, side], [
            {"name": "ingress /status/418 to httpbin.org", "from": "ingressgateway", "to": "httpbin.org:8080",
             "headers": ["host: httpbin.org"], "path": "/status/418"},
            {"name": "ingress /headers is not routed", "from": "ingressgateway", "to": "httpbin.org:8080",
             "headers": ["host: httpbin.org"], "path": "/headers"},
            {"name": "ingress TLS passthrough to edition.cnn.com", "from": "ingressgateway",
             "to": "edition.cnn.com:8443", "scheme": "https", "sni": "edition.cnn.com"},
            {"name": "mesh traffic to httpbin.org goes to localhost.local", "from": "sleep", "to": "httpbin.org:80",
             "path": "/status/200", "ip": "10.96.10.10"},
        ])


def egress_gateway_http() -> Scenario:
    side = sleep_sidecar()
    gw = egress_gateway()
    subset_cluster = I.cluster_name(80, EGRESS_GW, "httpbin")
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:80"], [
        I.route("httpbin-via-egress", subset_cluster)], ("virtualservices", "direct-httpbin-through-egress-gateway",
                                                         "default"))], allow_any=True))
    side.clusters.append(I.eds_cluster(80, EGRESS_GW, "httpbin",
                                       metadata=I.istio_metadata("destinationrules", "egressgateway-for-httpbin",
                                                                 "default")))
    side.endpoints.append(I.endpoints(subset_cluster, [(gw.ip, 8080, {"app": "istio-egressgateway"})]))
    gw.listeners.append(I.gateway_http_listener(8080))
    gw.routes.append(I.route_config("http.8080", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:*"], [
        I.route("httpbin-from-egress", I.cluster_name(80, "httpbin.org"))],
        ("virtualservices", "direct-httpbin-through-egress-gateway", "default"))]))
    gw.clusters.append(I.dns_cluster(80, "httpbin.org"))
    return Scenario(
        "egress-gateway-http", "HTTP to httpbin.org through the egress gateway", "002",
        "The sidecar routes httpbin.org to the egress gateway's `httpbin` subset; the gateway routes it on to "
        "outbound|80||httpbin.org, which resolves httpbin.org by DNS.",
        [side, gw], [
            {"name": "sidecar → egress gateway → httpbin.org", "to": "httpbin.org:80", "path": "/headers",
             "ip": "10.96.20.20"},
        ])


def tcp_mysql() -> Scenario:
    side = sleep_sidecar()
    host, ip = "mysql.external.example", "192.168.10.50"
    cluster = I.cluster_name(3306, host)
    side.listeners.append(I.tcp_outbound_listener(ip, 3306, cluster))
    side.clusters.append(I.eds_cluster(3306, host))
    side.endpoints.append(I.endpoints(cluster, [(ip, 3306, {})]))
    return Scenario(
        "tcp-mysql", "TCP egress to an external MySQL by address", "003",
        "A ServiceEntry with addresses [192.168.10.50/32] and a TCP port gives the sidecar the listener "
        "192.168.10.50_3306; another IP on 3306 falls to the virtual outbound listener's catch-all.",
        [side], [
            {"name": "MySQL by its ServiceEntry address", "to": f"{host}:3306", "scheme": "tcp"},
            {"name": "another address on 3306 passes through", "to": "192.168.10.51:3306", "scheme": "tcp"},
        ])


def egress_mtls_subsets() -> Scenario:
    side = sleep_sidecar()
    gw = egress_gateway("10.244.0.31")
    gw_cluster = I.cluster_name(80, EGRESS_GW)
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost(f"{NGINX}:80", [NGINX, f"{NGINX}:80"], [
        I.route("nginx-via-egress", gw_cluster)], ("virtualservices", "nginx", "default"))], allow_any=True))
    side.clusters.append(I.eds_cluster(80, EGRESS_GW))
    side.endpoints.append(I.endpoints(gw_cluster, [(gw.ip, 8080, {"app": "istio-egressgateway"})]))
    gw.listeners.append(I.gateway_http_listener(8080))
    subsets = {"v1": "192.168.0.63", "v2": "192.168.0.64"}
    routes = [I.route(f"nginx-{v}", I.cluster_name(443, NGINX, v),
                      {"prefix": "/", "headers": [{"name": "want", "string_match": {"exact": v}}]}) for v in subsets]
    gw.routes.append(I.route_config("http.8080", [I.vhost(f"{NGINX}:80", [NGINX, f"{NGINX}:*"], routes,
                                                          ("virtualservices", "nginx", "default"))]))
    tls = I.mutual_tls_files(NGINX, f"{CERT_DIR}/tls.crt", f"{CERT_DIR}/tls.key", f"{CA_DIR}/ca-chain.cert.pem")
    for version, ip in subsets.items():
        name = I.cluster_name(443, NGINX, version)
        gw.clusters.append(I.eds_cluster(443, NGINX, version, transport_socket=tls,
                                         metadata=I.istio_metadata("destinationrules", "originate-mtls-for-nginx",
                                                                   "default")))
        gw.endpoints.append(I.endpoints(name, [(ip, 443, {"version": version})]))
    gw.secrets += [f"file-cert:{CERT_DIR}/tls.crt~{CERT_DIR}/tls.key", f"file-root:{CA_DIR}/ca-chain.cert.pem"]
    return Scenario(
        "egress-mtls-subsets", "Egress gateway with mutual TLS to an external nginx, subset by header", "004",
        "The sidecar sends plain HTTP to the egress gateway; the gateway picks subset v1 or v2 by the `want` header "
        "and originates mutual TLS with the client certificate mounted in the gateway.",
        [side, gw], [
            {"name": "want: v2 reaches 192.168.0.64 with mutual TLS", "to": f"{NGINX}:80", "headers": ["want: v2"],
             "ip": "10.96.30.30"},
            {"name": "want: v1 reaches 192.168.0.63", "to": f"{NGINX}:80", "headers": ["want: v1"],
             "ip": "10.96.30.30"},
            {"name": "want: v3 has no route at the gateway", "to": f"{NGINX}:80", "headers": ["want: v3"],
             "ip": "10.96.30.30"},
        ])


def outbound_policy(allow_any: bool) -> Scenario:
    side = sleep_sidecar(allow_any)
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:80"], [
        I.route("default", I.cluster_name(80, "httpbin.org"))], ("serviceentries", "httpbin-ext", "default"))],
                                      allow_any=allow_any))
    side.clusters.append(I.dns_cluster(80, "httpbin.org"))
    name = "allow-any" if allow_any else "registry-only"
    verdict = ("passes through to the original destination (PassthroughCluster)" if allow_any
               else "is refused: HTTP 502 from the block_all virtual host, TCP closed by BlackHoleCluster")
    return Scenario(
        name, f"outboundTrafficPolicy {'ALLOW_ANY' if allow_any else 'REGISTRY_ONLY'}", "002",
        f"httpbin.org has a ServiceEntry; any other host {verdict}.",
        [side], [
            {"name": "registered httpbin.org", "to": "httpbin.org:80", "path": "/ip", "ip": "10.96.40.40"},
            {"name": "unregistered www.google.com", "to": "www.google.com:80", "ip": "142.250.2.2"},
            {"name": "unregistered TCP port", "to": "93.184.216.34:5432", "scheme": "tcp"},
        ])


def timeout() -> Scenario:
    side = sleep_sidecar()
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost("httpbin.org:80", ["httpbin.org", "httpbin.org:80"], [
        I.route("httpbin-timeout", I.cluster_name(80, "httpbin.org"), timeout="3s")],
        ("virtualservices", "httpbin", "default"))], allow_any=True))
    side.clusters.append(I.dns_cluster(80, "httpbin.org"))
    return Scenario(
        "timeout", "A VirtualService timeout of 3 s on httpbin.org", "002",
        "The route carries `timeout: 3s`: a slower answer (e.g. /delay/5) ends in 504 UT after 3 s.",
        [side], [{"name": "slow request with a 3 s timeout", "to": "httpbin.org:80", "path": "/delay/5",
                  "ip": "10.96.40.40"}])


HTTPBIN = "httpbin.web.svc.cluster.local"
GW_POD_DNS = "10-244-0-31.istio-system.pod.cluster.local"  # the egress gateway pod's own DNS name


def mesh_mtls() -> Scenario:
    """Istio mutual TLS on every hop: sidecar → sidecar through virtualInbound (15006), sidecar → egress gateway
    (auto mTLS, the gateway requiring client certificates), and sidecar → egress gateway → sidecar (three proxies,
    the gateway reached by its pod DNS name)."""
    side = sleep_sidecar()
    gw = egress_gateway("10.244.0.31")
    web = Proxy("httpbin", "sidecar", "10.244.0.40", "httpbin-5b9f7c6d8-w4n2z", "web",
                {"app": "httpbin", "security.istio.io/tlsMode": "istio"},
                listeners=[I.virtual_outbound(True), I.virtual_inbound([80])],
                clusters=[*I.special_clusters(), I.inbound_cluster(80)],
                routes=[I.route_config(
                    "inbound|80||", [I.vhost("inbound|http|8000", ["*"], [I.route("default", "inbound|80||")])])],
                secrets=["default", "ROOTCA"])
    gw_cluster = I.cluster_name(443, EGRESS_GW)
    httpbin_cluster = I.cluster_name(8000, HTTPBIN)
    legacy_cluster = I.cluster_name(8443, GW_POD_DNS)
    gw_san, web_san = I.spiffe("istio-system", "istio-egressgateway"), I.spiffe("web", "httpbin")
    side.listeners += [I.http_outbound_listener(80), I.http_outbound_listener(8000)]
    side.routes += [
        I.route_config("80", [
            I.vhost("edition.cnn.com:80", ["edition.cnn.com", "edition.cnn.com:80"], [
                I.route("cnn-via-egress", gw_cluster)], ("virtualservices", "cnn-through-egress", "default")),
            I.vhost("legacy.example.com:80", ["legacy.example.com", "legacy.example.com:80"], [
                I.route("legacy-via-egress-pod", legacy_cluster)], ("virtualservices", "legacy", "default"))],
                       allow_any=True),
        I.route_config("8000", [I.vhost(f"{HTTPBIN}:8000", [HTTPBIN, f"{HTTPBIN}:8000", "httpbin.web",
                                                             "httpbin.web:8000", "10.96.50.50", "10.96.50.50:8000"],
                                        [I.route("default", httpbin_cluster)])], allow_any=True)]
    gw_eds = I.eds_cluster(443, EGRESS_GW)
    gw_eds["transport_socket_matches"] = I.auto_mtls_matches(I.istio_sni(443, EGRESS_GW), [gw_san])
    httpbin_eds = I.eds_cluster(8000, HTTPBIN)
    httpbin_eds["transport_socket_matches"] = I.auto_mtls_matches(I.istio_sni(8000, HTTPBIN), [web_san])
    legacy = I.dns_cluster(8443, GW_POD_DNS, metadata=I.istio_metadata("serviceentries", "legacy-gw", "default"))
    legacy["transport_socket"] = I.istio_mutual("legacy.example.com", [gw_san])
    side.clusters += [gw_eds, httpbin_eds, legacy]
    side.endpoints += [I.endpoints(gw_cluster, [(gw.ip, 8443, {"app": "istio-egressgateway", "tlsMode": "istio"})]),
                       I.endpoints(httpbin_cluster, [(web.ip, 80, {"app": "httpbin", "tlsMode": "istio"})])]
    side.secrets += ["default", "ROOTCA"]
    gw.listeners.append(I.gateway_mtls_listener(8443, "https.443.mtls.istio-egressgateway.istio-system"))
    gw.routes.append(I.route_config("https.443.mtls.istio-egressgateway.istio-system", [
        I.vhost("edition.cnn.com:80", ["edition.cnn.com", "edition.cnn.com:*"], [
            I.route("cnn-from-egress", I.cluster_name(80, "edition.cnn.com"))],
            ("virtualservices", "cnn-through-egress", "default")),
        I.vhost("legacy.example.com:80", ["legacy.example.com", "legacy.example.com:*"], [
            I.route("legacy-to-httpbin", httpbin_cluster)], ("virtualservices", "legacy", "default"))]))
    gw_httpbin = I.eds_cluster(8000, HTTPBIN)
    gw_httpbin["transport_socket_matches"] = I.auto_mtls_matches(I.istio_sni(8000, HTTPBIN), [web_san])
    gw.clusters += [I.dns_cluster(80, "edition.cnn.com"), gw_httpbin]
    gw.endpoints.append(I.endpoints(httpbin_cluster, [(web.ip, 80, {"app": "httpbin", "tlsMode": "istio"})]))
    gw.secrets += ["default", "ROOTCA"]
    return Scenario(
        "mesh-mtls", "Istio mutual TLS: sidecar → sidecar (15006), sidecar → egress gateway, and three proxies",
        "002", "Auto mTLS sends Istio mutual TLS to endpoints labelled tlsMode: istio: httpbin's sidecar takes it on "
        "virtualInbound (15006) and hands it to the app; the egress gateway's 8443 requires a client certificate; "
        "legacy.example.com goes sleep → egress gateway (by its pod DNS name) → httpbin, mTLS on both hops.",
        [side, gw, web], [
            {"name": "sleep → httpbin's sidecar through 15006, Istio mTLS", "from": "sleep", "to": f"{HTTPBIN}:8000",
             "path": "/headers", "ip": "10.96.50.50"},
            {"name": "sleep → egress gateway with auto mTLS → edition.cnn.com", "from": "sleep",
             "to": "edition.cnn.com:80", "ip": "10.96.60.60"},
            {"name": "sleep → egress gateway (pod DNS name) → httpbin, mTLS twice", "from": "sleep",
             "to": "legacy.example.com:80", "path": "/status/200", "ip": "10.96.70.70"},
        ])


def sni_mismatch() -> Scenario:
    """The egress gateway's ISTIO_MUTUAL server matches SNI edition.cnn.com (its Gateway's host), but the sidecar's
    auto mTLS sends Istio's own SNI for the gateway service: no filter chain matches and the gateway closes the
    connection (the DestinationRule needs ``sni: edition.cnn.com``)."""
    side = sleep_sidecar()
    gw = egress_gateway("10.244.0.32")
    gw_cluster = I.cluster_name(443, EGRESS_GW)
    side.listeners.append(I.http_outbound_listener(80))
    side.routes.append(I.route_config("80", [I.vhost("edition.cnn.com:80", ["edition.cnn.com", "edition.cnn.com:80"], [
        I.route("cnn-via-egress", gw_cluster)], ("virtualservices", "cnn-through-egress", "default"))], allow_any=True))
    gw_eds = I.eds_cluster(443, EGRESS_GW)
    gw_eds["transport_socket_matches"] = I.auto_mtls_matches(
        I.istio_sni(443, EGRESS_GW), [I.spiffe("istio-system", "istio-egressgateway")])
    side.clusters.append(gw_eds)
    side.endpoints.append(I.endpoints(gw_cluster, [(gw.ip, 8443, {"app": "istio-egressgateway", "tlsMode": "istio"})]))
    side.secrets += ["default", "ROOTCA"]
    listener = I.gateway_mtls_listener(8443, "https.443.cnn.istio-egressgateway.istio-system")
    listener["filter_chains"][0]["filter_chain_match"]["server_names"] = ["edition.cnn.com"]
    gw.listeners.append(listener)
    gw.routes.append(I.route_config("https.443.cnn.istio-egressgateway.istio-system", [
        I.vhost("edition.cnn.com:80", ["edition.cnn.com", "edition.cnn.com:*"], [
            I.route("cnn-from-egress", I.cluster_name(80, "edition.cnn.com"))],
            ("virtualservices", "cnn-through-egress", "default"))]))
    gw.clusters.append(I.dns_cluster(80, "edition.cnn.com"))
    gw.secrets += ["default", "ROOTCA"]
    return Scenario(
        "sni-mismatch", "SNI mismatch: the sidecar's mTLS SNI is not the egress gateway server's host", "002",
        "The sidecar sends Istio mTLS with SNI outbound_.443_._.istio-egressgateway…; the gateway's ISTIO_MUTUAL "
        "server only matches SNI edition.cnn.com, so no filter chain takes the connection and it is closed.",
        [side, gw], [
            {"name": "sleep → egress gateway: the SNI matches no chain", "from": "sleep", "to": "edition.cnn.com:80",
             "ip": "10.96.60.61"},
        ])


def authz_deny() -> Scenario:
    """Istio AuthorizationPolicies on httpbin (namespace web): a DENY policy on POST, and an ALLOW policy naming
    another service account (curl) plus /health for anyone. sleep's GET matches no ALLOW rule (403,
    ``rbac_access_denied_matched_policy[none]``), its POST the DENY rule; /health is allowed."""
    side = sleep_sidecar()
    inbound = I.virtual_inbound([80])
    for chain in inbound["filter_chains"][1:]:
        filters = chain["filters"][0]["typed_config"]["http_filters"]
        filters[0:0] = [
            I.rbac_filter("DENY", {"ns[web]-policy[deny-post]-rule[0]": I.rbac_rule(methods=["POST"])}),
            I.rbac_filter("ALLOW", {
                "ns[web]-policy[allow-curl]-rule[0]": I.rbac_rule(principals=[I.spiffe("default", "curl")]),
                "ns[web]-policy[allow-health]-rule[0]": I.rbac_rule(methods=["GET"], paths=["/health"])})]
    web = Proxy("httpbin", "sidecar", "10.244.0.41", "httpbin-5b9f7c6d8-r8k2m", "web",
                {"app": "httpbin", "security.istio.io/tlsMode": "istio"},
                listeners=[I.virtual_outbound(True), inbound],
                clusters=[*I.special_clusters(), I.inbound_cluster(80)],
                routes=[I.route_config(
                    "inbound|80||", [I.vhost("inbound|http|8000", ["*"], [I.route("default", "inbound|80||")])])],
                secrets=["default", "ROOTCA"])
    httpbin_cluster = I.cluster_name(8000, HTTPBIN)
    side.listeners.append(I.http_outbound_listener(8000))
    side.routes.append(I.route_config("8000", [I.vhost(f"{HTTPBIN}:8000", [
        HTTPBIN, f"{HTTPBIN}:8000", "httpbin.web", "httpbin.web:8000", "10.96.50.51", "10.96.50.51:8000"],
        [I.route("default", httpbin_cluster)])], allow_any=True))
    httpbin_eds = I.eds_cluster(8000, HTTPBIN)
    httpbin_eds["transport_socket_matches"] = I.auto_mtls_matches(I.istio_sni(8000, HTTPBIN),
                                                                  [I.spiffe("web", "httpbin")])
    side.clusters.append(httpbin_eds)
    side.endpoints.append(I.endpoints(httpbin_cluster, [(web.ip, 80, {"app": "httpbin", "tlsMode": "istio"})]))
    side.secrets += ["default", "ROOTCA"]
    return Scenario(
        "authz-deny", "AuthorizationPolicy: sleep → httpbin denied (DENY on POST, ALLOW for another service account)",
        "013", "httpbin's inbound HCM runs Istio's DENY RBAC filter, then its ALLOW filter. sleep's identity "
        "(spiffe://cluster.local/ns/default/sa/sleep, from its mTLS certificate) is not curl's, so a GET is denied "
        "with rbac_access_denied_matched_policy[none]; a POST matches ns[web]-policy[deny-post]-rule[0] first; "
        "GET /health is allowed for anyone.",
        [side, web], [
            {"name": "sleep GET → httpbin: no ALLOW rule names sleep", "from": "sleep", "to": f"{HTTPBIN}:8000",
             "path": "/headers", "ip": "10.96.50.51"},
            {"name": "sleep POST → httpbin: the DENY rule on POST", "from": "sleep", "to": f"{HTTPBIN}:8000",
             "path": "/post", "method": "POST", "ip": "10.96.50.51"},
            {"name": "sleep GET /health → httpbin: allowed for anyone", "from": "sleep", "to": f"{HTTPBIN}:8000",
             "path": "/health", "ip": "10.96.50.51"},
        ])


def all_scenarios() -> list[Scenario]:
    return [https_passthrough(), tls_origination(), ingress_proxy(), egress_gateway_http(), tcp_mysql(),
            egress_mtls_subsets(), outbound_policy(True), outbound_policy(False), timeout(), mesh_mtls(),
            sni_mismatch(), authz_deny()]


def by_name(name: str) -> Scenario:
    for scenario in all_scenarios():
        if scenario.name == name:
            return scenario
    raise KeyError(name)
