"""Rejected and warming resources: kept in the model with Envoy's words, never used by the trace, always reported."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.cluster import resolve_cluster
from envoyscope.engine.listener import select_listener
from envoyscope.engine.request import Wire
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_file
from tests.conftest import shared_path

ADMIN = "type.googleapis.com/envoy.admin.v3."
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
LUA_ERROR = "Proto constraint validation failed (LuaValidationError.DefaultSourceCode: embedded message failed"


def _listener(name: str, ip: str, port: int, cluster: str, **extra: Any) -> dict[str, Any]:
    return {"@type": LISTENER, "name": name, "address": {"socket_address": {"address": ip, "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                            "typed_config": {"@type": TCP, "stat_prefix": cluster,
                                                             "cluster": cluster}}]}], **extra}


def _rejected(listener: dict[str, Any], details: str) -> dict[str, Any]:
    return {"name": listener["name"], "error_state": {"failed_configuration": listener, "details": details,
                                                      "last_update_attempt": "2024-01-02T03:04:05Z"}}


VIRTUAL_OUT = _listener("virtualOutbound", "0.0.0.0", 15001, "PassthroughCluster", use_original_dst=True)
VIRTUAL_IN = _listener("virtualInbound", "0.0.0.0", 15006, "InboundPassthroughClusterIpv4", use_original_dst=True)
MYSQL = _listener("0.0.0.0_3306", "0.0.0.0", 3306, "outbound|3306||mysql", bind_to_port=False)


def sidecar(dynamic: list[dict[str, Any]], clusters: dict[str, list[dict[str, Any]]] | None = None) -> ConfigDump:
    configs: list[dict[str, Any]] = [
        {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "sidecar~10.0.0.9~a-1.ns~ns.svc"}}},
        {"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": dynamic},
    ]
    if clusters is not None:
        configs.append({"@type": ADMIN + "ClustersConfigDump", **clusters})
    return parse_document({"configs": configs}, "test")


def active(listener: dict[str, Any]) -> dict[str, Any]:
    return {"name": listener["name"], "active_state": {"listener": listener}}


def test_a_rejected_listener_is_kept_with_envoys_words_and_not_served() -> None:
    dump = sidecar([active(VIRTUAL_OUT), _rejected(MYSQL, "Lua  error:\n bad   code")])
    (rejected,) = dump.not_serving("listener")
    assert (rejected.name, rejected.state, rejected.status, rejected.error_details) == (
        "0.0.0.0_3306", "rejected", "rejected", "Lua error: bad code")
    assert rejected.raw["address"]["socket_address"]["port_value"] == 3306
    assert rejected.last_updated == "2024-01-02T03:04:05Z"
    assert rejected.path == "configs[1].dynamic_listeners[1].error_state.failed_configuration"
    assert dump.listener("0.0.0.0_3306") is None and dump.get("listener", "0.0.0.0_3306") is rejected
    assert "listener 0.0.0.0_3306 was rejected by Envoy: Lua error: bad code" in dump.notes


def test_an_active_listener_whose_update_was_rejected_serves_and_says_so() -> None:
    bound = _listener("0.0.0.0_3306", "0.0.0.0", 3306, "outbound|3306||mysql")
    entry = {**active(bound), "error_state": {"details": "bad update", "failed_configuration": bound}}
    dump = sidecar([entry])
    listener = dump.listener("0.0.0.0_3306")
    assert listener is not None and listener.serving
    assert listener.status_text() == "active; Envoy rejected its last update: bad update"
    found, step = select_listener(dump, Wire(dst_ip="10.0.0.9", dst_port=3306, src_ip="10.0.0.1"), "direct")
    assert found is listener
    assert step.near_misses[0].reason == ("Envoy rejected the last update of listener 0.0.0.0_3306: bad update; it "
                                          "serves the previous version")


@pytest.mark.parametrize(("entries", "entry", "dst", "chosen", "reason", "miss"), [
    # the request would have been handed to the rejected listener: virtualOutbound keeps it
    ([active(VIRTUAL_OUT), _rejected(MYSQL, "bad lua")], "outbound", ("10.1.1.1", 3306), "virtualOutbound",
     "not in use for this address: `0.0.0.0_3306`",
     "listener 0.0.0.0_3306 was rejected by Envoy: bad lua; Envoy serves this port with `virtualOutbound`"),
    # a warming one: the same, in Envoy's words for warming
    ([active(VIRTUAL_OUT), {"name": "0.0.0.0_3306", "warming_state": {"listener": MYSQL}}], "outbound",
     ("10.1.1.1", 3306), "virtualOutbound", "not in use for this address",
     "listener 0.0.0.0_3306 is warming: Envoy does not use it until its dependencies (RDS, EDS, SDS) arrive"),
    # Istio's inbound listener was rejected: nothing listens on 15006, the connection is refused
    ([active(VIRTUAL_OUT), _rejected(VIRTUAL_IN, "bad lua")], "inbound", ("10.0.0.9", 8080), None,
     "no active listener is there: listener `virtualInbound` was rejected by Envoy: bad lua; the connection is "
     "refused", "Envoy has no other listener on port 15006"),
    # a gateway's rejected bound listener: refused, and said why
    ([_rejected(_listener("0.0.0.0_8080", "0.0.0.0", 8080, "x"), "bad filter")], "direct", ("10.0.0.9", 8080), None,
     "no listener is bound to 10.0.0.9:8080", "was rejected by Envoy: bad filter; no active listener serves this port"),
])
def test_listener_selection_reports_what_envoy_does_not_use(entries: list[dict[str, Any]], entry: str,
                                                            dst: tuple[str, int], chosen: str | None, reason: str,
                                                            miss: str) -> None:
    dump = sidecar(entries)
    found, step = select_listener(dump, Wire(dst_ip=dst[0], dst_port=dst[1], src_ip="10.0.0.9"), entry)
    assert (found.name if found else None) == chosen
    assert reason in step.reason
    assert miss in step.near_misses[0].reason


@pytest.mark.parametrize(("clusters", "says"), [
    ({"dynamic_warming_clusters": [{"cluster": {"name": "c", "type": "EDS"}}]}, "it is warming"),
    ({"dynamic_active_clusters": [{"error_state": {"failed_configuration": {"name": "c"}, "details": "no"}}]},
     "it was rejected by Envoy: no"),
])
def test_a_route_to_a_warming_or_rejected_cluster_gets_nc_and_the_reason(clusters: dict[str, Any], says: str) -> None:
    dump = sidecar([], clusters)
    assert dump.cluster("c") is None and dump.get("cluster", "c") is not None
    result = resolve_cluster(dump, "c")
    assert result.outcome == "unknown_cluster"
    assert says in result.steps[0].reason and result.steps[0].near_misses[0].candidate == "c"


def test_deathstarbench_rejected_inbound_listener_refuses_inbound_connections() -> None:
    dump = load_file(str(shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json")))
    rejected = dump.not_serving("listener")
    assert [(r.name, r.status) for r in rejected] == [("virtualInbound", "rejected")] * 2
    assert all(r.error_details.startswith(LUA_ERROR) for r in rejected)
    found, step = select_listener(dump, Wire(dst_ip="172.16.188.31", dst_port=8083, src_ip="10.0.0.1"), "inbound")
    assert found is None
    assert "listener `virtualInbound` was rejected by Envoy: " + LUA_ERROR in step.reason


def test_a_rejected_route_configuration_is_named_in_the_network_filter_step() -> None:
    from envoyscope.engine.request import TraceRequest
    from envoyscope.engine.trace import trace

    hcm = {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                 "HttpConnectionManager", "stat_prefix": "9080", "rds": {"route_config_name": "9080"},
        "http_filters": [{"name": "envoy.filters.http.router"}]}}
    http = {**_listener("0.0.0.0_9080", "0.0.0.0", 9080, "x", bind_to_port=False),
            "filter_chains": [{"filters": [hcm]}]}
    dump = parse_document({"configs": [
        {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "sidecar~10.0.0.9~a-1.ns~ns.svc"}}},
        {"@type": ADMIN + "ListenersConfigDump", "dynamic_listeners": [active(VIRTUAL_OUT), active(http)]},
        {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [
            {"error_state": {"failed_configuration": {"name": "9080", "virtual_hosts": []}, "details": "bad route"}}]},
    ]}, "test")
    result = trace(TraceRequest(host="reviews", port=9080, ip="10.96.0.5"), [dump])
    step = next(s for s in result.hops[0].steps if s.kind == "network_filter")
    assert step.reason.endswith("which is in the dump but not in use: it was rejected by Envoy: bad route")
    assert step.near_misses[0].reason == ("route configuration 9080 was rejected by Envoy: bad route; Envoy has no "
                                          "route configuration of that name: 404 (NR)")
    assert result.outcome.kind == "no_route"
