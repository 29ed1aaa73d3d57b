"""RBAC configs Envoy refuses: envoyscope says so in Envoy's own words (one line), checked with
``envoy --mode validate`` on the same config, HTTP and network filter; and a trace through such a filter says it
is not evaluated instead of guessing."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.http_filters.rbac_validate import rbac_problem
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy]

RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _policy(perms: list[Any], prins: list[Any] | None = None) -> dict[str, Any]:
    return {"rules": {"policies": {"p": {"permissions": perms, "principals": prins or [{"any": True}]}}}}


CASES: dict[str, tuple[dict[str, Any], bool]] = {
    "permission without rule": (_policy([{}]), False),
    "policy without permissions": ({"rules": {"policies": {"p": {"principals": [{"any": True}]}}}}, False),
    "policy without principals": ({"rules": {"policies": {"p": {"permissions": [{"any": True}]}}}}, False),
    "regex that does not compile": (_policy([{"header": {"name": "x", "safe_regex_match": {"regex": "(("}}}]),
                                    False),
    "malformed CIDR": (_policy([{"destination_ip": {"address_prefix": "10.0.0.300", "prefix_len": 8}}]), False),
    "port above 65535": (_policy([{"destination_port": 70000}]), False),
    "empty and_rules": (_policy([{"and_rules": {"rules": []}}]), False),
    "empty or_ids": (_policy([{"any": True}], [{"or_ids": {"ids": []}}]), False),
    "empty header name": (_policy([{"header": {"name": "", "exact_match": "x"}}]), False),
    "empty principal_name": (_policy([{"any": True}], [{"authenticated": {"principal_name": {}}}]), False),
    "metadata without path": (_policy([{"metadata": {"filter": "a", "value": {"string_match": {"exact": "x"}}}}]),
                              False),
    "empty port range": (_policy([{"destination_port_range": {"start": 10, "end": 5}}]), False),
    "bad SNI regex": (_policy([{"requested_server_name": {"safe_regex": {"regex": "["}}}]), False),
    "shadow rule without rule": ({"shadow_rules": {"policies": {"p": {"permissions": [{}],
                                                                      "principals": [{"any": True}]}}}}, False),
    "header rule in the network filter": (_policy([{"header": {"name": ":method", "exact_match": "GET"}}]), True),
    "header principal in the network filter": (_policy([{"any": True}], [{"header": {"name": "x",
                                                                                      "present_match": True}}]), True),
}
ACCEPTED = {
    "url_path in the network filter": (_policy([{"url_path": {"path": {"exact": "/"}}}]), True),
    "matcher and rules together": ({"rules": {"policies": {}}, "matcher": {"on_no_match": {"action": {
        "name": "a", "typed_config": {"@type": "type.googleapis.com/envoy.config.rbac.v3.Action", "name": "x",
                                      "action": "ALLOW"}}}}}, False),
    "no rules at all": ({}, False),
}


def _validate(tmp: Path, config: dict[str, Any], network: bool) -> tuple[int, str]:
    router = {"name": "router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    http_filters = [router] if network else [{"name": "rb", "typed_config": {"@type": RBAC, **config}}, router]
    filters: list[dict[str, Any]] = [{"name": "hcm", "typed_config": {
        "@type": HCM, "stat_prefix": "h", "route_config": {"name": "r"}, "http_filters": http_filters}}]
    if network:
        filters.insert(0, {"name": "nrb", "typed_config": {"@type": NET_RBAC, "stat_prefix": "n", **config}})
    bootstrap = {"static_resources": {"listeners": [{
        "name": "l", "address": {"socket_address": {"address": "127.0.0.1", "port_value": 1}},
        "filter_chains": [{"filters": filters}]}]}}
    path = tmp / "bootstrap.json"
    path.write_text(json.dumps(bootstrap))
    done = subprocess.run([require_envoy(), "--mode", "validate", "-c", str(path), "-l", "critical",
                           "--use-dynamic-base-id"], capture_output=True, text=True, timeout=60)
    text = re.sub(r"goo\.gle/debug\w+ ", "", " ".join((done.stdout + done.stderr).split()))  # protobuf's
    return done.returncode, re.sub(r" \) rule", ") rule", text)  # debug-text marker, changing from run to run


@pytest.mark.parametrize("label", list(CASES))
def test_refused_as_envoy_refuses(label: str, tmp_path: Path) -> None:
    config, network = CASES[label]
    said = rbac_problem(config, network=network)
    code, envoy_says = _validate(tmp_path, config, network)
    assert code != 0, envoy_says
    assert said is not None and "\n" not in said
    # Envoy prints the proto-constraint chain one cause a line; envoyscope joins them with "; "
    assert " ".join(said.replace("; caused by", " caused by").split()) in envoy_says.replace(
        " | ", " "), (said, envoy_says[-600:])


@pytest.mark.parametrize("label", list(ACCEPTED))
def test_accepted_as_envoy_accepts(label: str, tmp_path: Path) -> None:
    config, network = ACCEPTED[label]
    code, envoy_says = _validate(tmp_path, config, network)
    assert code == 0, envoy_says
    assert rbac_problem(config, network=network) is None
