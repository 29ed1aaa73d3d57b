"""The shape checks: what parsing rejects (envoyscope.model.shape) and what the trace boundary blames
(envoyscope.model.typed.type_problem), table-driven; and neither ever rejects a real dump."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envoyscope.model.shape import SPECS, _check, shape_problem
from envoyscope.model.typed import malformed_resource, type_problem
from envoyscope.sources.files import load_file
from tests.conftest import FIXTURES, SAMPLES

SOCK = {"socket_address": {"address": "10.0.0.1", "port_value": 80}}
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _listener_with_route(route: Any) -> dict[str, Any]:
    return {"name": "l", "address": SOCK, "filter_chains": [{"filters": [{"name": "hcm", "typed_config": {
        "@type": HCM, "route_config": {"name": "r", "virtual_hosts": [{"name": "v", "domains": ["*"],
                                                                       "routes": [route]}]}}}]}]}


ROUTE_PATH = ".filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[0]"

# (kind, resource, None or (path below the resource, problem))
CASES: list[tuple[str, Any, tuple[str, str] | None]] = [
    ("listener", {"name": "l", "address": SOCK}, None),
    ("listener", {"name": "l", "address": "0.0.0.0:80"}, (".address", "expected an object, got a string")),
    ("listener", {"address": {"socket_address": {"address": 7}}},
     (".address.socket_address.address", "expected a string, got a number")),
    ("listener", {"address": {"socket_address": {"port_value": "eighty"}}},
     (".address.socket_address.port_value", "expected a number, got a string")),
    ("listener", {"address": {"socket_address": {"port_value": "80"}}}, None),  # 64-bit style, accepted
    ("listener", {"filter_chains": {"filters": []}}, (".filter_chains", "expected a list, got an object")),
    ("listener", {"filter_chains": [None]}, (".filter_chains[0]", "expected an object, got null")),
    ("listener", {"filter_chains": [{"filter_chain_match": {"server_names": "a.com"}}]},
     (".filter_chains[0].filter_chain_match.server_names", "expected a list, got a string")),
    ("listener", {"default_filter_chain": {"filters": [{"typed_config": []}]}},
     (".default_filter_chain.filters[0].typed_config", "expected an object, got a list")),
    ("listener", _listener_with_route({"match": {"prefix": "/"}, "route": {"cluster": "c"}}), None),
    ("listener", _listener_with_route({"match": "/"}), (ROUTE_PATH + ".match", "expected an object, got a string")),
    ("listener", _listener_with_route({"match": {"headers": [{"name": "x", "string_match": "v"}]}}),
     (ROUTE_PATH + ".match.headers[0].string_match", "expected an object, got a string")),
    ("listener", {"unknown_field": "anything", "metadata": {"filter_metadata": {"istio": {"config": "x"}}}}, None),
    ("route_config", {"virtual_hosts": [{"domains": ["a", 1]}]},
     (".virtual_hosts[0].domains[1]", "expected a string, got a number")),
    ("route_config", {"virtual_hosts": [{"routes": [{"route": {"weighted_clusters": {"clusters": ["a"]}}}]}]},
     (".virtual_hosts[0].routes[0].route.weighted_clusters.clusters[0]", "expected an object, got a string")),
    ("cluster", {"name": "c", "type": "EDS", "eds_cluster_config": {"service_name": "c"}}, None),
    ("cluster", {"load_assignment": {"endpoints": [{"lb_endpoints": [{"endpoint": {"address": "1.2.3.4"}}]}]}},
     (".load_assignment.endpoints[0].lb_endpoints[0].endpoint.address", "expected an object, got a string")),
    ("cluster", {"transport_socket_matches": [{"match": "istio"}]},
     (".transport_socket_matches[0].match", "expected an object, got a string")),
    ("endpoint", {"cluster_name": "c", "endpoints": "none"}, (".endpoints", "expected a list, got a string")),
    ("bootstrap", {"node": "sidecar~1.2.3.4~a.b~b.svc"}, (".node", "expected an object, got a string")),
    ("bootstrap", {"node": {"metadata": ["ISTIO_VERSION"]}}, (".node.metadata", "expected an object, got a list")),
    ("bootstrap", {"node": {"id": "x", "metadata": {"ISTIO_VERSION": "1.22"}}}, None),
    ("clusters_status", {"cluster_statuses": [{"name": "a", "host_statuses": "10.0.0.1:80"}]},
     (".cluster_statuses[0].host_statuses", "expected a list, got a string")),
    ("clusters_status", {"cluster_statuses": [{"host_statuses": [{"address": SOCK, "weight": "heavy"}]}]},
     (".cluster_statuses[0].host_statuses[0].weight", "expected a number, got a string")),
    ("scoped_route", {"name": "s", "route_configuration": {"virtual_hosts": 3}},
     (".route_configuration.virtual_hosts", "expected a list, got a number")),
]


@pytest.mark.parametrize("kind,resource,expected", CASES)
def test_shape_problem(kind: str, resource: Any, expected: tuple[str, str] | None) -> None:
    assert shape_problem(resource, kind) == expected


@pytest.mark.parametrize("kind,resource,expected", CASES)
def test_compiled_check_agrees_with_the_walk(kind: str, resource: Any, expected: tuple[str, str] | None) -> None:
    from envoyscope.model.shape import _fast

    assert _fast(kind)(resource) is (_check(resource, SPECS[kind]) is None)


# Fields parsing does not look at, that the trace still reads: the descriptor walk names them.
TYPED_CASES: list[tuple[str, Any, tuple[str, str] | None]] = [
    ("route_config", {"name": "r", "virtual_hosts": [{"name": "v", "routes": [{"match": {
        "prefix": "/", "runtime_fraction": {"default_value": "50%"}}}]}]},
     (".virtual_hosts[0].routes[0].match.runtime_fraction.default_value", "expected an object, got a string")),
    ("route_config", {"virtual_hosts": [{"routes": [{"route": {"timeout": 3}}]}]},
     (".virtual_hosts[0].routes[0].route.timeout", "expected a string (google.protobuf.Duration), got a number")),
    ("route_config", {"virtual_hosts": [{"routes": [{"route": {"timeout": "3s", "cluster": "c"}}]}]}, None),
    ("listener", {"name": "l", "address": "0.0.0.0"}, (".address", "expected an object, got a string")),
    ("listener", {"name": "l", "use_original_dst": True, "brand_new_field": {"x": 1}}, None),
    ("listener", {"name": "l", "use_original_dst": {"value": True}}, None),  # a wrapper written as an object
    ("listener", {"filter_chains": [{"filters": [{"typed_config": {"@type": HCM, "stat_prefix": ["x"]}}]}]},
     (".filter_chains[0].filters[0].typed_config.stat_prefix", "expected a string, got a list")),
    ("listener", {"filter_chains": [{"filters": [{"typed_config": {
        "@type": "type.googleapis.com/istio.unknown.v1.Thing", "stat_prefix": ["x"]}}]}]}, None),  # unknown type
    ("cluster", {"name": "c", "metadata": {"filter_metadata": {"istio": "x"}}},
     (".metadata.filter_metadata.istio", "expected an object, got a string")),
    ("cluster", {"name": "c", "type": 5}, None),  # enums may be numbers
    ("cluster", {"name": "c", "type": True}, (".type", "expected an enum name, got a boolean")),
]


@pytest.mark.parametrize("kind,resource,expected", TYPED_CASES)
def test_type_problem(kind: str, resource: Any, expected: tuple[str, str] | None) -> None:
    assert type_problem(resource, kind) == expected


def _dumps() -> list[Path]:
    real = sorted((FIXTURES / "real-dumps").rglob("*.json")) if FIXTURES.is_dir() else []
    # bookinfo-1.5's static listeners hold a v2 `config` Struct whose http_filters is one object, not a list: Envoy
    # 1.5 took it, v3 protos do not; parsing accepts it (nothing reads it there), the descriptor walk does not.
    return sorted(SAMPLES.glob("*/*.config_dump.json")) + [p for p in real if "bookinfo-1.5" not in str(p)]


@pytest.mark.parametrize("path", _dumps(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_real_dump_is_blamed(path: Path) -> None:
    """Every dump captured from a real Envoy parses (shape checks pass) and no resource of it is called malformed."""
    assert malformed_resource([load_file(str(path))]) is None
