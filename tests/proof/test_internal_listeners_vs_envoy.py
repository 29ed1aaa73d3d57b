"""Internal listeners without Istio's names, in a real Envoy 1.40: which listener and chain take an internal
connection, from which metadata its destination comes, and what happens when nothing restores it.

One Envoy: listener ``front`` routes by path to clusters whose endpoint is an ``envoy_internal_address``:
- ``to-inner``: passes its *cluster* metadata through (``passthrough_metadata`` kind ``cluster``): the internal
  listener ``inner``'s ``original_dst`` filter restores 10.1.2.3:8443, so ``filter_chain_match`` on port 8443 picks
  chain ``port-8443``;
- ``to-inner-host``: passes the *endpoint's* metadata (kind ``host``): 10.9.9.9:9000, the catch-all chain;
- ``to-plain``: to ``plain``, an internal listener without ``original_dst``: its local address stays the internal
  address, port 8443 never matches, its ``default_filter_chain`` takes it;
- ``to-missing``: an internal address no listener has.
Envoy's access logs (per listener, with ``%DOWNSTREAM_LOCAL_ADDRESS%``) and envoyscope's trace must agree.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.model.parse import parse_document
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines, require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-internal")]
T = "type.googleapis.com/"
ODST = "envoy.filters.listener.original_dst"
FIELDS = {"chain": "%FILTER_CHAIN_NAME%", "cluster": "%UPSTREAM_CLUSTER%", "upstream": "%UPSTREAM_HOST%",
          "local": "%DOWNSTREAM_LOCAL_ADDRESS%", "code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%"}


def _hcm(name: str, routes: list[tuple[str, str]], log: Path) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name, "access_log": [json_access_log(log, {**FIELDS, "listener": name, "kind": "stream"})],
        "route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": [
            {"name": cluster, "match": {"prefix": prefix}, "route": {"cluster": cluster}}
            for prefix, cluster in routes]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}]}}


def _internal_cluster(name: str, listener: str, kind: str, local: str | None) -> dict[str, Any]:
    endpoint: dict[str, Any] = {"endpoint": {"address": {"envoy_internal_address": {
        "server_listener_name": listener, "endpoint_id": "e1"}}}}
    cluster: dict[str, Any] = {"name": name, "type": "STATIC", "connect_timeout": "1s", "transport_socket": {
        "name": "internal_upstream", "typed_config": {
            "@type": T + "envoy.extensions.transport_sockets.internal_upstream.v3.InternalUpstreamTransport",
            "passthrough_metadata": [{"kind": {kind: {}}, "name": ODST}],
            "transport_socket": {"name": "raw_buffer", "typed_config": {
                "@type": T + "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"}}}}}
    if local and kind == "host":
        endpoint["metadata"] = {"filter_metadata": {ODST: {"local": local}}}
    if local and kind == "cluster":
        cluster["metadata"] = {"filter_metadata": {ODST: {"local": local}}}
    cluster["load_assignment"] = {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]}
    return cluster


def config(port: int, log: Path) -> dict[str, Any]:
    closed = free_port()
    sinks = [{"name": n, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": n, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": closed}}}}]}]}} for n in ("sink-a", "sink-b")]
    odst = {"name": ODST,
            "typed_config": {"@type": T + "envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}

    def internal(name: str, filters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"name": name, "internal_listener": {}, "listener_filters": filters,
                "access_log": [json_access_log(log, {**FIELDS, "listener": name, "kind": "connection"})], **extra}

    listeners = [
        {"name": "front", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
         "filter_chains": [{"filters": [_hcm("front", [("/host", "to-inner-host"), ("/plain", "to-plain"),
                                                       ("/missing", "to-missing"), ("/", "to-inner")], log)]}]},
        internal("inner", [odst], filter_chains=[
            {"name": "port-8443", "filter_chain_match": {"destination_port": 8443},
             "filters": [_hcm("inner", [("/", "sink-a")], log)]},
            {"name": "catch-all", "filters": [_hcm("inner-catch", [("/", "sink-b")], log)]}]),
        internal("plain", [], filter_chains=[
            {"name": "port-8443", "filter_chain_match": {"destination_port": 8443},
             "filters": [_hcm("plain", [("/", "sink-a")], log)]}],
                 default_filter_chain={"name": "plain-default", "filters": [_hcm("plain-default", [("/", "sink-b")],
                                                                                 log)]}),
    ]
    clusters = [_internal_cluster("to-inner", "inner", "cluster", "10.1.2.3:8443"),
                _internal_cluster("to-inner-host", "inner", "host", "10.9.9.9:9000"),
                _internal_cluster("to-plain", "plain", "host", None),
                _internal_cluster("to-missing", "nowhere", "host", None), *sinks]
    return {"static_resources": {"listeners": listeners, "clusters": clusters},
            "bootstrap_extensions": [{"name": "envoy.bootstrap.internal_listener", "typed_config": {
                "@type": T + "envoy.extensions.bootstrap.internal_listener.v3.InternalListener"}}]}


@pytest.mark.parametrize(("path", "chain", "cluster", "local"), [
    ("/", "port-8443", "sink-a", "10.1.2.3:8443"),
    ("/host", "catch-all", "sink-b", "10.9.9.9:9000"),
    ("/plain", "plain-default", "sink-b", None),
    ("/missing", None, None, None),
])
def test_internal_listeners_agree_with_envoy(tmp_path: Path, path: str, chain: str | None, cluster: str | None,
                                             local: str | None) -> None:
    require_envoy()
    port, log = free_port(), tmp_path / "access.jsonl"
    with EnvoyProcess("internal", tmp_path, config(port, log)) as envoy:
        dump = parse_document(envoy.get_json("/config_dump?include_eds"), "internal")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            sock.settimeout(5)
            while sock.recv(4096):
                pass
        deadline = time.monotonic() + 5
        lines: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not any(x["listener"] == "front" and x["kind"] == "stream"
                                                      for x in lines):
            time.sleep(0.05)
            lines = read_json_lines(log)
    result = trace(TraceRequest(host="x", port=port, ip="127.0.0.1", path=path), [dump])
    # the internal listener's HTTP stream line: which chain took it, what it saw as its local address, its cluster
    stream = next((x for x in lines if x["listener"] != "front" and x["kind"] == "stream"), None)
    front = next(x for x in lines if x["listener"] == "front")
    second = result.hops[1] if len(result.hops) > 1 else None
    assert ((stream or {}).get("chain"), second.filter_chain if second else None) == (chain, chain)
    assert front["upstream"] == result.hops[0].endpoint
    if local is not None:
        assert stream is not None and stream["local"] == local == f"{second.wire.dst_ip}:{second.wire.dst_port}"
    assert (stream["cluster"] if stream else None) == cluster == (second.cluster if second else None)
    if path == "/missing":  # no such internal listener: the upstream connection fails
        assert front["code"] == 503 and result.outcome.response_code == 503
        assert "nowhere" in result.outcome.detail
