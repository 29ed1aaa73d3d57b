"""Weighted cluster entries' own rewrites, judged by a real Envoy: the entry picked, the Host the upstream receives
(the entry's ``host_rewrite_literal``, unless the route rewrites the Host itself) and the request headers it
receives (the entry's ``request_headers_to_add``/``_remove``, then the route's, the virtual host's and the route
configuration's, or the other way round with ``most_specific_header_mutations_wins``), and a ``cluster_header``
entry. The random value is fixed by ``weighted_clusters.header_name`` so the pick is deterministic.

One Envoy: two front listeners (the second with most_specific_header_mutations_wins) route to clusters `up_a`,
`up_b`, `up_c` which all point at a tiny HTTP server of the test's own that records the Host and every header
line as it arrives (repeated ones too); Envoy's access log says which cluster was picked.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest, first_wire
from envoyscope.engine.route import route_request
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-weighted-entries")]

ROUTER = [{"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
SEEN = ["x-entry", "x-level", "x-route", "x-vhost", "x-config", "x-drop", "x-keep", "x-case"]


def _add(name: str, value: str, action: str = "OVERWRITE_IF_EXISTS_OR_ADD") -> dict[str, Any]:
    return {"header": {"key": name, "value": value}, "append_action": action}


def _entry(name: str, weight: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "weight": weight, **extra}


ROUTES = [
    {"name": "lit", "match": {"prefix": "/lit"}, "route": {"timeout": "2s", "weighted_clusters": {
        "header_name": "x-rv", "clusters": [
            _entry("up_a", 30, host_rewrite_literal="a.internal",
                   request_headers_to_add=[_add("x-entry", "a"), _add("x-level", "entry-a")]),
            _entry("up_b", 70, host_rewrite_literal="b.internal", request_headers_to_remove=["x-drop"],
                   request_headers_to_add=[_add("x-entry", "b"), _add("x-keep", "entry-b", "ADD_IF_ABSENT")],
                   response_headers_to_add=[_add("x-served-by", "b")])]}},
     "request_headers_to_add": [_add("x-route", "lit"), _add("x-level", "route", "APPEND_IF_EXISTS_OR_ADD")]},
    {"name": "both", "match": {"prefix": "/both"}, "route": {"timeout": "2s", "host_rewrite_literal": "route.internal",
                                                             "weighted_clusters": {"header_name": "x-rv", "clusters": [
        _entry("up_a", 1, host_rewrite_literal="a.internal", request_headers_to_add=[_add("x-entry", "a")]),
        _entry("up_b", 1, host_rewrite_literal="b.internal")]}}},
    {"name": "auto", "match": {"prefix": "/auto"}, "route": {"timeout": "2s", "auto_host_rewrite": True,
                                                             "weighted_clusters": {"header_name": "x-rv", "clusters": [
        _entry("up_a", 1, host_rewrite_literal="a.internal"), _entry("up_c", 1)]}}},
    {"name": "ch", "match": {"prefix": "/ch"}, "route": {"timeout": "2s", "weighted_clusters": {
        "header_name": "x-rv", "clusters": [
            {"cluster_header": "x-cluster", "weight": 50, "host_rewrite_literal": "from-header.internal",
             "request_headers_to_add": [_add("x-entry", "header")]},
            _entry("up_c", 50, request_headers_to_add=[_add("x-entry", "c", "OVERWRITE_IF_EXISTS")])]}}},
]
VHOST_ADDS = [_add("x-vhost", "1"), _add("x-level", "vhost")]
CONFIG_ADDS = [_add("x-config", "1"), _add("x-level", "config", "ADD_IF_ABSENT")]

# (path, random value, extra request headers)
REQUESTS = [(path, rv, extra) for path in ("/lit", "/both", "/auto", "/ch") for rv in (0, 1, 29, 30, 99)
            for extra in ((), (("x-drop", "d"), ("x-keep", "client"), ("x-level", "client")),
                          (("x-cluster", "up_b"), ("x-entry", "client")))]


def _route_config(most_specific_wins: bool) -> dict[str, Any]:
    config: dict[str, Any] = {"name": "weighted", "request_headers_to_add": CONFIG_ADDS, "virtual_hosts": [
        {"name": "front", "domains": ["*"], "routes": ROUTES, "request_headers_to_add": VHOST_ADDS}]}
    if most_specific_wins:
        config["most_specific_header_mutations_wins"] = True
    return config


def _listener(name: str, port: int, config: dict[str, Any], log: Path, fields: dict[str, str]) -> dict[str, Any]:
    hcm = {"@type": HCM, "stat_prefix": name, "route_config": config, "http_filters": ROUTER,
           "delayed_close_timeout": "0s", "access_log": [json_access_log(log, fields)]}
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


class _Echo(BaseHTTPRequestHandler):
    """Records each request's Host and headers (every value of a repeated one, in order) under its x-case."""

    seen: dict[str, dict[str, Any]] = {}

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        record: dict[str, Any] = {"authority": self.headers.get("host")}
        record.update({h: ",".join(self.headers.get_all(h) or ()) or None for h in SEEN})
        self.seen[str(self.headers.get("x-case"))] = record
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _bootstrap(ports: dict[str, int], logs: dict[str, Path]) -> dict[str, Any]:
    front_fields = {"cluster": "%UPSTREAM_CLUSTER%", "code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%",
                    "case": "%REQ(x-case)%"}
    listeners = [_listener("front", ports["front"], _route_config(False), logs["front"], front_fields),
                 _listener("front_msw", ports["front_msw"], _route_config(True), logs["front"], front_fields)]
    clusters = [{"name": name, "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": ports["echo"]}}}}]}]}} for name in ("up_a", "up_b", "up_c")]
    return {"static_resources": {"listeners": listeners, "clusters": clusters}}


def _send(port: int, path: str, headers: list[tuple[str, str]]) -> None:
    lines = "".join(f"{n}: {v}\r\n" for n, v in headers)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: weighted.example\r\n{lines}Connection: close\r\n\r\n".encode())
        while sock.recv(4096):
            pass


def _request(port: int, path: str, headers: list[tuple[str, str]]) -> TraceRequest:
    return TraceRequest(host="weighted.example", port=port, ip="127.0.0.1", path=path,
                        headers=(("host", "weighted.example"), *headers))


def _ours(config: dict[str, Any], port: int, path: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    request = _request(port, path, headers)
    routed = route_request(config, first_wire(request, "127.0.0.1", "127.0.0.1"), request, None, port)
    if routed.kind != "cluster" or not routed.cluster:
        return {"cluster": None}
    sent: dict[str, str] = {}
    for name, value in routed.headers or ():
        sent[name] = f"{sent[name]},{value}" if name in sent else value
    return {"cluster": routed.cluster, "authority": routed.authority or request.authority,
            **{h: sent.get(h) for h in SEEN}}


def _envoys(front: dict[str, Any], echo: dict[str, Any] | None) -> dict[str, Any]:
    if front["cluster"] in (None, "-") or echo is None:
        return {"cluster": None}
    return {"cluster": front["cluster"], **echo}


def _dumped_route_configs(dump: Path) -> dict[str, dict[str, Any]]:
    doc = json.loads(dump.read_text())
    listeners = next(c for c in doc["configs"] if c["@type"].endswith("ListenersConfigDump"))["static_listeners"]
    return {item["listener"]["name"]: item["listener"]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"] for item in listeners}


def test_weighted_entries_agree_with_envoy(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {"front": free_port(), "front_msw": free_port(), "echo": server.server_address[1]}
    logs = {"front": tmp_path / "front.json"}
    cases: list[tuple[str, str, str, list[tuple[str, str]]]] = []
    with EnvoyProcess("weighted", tmp_path, _bootstrap(ports, logs)) as envoy:
        for listener in ("front", "front_msw"):
            for path, rv, extra in REQUESTS:
                case = f"{listener}-{len(cases)}"
                headers = [("x-rv", str(rv)), ("x-case", case), *extra]
                _send(ports[listener], path, headers)
                cases.append((case, listener, path, headers))
        deadline = time.monotonic() + 10
        while len(read_json_lines(logs["front"])) < len(cases) and time.monotonic() < deadline:
            time.sleep(0.05)
        dump = tmp_path / "weighted.config_dump.json"
        dump.write_text(envoy.get("/config_dump"))
    server.shutdown()
    server.server_close()
    fronts = {line["case"]: line for line in read_json_lines(logs["front"])}
    echoes = _Echo.seen
    assert len(fronts) == len(cases)
    configs = _dumped_route_configs(dump)  # what Envoy loaded, as it writes it, not the test's own dicts
    assert configs["front_msw"].get("most_specific_header_mutations_wins") is True
    problems = []
    for case, listener, path, headers in cases:
        ours = _ours(configs[listener], ports[listener], path, headers)
        envoys = _envoys(fronts[case], echoes.get(case))
        if ours != envoys:
            problems.append(f"{case} {path} {headers}:\n  envoy      {envoys}\n  envoyscope {ours}")
    assert not problems, "\n".join(problems)
    # the cases reach what they are meant to: every cluster (up_b also through cluster_header), every Host rewrite,
    # a header appended to (two values), one an entry removed, and a cluster_header entry without its header (503)
    assert {line["cluster"] for line in fronts.values()} == {"up_a", "up_b", "up_c", None}
    assert {e["authority"] for e in echoes.values()} == {"a.internal", "b.internal", "route.internal",
                                                          "from-header.internal", "weighted.example"}
    assert any("," in (e["x-level"] or "") for e in echoes.values())
    assert {(line["code"], line["flags"]) for line in fronts.values() if line["cluster"] is None} == {(503, "NC")}
    assert len(cases) == 120

    # the whole trace, on the dump Envoy wrote: the step names each header's level and the entry's Host
    dumps = load_sources([str(dump)])
    result = trace(_request(ports["front"], "/lit", [("x-rv", "30"), ("x-drop", "d")]), dumps)
    step = next(s for s in result.hops[0].steps if s.kind == "route_action")
    assert step.matched == "up_b" and "header `x-rv` 30 picks up_b" in step.reason
    assert "Host rewritten to `b.internal` (the weighted cluster entry up_b's host_rewrite_literal)" in step.reason
    assert step.changes == (
        "request header: removes x-drop (weighted cluster entry up_b)",
        "request header: sets x-entry: b (weighted cluster entry up_b)",
        "request header: sets x-keep: entry-b (weighted cluster entry up_b)",
        "request header: sets x-route: lit (route lit)",
        "request header: sets x-level: route (route lit)",
        "request header: sets x-vhost: 1 (virtual host front)",
        "request header: sets x-level: vhost (virtual host front)",
        "request header: sets x-config: 1 (route configuration weighted)",
        "response header: sets x-served-by: b (weighted cluster entry up_b)",
    ), step.changes
    result = trace(_request(ports["front"], "/ch", [("x-rv", "0")]), dumps)
    assert (result.outcome.kind, result.outcome.response_code, result.outcome.response_flags) == (
        "unknown_cluster", 503, "NC")  # as Envoy answered: the entry's cluster_header is absent
    step = next(s for s in result.hops[0].steps if s.kind == "route_action")
    assert "(cluster from header `x-cluster`: absent)" in step.reason and step.to_json()["changes"][0] == (
        "request header: sets x-entry: header (weighted cluster entry cluster_header x-cluster)")
