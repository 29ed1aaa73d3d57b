"""Cluster -> endpoint: discovery types, health, priorities, weights (ClusterManagerImpl, LoadBalancerBase)."""

from __future__ import annotations

import pytest

from envoyscope.engine.cluster import choose_endpoint, endpoints_of_assignment, resolve_cluster
from envoyscope.model.parse import parse_document
from tests.conftest import shared_path


def sock(ip: str, port: int) -> dict:
    return {"address": {"socket_address": {"address": ip, "port_value": port}}}


def dump_with(clusters: list[dict], endpoints: list[dict] | None = None, status: dict | None = None):
    configs = [{"@type": "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
                "dynamic_active_clusters": [{"cluster": c} for c in clusters]}]
    if endpoints is not None:
        configs.append({"@type": "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
                        "dynamic_endpoint_configs": [{"endpoint_config": e} for e in endpoints]})
    return parse_document({"configs": configs}, "test")


def assignment(name: str, *groups: tuple[int, list[tuple[str, int, str, int]]]) -> dict:
    return {"cluster_name": name, "endpoints": [
        {"priority": prio, "lb_endpoints": [
            {"endpoint": sock(ip, port), "health_status": health, "load_balancing_weight": weight}
            for ip, port, health, weight in eps]}
        for prio, eps in groups]}


def test_unknown_cluster_is_503_nc():
    result = resolve_cluster(dump_with([]), "outbound|80||nope")
    assert (result.outcome, result.response_flags) == ("unknown_cluster", "NC")


def test_eds_endpoints_and_unhealthy_excluded():
    cla = assignment("c", (0, [("10.0.0.1", 80, "UNHEALTHY", 1), ("10.0.0.2", 80, "HEALTHY", 1)]))
    result = resolve_cluster(dump_with([{"name": "c", "type": "EDS"}], [cla]), "c")
    assert result.chosen is not None and result.chosen.address == "10.0.0.2:80"
    assert [m.candidate for m in result.steps[1].near_misses] == ["10.0.0.1:80"]


def test_all_unhealthy_is_503_uh():
    cla = assignment("c", (0, [("10.0.0.1", 80, "DRAINING", 1)]))
    result = resolve_cluster(dump_with([{"name": "c", "type": "EDS"}], [cla]), "c")
    assert (result.outcome, result.response_flags) == ("no_healthy_upstream", "UH")


def test_eds_without_include_eds_says_unknown():
    result = resolve_cluster(dump_with([{"name": "c", "type": "EDS"}]), "c")
    assert result.outcome == "endpoints_unknown"
    endpoint = next(s for s in result.steps if s.kind == "endpoint")
    assert "without ?include_eds" in endpoint.reason
    assert result.steps[-1].kind == "tls" and result.tls is not None and result.tls.mode == "plaintext"


def test_priority_zero_first_then_failover():
    groups = [(1, [("10.0.1.1", 80, "HEALTHY", 1)]), (0, [("10.0.0.1", 80, "HEALTHY", 1)])]
    eps = endpoints_of_assignment(assignment("c", *groups), "x")
    assert choose_endpoint(eps, 0)[0].address == "10.0.0.1:80"
    groups[1] = (0, [("10.0.0.1", 80, "UNHEALTHY", 1)])
    eps = endpoints_of_assignment(assignment("c", *groups), "x")
    assert choose_endpoint(eps, 0)[0].address == "10.0.1.1:80"


@pytest.mark.parametrize(("random_value", "address"), [(0, "a:1"), (2, "a:1"), (3, "b:1"), (9, "b:1"), (10, "a:1")])
def test_weights_pick_by_random_value(random_value, address):
    eps = endpoints_of_assignment(assignment("c", (0, [("a", 1, "HEALTHY", 3), ("b", 1, "HEALTHY", 7)])), "x")
    assert choose_endpoint(eps, random_value)[0].address == address


def test_strict_dns_names_the_hostname():
    cluster = {"name": "outbound|80||httpbin.org", "type": "STRICT_DNS",
               "load_assignment": {"cluster_name": "x", "endpoints": [{"lb_endpoints": [{"endpoint": sock(
                   "httpbin.org", 80)}]}]}}
    result = resolve_cluster(dump_with([cluster]), "outbound|80||httpbin.org")
    assert result.chosen is not None and result.chosen.address == "httpbin.org:80"
    assert "resolves httpbin.org:80 by DNS" in result.steps[1].reason


def test_original_dst_uses_the_connection():
    result = resolve_cluster(dump_with([{"name": "PassthroughCluster", "type": "ORIGINAL_DST"}]),
                             "PassthroughCluster", original_dst=("203.0.113.10", 443))
    assert result.chosen is not None and result.chosen.address == "203.0.113.10:443"


def test_clusters_status_overrides_health():
    cla = assignment("c", (0, [("10.0.0.1", 80, "HEALTHY", 1)]))
    dump = dump_with([{"name": "c", "type": "EDS"}], [cla])
    status = parse_document({"cluster_statuses": [{"name": "c", "host_statuses": [
        {**sock("10.0.0.1", 80), "health_status": {"eds_health_status": "HEALTHY", "failed_outlier_check": True}}]}]},
        "status")
    from envoyscope.sources.files import merge_status

    result = resolve_cluster(merge_status(dump, status), "c")
    assert result.outcome == "no_healthy_upstream"
    assert "failed_outlier_check" in result.steps[1].near_misses[0].reason


def test_real_sidecar_auto_mtls():
    from envoyscope.sources.files import load_file

    dump = load_file(str(shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json")))
    result = resolve_cluster(dump, "outbound|8087||reservation.hr2.svc.cluster.local")
    assert result.tls is not None and result.tls.mode == "ISTIO_MUTUAL"
    assert result.tls.sni == "outbound_.8087_._.reservation.hr2.svc.cluster.local"
    assert result.chosen is not None and result.chosen.address == "172.16.188.49:8087"
