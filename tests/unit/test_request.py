"""The traced request: --to parsing, Host header as a client sends it, SNI, and the assumed destination IP."""

from __future__ import annotations

import pytest

from envoyscope.engine.destination import assume_destination_ip
from envoyscope.engine.request import TraceRequest, first_wire, parse_to
from envoyscope.model.parse import parse_document


@pytest.mark.parametrize(
    ("to", "scheme", "expected"),
    [
        ("httpbin.org", "http", ("httpbin.org", 80)),
        ("httpbin.org:8080", "http", ("httpbin.org", 8080)),
        ("www.googleapis.com", "https", ("www.googleapis.com", 443)),
        ("[2001:db8::1]:443", "tls", ("2001:db8::1", 443)),
        ("10.0.0.7:3306", "tcp", ("10.0.0.7", 3306)),
    ],
)
def test_parse_to(to, scheme, expected):
    assert parse_to(to, scheme) == expected


@pytest.mark.parametrize(("to", "scheme"), [("mysql", "tcp"), ("a:0", "http"), ("a:x", "http"), ("a:70000", "http")])
def test_parse_to_rejects(to, scheme):
    with pytest.raises(ValueError):
        parse_to(to, scheme)


@pytest.mark.parametrize(
    ("request_", "authority"),
    [
        (TraceRequest("httpbin.org", 80), "httpbin.org"),
        (TraceRequest("httpbin.org", 8080), "httpbin.org:8080"),
        (TraceRequest("httpbin.org", 80, headers=(("Host", "HTTPBIN.org:80"),)), "HTTPBIN.org:80"),
        (TraceRequest("api", 443, scheme="https"), "api"),
    ],
)
def test_authority_as_a_client_sends_it(request_, authority):
    assert request_.authority == authority


def test_sni_is_the_host_unless_given_and_never_an_ip():
    assert TraceRequest("www.googleapis.com", 443, scheme="https").server_name == "www.googleapis.com"
    assert TraceRequest("a", 443, scheme="https", sni="b").server_name == "b"
    assert TraceRequest("142.250.1.1", 443, scheme="https").server_name is None
    assert TraceRequest("a", 80).server_name is None


def test_first_wire_plain_http_and_tls():
    plain = first_wire(TraceRequest("httpbin.org", 80, path="/get"), "203.0.113.10", "10.1.0.5")
    assert (plain.transport, plain.http, plain.authority) == ("raw_buffer", "http/1.1", "httpbin.org")
    assert plain.path == "/get"
    tls = first_wire(TraceRequest("x.com", 443, scheme="https", alpn=("h2",)), "203.0.113.10", "10.1.0.5")
    assert (tls.transport, tls.sni, tls.alpn, tls.http) == ("tls", "x.com", ("h2",), None)


def _listener(name: str, ip: str, port: int, cluster: str) -> dict:
    return {"name": name, "address": {"socket_address": {"address": ip, "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "cluster": cluster}}]}]}


DUMP = parse_document({"configs": [
    {"@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump", "dynamic_listeners": [
        {"name": "172.31.1.9_3306", "active_state": {"listener": _listener(
            "172.31.1.9_3306", "172.31.1.9", 3306, "outbound|3306||mysql.example.com")}}]},
    {"@type": "type.googleapis.com/envoy.admin.v3.RoutesConfigDump", "dynamic_route_configs": [
        {"route_config": {"name": "80", "virtual_hosts": [
            {"name": "httpbin.default.svc.cluster.local:80",
             "domains": ["httpbin.default.svc.cluster.local", "httpbin", "10.96.4.20", "10.96.4.20:80"]}]}}]},
]}, "test")


@pytest.mark.parametrize(
    ("host", "port", "ip", "why"),
    [
        ("mysql.example.com", 3306, "172.31.1.9", "listener `172.31.1.9_3306`"),
        ("httpbin", 80, "10.96.4.20", "service VIP"),
        ("203.0.113.77", 80, "203.0.113.77", "is an IP address"),
        ("httpbin.org", 80, "203.0.113.10", "no configuration names an address"),
    ],
)
def test_assume_destination_ip(host, port, ip, why):
    got, reason = assume_destination_ip(host, port, [DUMP], DUMP)
    assert got == ip and why in reason
