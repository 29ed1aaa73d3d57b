"""Envoy's own route table check suite (router_check_tool goldens) run through envoyscope's router.

Each ``X.yaml`` is a RouteConfiguration; each ``X.golden.proto.json`` lists requests and what Envoy's
``router_check_tool`` expects. The pairings Envoy's CI expects to fail must fail here too.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from envoyscope.engine.matchers import HttpRequest, header_matches
from envoyscope.engine.route import route_http, route_label
from envoyscope.engine.route_action import direct_response_headers, mutate_headers
from envoyscope.model.normalize import normalize_resource
from tests.conftest import shared_path

PASSING = ["ContentType", "ClusterHeader", "DirectResponse", "HeaderMatchedRouting", "Redirect", "Redirect2",
           "Redirect3", "Redirect4", "Runtime", "TestRoutes", "Weighted", "DynamicMetadata", "ComprehensiveRoutes",
           "DetailedCoverage"]


def load_golden(path: Path) -> list[dict[str, Any]]:
    text = re.sub(r",(\s*[\]}])", r"\1", path.read_text())  # Envoy's parser accepts trailing commas
    return list(json.loads(text)["tests"])


def load_config(path: Path) -> dict[str, Any]:
    raw = yaml.safe_load(path.read_text())
    return dict(normalize_resource(raw))


def _runtime_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        keys = {str(node["runtime_key"])} if "runtime_key" in node else set()
        return keys.union(*(_runtime_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_runtime_keys(v) for v in node))
    return set()


def _as_router_check_tool(config: dict[str, Any], enabled: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """router_check_tool mocks the runtime: a key it is not given is off, and the key it is given is on when
    ``random_value % denominator <= numerator`` (Envoy itself uses ``<``). Reproduce that in the config and the
    runtime values, so that the engine keeps Envoy's own rule."""
    runtime: dict[str, Any] = {key: 0 for key in _runtime_keys(config) if key != enabled}
    if enabled is None:
        return config, runtime
    config = copy.deepcopy(config)
    for vhost in config.get("virtual_hosts") or ():
        for route in vhost.get("routes") or ():
            fraction = (route.get("match") or {}).get("runtime_fraction")
            if fraction and fraction.get("runtime_key") == enabled:
                default = fraction.setdefault("default_value", {})
                default["numerator"] = int(default.get("numerator", 0)) + 1
    return config, runtime


def run_case(config: dict[str, Any], case: dict[str, Any]) -> list[str]:
    """The mismatches between envoyscope and the golden for one case (empty: agrees)."""
    given = case["input"]
    config, runtime = _as_router_check_tool(config, given.get("runtime") or None)
    headers = [(h["key"].lower(), h["value"]) for h in given.get("additional_request_headers") or ()]
    if given.get("ssl"):
        headers.append(("x-forwarded-proto", "https"))
    else:
        headers.append(("x-forwarded-proto", "http"))
    if given.get("internal"):
        headers.append(("x-envoy-internal", "true"))
    request = HttpRequest(authority=given[":authority"] if ":authority" in given else given["authority"],
                          path=given.get(":path", given.get("path", "/")),
                          method=given.get(":method", given.get("method", "GET")), headers=tuple(headers),
                          scheme="https" if given.get("ssl") else "http",
                          random_value=int(given.get("random_value", 0)),
                          runtime=runtime,
                          metadata=_metadata(given.get("dynamic_metadata") or ()))
    result = route_http(config, request)
    want = case["validate"]
    url = f"{'https' if given.get('ssl') else 'http'}://{request.authority}{request.path}"
    # router_check_tool reads a direct response's URI and status through the same fields as a redirect's,
    # and a virtual host name only from routes that forward.
    got: dict[str, Any] = {
        "cluster_name": result.cluster if result.kind == "cluster" else "",
        "virtual_host_name": (result.virtual_host or "") if result.kind == "cluster" else "",
        "path_redirect": result.redirect_url or (url if result.kind == "direct_response" else ""),
        "code_redirect": result.code if result.kind in ("redirect", "direct_response") else 0,
        "host_rewrite": (result.authority or request.authority) if result.kind == "cluster" else "",
        "path_rewrite": (result.path or request.path) if result.kind == "cluster" else "",
        "virtual_cluster_name": result.virtual_cluster or "",
    }
    problems = []
    for key in ("request_header_matches", "response_header_matches"):
        for spec in want.get(key) or ():
            headers = _headers_after(config, request, result, key.split("_")[0])
            ok, why = header_matches(spec, HttpRequest(authority=headers.get(":authority", ""), path=headers.get(
                ":path", ""), method=headers.get(":method", ""), headers=tuple(
                (n, v) for n, v in headers.items() if not n.startswith(":"))))
            if not ok:
                problems.append(f"{case['test_name']}: {key} {spec}: {why}")
    for key, expected in want.items():
        if key not in got:
            continue
        value = got[key]
        if key == "code_redirect":
            expected = int(expected)
        if value != expected:
            problems.append(f"{case['test_name']}: {key} expected {expected!r}, envoyscope says {value!r}")
    return problems


def _metadata(entries: Any) -> dict[str, Any]:
    """router_check_tool's dynamic_metadata input: later entries overwrite only with allow_overwrite."""
    out: dict[str, Any] = {}
    for entry in entries:
        namespace = entry["metadata_namespace"]
        if namespace in out and not entry.get("allow_overwrite"):
            continue
        out[namespace] = entry["value"]
    return out


def _headers_after(config: dict[str, Any], request: HttpRequest, result: Any, which: str) -> dict[str, str]:
    """The request headers sent upstream, or the headers of a direct response, as router_check_tool checks them."""
    vhost = next((v for v in config.get("virtual_hosts") or () if v.get("name") == result.virtual_host), {})
    route = next((r for i, r in enumerate(vhost.get("routes") or ()) if route_label(r, i) == result.route), {})
    if which == "response":
        if result.kind != "direct_response":
            return {}
        pairs = direct_response_headers(route, vhost, config)
    else:
        base = [(":authority", result.authority or request.authority), (":path", result.path or request.path),
                (":method", request.method), *request.headers]
        pairs = mutate_headers(base, [route, vhost, config], "request",
                               substitute=lambda v: v.replace("%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%", "127.0.0.1"))
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def run_suite(config_name: str, golden_name: str) -> tuple[int, list[str]]:
    """(number of cases, one line per failing case)."""
    config = load_config(shared_path("router-check", f"{config_name}.yaml"))
    cases = load_golden(shared_path("router-check", f"{golden_name}.golden.proto.json"))
    failing = []
    for case in cases:
        problems = run_case(config, case)
        if problems:
            failing.append("; ".join(problems))
    return len(cases), failing


@pytest.mark.parametrize("name", PASSING)
def test_router_check_suite_agrees(name: str) -> None:
    count, problems = run_suite(name, name)
    assert count > 0
    assert not problems, "\n".join(problems)


def test_failures_golden_fails_exactly_once() -> None:
    _, problems = run_suite("TestRoutes", "TestRoutesFailures")
    assert len(problems) == 1, problems


def test_weighted_golden_on_test_routes_fails() -> None:
    _, problems = run_suite("TestRoutes", "Weighted")
    assert problems
