"""The replay form `envoyscope verify` gives Envoy: what it strips, names and rewrites (no Envoy needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from envoyscope.model.parse import parse_document
from envoyscope.verify.replay_form import ENTRY, NO_LISTENER_CLUSTER, PROXY_PROTOCOL, build
from envoyscope.verify.strip import is_istio_only

T = "type.googleapis.com/"
HCM = T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _listener(name: str, port: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": HCM, "stat_prefix": name, "rds": {"route_config_name": "80", "config_source": {"ads": {}}},
                "http_filters": [
                    {"name": "istio.stats", "typed_config": {"@type": T + "udpa.type.v1.TypedStruct",
                                                             "type_url": T + "stats.PluginConfig", "value": {}}},
                    {"name": "envoy.filters.http.router",
                     "typed_config": {"@type": T + "envoy.extensions.filters.http.router.v3.Router"}}]}}]}],
            **extra}


def _dump(listeners: list[dict[str, Any]]) -> Any:
    eds = {"name": "outbound|80||reviews.default.svc.cluster.local", "type": "EDS", "connect_timeout": "10s",
           "eds_cluster_config": {"service_name": "outbound|80||reviews.default.svc.cluster.local",
                                  "eds_config": {"ads": {}}},
           "transport_socket": {"name": "envoy.transport_sockets.tls", "typed_config": {
               "@type": T + "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
               "common_tls_context": {"tls_certificate_sds_secret_configs": [
                   {"name": "default", "sds_config": {"ads": {}}}]}}}}
    routes = {"name": "80", "virtual_hosts": [{"name": "reviews:80", "domains": ["reviews"], "routes": [
        {"match": {"prefix": "/"}, "route": {"cluster": eds["name"]}}]}]}
    doc = {"configs": [
        {"@type": T + "envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": [
            {"name": lst["name"], "active_state": {"listener": {"@type": T + "envoy.config.listener.v3.Listener",
                                                                **lst}}} for lst in listeners]},
        {"@type": T + "envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters": [
            {"cluster": {"@type": T + "envoy.config.cluster.v3.Cluster", **eds}}]},
        {"@type": T + "envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs": [
            {"route_config": {"@type": T + "envoy.config.route.v3.RouteConfiguration", **routes}}]},
    ]}
    return parse_document(doc, "test.json")


def test_a_sidecar_form_strips_istio_filters_names_chains_and_rewrites_eds(tmp_path: Path) -> None:
    outbound = _listener("virtualOutbound", 15001, use_original_dst=True)
    form = build(_dump([_listener("0.0.0.0_80", 80), outbound]), tmp_path)
    listeners = {lst["name"]: lst for lst in form.resources["listeners"]}
    assert ENTRY not in listeners  # the sidecar's own virtual outbound listener is the entry
    real, entry = listeners["0.0.0.0_80"], listeners["virtualOutbound"]
    assert real["bind_to_port"] is False
    assert entry["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": form.entries["outbound"]}
    assert entry["listener_filters"][0] == PROXY_PROTOCOL
    chain = real["filter_chains"][0]
    assert chain["name"] == "envoyscope-unnamed-chain#0" and form.label(chain["name"]) == "0"
    hcm = chain["filters"][0]["typed_config"]
    assert [f["name"] for f in hcm["http_filters"]] == ["envoy.filters.http.router"]
    assert "path_config_source" in hcm["rds"]["config_source"]
    assert any("removed istio.stats (type.googleapis.com/stats.PluginConfig)" in n for n in form.notes)
    [cluster] = [c for c in form.resources["clusters"] if c["name"].startswith("outbound|")]
    assert cluster["type"] == "STATIC" and "eds_cluster_config" not in cluster
    [[endpoint]] = [g["lb_endpoints"] for g in cluster["load_assignment"]["endpoints"]]
    assert endpoint["endpoint"]["address"]["socket_address"]["address"] == "127.0.0.2"  # a closed loopback port
    sds = cluster["transport_socket"]["typed_config"]["common_tls_context"]["tls_certificate_sds_secret_configs"][0]
    secret_file = Path(sds["sds_config"]["path_config_source"]["path"])
    assert secret_file.exists() and "BEGIN CERTIFICATE" in secret_file.read_text()
    route = (tmp_path / "rds" / "80.json").read_text()
    assert "x-envoyscope-vhost" in route and "envoyscope-unnamed-route#0" in route


def test_a_gateway_form_gets_an_entry_listener_that_keeps_unmatched_connections(tmp_path: Path) -> None:
    form = build(_dump([_listener("0.0.0.0_8080", 8080)]), tmp_path)
    entry = next(lst for lst in form.resources["listeners"] if lst["name"] == ENTRY)
    assert entry["use_original_dst"] is True and entry["listener_filters"] == [PROXY_PROTOCOL]
    assert entry["address"]["socket_address"]["port_value"] == form.entries["direct"]
    assert NO_LISTENER_CLUSTER in form.clusters
    assert form.bootstrap["dynamic_resources"]["lds_config"]["path_config_source"]["path"].endswith("listeners.json")


def test_istio_only_extensions_are_recognised_by_name_type_or_ecds() -> None:
    assert is_istio_only({"name": "istio.metadata_exchange"})
    assert is_istio_only({"name": "x", "typed_config": {"@type": T + "io.istio.http.peer_metadata.Config"}})
    assert is_istio_only({"name": "wasm-plugin", "config_discovery": {"type_urls": [T + "x.Wasm"]}})
    assert not is_istio_only({"name": "envoy.filters.http.router",
                              "typed_config": {"@type": T + "envoy.extensions.filters.http.router.v3.Router"}})


def test_config_less_filters_of_old_dumps_get_their_default_type() -> None:
    from envoyscope.verify.legacy import type_untyped

    listener: dict[str, Any] = {"listener_filters": [{"name": "envoy.filters.listener.tls_inspector"}],
                "filter_chains": [{"filters": [{"name": "x", "typed_config": {"http_filters": [
                    {"name": "envoy.filters.http.router", "config": {}},
                    {"name": "envoy.filters.http.fault", "config": {"delay": {}}}]}}]}]}
    notes: list[str] = []
    type_untyped(listener, notes)
    assert listener["listener_filters"][0]["typed_config"] == {
        "@type": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}
    http = listener["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"]
    assert http[0] == {"name": "envoy.filters.http.router",
                       "typed_config": {"@type": T + "envoy.extensions.filters.http.router.v3.Router"}}
    assert http[1] == {"name": "envoy.filters.http.fault", "config": {"delay": {}}}  # a real config: left alone
    assert len(notes) == 2
