"""Istio's names, decoded: table-driven tests of envoyscope.model.names, then where a user sees them."""

from __future__ import annotations

import pytest

from envoyscope.engine.summary import summarize
from envoyscope.engine.summary.listeners import describe_chain_match
from envoyscope.model.names import (
    INBOUND_PASSTHROUGH,
    ClusterName,
    IstioConfig,
    config_kind,
    describe_sni,
    istio_configs,
    parse_cluster_name,
    parse_sni,
    sni_for,
    special_kind,
)
from envoyscope.sources.files import load_file
from tests.conftest import SAMPLES, shared_path
from tests.summary.builders import config_dump


@pytest.mark.parametrize("sni,expected", [
    ("outbound_.80_.v1_.reviews.default.svc.cluster.local",
     ClusterName("outbound_.80_.v1_.reviews.default.svc.cluster.local", "outbound", 80, "v1",
                 "reviews.default.svc.cluster.local")),
    ("outbound_.443_._.nginx.external.svc.cluster.local",
     ClusterName("outbound_.443_._.nginx.external.svc.cluster.local", "outbound", 443, "",
                 "nginx.external.svc.cluster.local")),
    ("outbound_.9080_.v1_.a_.b.ns", ClusterName("outbound_.9080_.v1_.a_.b.ns", "outbound", 9080, "v1", "a_.b.ns")),
    ("inbound_.8080_._.x.ns", ClusterName("inbound_.8080_._.x.ns", "inbound", 8080, "", "x.ns")),
    ("www.googleapis.com", None),
    ("outbound_.http_.v1_.x", None),  # the port must be a number
    ("sidecar_.80_.v1_.x", None),
    ("outbound_.80_.v1", None),
    ("", None),
])
def test_parse_sni(sni: str, expected: ClusterName | None) -> None:
    assert parse_sni(sni) == expected


@pytest.mark.parametrize("cluster", ["outbound|80|v1|reviews.default.svc.cluster.local",
                                     "outbound|443||nginx.external.svc.cluster.local", "inbound|8080||"])
def test_sni_round_trip(cluster: str) -> None:
    name = parse_cluster_name(cluster)
    decoded = parse_sni(sni_for(name))
    assert decoded is not None and (decoded.direction, decoded.port, decoded.subset, decoded.host) == (
        name.direction, name.port, name.subset, name.host)


@pytest.mark.parametrize("sni,shown", [
    ("outbound_.443_.v1_.nginx.external.svc.cluster.local",
     "outbound_.443_.v1_.nginx.external.svc.cluster.local (outbound|443|v1|nginx.external.svc.cluster.local)"),
    ("outbound_.80_._.httpbin.org", "outbound_.80_._.httpbin.org (outbound|80||httpbin.org)"),
    ("www.example.com", "www.example.com"),
])
def test_describe_sni(sni: str, shown: str) -> None:
    assert describe_sni(sni) == shown


def _meta(istio: object) -> dict:
    return {"metadata": {"filter_metadata": {"istio": istio}}}


@pytest.mark.parametrize("resource,expected", [
    (_meta({"config": "/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/reviews"}),
     (IstioConfig("VirtualService", "default", "reviews"),)),
    (_meta({"config": "/apis/networking.istio.io/v1/namespaces/default/serviceentries/httpbin.org"}),
     (IstioConfig("ServiceEntry", "default", "httpbin.org"),)),
    (_meta({"config": "/apis/networking.istio.io/v1/namespaces/istio-system/destinationrules/mtls"}),
     (IstioConfig("DestinationRule", "istio-system", "mtls"),)),
    (_meta({"configs": ["/apis/networking.istio.io/v1/namespaces/a/serviceentries/se",
                        "/apis/networking.istio.io/v1/namespaces/b/destination-rule/dr", 7]}),
     (IstioConfig("ServiceEntry", "a", "se"), IstioConfig("DestinationRule", "b", "dr"))),
    (_meta({"config": "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/web"}),
     (IstioConfig("HTTPRoute", "default", "web"),)),
    (_meta({"workload": "istio-egressgateway"}), ()),
    (_meta({"config": "not-a-path"}), ()),
    ({"metadata": {"filter_metadata": {"envoy.lb": {"x": 1}}}}, ()),
    ({}, ()),
])
def test_istio_configs(resource: dict, expected: tuple[IstioConfig, ...]) -> None:
    assert istio_configs(resource) == expected


@pytest.mark.parametrize("segment,kind", [
    ("virtual-service", "VirtualService"), ("virtualservices", "VirtualService"), ("serviceentries", "ServiceEntry"),
    ("service-entry", "ServiceEntry"), ("destinationrules", "DestinationRule"), ("sidecars", "Sidecar"),
    ("gateways", "Gateway"), ("envoyfilters", "EnvoyFilter"), ("workloadentries", "WorkloadEntry"),
    ("httproutes", "HTTPRoute"), ("something-new", "SomethingNew"),
])
def test_config_kind(segment: str, kind: str) -> None:
    assert config_kind(segment) == kind


@pytest.mark.parametrize("name,kind", [
    ("PassthroughCluster", "passthrough"), ("BlackHoleCluster", "blackhole"),
    *((name, "inbound-passthrough") for name in INBOUND_PASSTHROUGH),
    ("InboundPassthroughClusterIpv5", None), ("outbound|80||a.b", None),
])
def test_special_kind(name: str, kind: str | None) -> None:
    assert special_kind(name) == kind


# --- where a user sees them -----------------------------------------------------------------------------


def test_clusters_wide_names_the_istio_config_behind_each_cluster() -> None:
    dump = load_file(str(SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json"))
    table = summarize(dump, "clusters", wide=True, istio_config=True)
    assert table.columns[-2:] == ("ISTIO CONFIG", "TLS")
    cells = {row.ref[1]: row.cells[-2] for row in table.rows if row.ref}
    rule = {row.ref[1]: row.cells[5] for row in table.rows if row.ref}
    # the DestinationRule is istioctl's DESTINATION RULE column, once; ISTIO CONFIG names what else is behind it
    assert rule["outbound|443|v1|nginx.external.svc.cluster.local"] == "originate-mtls-for-nginx.default"
    assert cells["outbound|443|v1|nginx.external.svc.cluster.local"] == "-"
    assert cells["BlackHoleCluster"] == "blackhole" and cells["PassthroughCluster"] == "passthrough"
    assert "ISTIO CONFIG" not in summarize(dump, "clusters", wide=True).columns  # only when asked (the CLI's -o wide)


def test_inbound_passthrough_recognised_in_a_real_sidecar() -> None:
    dump = load_file(str(shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json")))
    table = summarize(dump, "clusters", wide=True, istio_config=True)
    cells = {row.ref[1]: row.cells[-2] for row in table.rows if row.ref}
    inbound = [name for name in cells if name in INBOUND_PASSTHROUGH]
    assert inbound and all(cells[name] == "inbound-passthrough" for name in inbound)


def test_listener_match_wide_decodes_istio_sni() -> None:
    match = {"server_names": ["outbound_.443_.v2_.nginx.external.svc.cluster.local", "www.example.com"],
             "transport_protocol": "tls"}
    assert describe_chain_match(match) == (
        "SNI: outbound_.443_.v2_.nginx.external.svc.cluster.local,www.example.com; Trans: tls")  # istioctl's
    listener = {"name": "0.0.0.0_15443", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 15443}},
                "filter_chains": [{"filter_chain_match": match, "filters": [{
                    "name": "envoy.filters.network.tcp_proxy", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                        "cluster": "outbound|443|v2|nginx.external.svc.cluster.local"}}]}]}
    dump = config_dump(listeners=[listener])
    short, wide = summarize(dump, "listeners"), summarize(dump, "listeners", wide=True)
    assert short.rows[0].cells[2] == describe_chain_match(match)
    assert wide.rows[0].cells[2] == ("SNI: outbound_.443_.v2_.nginx.external.svc.cluster.local "
                                     "(outbound|443|v2|nginx.external.svc.cluster.local),www.example.com; Trans: tls")
