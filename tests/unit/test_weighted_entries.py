"""A weighted cluster entry's own rewrites in the trace: the entry's Host, its headers before the route's, the
virtual host's and the route configuration's (each change naming its level), its response headers, per-filter
configuration and cluster_header; shown in the text tree, the JSON and the Markdown/HTML/JSON reports.
(The same configurations replayed in a real Envoy: tests/proof/test_weighted_entries_vs_envoy.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.forwarding import header_levels, mutate, pick_entry
from envoyscope.engine.matchers import HttpRequest
from envoyscope.engine.route import route_http

ADMIN = "type.googleapis.com/envoy.admin.v3."
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _add(name: str, value: str, action: str = "OVERWRITE_IF_EXISTS_OR_ADD") -> dict[str, Any]:
    return {"header": {"key": name, "value": value}, "append_action": action}


ENTRY_B: dict[str, Any] = {
    "name": "up_b", "weight": 70, "host_rewrite_literal": "b.internal", "request_headers_to_remove": ["x-drop"],
    "request_headers_to_add": [_add("x-entry", "b")], "response_headers_to_add": [_add("x-served-by", "b")],
    "typed_per_filter_config": {"envoy.filters.http.lua": {"@type": "x"}}}
ROUTE: dict[str, Any] = {"name": "r1", "match": {"prefix": "/"}, "request_headers_to_add": [_add("x-level", "route")],
         "route": {"weighted_clusters": {"clusters": [
             {"name": "up_a", "weight": 30, "request_headers_to_add": [_add("x-entry", "a")]}, ENTRY_B]}}}
CONFIG: dict[str, Any] = {"name": "rc", "request_headers_to_add": [_add("x-level", "config", "ADD_IF_ABSENT")],
          "virtual_hosts": [{"name": "vh", "domains": ["*"], "routes": [ROUTE],
                             "request_headers_to_add": [_add("x-level", "vhost", "APPEND_IF_EXISTS_OR_ADD")]}]}


def _http(random_value: int, *headers: tuple[str, str]) -> HttpRequest:
    return HttpRequest(authority="shop.example", path="/", method="GET", headers=headers, random_value=random_value)


@pytest.mark.parametrize(("value", "header", "picked"), [(0, None, "up_a"), (29, None, "up_a"), (30, None, "up_b"),
                                                         (130, None, "up_b"), (0, "31", "up_b"), (99, "x", "up_b")])
def test_pick_entry_uses_the_header_name_value_when_it_is_a_number(value: int, header: str | None,
                                                                   picked: str) -> None:
    weighted = {**ROUTE["route"]["weighted_clusters"], "header_name": "x-rv"}
    entry, _, source = pick_entry(weighted, value, lambda name: header)
    assert entry["name"] == picked and source == ("header `x-rv`" if header == "31" else "random value")


def test_levels_in_envoys_order_and_reversed_by_most_specific_wins() -> None:
    vhost = CONFIG["virtual_hosts"][0]
    names = [label for label, _ in header_levels(ENTRY_B, ROUTE, vhost, CONFIG, "r1")]
    assert names == ["weighted cluster entry up_b", "route r1", "virtual host vh", "route configuration rc"]
    flipped = header_levels(ENTRY_B, ROUTE, vhost, {**CONFIG, "most_specific_header_mutations_wins": True}, "r1")
    assert [label for label, _ in flipped] == ["weighted cluster entry up_b", "route configuration rc",
                                               "virtual host vh", "route r1"]
    headers, changes = mutate([("x-drop", "1")], header_levels(ENTRY_B, ROUTE, vhost, CONFIG, "r1"), "request")
    assert headers == [("x-entry", "b"), ("x-level", "route"), ("x-level", "vhost")]
    assert [c.text() for c in changes][-1] == "request header: appends x-level: vhost (virtual host vh)"


def test_the_route_step_shows_the_entry_host_and_each_header_level() -> None:
    result = route_http(CONFIG, _http(30, ("x-drop", "1")))
    assert (result.cluster, result.authority) == ("up_b", "b.internal")
    step = result.steps[-1]
    assert step.reason.startswith("weighted clusters (up_a 30, up_b 70): random value 30 picks up_b (Host rewritten "
                                  "to `b.internal` (the weighted cluster entry up_b's host_rewrite_literal)")
    assert "weighted cluster entry up_b configures envoy.filters.http.lua (typed_per_filter_config" in step.reason
    assert step.changes == ("request header: removes x-drop (weighted cluster entry up_b)",
                            "request header: sets x-entry: b (weighted cluster entry up_b)",
                            "request header: sets x-level: route (route r1)",
                            "request header: appends x-level: vhost (virtual host vh)",
                            "response header: sets x-served-by: b (weighted cluster entry up_b)")
    with_route_host = {**ROUTE, "route": {**ROUTE["route"], "host_rewrite_literal": "route.internal"}}
    config = {**CONFIG, "virtual_hosts": [{**CONFIG["virtual_hosts"][0], "routes": [with_route_host]}]}
    result = route_http(config, _http(30))
    assert result.authority == "route.internal"
    assert "over the weighted cluster entry up_b's host_rewrite_literal `b.internal`" in result.steps[-1].reason


def _dump(tmp_path: Path) -> Path:
    hcm = {"@type": HCM, "stat_prefix": "gw", "route_config": CONFIG, "http_filters": [
        {"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    listener = {"name": "gw_8080", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    clusters = [{"cluster": {"name": name, "type": "STATIC", "load_assignment": {"cluster_name": name, "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": ip, "port_value": 80}}}}]}]}}}
        for name, ip in (("up_a", "10.0.0.1"), ("up_b", "10.0.0.2"))]
    doc = {"configs": [
        {"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "router~10.0.0.9~gw.default~x"}}},
        {"@type": ADMIN + "ListenersConfigDump", "static_listeners": [{"listener": listener}]},
        {"@type": ADMIN + "ClustersConfigDump", "static_clusters": clusters}]}
    path = tmp_path / "gw.config_dump.json"
    path.write_text(json.dumps(doc))
    return path


def test_text_json_and_reports_show_the_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from envoyscope.cli import main

    dump = str(_dump(tmp_path))
    argv = ["trace", dump, "--to", "shop.example:8080", "--ip", "10.0.0.9", "--random-value", "30", "-H", "x-drop: 1"]
    assert main([*argv, "--report", str(tmp_path / "r.md")]) == 0
    out = capsys.readouterr().out
    assert "request header: sets x-entry: b (weighted cluster entry up_b)" in out
    assert "response header: sets x-served-by: b (weighted cluster entry up_b)" in out
    assert main([*argv, "-o", "json", "--report", str(tmp_path / "r.html")]) == 0
    hop = json.loads(capsys.readouterr().out)["hops"][0]
    step = next(s for s in hop["steps"] if s["kind"] == "route_action")
    assert step["matched"] == "up_b"
    assert "request header: removes x-drop (weighted cluster entry up_b)" in step["changes"]
    assert main([*argv, "--report", str(tmp_path / "r.json")]) == 0
    capsys.readouterr()
    markdown, html = (tmp_path / "r.md").read_text(), (tmp_path / "r.html").read_text()
    assert "- request header: appends x-level: vhost (virtual host vh)" in markdown
    assert '<li class="change">request header: sets x-entry: b (weighted cluster entry up_b)</li>' in html
    report = json.loads((tmp_path / "r.json").read_text())
    steps = report["trace"]["hops"][0]["steps"]
    assert any("changes" in s for s in steps)


def test_a_real_dump_route_header_is_shown_with_its_level() -> None:
    """OpenShift Service Mesh 2.x (Istio 1.20) adds `x-internal-mesh-route` on the route: the step says so."""
    from envoyscope.engine.request import TraceRequest
    from envoyscope.engine.trace import trace
    from envoyscope.sources.files import load_sources
    from tests.conftest import shared_path

    dumps = load_sources([str(shared_path("real-dumps", "openshift-sm-1.20", "hello-openshift-config-dump.json"))])
    result = trace(TraceRequest(host="hello-openshift.vanilla-playground.svc.cluster.local", port=80), dumps)
    step = next(s for s in result.hops[0].steps if s.kind == "route_action")
    assert step.changes == ("request header: sets x-internal-mesh-route: applied (route #0)",)


def test_a_command_operator_is_said_to_be_expanded_by_envoy() -> None:
    from envoyscope.engine.forwarding import Change

    assert Change("request", "set", "x-peer", "%DOWNSTREAM_REMOTE_ADDRESS%", "route r1").text() == (
        "request header: sets x-peer: %DOWNSTREAM_REMOTE_ADDRESS% (route r1, Envoy expands its %…% command operators)")
