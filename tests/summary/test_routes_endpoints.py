"""Routes and endpoints summaries on small dumps: istioctl's rules, filters, and the wide columns."""

from __future__ import annotations

import pytest

from envoyscope.engine.summary import Filters, selected_resources, summarize
from envoyscope.engine.summary.routes import describe_route_domains
from envoyscope.model.clusters_status import clusters_status_from_json
from tests.summary.builders import config_dump, sock

VS = {"filter_metadata": {"istio": {"config": "/apis/networking.istio.io/v1/namespaces/shop/virtual-service/rv"}}}


@pytest.mark.parametrize("domains,expected", [
    ([], ""),
    (["reviews.shop.svc.cluster.local:9080"], "reviews.shop.svc.cluster.local:9080"),
    (["reviews.shop.svc.cluster.local", "reviews.shop.svc.cluster.local:9080", "reviews", "reviews:9080",
      "reviews.shop", "reviews.shop:9080", "reviews.shop.svc", "reviews.shop.svc:9080", "10.0.0.7", "10.0.0.7:9080"],
     "reviews, reviews.shop + 1 more..."),
    (["a.com", "b.com"], "a.com, b.com"),
    (["[fd00:10:96::7fc7]", "[fd00:10:96::7fc7]:8090", "x.local"], "[fd00:10:96::7fc7], x.local"),
    (["h:1", "h:2"], ""),
])
def test_describe_route_domains(domains: list[str], expected: str) -> None:
    assert describe_route_domains(domains) == expected


def _routes_dump():  # type: ignore[no-untyped-def]
    def config(name: str, vhosts: list) -> dict:
        return {"name": name, "virtual_hosts": vhosts}

    routes = [
        config("9080", [{"name": "reviews:9080", "domains": ["reviews", "reviews:9080"], "routes": [
            {"match": {"prefix": "/", "headers": [{"name": "end-user", "string_match": {"exact": "jason"}}]},
             "route": {"weighted_clusters": {"clusters": [{"name": "outbound|9080|v2|reviews", "weight": 90},
                                                          {"name": "outbound|9080|v3|reviews", "weight": 10}]}},
             "metadata": VS},
            {"match": {"path": "/old"}, "redirect": {"path_redirect": "/new", "response_code": "FOUND"}},
            {"match": {"safe_regex": {"regex": "^/api/v[0-9]+"}}, "route": {"weighted_clusters": {"clusters": [
                {"name": "a", "weight": 1}, {"name": "b", "weight": 2}]}}},
            {"match": {"prefix": "/"}, "route": {"cluster": "outbound|9080|v1|reviews"}}]},
            {"name": "allow_any", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "PassthroughCluster"}}]},
            {"name": "empty", "domains": ["*"], "routes": []}]),
        config("ingress", [{"name": "x", "domains": ["*"], "routes": [
            {"match": {"path_separated_prefix": "/get"}, "direct_response": {"status": 503}}]}]),
        config("80", []),
    ]
    return config_dump(routes=routes, static_routes=[config("15010", []), config("443", [
        {"name": "h", "domains": ["*"], "routes": [{"match": {"prefix": "/x", "query_parameters": [
            {"name": "debug", "present_match": True}]}, "route": {"cluster_header": "x-cluster"}}]}])])


def test_routes_rows_as_istioctl() -> None:
    table = summarize(_routes_dump(), "routes")
    assert table.columns == ("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")
    assert [row.cells for row in table.rows] == [
        # numeric names sort among themselves; "ingress" stays where the dump had it
        ("9080", "reviews:9080", "reviews", "/*", "rv.shop"),
        ("9080", "reviews:9080", "reviews", "/old", ""),
        ("9080", "reviews:9080", "reviews", "regex ^/api/v[0-9]+", ""),
        ("9080", "reviews:9080", "reviews", "/*", ""),
        ("9080", "empty", "*", "/*", "404"),
        ("ingress", "x", "*", "PathPrefix:/get", ""),
        ("443", "h", "*", "/x*", ""),
    ]
    assert table.rows[0].ref == ("route_config", "9080")


def test_routes_wide_shows_conditions_and_every_weighted_cluster() -> None:
    table = summarize(_routes_dump(), "routes", wide=True)
    assert table.columns[-1] == "CLUSTER"
    assert [(row.cells[3], row.cells[-1]) for row in table.rows] == [
        ("/* [end-user=jason]", "outbound|9080|v2|reviews 90%, outbound|9080|v3|reviews 10%"),
        ("/old", "redirect path_redirect=/new,response_code=FOUND"),
        ("regex ^/api/v[0-9]+", "a 1/3, b 2/3"),
        ("/*", "outbound|9080|v1|reviews"),
        ("/*", ""),
        ("PathPrefix:/get", "direct_response 503"),
        ("/x* [?debug]", "header:x-cluster"),
    ]


def test_route_name_filter_and_json() -> None:
    dump = _routes_dump()
    assert {row.cells[0] for row in summarize(dump, "routes", Filters(name="443")).rows} == {"443"}
    assert [r["name"] for r in selected_resources(dump, "routes", Filters(name="ingress"))] == ["ingress"]


def _eds_dump():  # type: ignore[no-untyped-def]
    return config_dump(endpoints=[
        {"cluster_name": "outbound|9080||reviews.shop.svc.cluster.local", "endpoints": [
            {"locality": {"region": "eu", "zone": "eu-1"}, "lb_endpoints": [
                {"endpoint": {"address": sock("10.0.0.5", 9080)}, "health_status": "HEALTHY",
                 "load_balancing_weight": 3},
                {"endpoint": {"address": sock("10.0.0.6", 9080)}, "health_status": "UNHEALTHY"}]},
            {"locality": {"region": "us"}, "priority": 1, "lb_endpoints": [
                {"endpoint": {"address": sock("10.1.0.5", 9080)}}]}]},
        {"cluster_name": "outbound|80||a.shop.svc.cluster.local", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"pipe": {"path": "/var/run/x.sock"}}}, "health_status": "HEALTHY"},
            {"endpoint": {"address": {"envoy_internal_address": {"server_listener_name": "connect_originate",
                                                                 "endpoint_id": "10.0.0.9:80"}}}}]}]},
    ])


def test_eds_endpoints_rows_and_wide_weights() -> None:
    table = summarize(_eds_dump(), "endpoints", wide=True)
    assert table.columns == ("NAME", "STATUS", "LOCALITY", "CLUSTER", "WEIGHT", "PRIORITY")
    cluster_a, reviews = "outbound|80||a.shop.svc.cluster.local", "outbound|9080||reviews.shop.svc.cluster.local"
    assert [row.cells for row in table.rows] == [
        ("/var/run/x.sock", "HEALTHY", "", cluster_a, "1", "0"),
        ("envoy://connect_originate/10.0.0.9:80", "UNKNOWN", "", cluster_a, "1", "0"),
        ("10.0.0.5:9080", "HEALTHY", "eu/eu-1", reviews, "3", "0"),
        ("10.0.0.6:9080", "UNHEALTHY", "eu/eu-1", reviews, "1", "0"),
        ("10.1.0.5:9080", "UNKNOWN", "us", reviews, "1", "1"),
    ]
    assert table.rows[0].ref == ("endpoint", cluster_a)


@pytest.mark.parametrize("filters,expected", [
    (Filters(status="unhealthy"), ["10.0.0.6:9080"]),
    (Filters(address="10.0.0.5"), ["10.0.0.5:9080"]),
    (Filters(address="10.0.0.5:9080"), ["10.0.0.5:9080"]),
    (Filters(port=80), []),
    (Filters(cluster="OUTBOUND|80||a.shop.svc.cluster.local"), ["/var/run/x.sock", "envoy://connect_originate/10.0.0.9:80"]),
])
def test_eds_endpoint_filters(filters: Filters, expected: list[str]) -> None:
    assert [row.cells[0] for row in summarize(_eds_dump(), "endpoints", filters).rows] == expected


def test_status_endpoints_come_from_clusters_and_show_outlier_failures() -> None:
    status = clusters_status_from_json({"cluster_statuses": [
        {"name": "outbound|9080||reviews", "host_statuses": [
            {"address": sock("10.0.0.6", 9080), "health_status": {"eds_health_status": "HEALTHY",
                                                                  "failed_outlier_check": True},
             "weight": 2, "priority": 1, "locality": {"region": "eu"}},
            {"address": sock("10.0.0.5", 9080), "health_status": {"eds_health_status": "HEALTHY"}}]},
        {"name": "outbound|9080||ipv6", "host_statuses": [
            {"address": sock("fd00::5", 9080), "health_status": {"eds_health_status": "DRAINING"}}]},
        {"name": "sds-grpc", "host_statuses": [{"address": {"pipe": {"path": "/etc/sds"}},
                                                "health_status": {"eds_health_status": "HEALTHY"}}]}]})
    import dataclasses

    dump = dataclasses.replace(_eds_dump(), clusters_status=status, _index={})
    table = summarize(dump, "endpoints", wide=True)
    assert table.columns == ("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER", "WEIGHT", "PRIORITY", "LOCALITY")
    assert [row.cells for row in table.rows] == [
        ("10.0.0.5:9080", "HEALTHY", "OK", "outbound|9080||reviews", "1", "0", ""),
        ("10.0.0.6:9080", "HEALTHY", "FAILED", "outbound|9080||reviews", "2", "1", "eu"),
        ("fd00::5:9080", "DRAINING", "OK", "outbound|9080||ipv6", "1", "0", ""),
        ("unix:///etc/sds", "HEALTHY", "OK", "sds-grpc", "1", "0", ""),
    ]
    assert table.rows[0].ref == ("cluster", "outbound|9080||reviews")
    assert [row.cells[0] for row in summarize(dump, "endpoints", Filters(status="draining")).rows] == [
        "fd00::5:9080"]


def test_without_eds_the_clusters_load_assignment_is_shown_with_a_note() -> None:
    lb_endpoints = [{"endpoint": {"address": sock("127.0.0.1", 15020)}}]
    dump = config_dump(static_clusters=[{"name": "agent", "type": "STATIC", "load_assignment": {
        "cluster_name": "agent", "endpoints": [{"lb_endpoints": lb_endpoints}]}}])
    table = summarize(dump, "endpoints")
    assert [row.cells for row in table.rows] == [("127.0.0.1:15020", "UNKNOWN", "", "agent")]
    assert "no EDS section" in table.notes[0]
