"""istioctl's waypoint fixture (Istio 1.21, only `main_internal`): requests trace to its `inbound-vip` clusters."""

from __future__ import annotations

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.conftest import shared_path

FIXTURE = ("istioctl", "proxyconfig", "testdata", "config_dump.json")


@pytest.fixture(scope="module")
def dumps():  # type: ignore[no-untyped-def]
    return load_sources([str(shared_path(*FIXTURE))])


@pytest.mark.parametrize(("port", "ip", "chain", "cluster", "outcome"), [
    (8000, None, "inbound-vip|8000||httpbin.default.svc.cluster.local-http",
     "inbound-vip|8000|http|httpbin.default.svc.cluster.local", "no_healthy_upstream"),
    (8100, None, "inbound-vip|8100||httpbin.default.svc.cluster.local-http",
     "inbound-vip|8100|http|httpbin.default.svc.cluster.local", "unknown_cluster"),
    (8000, "192.168.195.248", "direct-http", "encap", "unknown_cluster"),
])
def test_the_waypoint_fixture_traces_to_its_inbound_vip_clusters(dumps, port, ip, chain, cluster,  # type: ignore[no-untyped-def]
                                                                   outcome) -> None:
    result = trace(TraceRequest(host="httpbin.default", port=port, ip=ip, path="/get"), dumps)
    [hop] = result.hops
    assert (hop.listener, hop.filter_chain, hop.cluster) == ("main_internal", chain, cluster)
    assert result.outcome.kind == outcome
    assert any("no listener on port 15008" in a for a in result.assumptions)
    if ip is None:  # the VIP comes from the waypoint's own matcher
        assert any("10.104.171.68" in a and "main_internal" in a for a in result.assumptions)
        assert hop.wire.dst_ip == "10.104.171.68"


def test_an_address_no_chain_takes_is_closed_at_main_internal(dumps) -> None:  # type: ignore[no-untyped-def]
    result = trace(TraceRequest(host="10.9.9.9", port=8000, ip="10.9.9.9"), dumps)
    assert result.outcome.kind == "no_filter_chain"
    assert result.hops[0].listener == "main_internal"
