"""istioctl ``proxy-config <kind> -o json`` output: a bare JSON list of resources, camelCase (protojson).

Two real files: istioctl's own golden ``endpoint/emptyfilter_output.json`` (in ../shared/fixtures), and the lists in
tests/fixtures/istioctl-lists/, made the way istioctl makes them from a dump captured from a real Envoy (see the
make.py there). Each list must summarise exactly as the dump it came from.
"""

from __future__ import annotations

import importlib.util
from types import ModuleType

import pytest

from envoyscope.engine.summary import summarize
from envoyscope.sources.files import load_file
from tests.conftest import REPO, shared_path
from tests.summary.goldens import WRITER

LISTS = REPO / "tests" / "fixtures" / "istioctl-lists"


def _maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("istioctl_lists_make", LISTS / "make.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["clusters", "listeners", "routes"])
def test_committed_lists_are_what_make_py_writes(kind: str) -> None:
    committed = (LISTS / f"egressgateway.{kind}.json").read_text()
    assert committed == _maker().render(kind), "run tests/fixtures/istioctl-lists/make.py"


@pytest.mark.parametrize("kind", ["clusters", "listeners", "routes"])
@pytest.mark.parametrize("wide", [False, True])
def test_a_bare_list_summarises_as_the_dump_it_came_from(kind: str, wide: bool) -> None:
    listed = load_file(str(LISTS / f"egressgateway.{kind}.json"))
    dump = load_file(str(_maker().SOURCE))
    assert listed.has(kind) and listed.of_kind({"clusters": "cluster", "listeners": "listener",
                                                "routes": "route_config"}[kind])
    ours, theirs = summarize(listed, kind, wide=wide), summarize(dump, kind, wide=wide)
    assert ours.rows and [r.cells for r in ours.rows] == [r.cells for r in theirs.rows]


def test_camel_case_list_reads_as_snake_case() -> None:
    listed = load_file(str(LISTS / "egressgateway.clusters.json"))
    cluster = listed.cluster("outbound|443|v1|nginx.external.svc.cluster.local")
    assert cluster is not None and cluster.path.startswith("[")
    assert cluster.raw["eds_cluster_config"]["service_name"] == cluster.name
    assert cluster.raw["transport_socket"]["typed_config"]["common_tls_context"]["alpn_protocols"] == ["h2", "http/1.1"]


def test_istioctls_own_endpoint_json_list() -> None:
    """istioctl's golden output of ``proxy-config endpoint -o json`` read back: the same endpoints as its input."""
    listed = load_file(str(shared_path(*WRITER, "endpoint", "emptyfilter_output.json")))
    dump = load_file(str(shared_path(*WRITER, "endpoint", "configdump.json")))
    assert listed.has("endpoints") and len(listed.endpoints) > 1
    assert {e.name for e in listed.endpoints} < {e.name for e in dump.endpoints}  # istioctl leaves some out
    agent = listed.endpoint("agent")
    assert agent is not None
    assert agent.raw["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1", "port_value": 15020}
    rows = [r.cells for r in summarize(listed, "endpoints").rows]
    assert rows and rows == [r.cells for r in summarize(dump, "endpoints").rows]

