"""Listener hand-off and filter chain choice, table-driven on small Istio-shaped listeners."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.filter_chain import select_filter_chain
from envoyscope.engine.listener import select_listener
from envoyscope.engine.network_filters import network_action, pick_weighted
from envoyscope.engine.request import Wire
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.identity import Identity

TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
HTTP_INSPECTOR = {"name": "envoy.filters.listener.http_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}


def tcp(cluster: str) -> list[dict[str, Any]]:
    return [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": cluster, "cluster": cluster}}]


def listener(name: str, ip: str, port: int, chains: list[dict[str, Any]], **extra: Any) -> Resource:
    raw = {"name": name, "address": {"socket_address": {"address": ip, "port_value": port}},
           "filter_chains": chains, **extra}
    return Resource("listener", name, "dynamic_active", raw, f"listeners[{name}]")


def proxy(*listeners: Resource) -> ConfigDump:
    return ConfigDump(source="test", identity=Identity(node_id="sidecar~10.0.0.9~app.ns~ns.svc.cluster.local"),
                      listeners=tuple(listeners), sections=frozenset({"listeners"}))


VIRTUAL = listener("virtualOutbound", "0.0.0.0", 15001, [
    {"name": "virtualOutbound-catchall-tcp", "filters": tcp("PassthroughCluster")}], use_original_dst=True)
HTTP_80 = listener("0.0.0.0_80", "0.0.0.0", 80, [{"filters": tcp("x")}], bind_to_port=False)
MYSQL = listener("10.1.1.1_3306", "10.1.1.1", 3306, [{"filters": tcp("outbound|3306||mysql.example.com")}],
                 bind_to_port=False)
GATEWAY = listener("0.0.0.0_8080", "0.0.0.0", 8080, [{"filters": tcp("y")}])


@pytest.mark.parametrize(("entry", "dst", "expected"), [
    ("outbound", ("93.184.216.34", 80), "0.0.0.0_80"),          # wildcard on the port
    ("outbound", ("10.1.1.1", 3306), "10.1.1.1_3306"),         # exact address
    ("outbound", ("10.1.1.2", 3306), "virtualOutbound"),       # same port, other IP: stays
    ("outbound", ("93.184.216.34", 8443), "virtualOutbound"),  # nothing on the port
    ("direct", ("10.0.0.9", 8080), "0.0.0.0_8080"),            # a gateway's bound listener
    ("direct", ("10.0.0.9", 80), None),                        # bind_to_port false: refused
])
def test_select_listener(entry: str, dst: tuple[str, int], expected: str | None) -> None:
    dump = proxy(VIRTUAL, HTTP_80, MYSQL, GATEWAY)
    chosen, step = select_listener(dump, Wire(dst_ip=dst[0], dst_port=dst[1], src_ip="10.0.0.9"), entry)
    assert (chosen.name if chosen else None) == expected
    assert step.reason


def test_listener_near_miss_names_the_other_address() -> None:
    _, step = select_listener(proxy(VIRTUAL, MYSQL), Wire("10.1.1.2", 3306, "10.0.0.9"), "outbound")
    assert [m.candidate for m in step.near_misses] == ["10.1.1.1_3306"]
    assert "10.1.1.2" in step.near_misses[0].reason


SNI_LISTENER = listener("0.0.0.0_443", "0.0.0.0", 443, [
    {"name": "exact", "filter_chain_match": {"server_names": ["www.googleapis.com"]}, "filters": tcp("a")},
    {"name": "wild-long", "filter_chain_match": {"server_names": ["*.api.example.com"]}, "filters": tcp("b")},
    {"name": "wild-short", "filter_chain_match": {"server_names": ["*.example.com"]}, "filters": tcp("c")},
    {"name": "port-9443", "filter_chain_match": {"destination_port": 9443, "server_names": ["x.org"]},
     "filters": tcp("d")},
], listener_filters=[TLS_INSPECTOR])


@pytest.mark.parametrize(("wire", "expected"), [
    (Wire("1.2.3.4", 443, "10.0.0.9", transport="tls", sni="www.googleapis.com"), "exact"),
    (Wire("1.2.3.4", 443, "10.0.0.9", transport="tls", sni="v1.api.example.com"), "wild-long"),
    (Wire("1.2.3.4", 443, "10.0.0.9", transport="tls", sni="www.example.com"), "wild-short"),
    (Wire("1.2.3.4", 443, "10.0.0.9", transport="tls", sni="example.com"), None),  # *.example.com needs a label
    (Wire("1.2.3.4", 9443, "10.0.0.9", transport="tls", sni="www.googleapis.com"), None),  # port wins, then fails
    (Wire("1.2.3.4", 443, "10.0.0.9", transport="raw_buffer", http="http/1.1"), None),  # no SNI, no catch-all
])
def test_filter_chain_server_names_in_envoy_order(wire: Wire, expected: str | None) -> None:
    chain, label, steps = select_filter_chain(SNI_LISTENER, wire)
    assert (label or None) == expected
    assert (chain is None) == (expected is None)
    if expected is None:
        assert "closes the connection" in steps[-1].reason


def test_port_match_hides_catch_all_chains() -> None:
    """No backtracking: a chain naming the port wins the port stage even if it fails later."""
    chain, label, steps = select_filter_chain(SNI_LISTENER, Wire("1.2.3.4", 9443, "10.0.0.9", transport="tls",
                                                                  sni="www.googleapis.com"))
    assert chain is None
    assert any("server_names x.org" in m.reason for m in steps[-1].near_misses)


def test_tls_without_inspector_is_raw_buffer() -> None:
    raw = dict(SNI_LISTENER.raw, listener_filters=[])
    raw["filter_chains"] = [*raw["filter_chains"], {"name": "catch-all", "filters": tcp("e")}]
    res = Resource("listener", "l", "static", raw, "listeners[l]")
    _, label, steps = select_filter_chain(res, Wire("1.2.3.4", 443, "10.0.0.9", transport="tls",
                                                   sni="www.googleapis.com"))
    assert label == "catch-all"
    assert "no tls_inspector" in steps[0].reason


def test_http_inspector_feeds_application_protocols_and_default_chain() -> None:
    res = listener("0.0.0.0_80", "0.0.0.0", 80, [
        {"name": "http", "filter_chain_match": {"application_protocols": ["http/1.1", "h2c"]}, "filters": tcp("h")},
    ], listener_filters=[HTTP_INSPECTOR], default_filter_chain={"name": "dflt", "filters": tcp("d")})
    assert select_filter_chain(res, Wire("1.2.3.4", 80, "10.0.0.9", http="http/1.1"))[1] == "http"
    assert select_filter_chain(res, Wire("1.2.3.4", 80, "10.0.0.9", http=None))[1] == "dflt"


def test_filter_chain_matcher_exact_map() -> None:
    matcher = {"matcher_tree": {
        "input": {"name": "port", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3.DestinationPortInput"}},
        "exact_match_map": {"map": {"3306": {"action": {"name": "mysql", "typed_config": {
            "@type": "type.googleapis.com/google.protobuf.StringValue", "value": "mysql"}}}}}},
        "on_no_match": {"action": {"name": "pt", "typed_config": {
            "@type": "type.googleapis.com/google.protobuf.StringValue", "value": "passthrough"}}}}
    res = listener("virtualOutbound", "0.0.0.0", 15001, [{"name": "mysql", "filters": tcp("m")},
                                                         {"name": "passthrough", "filters": tcp("p")}],
                   filter_chain_matcher=matcher)
    assert select_filter_chain(res, Wire("10.1.1.1", 3306, "10.0.0.9"))[1] == "mysql"
    assert select_filter_chain(res, Wire("10.1.1.1", 5432, "10.0.0.9"))[1] == "passthrough"


def test_network_action_tcp_proxy_and_weighted_pick() -> None:
    chain = {"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "s",
        "weighted_clusters": {"clusters": [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10}]}}}]}
    action = network_action(chain, proxy(), "listeners[x].filter_chains[0]")
    assert action.kind == "tcp_proxy"
    assert action.clusters == (("v1", 90), ("v2", 10))
    assert pick_weighted(action.clusters, 89) == "v1"
    assert pick_weighted(action.clusters, 90) == "v2"
    assert pick_weighted(action.clusters, 100) == "v1"  # random_value % total_weight


def test_unknown_terminal_filter_is_reported_by_name() -> None:
    chain = {"filters": [{"name": "envoy.filters.network.redis_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.redis_proxy.v3.RedisProxy"}}]}
    action = network_action(chain, proxy(), "p")
    assert action.kind == "other"
    assert "envoy.filters.network.redis_proxy" in action.step.reason
