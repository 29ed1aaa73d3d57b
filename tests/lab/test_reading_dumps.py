"""Reading every form of dump, each from a real file: Envoy's own output (captured now, from a real Envoy holding
resources in every state), the real dumps in ../shared/fixtures, the seeds' camelCase excerpts, istioctl's lists."""

from __future__ import annotations

import gzip
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.tls import resolve_transport_socket
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_file, load_sources
from tests.conftest import REPO, SAMPLES, SHARED, shared_path
from tests.lab.envoy import TYPE_URLS, EnvoyProcess, file_source, free_port, xds_file


def tcp_listener(name: str, port: int, cluster: str) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": name, "cluster": cluster}}]}]}


def http_listener(name: str, port: int, route: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                         "HttpConnectionManager", "stat_prefix": name, **route,
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real Envoy holding listeners static / active / warming / draining, clusters static / active / warming,
    route configs static (inline) and dynamic; its dumps with and without EDS and its /clusters text."""
    work = tmp_path_factory.mktemp("states")
    held = free_port()
    static_cluster = {"name": "static-cluster", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": "static-cluster", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
            "socket_address": {"address": "127.0.0.1", "port_value": held}}}}]}]}}
    eds_ok = {"name": "eds-ok", "type": "EDS", "connect_timeout": "1s", "eds_cluster_config": {
        "eds_config": file_source(xds_file(work / "eds-ok.json", [{"cluster_name": "eds-ok", "endpoints": [
            {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "127.0.0.2",
                                                                           "port_value": 80}}}}]}]}],
                                           TYPE_URLS["endpoints"]))}}
    # A gRPC xDS source whose server never answers (a cluster with no endpoint): with initial_fetch_timeout 0s,
    # what waits on it stays warming. (A file source delivers "nothing" at once, which counts as an answer.)
    never = {"api_config_source": {"api_type": "GRPC", "transport_api_version": "V3", "grpc_services": [
        {"envoy_grpc": {"cluster_name": "static-cluster"}}]}, "initial_fetch_timeout": "0s",
        "resource_api_version": "V3"}
    eds_warming = {"name": "eds-warming", "type": "EDS", "connect_timeout": "1s", "eds_cluster_config": {
        "eds_config": never}}
    rds = xds_file(work / "rds.json", [{"name": "dynamic-routes", "virtual_hosts": [
        {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "eds-ok"}}]}]}],
        TYPE_URLS["routes"])
    listeners = [tcp_listener("active", free_port(), "static-cluster"),
                 tcp_listener("to-drain", held, "static-cluster"),
                 http_listener("http-rds", free_port(), {"rds": {"config_source": file_source(rds),
                                                                 "route_config_name": "dynamic-routes"}}),
                 http_listener("warming", free_port(), {"rds": {"config_source": never,
                                                                "route_config_name": "never"}})]
    lds = work / "lds.json"
    xds_file(lds, listeners[:3], TYPE_URLS["listeners"])  # the warming one comes later: Envoy would not start
    cds = xds_file(work / "cds.json", [eds_ok], TYPE_URLS["clusters"])  # a warming cluster would hold LDS back
    static_listener = http_listener("static-http", free_port(), {"route_config": {
        "name": "inline-routes", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}})
    bootstrap = {"node": {"id": "router~127.0.0.1~states-0.lab~lab.svc.cluster.local", "cluster": "states"},
                 "static_resources": {"listeners": [static_listener], "clusters": [static_cluster]},
                 "dynamic_resources": {"lds_config": file_source(lds), "cds_config": file_source(cds)}}
    with EnvoyProcess("states", work, bootstrap) as envoy:
        envoy.wait_for("/config_dump", lambda t: '"to-drain"' in t and '"dynamic-routes"' in t)
        xds_file(lds, listeners, TYPE_URLS["listeners"], version="2")
        envoy.wait_for("/config_dump", lambda t: '"warming_state"' in t)
        xds_file(cds, [eds_ok, eds_warming], TYPE_URLS["clusters"], version="2")
        envoy.wait_for("/config_dump", lambda t: '"dynamic_warming_clusters"' in t)
        with socket.create_connection(("127.0.0.1", held)) as conn:  # keeps `to-drain` draining once removed
            time.sleep(0.3)
            xds_file(lds, [listeners[0], listeners[2], listeners[3]], TYPE_URLS["listeners"], version="3")
            dump = envoy.wait_for("/config_dump?include_eds", lambda t: '"draining_state"' in t)
            conn.sendall(b"x")
        out = {"eds": json.loads(dump), "no_eds": envoy.get_json("/config_dump"),
               "clusters_text": envoy.get("/clusters"), "clusters_json": envoy.get_json("/clusters?format=json")}
    for name, value in list(out.items()):
        path = work / (f"{name}.txt" if name == "clusters_text" else f"{name}.json")
        path.write_text(value if isinstance(value, str) else json.dumps(value))
        out[f"{name}_path"] = path
    return out


@pytest.mark.envoy
def test_listener_and_cluster_states_from_a_real_envoy(states: dict[str, Any]) -> None:
    dump = load_file(str(states["eds_path"]))
    listeners = {(r.name, r.state) for r in dump.listeners}
    assert {("static-http", "static"), ("active", "dynamic_active"), ("warming", "dynamic_warming"),
            ("to-drain", "dynamic_draining"), ("http-rds", "dynamic_active")} <= listeners
    clusters = {(r.name, r.state) for r in dump.clusters}
    assert {("static-cluster", "static"), ("eds-ok", "dynamic_active"), ("eds-warming", "dynamic_warming")} <= clusters
    routes = {(r.name, r.state) for r in dump.route_configs}
    assert ("dynamic-routes", "dynamic") in routes and ("inline-routes", "static") in routes
    assert {r.name for r in dump.inline_route_configs()} >= {"inline-routes"}
    assert dump.endpoint("eds-ok") is not None and dump.has("endpoints")
    assert dump.identity.proxy_type == "gateway" and dump.identity.pod == "states-0"
    assert dump.bootstrap is not None


@pytest.mark.envoy
def test_without_include_eds_there_are_no_endpoints_and_a_note(states: dict[str, Any]) -> None:
    dump = load_file(str(states["no_eds_path"]))
    assert not dump.has("endpoints") and dump.endpoint("eds-ok") is None
    assert any("endpoint" in note.lower() for note in dump.notes)


@pytest.mark.envoy
@pytest.mark.parametrize("form", ["clusters_text", "clusters_json"])
def test_clusters_output_as_text_and_json(states: dict[str, Any], form: str) -> None:
    dump = load_file(str(states[f"{form}_path"]))
    assert dump.clusters_status is not None
    hosts = dump.clusters_status.hosts_of("eds-ok")
    assert [h.address for h in hosts] == ["127.0.0.2:80"]


def test_snake_case_dump_with_eds_from_the_samples() -> None:
    dump = load_file(str(SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json"))
    assert dump.has("endpoints") and dump.endpoint("outbound|443|v2|nginx.external.svc.cluster.local")
    assert {s.name for s in dump.secrets} == {"file-cert:/etc/istio/nginx-client-certs/tls.crt~/etc/istio/"
                                              "nginx-client-certs/tls.key",
                                              "file-root:/etc/istio/nginx-ca-certs/ca-chain.cert.pem"}


def test_v2_resources_inside_v3_wrappers() -> None:
    dump = load_file(str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")))
    assert dump.identity.istio_version.startswith("1.5")
    assert dump.clusters and all(".v2." not in str(r.raw.get("@type", "")) for r in dump.clusters)
    assert any(r.raw.get("load_assignment") or r.raw.get("eds_cluster_config") for r in dump.clusters)


def test_camel_case_cluster_from_the_seed_excerpt() -> None:
    text = (SHARED / "seeds" / "004_ccd4465a35e3a46e.txt")
    if not text.exists():
        pytest.skip("../shared/seeds is absent")
    match = re.search(r'\{\s*"name": "outbound\|443\|v2\|nginx[^`]*?\n    \}\n', text.read_text())
    assert match, "the seed's v2 cluster excerpt"
    dump = parse_document(json.loads(match.group(0)), "seed 004")
    cluster = dump.cluster("outbound|443|v2|nginx.external.svc.cluster.local")
    assert cluster is not None and "eds_cluster_config" in cluster.raw
    tls, _ = resolve_transport_socket(cluster.raw, {}, cluster.path)
    assert tls is not None and tls.mode == "MUTUAL"
    assert tls.client_cert == "file:/etc/istio/egressgateway-certs/tls.crt"


def test_istioctl_partial_dumps_and_bare_lists() -> None:
    routes = load_file(str(shared_path("istioctl", "describe", "testdata", "http_config.json")))
    assert routes.route_configs or routes.listeners
    clusters = [{"name": "outbound|80||a.default.svc.cluster.local", "type": "EDS"}]
    listed = parse_document(clusters, "proxy-config clusters -o json")
    assert [c.name for c in listed.clusters] == ["outbound|80||a.default.svc.cluster.local"]


def test_gzip_and_stdin(tmp_path: Path) -> None:
    source = SAMPLES / "tcp-mysql" / "sleep.config_dump.json"
    packed = tmp_path / "sleep.config_dump.json.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    assert load_file(str(packed)).listener("192.168.10.50_3306") is not None
    proc = subprocess.run([sys.executable, "-m", "envoyscope", "listeners", "-"], input=source.read_bytes(),
                          capture_output=True, cwd=REPO, check=False)
    assert proc.returncode == 0 and b"192.168.10.50" in proc.stdout


def test_folder_pairs_dumps_with_their_clusters_output() -> None:
    dumps = load_sources([str(SAMPLES / "egress-gateway-http")])
    assert len(dumps) == 2 and all(d.clusters_status is not None for d in dumps)


@pytest.mark.envoy
def test_scoped_routes_inline_and_from_srds_from_a_real_envoy(tmp_path: Path) -> None:
    """A real Envoy with scoped routes both ways: inline scopes (each with its own inline route configuration) and
    scopes from SRDS (a file) naming route configurations fetched by RDS; its /config_dump read back."""
    scoped_type = "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration"

    def route_config(name: str, vhost: str) -> dict[str, Any]:
        return {"name": name, "virtual_hosts": [{"name": vhost, "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}

    rds = xds_file(tmp_path / "rds.json", [route_config("route-c", "c")], TYPE_URLS["routes"])
    srds = xds_file(tmp_path / "srds.json", [{"name": "scope-c", "route_configuration_name": "route-c",
                                             "key": {"fragments": [{"string_key": "c"}]}}], scoped_type)
    builder = {"fragments": [{"header_value_extractor": {"name": "x-tenant", "index": 0}}]}
    inline = http_listener("scoped-inline", free_port(), {"scoped_routes": {
        "name": "inline-scopes", "scope_key_builder": builder, "scoped_route_configurations_list": {
            "scoped_route_configurations": [{"name": f"scope-{k}", "key": {"fragments": [{"string_key": k}]},
                                             "route_configuration": route_config(f"inline-route-{k}", k)}
                                            for k in ("a", "b")]}}})
    dynamic = http_listener("scoped-srds", free_port(), {"scoped_routes": {
        "name": "srds-scopes", "scope_key_builder": builder, "rds_config_source": file_source(rds),
        "scoped_rds": {"scoped_rds_config_source": file_source(srds)}}})
    bootstrap = {"node": {"id": "sidecar~127.0.0.1~scoped-0.lab~lab.svc.cluster.local", "cluster": "scoped"},
                 "static_resources": {"listeners": [inline, dynamic]}}
    with EnvoyProcess("scoped", tmp_path, bootstrap) as envoy:
        text = envoy.wait_for("/config_dump", lambda t: '"scope-c"' in t and '"inline-scopes"' in t)
    path = tmp_path / "scoped.config_dump.json"
    path.write_text(text)
    dump = load_file(str(path))
    assert dump.has("scoped_routes")
    scopes = {r.name: r for r in dump.scoped_routes}
    assert set(scopes) == {"scope-a", "scope-b", "scope-c"}
    assert {r.state for r in (scopes["scope-a"], scopes["scope-b"])} == {"static"}
    assert scopes["scope-c"].state == "dynamic" and scopes["scope-c"].version_info == "1"
    assert scopes["scope-c"].raw["route_configuration_name"] == "route-c"
    assert scopes["scope-a"].raw["route_configuration"]["name"] == "inline-route-a"
    assert scopes["scope-c"].raw["key"] == {"fragments": [{"string_key": "c"}]}
    doc = json.loads(text)
    section = next(i for i, c in enumerate(doc["configs"]) if c["@type"].endswith("ScopedRoutesConfigDump"))
    assert scopes["scope-c"].path == f"configs[{section}].dynamic_scoped_route_configs[0].scoped_route_configs[0]"
    assert scopes["scope-b"].path == f"configs[{section}].inline_scoped_route_configs[0].scoped_route_configs[1]"
    hcm = dump.listener("scoped-srds").raw["filter_chains"][0]["filters"][0]["typed_config"]  # type: ignore[union-attr]
    assert hcm["scoped_routes"]["name"] == "srds-scopes"


@pytest.fixture(scope="module")
def health(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real Envoy whose hosts carry every health flag that matters, with weights, priorities and localities;
    its /clusters as text and as JSON, taken together."""
    import urllib.error
    import urllib.request

    work = tmp_path_factory.mktemp("health")

    def host(ip: str, port: int, **extra: Any) -> dict[str, Any]:
        return {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}}}, **extra}

    backend_port, front_port, closed = free_port(), free_port(), free_port()
    eds = xds_file(work / "eds.json", [{"cluster_name": "mixed", "endpoints": [
        {"locality": {"region": "eu-west1", "zone": "eu-west1-b", "sub_zone": "rack7"}, "lb_endpoints": [
            host("127.0.0.11", 8080, load_balancing_weight=3, health_status="HEALTHY"),
            host("127.0.0.12", 8080, health_status="DRAINING"),
            host("127.0.0.13", 8080, health_status="UNHEALTHY"),
            host("127.0.0.14", 8080, health_status="DEGRADED")]},
        {"locality": {"region": "us-east1"}, "priority": 1, "lb_endpoints": [
            host("127.0.0.15", 8080, load_balancing_weight=7)]}]}], TYPE_URLS["endpoints"])
    clusters = [
        {"name": "mixed", "type": "EDS", "connect_timeout": "1s",
         "eds_cluster_config": {"eds_config": file_source(eds)}},
        {"name": "checked", "type": "STATIC", "connect_timeout": "0.25s",  # active TCP checks of a closed port
         "health_checks": [{"timeout": "0.2s", "interval": "0.1s", "unhealthy_threshold": 1, "healthy_threshold": 1,
                            "tcp_health_check": {}}],
         "load_assignment": {"cluster_name": "checked", "endpoints": [{"lb_endpoints": [host("127.0.0.1", closed)]}]}},
        {"name": "ejected", "type": "STATIC", "connect_timeout": "1s",  # one 503 ejects its only host
         "outlier_detection": {"consecutive_5xx": 1, "interval": "60s", "base_ejection_time": "300s",
                               "max_ejection_percent": 100},
         "load_assignment": {"cluster_name": "ejected", "endpoints": [{"lb_endpoints": [
             host("127.0.0.1", backend_port)]}]}},
    ]

    def routes_to(name: str, action: dict[str, Any]) -> dict[str, Any]:
        return {"route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, **action}]}]}}

    bootstrap = {"node": {"id": "sidecar~127.0.0.1~health-0.lab~lab.svc.cluster.local", "cluster": "health"},
                 "static_resources": {"clusters": clusters, "listeners": [
                     http_listener("backend", backend_port, routes_to("backend", {"direct_response": {"status": 503}})),
                     http_listener("front", front_port, routes_to("front", {"route": {"cluster": "ejected"}}))]}}
    with EnvoyProcess("health", work, bootstrap) as envoy:
        envoy.wait_for("/clusters", lambda t: "127.0.0.15:8080" in t and "failed_active_hc" in t)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://127.0.0.1:{front_port}/", timeout=5)  # noqa: S310 (loopback)
        text = envoy.wait_for("/clusters", lambda t: "failed_outlier_check" in t)
        as_json = envoy.get("/clusters?format=json")
    (work / "health.clusters.txt").write_text(text)
    (work / "health.clusters.json").write_text(as_json)
    return {"text": work / "health.clusters.txt", "json": work / "health.clusters.json",
            "checked": f"127.0.0.1:{closed}", "ejected": f"127.0.0.1:{backend_port}"}


@pytest.mark.envoy
def test_clusters_text_health_flags_weights_and_localities(health: dict[str, Any]) -> None:
    dump = load_file(str(health["text"]))
    status = dump.clusters_status
    assert status is not None and status.source_format == "text"
    hosts = {h.address: h for c in ("mixed", "checked", "ejected") for h in status.hosts_of(c)}
    expected = {  # address: (EDS health, flags, weight, priority, locality, whether Envoy sends traffic there)
        "127.0.0.11:8080": ("HEALTHY", (), 3, 0, "eu-west1/eu-west1-b/rack7", True),
        "127.0.0.12:8080": ("DRAINING", ("eds_status_draining",), 1, 0, "eu-west1/eu-west1-b/rack7", False),
        "127.0.0.13:8080": ("UNHEALTHY", ("failed_eds_health",), 1, 0, "eu-west1/eu-west1-b/rack7", False),
        "127.0.0.14:8080": ("DEGRADED", ("degraded_eds_health",), 1, 0, "eu-west1/eu-west1-b/rack7", True),
        "127.0.0.15:8080": ("HEALTHY", (), 7, 1, "us-east1", True),
        health["checked"]: ("HEALTHY", ("failed_active_hc",), 1, 0, "", False),
        health["ejected"]: ("HEALTHY", ("failed_outlier_check",), 1, 0, "", False),
    }
    found = {a: (h.eds_health, h.flags, h.weight, h.priority, h.locality, h.healthy) for a, h in hosts.items()}
    assert found == expected


@pytest.mark.envoy
def test_clusters_text_and_json_of_one_envoy_agree(health: dict[str, Any]) -> None:
    def facts(path: Path) -> dict[tuple[str, str], tuple[Any, ...]]:
        status = load_file(str(path)).clusters_status
        assert status is not None
        return {(h.cluster, h.address): (h.eds_health, set(h.flags), h.weight, h.priority, h.locality, h.healthy)
                for h in status.hosts if h.cluster in ("mixed", "checked", "ejected")}

    assert facts(health["text"]) == facts(health["json"]) and len(facts(health["text"])) == 7


@pytest.mark.envoy
@pytest.mark.parametrize("form", ["text", "json"])
def test_endpoints_summary_of_flagged_hosts(health: dict[str, Any], form: str) -> None:
    """istioctl's STATUS is the EDS health status: a draining host is DRAINING, never HEALTHY; an ejected host
    is HEALTHY with OUTLIER CHECK FAILED; -o wide adds weight, priority and locality."""
    from envoyscope.engine.summary import Filters, summarize

    dump = load_file(str(health[form]))
    rows = {r.cells[0]: r.cells[1:] for r in summarize(dump, "endpoints", Filters(cluster="mixed"), wide=True).rows}
    assert rows["127.0.0.12:8080"] == ("DRAINING", "OK", "mixed", "1", "0", "eu-west1/eu-west1-b/rack7")
    assert rows["127.0.0.11:8080"] == ("HEALTHY", "OK", "mixed", "3", "0", "eu-west1/eu-west1-b/rack7")
    assert rows["127.0.0.15:8080"] == ("HEALTHY", "OK", "mixed", "7", "1", "us-east1")
    assert rows["127.0.0.13:8080"][0] == "UNHEALTHY" and rows["127.0.0.14:8080"][0] == "DEGRADED"
    ejected = summarize(dump, "endpoints", Filters(cluster="ejected")).rows
    assert [r.cells for r in ejected] == [(health["ejected"], "HEALTHY", "FAILED", "ejected")]
    draining = summarize(dump, "endpoints", Filters(status="draining")).rows
    assert [r.cells[0] for r in draining] == ["127.0.0.12:8080"]
