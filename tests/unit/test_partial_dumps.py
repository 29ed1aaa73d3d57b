"""Dumps without a bootstrap (istioctl's ``-o json`` lists, hand-cut dumps): who the proxy is, and traces on them."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_file
from tests.conftest import REPO, shared_path

ADMIN = "type.googleapis.com/envoy.admin.v3."
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"


def _listener(name: str, port: int, filters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", "name": name,
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "filter_chains": [{"filters": filters}], **extra}


VIRTUAL = _listener("virtualOutbound", 15001, [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
    "@type": TCP, "stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}],
    use_original_dst=True, traffic_direction="OUTBOUND")
HTTP_9080 = _listener("0.0.0.0_9080", 9080, [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
    "@type": HCM, "stat_prefix": "9080", "rds": {"route_config_name": "9080"},
    "http_filters": [{"name": "envoy.filters.http.router"}]}}], bind_to_port=False, traffic_direction="OUTBOUND")
ROUTE = {"@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", "name": "9080", "virtual_hosts": [
    {"name": "reviews:9080", "domains": ["reviews", "reviews:9080"],
     "routes": [{"match": {"prefix": "/"}, "route": {"cluster": REVIEWS}}]}]}
CLUSTER = {"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "name": REVIEWS, "type": "STATIC",
           "load_assignment": {"cluster_name": REVIEWS, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
               "socket_address": {"address": "10.0.0.7", "port_value": 9080}}}}]}]}}


@pytest.mark.parametrize(("doc", "proxy_type"), [
    ([VIRTUAL, HTTP_9080], "sidecar"),                                # istioctl proxy-config listeners -o json
    ([{**VIRTUAL, "use_original_dst": {"value": True}}], "sidecar"),  # BoolValue as {"value": …}
    ([{**VIRTUAL, "hidden_envoy_deprecated_use_original_dst": True, "use_original_dst": None}], "sidecar"),
    ([HTTP_9080], "envoy"),                                           # no hand-off listener: nothing to infer
    ([{**VIRTUAL, "traffic_direction": "INBOUND"}], "envoy"),         # an inbound hand-off is not the app's entry
])
def test_a_bootstrap_less_dump_with_a_virtual_outbound_listener_is_a_sidecar(doc: Any, proxy_type: str) -> None:
    doc = [{k: v for k, v in item.items() if v is not None} for item in doc]
    dump = parse_document(doc, "listeners.json")
    assert dump.identity.proxy_type == proxy_type
    assert any("taken as a sidecar" in note for note in dump.notes) == (proxy_type == "sidecar")


def test_a_gateways_listener_list_stays_a_plain_envoy() -> None:
    dump = load_file(str(REPO / "tests" / "fixtures" / "istioctl-lists" / "egressgateway.listeners.json"))
    assert dump.identity.proxy_type == "envoy"


def test_outbound_trace_on_a_bootstrap_less_dump_uses_the_virtual_outbound_listener() -> None:
    doc = {"configs": [
        {"@type": ADMIN + "ListenersConfigDump",
         "dynamic_listeners": [{"name": x["name"], "active_state": {"listener": x}} for x in (VIRTUAL, HTTP_9080)]},
        {"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": [{"cluster": CLUSTER}]},
        {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [{"route_config": ROUTE}]},
    ]}
    result = trace(TraceRequest(host="reviews", port=9080, ip="10.96.0.5"), [parse_document(doc, "nob.json")])
    (hop,) = result.hops
    assert "iptables sends the app's connection to `virtualOutbound`" in hop.steps[0].reason
    assert (hop.listener, hop.virtual_host, hop.cluster, hop.endpoint) == (
        "0.0.0.0_9080", "reviews:9080", REVIEWS, "10.0.0.7:9080")
    assert result.outcome.kind != "no_listener"


def test_a_trace_on_istioctls_partial_dump_follows_its_routes() -> None:
    """describe/testdata/http_config.json: a gateway's routes and one cluster, no listener, no bootstrap."""
    dump = load_file(str(shared_path("istioctl", "describe", "testdata", "http_config.json")))
    assert not dump.listeners and dump.bootstrap is None
    request = TraceRequest(host="bookinfo.example.com", port=8080, ip="10.0.0.1", path="/productpage")
    result = trace(request, [dump])
    (hop,) = result.hops
    assert hop.steps[0].reason.startswith("assumed: the dump holds no listener and no bootstrap")
    assert (hop.listener, hop.route_config, hop.virtual_host) == ("0.0.0.0_8080", "http.8080", "*:80")
    assert hop.cluster == "outbound|9080||productpage.default.svc.cluster.local"
    # the dump holds only the v1 subset of productpage: Envoy (as cut) would answer NC, not refuse the connection
    assert result.outcome.kind == "unknown_cluster"
    other_port = trace(TraceRequest(host="bookinfo.example.com", port=9999, ip="10.0.0.1"), [dump])
    assert other_port.outcome.kind == "no_listener"  # no route configuration names that port: nothing assumed
