"""What counts as a change, rule by rule, on small dumps: order that matters and order that does not, spellings,
wrappers, defaults, presence, endpoints, certificates, proxy pairing."""

from __future__ import annotations

import copy
from typing import Any

import orjson

from envoyscope.engine.diff import canonical, diff_dumps, pair_proxies
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document

T = "type.googleapis.com/"
ADMIN = T + "envoy.admin.v3."


NODE = "sidecar~10.0.0.1~a-7d6cfb7dfd-ccspq.ns~ns.svc"


Items = tuple[Any, ...] | list[Any]


def dump(*, clusters: Items = (), listeners: Items = (), routes: Items = (), endpoints: list[Any] | None = None,
         node_id: str = NODE) -> ConfigDump:
    configs: list[Any] = [{"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": node_id}}},
                          {"@type": ADMIN + "ClustersConfigDump",
                           "dynamic_active_clusters": [{"cluster": c} for c in clusters]},
                          {"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": [
                              {"name": lis["name"], "active_state": {"listener": lis}} for lis in listeners]},
                          {"@type": ADMIN + "RoutesConfigDump",
                           "dynamic_route_configs": [{"route_config": r} for r in routes]}]
    if endpoints is not None:
        configs.append({"@type": ADMIN + "EndpointsConfigDump",
                        "dynamic_endpoint_configs": [{"endpoint_config": e} for e in endpoints]})
    return parse_document({"configs": configs}, "test")


def fields(old: ConfigDump, new: ConfigDump) -> list[tuple[str, str, str, str]]:
    return [(c.kind, c.name, c.change, f.path) for c in diff_dumps(old, new) for f in c.fields or [None]]  # type: ignore[list-item, union-attr]


def changes(old: ConfigDump, new: ConfigDump) -> list[tuple[str, str, str]]:
    return [(c.kind, c.name, c.change) for c in diff_dumps(old, new)]


def route(name: str, prefix: str, **action: Any) -> dict[str, Any]:
    return {"name": name, "match": {"prefix": prefix}, "route": action or {"cluster": "c"}}


def config(*hosts: dict[str, Any]) -> dict[str, Any]:
    return {"name": "80", "virtual_hosts": list(hosts)}


def test_canonical_spellings_wrappers_and_defaults() -> None:
    assert canonical({"connectTimeout": "5.000s"}) == canonical({"connect_timeout": "5s"})
    assert canonical({"max_requests": {"value": 5}}) == canonical({"max_requests": 5})
    assert canonical({"max_requests": "5"}) == canonical({"max_requests": 5})
    assert canonical({"lb_policy": "ROUND_ROBIN", "x": False, "y": [], "metadata": {}}) == {}
    assert canonical({"ads": {}}) != canonical({})  # an empty message is there: it says "use ADS"
    assert canonical({"@type": T + "envoy.api.v2.Cluster"}) == {"@type": T + "envoy.config.cluster.v3.Cluster"}
    wrapped = {"@type": T + "udpa.type.v1.TypedStruct", "type_url": T + "x.v3.Y", "value": {"someField": 1}}
    assert canonical(wrapped) == canonical({"@type": T + "x.v3.Y", "some_field": 1})
    assert canonical({"filter_metadata": {"istio": {"tlsMode": "istio"}}}) == {
        "filter_metadata": {"istio": {"tlsMode": "istio"}}}  # Struct keys are data
    assert canonical({"domains": ["b", "a"]}) == canonical({"domains": ["a", "b"]})


def test_v2_and_v3_renderings_of_a_cluster_are_equal() -> None:
    address = {"socket_address": {"address": "10.0.0.9", "port_value": 443}}
    v2 = {"@type": T + "envoy.api.v2.Cluster", "name": "c", "type": "STATIC", "connectTimeout": "1s",
          "hosts": [address], "tlsContext": {"sni": "x.example.com"}}
    v3 = {"@type": T + "envoy.config.cluster.v3.Cluster", "name": "c", "type": "STATIC", "connect_timeout": "1.000s",
          "load_assignment": {"cluster_name": "c",
                              "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}]},
          "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
              "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", "sni": "x.example.com"}}}
    assert changes(dump(clusters=[v2]), dump(clusters=[v3])) == []


def test_route_order_matters_virtual_host_and_domain_order_do_not() -> None:
    a = {"name": "a", "domains": ["a", "a:80"], "routes": [route("r1", "/x"), route("r2", "/")]}
    b = {"name": "b", "domains": ["b"], "routes": [route("b1", "/")]}
    old = dump(routes=[config(a, b)])
    swapped_hosts = {**copy.deepcopy(a), "domains": ["a:80", "a"]}
    assert changes(old, dump(routes=[config(b, swapped_hosts)])) == []
    moved = {**a, "routes": [route("r2", "/"), route("r1", "/x")]}
    found = diff_dumps(old, dump(routes=[config(moved, b)]))
    assert [(c.kind, c.name) for c in found] == [("route", "80/a/r2")]
    position = found[0].field("position")
    assert position is not None and (position.old, position.new) == (2, 1)


def test_unnamed_routes_pair_by_position_and_an_insert_shifts_no_named_route() -> None:
    unnamed = {"name": "a", "domains": ["*"], "routes": [route("", "/x"), route("", "/")]}
    swapped = {**unnamed, "routes": [route("", "/"), route("", "/x")]}
    assert changes(dump(routes=[config(unnamed)]), dump(routes=[config(swapped)])) == [
        ("route", "80/a/#1", "modified"), ("route", "80/a/#2", "modified")]
    named = {"name": "a", "domains": ["*"], "routes": [route("r1", "/x"), route("r2", "/")]}
    inserted = {**named, "routes": [route("r0", "/y"), *named["routes"]]}
    assert changes(dump(routes=[config(named)]), dump(routes=[config(inserted)])) == [("route", "80/a/r0", "added")]


def test_weighted_clusters_and_http_filters_are_ordered() -> None:
    weights = {"weighted_clusters": {"clusters": [{"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}]}}
    host = {"name": "a", "domains": ["*"], "routes": [route("r", "/", **weights)]}
    flipped = copy.deepcopy(host)
    flipped["routes"][0]["route"]["weighted_clusters"]["clusters"].reverse()
    assert fields(dump(routes=[config(host)]), dump(routes=[config(flipped)])) == [
        ("route", "80/a/r", "modified", "route.weighted_clusters.clusters.order")]
    hcm = {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "http_filters": [{"name": "envoy.filters.http.fault"}, {"name": "envoy.filters.http.router"}]}}
    listener = {"name": "l", "filter_chains": [{"name": "c", "filters": [hcm]}]}
    other = copy.deepcopy(listener)
    other["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"].reverse()
    assert fields(dump(listeners=[listener]), dump(listeners=[other])) == [
        ("filter_chain", "l/c", "modified",
         "filters[envoy.filters.network.http_connection_manager].typed_config.http_filters.order")]


def test_filter_chains_pair_by_match_not_position() -> None:
    tls = {"name": "tls", "filter_chain_match": {"transport_protocol": "tls", "server_names": ["a", "b"]},
           "filters": [{"name": "envoy.filters.network.tcp_proxy"}]}
    plain = {"name": "plain", "filters": [{"name": "envoy.filters.network.tcp_proxy"}]}
    old = dump(listeners=[{"name": "l", "filter_chains": [tls, plain]}])
    reordered = {**tls, "filter_chain_match": {"server_names": ["b", "a"], "transport_protocol": "tls"}}
    assert changes(old, dump(listeners=[{"name": "l", "filter_chains": [plain, reordered]}])) == []
    rematched = {**tls, "filter_chain_match": {"transport_protocol": "tls", "server_names": ["a"]}}
    assert sorted(changes(old, dump(listeners=[{"name": "l", "filter_chains": [rematched, plain]}]))) == [
        ("filter_chain", "l/tls", "added"), ("filter_chain", "l/tls", "removed")]


def _assignment(*hosts: tuple[str, int, int], priority: int = 0) -> dict[str, Any]:
    return {"cluster_name": "c", "endpoints": [{"priority": priority, "lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": ip, "port_value": port}}},
         "load_balancing_weight": weight} for ip, port, weight in hosts]}]}


def test_endpoints_by_address() -> None:
    eds = {"name": "c", "type": "EDS", "eds_cluster_config": {"service_name": "c"}}
    old = dump(clusters=[eds], endpoints=[_assignment(("10.0.0.1", 80, 1), ("10.0.0.2", 80, 1))])
    assert changes(old, dump(clusters=[eds], endpoints=[_assignment(("10.0.0.2", 80, 1), ("10.0.0.1", 80, 1))])) == []
    new = dump(clusters=[eds], endpoints=[_assignment(("10.0.0.1", 80, 3), ("10.0.0.3", 80, 1), priority=1)])
    assert fields(old, new) == [("endpoint", "c", "modified", p) for p in (
        "endpoints[10.0.0.1:80].priority", "endpoints[10.0.0.1:80].weight", "endpoints[10.0.0.2:80]",
        "endpoints[10.0.0.3:80]")]
    assert changes(dump(clusters=[eds]), new) == []  # a dump without ?include_eds knows no endpoints: not a change


def test_warming_listener_and_proxies_paired_by_identity() -> None:
    listener = {"name": "l", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 80}}}
    warming = parse_document({"configs": [{"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": [
        {"name": "l", "warming_state": {"listener": listener}}]}]}, "w")
    assert fields(dump(listeners=[listener]), warming)[0] == ("listener", "l", "modified", "state")
    a_old = dump(node_id="sidecar~10.0.0.1~a-7d6cfb7dfd-ccspq.ns~ns.svc")
    b_old = dump(node_id="sidecar~10.0.0.2~b-5c54dcd5bd-z5ghf.ns~ns.svc")
    a_new = dump(node_id="sidecar~10.0.0.7~a-7d6cfb7dfd-xxxxx.ns~ns.svc")  # a's pod, replaced
    c_new = dump(node_id="sidecar~10.0.0.3~c-5c54dcd5bd-z5ghf.ns~ns.svc")
    pairs = pair_proxies([a_old, b_old], [c_new, a_new])
    assert [(o and o.identity.pod, n and n.identity.pod) for o, n in pairs] == [
        ("a-7d6cfb7dfd-ccspq", "a-7d6cfb7dfd-xxxxx"), ("b-5c54dcd5bd-z5ghf", "c-5c54dcd5bd-z5ghf")]
    assert [(o and o.identity.pod, n and n.identity.pod) for o, n in pair_proxies([a_old, b_old], [a_new])] == [
        ("a-7d6cfb7dfd-ccspq", "a-7d6cfb7dfd-xxxxx"), ("b-5c54dcd5bd-z5ghf", None)]


def test_no_private_key_in_any_change() -> None:
    """A key in a TLS context is redacted (a new key is no change); one pasted elsewhere is blanked in the output."""
    from envoyscope.engine.diff import diff_json
    from envoyscope.engine.diff.changes import ProxyDiff
    from tests.diff.mutations import new_certificate

    cert, key = new_certificate("a.example.com", 30)
    _, other_key = new_certificate("a.example.com", 30)

    def listener(private: str, note: str) -> dict[str, Any]:
        tls = {"name": "envoy.transport_sockets.tls", "typed_config": {
            "@type": T + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": cert},
                                                         "private_key": {"inline_string": private}}]}}}
        return {"name": "l", "stat_prefix": note,
                "filter_chains": [{"name": "c", "transport_socket": tls, "filters": []}]}

    assert changes(dump(listeners=[listener(key, "x")]), dump(listeners=[listener(other_key, "x")])) == []
    old, new = dump(listeners=[listener(key, "x")]), dump(listeners=[listener(other_key, other_key)])
    found = diff_dumps(old, new)
    assert [(c.kind, f.path) for c in found for f in c.fields] == [("listener", "stat_prefix")]
    text = orjson.dumps(diff_json([ProxyDiff(old, new, tuple(found))])).decode()
    assert "PRIVATE KEY" not in text and other_key.splitlines()[1] not in text


def test_names_stay_strings_and_header_matchers_are_a_set() -> None:
    assert canonical({"name": "80", "max_program_size": "80"}) == {"name": "80", "max_program_size": 80}
    a = {"name": "h", "string_match": {"exact": "1"}}
    b = {"name": "g", "present_match": True}
    assert canonical({"headers": [a, b]}) == canonical({"headers": [b, a]})
    routes = [route("1", "/one"), route("2", "/")]
    host = {"name": "a", "domains": ["*"], "routes": routes}
    moved = {**host, "routes": list(reversed(routes))}
    found = diff_dumps(dump(routes=[config(host)]), dump(routes=[config(moved)]))
    assert [(c.name, [f.path for f in c.fields]) for c in found] == [("80/a/2", ["position"])]
