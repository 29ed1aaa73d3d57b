"""Destination resolution, rule by rule: which address the mesh's DNS would have given the app for a host."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.destination import assume_destination_ip
from envoyscope.model.parse import parse_document

T = "type.googleapis.com/"
HCM = T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
TCP = T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"


def _listener(ip: str, port: int, chains: list[dict[str, Any]]) -> dict[str, Any]:
    name = f"{ip}_{port}"
    return {"name": name, "active_state": {"listener": {
        "name": name, "address": {"socket_address": {"address": ip, "port_value": port}}, "filter_chains": chains}}}


def _rds(name: str) -> dict[str, Any]:
    return {"filters": [{"name": "hcm", "typed_config": {"@type": HCM, "rds": {"route_config_name": name}}}]}


def _tcp(cluster: str, prefix: str | None = None) -> dict[str, Any]:
    chain: dict[str, Any] = {"filters": [{"name": "tcp", "typed_config": {"@type": TCP, "cluster": cluster}}]}
    if prefix:
        chain["filter_chain_match"] = {"prefix_ranges": [{"address_prefix": prefix, "prefix_len": 32}]}
    return chain


DUMP = parse_document({"configs": [
    {"@type": T + "envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": {
        "id": "sidecar~10.1.0.5~sleep-1.shop~shop.svc.cluster.local"}}},
    {"@type": T + "envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": [
        _listener("10.96.0.7", 5000, [_rds("frontend.shop.svc.cluster.local:5000")]),
        _listener("10.96.0.8", 5000, [_rds("frontend.other.svc.cluster.local:5000")]),
        _listener("10.96.0.9", 8080, [{"filters": [{"name": "hcm", "typed_config": {"@type": HCM, "route_config": {
            "name": "inline", "virtual_hosts": [{"name": "api.shop.svc.cluster.local:8080", "domains": ["*"]}]}}}]}]),
        _listener("240.240.0.3", 3306, [_tcp("outbound|3306||mysql.external.com")]),
        _listener("0.0.0.0", 9000, [_tcp("outbound|9000||legacy.shop.svc.cluster.local", "10.96.0.20")]),
    ]},
    {"@type": T + "envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters": [
        {"cluster": {"name": "outbound|7000||cache.shop.svc.cluster.local", "type": "EDS"}}]},
]}, "test")


@pytest.mark.parametrize(("host", "port", "ip", "why"), [
    ("frontend.shop.svc.cluster.local", 5000, "10.96.0.7", "HTTP route configuration is"),
    ("frontend", 5000, "10.96.0.7", "frontend.shop.svc.cluster.local:5000"),  # the pod's namespace first
    ("frontend.other", 5000, "10.96.0.8", "frontend.other.svc.cluster.local:5000"),
    ("api.shop.svc.cluster.local", 8080, "10.96.0.9", "virtual host `api.shop.svc.cluster.local:8080`"),
    ("mysql.external.com", 3306, "240.240.0.3", "auto-allocated"),
    ("legacy.shop.svc.cluster.local", 9000, "10.96.0.20", "filter chain of listener `0.0.0.0_9000`"),
    ("cache.shop.svc.cluster.local", 7000, "203.0.113.10", "as cluster `outbound|7000||cache"),
    ("unknown.example.com", 443, "203.0.113.10", "no configuration names an address"),
    ("frontend.shop.svc.cluster.local", 5001, "203.0.113.10", "no configuration names"),  # the port counts
])
def test_each_rule_names_where_the_address_came_from(host: str, port: int, ip: str, why: str) -> None:
    got, reason = assume_destination_ip(host, port, [DUMP], DUMP)
    assert (got, why in reason) == (ip, True), reason
