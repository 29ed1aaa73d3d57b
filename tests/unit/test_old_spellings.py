"""Every spelling Envoy has dumped since 1.10 reaches the engine in its v3 form (`envoyscope.model.deprecated`).

No real dump here has ``hidden_envoy_deprecated_*`` fields (Envoy 1.14–1.16 wrote them), so these are small
synthetic dumps, one spelling each; then a v2alpha-era sidecar traced end to end.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_file
from tests.conftest import shared_path

ADMIN = "type.googleapis.com/envoy.admin.v3."
V2ALPHA = "type.googleapis.com/envoy.admin.v2alpha."
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ROUTES = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
REVIEWS = "outbound|9080||reviews.default.svc.cluster.local"
SOCKET = {"socket_address": {"address": "10.0.0.7", "port_value": 9080}}


def _listener(**fields: Any) -> dict[str, Any]:
    return {"@type": LISTENER, "name": "l", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 80}},
            "filter_chains": [], **fields}


def _route(vhost: dict[str, Any]) -> dict[str, Any]:
    return {"@type": ROUTES, "name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"], **vhost}]}


def dump_of(kind: str, resource: dict[str, Any]) -> ConfigDump:
    section = {
        "listener": {"@type": ADMIN + "ListenersConfigDump",
                     "dynamic_listeners": [{"name": "l", "active_state": {"listener": resource}}]},
        "camel_listener": {"@type": ADMIN + "ListenersConfigDump",  # older istioctl / jsonpb: camelCase throughout
                           "dynamicListeners": [{"name": "l", "activeState": {"listener": resource}}]},
        "cluster": {"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": [{"cluster": resource}]},
        "route_config": {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [{"route_config": resource}]},
    }[kind]
    return parse_document({"configs": [section]}, "test")


def raw_of(kind: str, resource: dict[str, Any]) -> dict[str, Any]:
    (found,) = dump_of(kind, resource).of_kind(kind.removeprefix("camel_"))
    return found.raw


def _route_match(raw: dict[str, Any]) -> Any:
    return raw["virtual_hosts"][0]["routes"][0]["match"]


CASES: list[tuple[str, str, dict[str, Any], Any, Any]] = [
    # (what, kind, resource, reader, expected)
    ("use_original_dst, 1.14–1.16", "listener", _listener(hidden_envoy_deprecated_use_original_dst=True),
     lambda r: (r.get("use_original_dst"), "hidden_envoy_deprecated_use_original_dst" in r), (True, False)),
    ("use_original_dst, camelCase", "camel_listener", _listener(hiddenEnvoyDeprecatedUseOriginalDst={"value": True}),
     lambda r: r.get("use_original_dst"), {"value": True}),
    ("use_original_dst, v2", "listener", {**_listener(use_original_dst=True), "@type": "type.googleapis.com/"
                                          "envoy.api.v2.Listener"}, lambda r: r.get("use_original_dst"), True),
    ("deprecated_v1.bind_to_port", "listener", _listener(deprecated_v1={"bind_to_port": False}),
     lambda r: (r.get("bind_to_port"), "deprecated_v1" in r), (False, False)),
    ("deprecated_v1 BoolValue", "listener", _listener(deprecated_v1={"bind_to_port": {"value": False}}),
     lambda r: r.get("bind_to_port"), {"value": False}),
    ("filter chain tls_context", "listener",
     _listener(filter_chains=[{"hidden_envoy_deprecated_tls_context": {"require_client_certificate": True},
                               "filters": []}]),
     lambda r: r["filter_chains"][0]["transport_socket"]["typed_config"]["@type"].rsplit(".", 1)[-1],
     "DownstreamTlsContext"),
    ("network filter config Struct", "listener",
     _listener(filter_chains=[{"filters": [{"name": "envoy.tcp_proxy", "hidden_envoy_deprecated_config": {
         "stat_prefix": "s", "cluster": "c"}}]}]),
     lambda r: (r["filter_chains"][0]["filters"][0]["name"], r["filter_chains"][0]["filters"][0]["typed_config"]),
     ("envoy.filters.network.tcp_proxy", {"@type": "type.googleapis.com/envoy.extensions.filters.network."
                                          "tcp_proxy.v3.TcpProxy", "stat_prefix": "s", "cluster": "c"})),
    ("cluster hosts", "cluster", {"@type": CLUSTER, "name": "c", "type": "STATIC",
                                  "hidden_envoy_deprecated_hosts": [SOCKET]},
     lambda r: r["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"], SOCKET),
    ("cluster tls_context", "cluster", {"@type": CLUSTER, "name": "c",
                                        "hidden_envoy_deprecated_tls_context": {"sni": "api.example.com"}},
     lambda r: r["transport_socket"]["typed_config"]["sni"], "api.example.com"),
    ("verify_subject_alt_name", "cluster", {"@type": CLUSTER, "name": "c", "transport_socket": {
        "name": "envoy.transport_sockets.tls", "typed_config": {"common_tls_context": {"validation_context": {
            "hidden_envoy_deprecated_verify_subject_alt_name": ["spiffe://a/ns/b/sa/c"]}}}}},
     lambda r: r["transport_socket"]["typed_config"]["common_tls_context"]["validation_context"],
     {"match_subject_alt_names": [{"exact": "spiffe://a/ns/b/sa/c"}]}),
    ("route match regex", "route_config", _route({"routes": [{"match": {"hidden_envoy_deprecated_regex": "/a.*"},
                                                              "route": {"cluster": "c"}}]}),
     _route_match, {"safe_regex": {"google_re2": {}, "regex": "/a.*"}}),
    ("header regex_match", "route_config",
     _route({"routes": [{"match": {"prefix": "/", "headers": [{"name": "x", "hidden_envoy_deprecated_regex_match":
                                                               "v[0-9]"}]}, "route": {"cluster": "c"}}]}),
     lambda r: _route_match(r)["headers"][0], {"name": "x", "safe_regex_match": {"google_re2": {}, "regex": "v[0-9]"}}),
    ("v2 host_rewrite", "route_config",
     {**_route({"routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c", "host_rewrite": "h"}}]}),
      "@type": "type.googleapis.com/envoy.api.v2.RouteConfiguration"},
     lambda r: r["virtual_hosts"][0]["routes"][0]["route"], {"cluster": "c", "host_rewrite_literal": "h"}),
    ("request_mirror_policy", "route_config",
     _route({"routes": [{"match": {"prefix": "/"}, "route": {"cluster": "c", "hidden_envoy_deprecated_request_mirror_"
                                                             "policy": {"cluster": "m"}}}]}),
     lambda r: r["virtual_hosts"][0]["routes"][0]["route"], {"cluster": "c", "request_mirror_policies": [
         {"cluster": "m"}]}),
    ("filter chain sni_domains", "listener",
     _listener(filter_chains=[{"filter_chain_match": {"sni_domains": ["a.example.com"]}, "filters": []}]),
     lambda r: r["filter_chains"][0]["filter_chain_match"], {"server_names": ["a.example.com"]}),
    ("both spellings: the v3 one wins", "listener",
     _listener(use_original_dst=False, hidden_envoy_deprecated_use_original_dst=True),
     lambda r: r.get("use_original_dst"), False),
]


@pytest.mark.parametrize(("what", "kind", "resource", "reader", "expected"), CASES, ids=[c[0] for c in CASES])
def test_old_spelling_reaches_the_engine_in_v3(what: str, kind: str, resource: dict[str, Any], reader: Any,
                                               expected: Any) -> None:
    assert reader(raw_of(kind, resource)) == expected


def test_v2alpha_listener_lists_are_read_with_their_states() -> None:
    section = {"@type": V2ALPHA + "ListenersConfigDump",
               "static_listeners": [_listener(name="bare")],  # Envoy <= 1.8: bare listeners
               "dynamic_active_listeners": [{"version_info": "1", "listener": _listener(name="a")}],
               "dynamic_warming_listeners": [{"listener": _listener(name="w")}],
               "dynamic_draining_listeners": [{"listener": _listener(name="d")}]}
    dump = parse_document({"configs": [section]}, "test")
    assert [(r.name, r.state) for r in dump.listeners] == [
        ("bare", "static"), ("a", "dynamic_active"), ("w", "dynamic_warming"), ("d", "dynamic_draining")]
    assert dump.listeners[1].version_info == "1"
    assert not [note for note in dump.notes if "listener" in note]


@pytest.mark.parametrize(("section", "note"), [
    ({"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": [{"name": "x"}]},
     "configs[0].dynamic_listeners[0]: listener x has no active, warming or draining state nor error_state: not read "
     "by envoyscope"),
    ({"@type": ADMIN + "ClustersConfigDump", "dynamic_future_clusters": [{"cluster": {"name": "c"}}]},
     "configs[0].dynamic_future_clusters: a field of type.googleapis.com/envoy.admin.v3.ClustersConfigDump not read by "
     "envoyscope; ignored"),
    ({"@type": ADMIN + "FutureConfigDump", "things": []},
     "configs[0]: section type.googleapis.com/envoy.admin.v3.FutureConfigDump is not read by envoyscope; kept as is"),
])
def test_what_cannot_be_read_is_a_note_not_silence(section: dict[str, Any], note: str) -> None:
    dump = parse_document({"configs": [section]}, "test")
    assert any(n.startswith(note) for n in dump.notes), dump.notes
    assert len(dump.unread_notes()) == 1


def _v2alpha_sidecar(with_bootstrap: bool) -> dict[str, Any]:
    """An Istio 1.4-era sidecar as Envoy 1.12 dumped it: v2alpha lists, v2 resources, camelCase-free."""
    v2 = "type.googleapis.com/envoy.api.v2."
    tcp = {"name": "envoy.tcp_proxy", "config": {"stat_prefix": "PassthroughCluster", "cluster": "PassthroughCluster"}}
    virtual = {"@type": v2 + "Listener", "name": "virtualOutbound", "use_original_dst": True,
               "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15001}},
               "filter_chains": [{"filters": [tcp]}]}
    http = {"@type": v2 + "Listener", "name": "0.0.0.0_9080", "deprecated_v1": {"bind_to_port": False},
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": 9080}},
            "filter_chains": [{"filters": [{"name": "envoy.http_connection_manager", "config": {
                "stat_prefix": "x", "rds": {"route_config_name": "9080"},
                "http_filters": [{"name": "envoy.router"}]}}]}]}
    route = {"@type": v2 + "RouteConfiguration", "name": "9080", "virtual_hosts": [{
        "name": "reviews:9080", "domains": ["reviews", "reviews:9080"],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": REVIEWS}}]}]}
    cluster = {"@type": v2 + "Cluster", "name": REVIEWS, "type": "STATIC",
               "hosts": [SOCKET]}
    configs: list[dict[str, Any]] = [
        {"@type": V2ALPHA + "ClustersConfigDump", "dynamic_active_clusters": [{"cluster": cluster}]},
        {"@type": V2ALPHA + "ListenersConfigDump",
         "dynamic_active_listeners": [{"listener": virtual}, {"listener": http}]},
        {"@type": V2ALPHA + "RoutesConfigDump", "dynamic_route_configs": [{"route_config": route}]},
    ]
    if with_bootstrap:
        configs.insert(0, {"@type": V2ALPHA + "BootstrapConfigDump", "bootstrap": {"node": {
            "id": "sidecar~10.0.0.9~app-1.default~default.svc.cluster.local"}}})
    return {"configs": configs}


@pytest.mark.parametrize("with_bootstrap", [True, False])
def test_a_v2alpha_sidecars_outbound_trace_uses_the_virtual_outbound_listener(with_bootstrap: bool) -> None:
    dump = parse_document(_v2alpha_sidecar(with_bootstrap), "v2alpha.json")
    assert dump.identity.proxy_type == "sidecar"
    result = trace(TraceRequest(host="reviews", port=9080, ip="10.96.0.5"), [dump])
    (hop,) = result.hops
    assert hop.steps[0].kind == "listener" and "`virtualOutbound` (0.0.0.0:15001)" in hop.steps[0].reason
    assert (hop.listener, hop.virtual_host, hop.cluster) == (
        "0.0.0.0_9080", "reviews:9080", REVIEWS)
    assert hop.endpoint == "10.0.0.7:9080"


def test_the_trace_says_what_reading_its_dump_could_not_use() -> None:
    doc = _v2alpha_sidecar(True)
    doc["configs"].append({"@type": ADMIN + "FutureConfigDump", "things": [1]})
    result = trace(TraceRequest(host="reviews", port=9080, ip="10.96.0.5"), [parse_document(doc, "v2alpha.json")])
    assert result.hops[0].steps[0].reason.endswith(
        "(note: configs[4]: section type.googleapis.com/envoy.admin.v3.FutureConfigDump is not read by envoyscope; "
        "kept as is)")


def test_istio_1_5_bookinfo_sidecar_reads_deprecated_v1_and_hidden_bootstrap_fields() -> None:
    """The one real dump of Envoy 1.13 spellings: 34 `deprecated_v1: {bind_to_port: false}` listeners, a bootstrap
    with `hidden_envoy_deprecated_hosts` / `_config` / `_build_version`."""
    dump = load_file(str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")))
    assert sum(1 for r in dump.listeners if r.raw.get("bind_to_port") is False) == 34
    assert not [r.name for r in dump.listeners if "deprecated_v1" in r.raw]
    assert dump.bootstrap is not None and "hidden_envoy_deprecated_" not in json.dumps(dump.bootstrap)
    clusters = {c["name"]: c for c in dump.bootstrap["static_resources"]["clusters"]}
    assert "load_assignment" in clusters["prometheus_stats"]


@pytest.mark.parametrize(("node", "expected"), [
    ({"build_version": "9b4239dee83dd8894bfc579d412ccd894cff2597/1.13.1-dev/Clean/RELEASE/BoringSSL"},
     "1.13.1-dev/Clean/RELEASE/BoringSSL"),
    ({"hidden_envoy_deprecated_build_version": "0123456789abcdef/1.16.0/Clean/RELEASE/BoringSSL"},
     "1.16.0/Clean/RELEASE/BoringSSL"),
    ({"build_version": "nonsense"}, "0.0.0"),
    ({"user_agent_build_version": {"version": {"major_number": 1, "minor_number": 18, "patch": 3}},
      "build_version": "0123456789abcdef/1.16.0/Clean/RELEASE/BoringSSL"}, "1.18.3"),
])
def test_envoy_version_from_old_build_version_strings(node: dict[str, Any], expected: str) -> None:
    section = {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": node}}
    assert parse_document({"configs": [section]}, "test").identity.envoy_version == expected
