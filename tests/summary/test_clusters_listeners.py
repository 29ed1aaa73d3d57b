"""Clusters and listeners summaries on small dumps: istioctl's columns, order and filters, and the wide columns."""

from __future__ import annotations

import pytest

from envoyscope.engine.summary import Filters, summarize
from envoyscope.engine.summary._common import parse_subset_key
from envoyscope.engine.summary.listeners import describe_chain_match, describe_destination, listener_type
from tests.summary.builders import config_dump, sock

DR_PATH = "/apis/networking.istio.io/v1alpha3/namespaces/shop/destination-rule/rv"
DR = {"filter_metadata": {"istio": {"config": DR_PATH}}}
REVIEWS = "reviews.default.svc.cluster.local"
TLS = "envoy.transport_sockets.tls"
UPSTREAM = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def _tls(common: dict | None = None, sni: str | None = None) -> dict:
    typed = {"@type": UPSTREAM, "common_tls_context": common or {}}
    if sni:
        typed["sni"] = sni
    return {"name": TLS, "typed_config": typed}


ISTIO_MTLS = _tls({"tls_certificate_sds_secret_configs": [{"name": "default"}],
                   "combined_validation_context": {"validation_context_sds_secret_config": {"name": "ROOTCA"}},
                   "alpn_protocols": ["istio-peer-exchange", "istio"]})


@pytest.mark.parametrize("name,expected", [
    (f"outbound|9080|v1|{REVIEWS}", ("outbound", "v1", REVIEWS, 9080)),
    (f"outbound_.9080_.v1_.{REVIEWS}", ("outbound", "v1", REVIEWS, 9080)),
    ("inbound|8080||", ("inbound", "", "", 8080)),
    ("outbound|http|x|h.local", ("outbound", "x", "h.local", 0)),
    ("a|1|b|c|d", ("a", "b", "", 1)),
    ("plain", ("", "", "", 0)),
])
def test_parse_subset_key(name: str, expected: tuple) -> None:
    assert tuple(parse_subset_key(name)) == expected


def _clusters_dump(*, warming: bool = True):  # type: ignore[no-untyped-def]
    return config_dump(
        clusters=[
            {"name": "outbound|9080|v2|reviews.shop.svc.cluster.local", "type": "EDS", "metadata": DR,
             "transport_socket_matches": [{"name": "tlsMode-istio", "match": {"tlsMode": "istio"},
                                           "transport_socket": ISTIO_MTLS},
                                          {"name": "tlsMode-disabled", "match": {},
                                           "transport_socket": {"name": "envoy.transport_sockets.raw_buffer"}}]},
            {"name": "outbound|9080|v1|reviews.shop.svc.cluster.local", "type": "EDS", "transport_socket": ISTIO_MTLS},
            {"name": "outbound|443||api.example.com", "type": "STRICT_DNS", "transport_socket": _tls(sni="api")},
            {"name": "inbound|9080||", "type": "ORIGINAL_DST",
             "metadata": {"filter_metadata": {"istio": {"config": "not-a-path"}}}},
            {"name": "mtls-out", "type": "STATIC", "transport_socket": _tls(
                {"tls_certificates": [{"certificate_chain": {"filename": "/c.pem"}}]})},
            {"name": "custom", "cluster_type": {"name": "envoy.clusters.aggregate"}},
        ],
        static_clusters=[{"name": "BlackHoleCluster", "type": "STATIC"}],
        warming_clusters=[{"name": "outbound|1||warming.local", "type": "EDS"}] if warming else [],
    )


def test_clusters_columns_order_and_notes() -> None:
    """The warming cluster is shown (istioctl leaves it out): a STATE column says which is which."""
    table = summarize(_clusters_dump(), "clusters")
    assert table.columns == ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE", "STATE")
    assert [row.cells for row in table.rows] == [
        ("", "9080", "-", "inbound", "ORIGINAL_DST", "<unknown>", "ACTIVE"),
        ("BlackHoleCluster", "-", "-", "-", "STATIC", "", "ACTIVE"),
        ("api.example.com", "443", "-", "outbound", "STRICT_DNS", "", "ACTIVE"),
        ("custom", "-", "-", "-", "STATIC", "", "ACTIVE"),
        ("mtls-out", "-", "-", "-", "STATIC", "", "ACTIVE"),
        ("reviews.shop.svc.cluster.local", "9080", "v1", "outbound", "EDS", "", "ACTIVE"),
        ("reviews.shop.svc.cluster.local", "9080", "v2", "outbound", "EDS", "rv.shop", "ACTIVE"),
        ("warming.local", "1", "-", "outbound", "EDS", "", "WARMING"),
    ]
    assert table.rows[0].ref == ("cluster", "inbound|9080||")
    assert table.notes == ()
    without_warming = summarize(_clusters_dump(warming=False), "clusters")  # nothing but active: istioctl's columns
    assert without_warming.columns == table.columns[:-1] and len(without_warming.rows) == 7


def test_clusters_wide_tls_column() -> None:
    table = summarize(_clusters_dump(warming=False), "clusters", wide=True)
    tls = {row.ref[1]: row.cells[-1] for row in table.rows if row.ref}
    assert table.columns[-1] == "TLS"
    assert tls == {
        "inbound|9080||": "plaintext",
        "BlackHoleCluster": "plaintext",
        "outbound|443||api.example.com": "SIMPLE",
        "custom": "plaintext",
        "mtls-out": "MUTUAL",
        "outbound|9080|v1|reviews.shop.svc.cluster.local": "ISTIO_MUTUAL",
        "outbound|9080|v2|reviews.shop.svc.cluster.local": "auto-mTLS",
    }


@pytest.mark.parametrize("filters,expected", [
    (Filters(fqdn="reviews"), 2),
    (Filters(port=9080), 3),
    (Filters(subset="v2"), 1),
    (Filters(direction="inbound"), 1),
    (Filters(fqdn="reviews", subset="v1", port=9080, direction="outbound"), 1),
    (Filters(port=1), 1),  # the warming cluster, shown with its STATE
    (Filters(port=2), 0),
])
def test_cluster_filters(filters: Filters, expected: int) -> None:
    assert len(summarize(_clusters_dump(), "clusters", filters).rows) == expected


HCM = "envoy.filters.network.http_connection_manager"
TCP = "envoy.filters.network.tcp_proxy"


def _hcm_rds(name: str) -> dict:
    return {"name": HCM, "typed_config": {"rds": {"route_config_name": name}}}


def _tcp(cluster: str) -> dict:
    return {"name": TCP, "typed_config": {"stat_prefix": cluster, "cluster": cluster}}


def test_listener_type_classification() -> None:
    assert listener_type({"filter_chains": [{"filters": [_hcm_rds("80")]}]}) == "HTTP"
    assert listener_type({"filter_chains": [{"filters": [_tcp("c")]}]}) == "TCP"
    assert listener_type({"filter_chains": [{"filters": [_tcp("c")]}], "default_filter_chain":
                          {"filters": [_hcm_rds("80")]}}) == "HTTP+TCP"
    assert listener_type({"filter_chains": [{"filters": [_tcp("BlackHoleCluster")]}]}) == "UNKNOWN"
    assert listener_type({}) == "UNKNOWN"


@pytest.mark.parametrize("match,expected", [
    (None, "ALL"),
    ({"server_names": ["a.com", "b.com"], "transport_protocol": "tls"}, "SNI: a.com,b.com; Trans: tls"),
    ({"application_protocols": ["istio-peer-exchange", "istio"]}, "App: TCP TLS"),
    ({"application_protocols": ["http/1.0", "http/1.1", "h2c"]}, "App: HTTP"),
    ({"application_protocols": ["h2"]}, "App: h2"),
    ({"prefix_ranges": [{"address_prefix": "10.0.0.1", "prefix_len": 32}], "destination_port": 443},
     "Addr: 10.0.0.1/32:443"),
    ({"prefix_ranges": [{"address_prefix": "0.0.0.0"}]}, "Addr: 0.0.0.0/0"),
    ({"destination_port": 15006}, "Addr: *:15006"),
])
def test_filter_chain_match(match: dict | None, expected: str) -> None:
    assert describe_chain_match(match) == expected


def test_filter_chain_destination() -> None:
    assert describe_destination([_hcm_rds("9080")]) == "Route: 9080"
    assert describe_destination([{"name": HCM, "typed_config": {}}]) == "HTTP"
    assert describe_destination([_tcp("outbound|3306||db")]) == "Cluster: outbound|3306||db"
    assert describe_destination([_tcp("PassthroughCluster")]) == "PassthroughCluster"
    assert describe_destination([_tcp("BlackHoleCluster")]) == "Non-HTTP/Non-TCP"
    catch_all = {"virtual_hosts": [{"domains": ["*"], "routes": [{"match": {"prefix": "/"},
                                                                   "route": {"cluster": "agent"}}]}]}
    assert describe_destination([{"name": HCM, "typed_config": {"route_config": catch_all}}]) == "Cluster: agent"
    inline = {"virtual_hosts": [{"domains": ["a.com", "b.com"], "routes": [{"match": {"prefix": "/x"}},
                                                                           {"match": {"path": "/y"}}]},
                                {"domains": ["*"], "routes": [{"match": {"safe_regex": {"regex": "^/z"}}}]}]}
    assert describe_destination([{"name": HCM, "typed_config": {"route_config": inline}}]) == (
        "Inline Route: a.com/b.com /x*, /y; regex ^/z")


def _listeners_dump():  # type: ignore[no-untyped-def]
    return config_dump(listeners=[
        {"name": "0.0.0.0_15006", "address": sock("0.0.0.0", 15006), "filter_chains": [
            {"name": "virtualInbound-blackhole", "filter_chain_match": {"destination_port": 15006},
             "filters": [_tcp("BlackHoleCluster")]},
            {"name": "inbound-tls", "filter_chain_match": {"transport_protocol": "tls"},
             "filters": [_tcp("inbound|9080||")]}]},
        {"name": "10.0.0.2_9080", "address": sock("10.0.0.2", 9080), "filter_chains": [
            {"filters": [_hcm_rds("reviews.shop.svc.cluster.local:9080")]}]},
        {"name": "10.0.0.1_9080", "address": sock("10.0.0.1", 9080),
         "additional_addresses": [{"address": sock("fd00::1", 9080)}],
         "filter_chains": [{"filters": [_tcp("outbound|9080||a")]}]},
    ])


def test_listeners_rows_order_and_wide_chain_names() -> None:
    table = summarize(_listeners_dump(), "listeners", wide=True)
    assert table.columns == ("ADDRESSES", "PORT", "MATCH", "DESTINATION", "CHAIN")
    assert [row.cells for row in table.rows] == [
        ("10.0.0.1,fd00::1", "9080", "ALL", "Cluster: outbound|9080||a", "0"),  # unnamed: its index, as traced
        ("10.0.0.2", "9080", "ALL", "Route: reviews.shop.svc.cluster.local:9080", "0"),
        ("0.0.0.0", "15006", "Addr: *:15006", "Non-HTTP/Non-TCP", "virtualInbound-blackhole"),
        ("0.0.0.0", "15006", "Trans: tls", "Cluster: inbound|9080||", "inbound-tls"),
    ]
    assert {row.ref for row in table.rows} == {("listener", n) for n in ("0.0.0.0_15006", "10.0.0.2_9080",
                                                                          "10.0.0.1_9080")}


@pytest.mark.parametrize("filters,expected", [
    (Filters(port=9080), 2),
    (Filters(address="FD00::1"), 1),
    (Filters(type="http"), 1),
    (Filters(type="TCP"), 2),
    (Filters(address="10.0.0.2", port=15006), 0),
])
def test_listener_filters(filters: Filters, expected: int) -> None:
    assert len({row.ref for row in summarize(_listeners_dump(), "listeners", filters).rows}) == expected
