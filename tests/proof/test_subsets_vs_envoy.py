"""The subset load balancer (``lb_subset_config`` and a route's ``metadata_match``) against a real Envoy.

One Envoy, one route per case (path ``/<case>``), each case's cluster with its own ``lb_subset_config`` over the
same three hosts (closed loopback ports, so every request ends in 503 UF after Envoy picked a host, or 503 UH when
the subset load balancer gives none). Each case is sent six times: Envoy's round robin visits every host of the
subset, so the hosts it logs are the subset itself. envoyscope traces the same request from Envoy's own
``/config_dump`` with random values 0-5, which walk the same subset: both sets must be equal.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.cluster import Endpoint
from envoyscope.engine.request import TraceRequest
from envoyscope.engine.subset import choose_subset
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines

HOSTS = {"h1": {"version": "v1", "stage": "prod"}, "h2": {"version": "v2", "stage": "canary"},
         "h3": {"version": "v2", "stage": "prod"}}
SELECTORS = [{"keys": ["version"]}, {"keys": ["stage", "version"]}]
CLUSTERS: dict[str, dict[str, Any]] = {
    "nofb": {"subset_selectors": SELECTORS},
    "any": {"subset_selectors": SELECTORS, "fallback_policy": "ANY_ENDPOINT"},
    "default": {"subset_selectors": SELECTORS, "fallback_policy": "DEFAULT_SUBSET",
                "default_subset": {"stage": "prod"}},
    "selfb": {"subset_selectors": [{"keys": ["version"], "fallback_policy": "ANY_ENDPOINT"}],
              "fallback_policy": "NO_FALLBACK"},
    "keys": {"subset_selectors": [{"keys": ["stage", "version"], "fallback_policy": "KEYS_SUBSET",
                                   "fallback_keys_subset": ["version"]}, {"keys": ["version"]}]},
}
# (case, cluster, metadata_match criteria or None, the hosts Envoy is expected to use)
CASES: list[tuple[str, str, dict[str, str] | None, set[str]]] = [
    ("v1", "nofb", {"version": "v1"}, {"h1"}),
    ("v2", "nofb", {"version": "v2"}, {"h2", "h3"}),
    ("v2prod", "nofb", {"version": "v2", "stage": "prod"}, {"h3"}),
    ("v3", "nofb", {"version": "v3"}, set()),
    ("stage-only", "nofb", {"stage": "prod"}, set()),
    ("none", "nofb", None, set()),
    ("any-miss", "any", {"version": "v3"}, {"h1", "h2", "h3"}),
    ("any-none", "any", None, {"h1", "h2", "h3"}),
    ("default-miss", "default", {"version": "v9"}, {"h1", "h3"}),
    ("default-none", "default", None, {"h1", "h3"}),
    ("default-hit", "default", {"version": "v2"}, {"h2", "h3"}),
    ("selector-any", "selfb", {"version": "v9"}, {"h1", "h2", "h3"}),
    ("selector-other-keys", "selfb", {"stage": "prod"}, set()),
    ("keys-subset", "keys", {"version": "v2", "stage": "dev"}, {"h2", "h3"}),
    ("keys-hit", "keys", {"version": "v2", "stage": "canary"}, {"h2"}),
]
# Weighted clusters: (case, cluster, the route's criteria, the entry's criteria, the hosts expected); the entry's
# metadata_match is merged over the route's, the entry winning for a key both name.
WEIGHTED: list[tuple[str, str, dict[str, str] | None, dict[str, str], set[str]]] = [
    ("w-entry", "nofb", None, {"version": "v1"}, {"h1"}),
    ("w-merge", "nofb", {"version": "v2"}, {"stage": "prod"}, {"h3"}),
    ("w-override", "nofb", {"version": "v1"}, {"version": "v2"}, {"h2", "h3"}),
]
ALL_CASES = CASES + [(case, cluster, None, expected) for case, cluster, _r, _e, expected in WEIGHTED]
TRIES = 6


def _bootstrap(listen: int, ports: dict[str, int], log: Path) -> dict[str, Any]:
    routes = []
    for case, cluster, criteria, _ in CASES:
        action: dict[str, Any] = {"cluster": cluster, "timeout": "2s"}
        if criteria is not None:
            action["metadata_match"] = {"filter_metadata": {"envoy.lb": criteria}}
        routes.append({"name": case, "match": {"path": f"/{case}"}, "route": action})
    for case, cluster, route_criteria, entry_criteria, _ in WEIGHTED:
        action = {"weighted_clusters": {"clusters": [
            {"name": cluster, "weight": 100, "metadata_match": {"filter_metadata": {"envoy.lb": entry_criteria}}}]},
            "timeout": "2s"}
        if route_criteria is not None:
            action["metadata_match"] = {"filter_metadata": {"envoy.lb": route_criteria}}
        routes.append({"name": case, "match": {"path": f"/{case}"}, "route": action})
    endpoints = [{"lb_endpoints": [
        {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ports[h]}}},
         "metadata": {"filter_metadata": {"envoy.lb": labels}}} for h, labels in HOSTS.items()]}]
    clusters = [{"name": name, "type": "STATIC", "connect_timeout": "1s", "lb_policy": "ROUND_ROBIN",
                 "lb_subset_config": config, "load_assignment": {"cluster_name": name, "endpoints": endpoints}}
                for name, config in CLUSTERS.items()]
    hcm = {"@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                    "HttpConnectionManager", "stat_prefix": "subsets", "delayed_close_timeout": "0s",
           "route_config": {"name": "subsets", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
           "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
           "access_log": [json_access_log(log, {"route": "%ROUTE_NAME%", "upstream": "%UPSTREAM_HOST%",
                                                "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%"})]}
    listener = {"name": "subsets", "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    return {"static_resources": {"listeners": [listener], "clusters": clusters}}


def _get(port: int, path: str) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: subsets\r\nConnection: close\r\n\r\n".encode())
        while sock.recv(4096):
            pass


def _endpoint(name: str, labels: dict[str, str]) -> Endpoint:
    return Endpoint(address=name, ip=name, port=None, raw={"metadata": {"filter_metadata": {"envoy.lb": labels}}})


@pytest.mark.parametrize(("case", "cluster", "criteria", "expected"), CASES, ids=[c[0] for c in CASES])
def test_choose_subset_table(case: str, cluster: str, criteria: dict[str, str] | None, expected: set[str]) -> None:
    endpoints = [_endpoint(h, labels) for h, labels in HOSTS.items()]
    match = {"filter_metadata": {"envoy.lb": criteria}} if criteria is not None else None
    choice = choose_subset(CLUSTERS[cluster], endpoints, match)
    assert {ep.address for ep in choice.hosts} == expected, choice.reason


@pytest.mark.envoy
def test_subset_selection_agrees_with_envoy(tmp_path: Path) -> None:
    ports = {h: free_port() for h in HOSTS}
    back = {f"127.0.0.1:{port}": h for h, port in ports.items()}
    listen = free_port()
    log = tmp_path / "access.json"
    with EnvoyProcess("subsets", tmp_path, _bootstrap(listen, ports, log)) as envoy:
        for case, *_ in ALL_CASES:
            for _ in range(TRIES):
                _get(listen, f"/{case}")
        dump_path = tmp_path / "subsets.config_dump.json"
        dump_path.write_text(json.dumps(envoy.get_json("/config_dump?include_eds")))
        envoy.wait_for("/stats?filter=http.subsets.downstream_rq_completed", lambda text: text.strip().endswith(
            f" {len(ALL_CASES) * TRIES}"))
    lines = read_json_lines(log)
    assert len(lines) == len(ALL_CASES) * TRIES
    dumps = load_sources([str(dump_path)])
    problems = []
    for case, _cluster, _criteria, expected in ALL_CASES:
        mine = [line for line in lines if line["route"] == case]
        envoy_hosts = {back[line["upstream"]] for line in mine if line["upstream"] not in (None, "-")}
        if not expected:
            assert all("UH" in line["flags"] for line in mine), mine
        ours = set()
        for value in range(TRIES):
            result = trace(TraceRequest(host="subsets", port=listen, ip="127.0.0.1", path=f"/{case}",
                                        random_value=value), dumps)
            if result.hops[-1].endpoint is not None:
                ours.add(back[result.hops[-1].endpoint])
            else:
                assert result.outcome.kind == "no_healthy_upstream" and result.outcome.response_flags == "UH"
        if not (envoy_hosts == ours == expected):
            problems.append(f"{case}: envoy {sorted(envoy_hosts)}, envoyscope {sorted(ours)}, table {sorted(expected)}")
    assert not problems
