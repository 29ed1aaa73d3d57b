"""The rules every typed value is checked by (envoyscope.engine.validate), shared by the CLI and the TUI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from envoyscope.engine import validate as v
from envoyscope.errors import ArgumentError, EnvoyscopeError

ISTIO_SNI = "outbound_.9080_._.reviews.default.svc.cluster.local"
GOOD: list[tuple[Callable[..., Any], tuple[Any, ...], Any]] = [
    (v.ip, ("10.1.2.3", "--ip"), "10.1.2.3"),
    (v.ip, ("[2001:DB8::1]", "--ip"), "2001:db8::1"),
    (v.ip, ("::ffff:10.0.0.1", "--ip"), "::ffff:10.0.0.1"),
    (v.port, ("65535", "--port"), 65535),
    (v.host, ("Reviews.default.svc.cluster.local.", "--to"), "Reviews.default.svc.cluster.local."),
    (v.host, ("_grpc.example.com", "--to"), "_grpc.example.com"),
    (v.destination, ("httpbin.org", "https"), ("httpbin.org", 443)),
    (v.destination, ("2001:db8::1", "http"), ("2001:db8::1", 80)),
    (v.destination, ("[2001:db8::1]:15001", "tcp"), ("2001:db8::1", 15001)),
    (v.address, ("[2001:db8::1]:80", "--proxy"), "[2001:db8::1]:80"),
    (v.address_filter, ("0.0.0.0", "--address"), "0.0.0.0"),
    (v.address_filter, ("/var/run/envoy.sock", "--address"), "/var/run/envoy.sock"),
    (v.header, ("X-Want:  v2 ", "-H"), ("X-Want", "v2")),
    (v.header, (":authority: a.com:8080", "-H"), (":authority", "a.com:8080")),
    (v.header, ("x-tab: a\tb", "-H"), ("x-tab", "a\tb")),
    (v.header, ("Host: [2001:db8::1]:8080", "-H"), ("Host", "[2001:db8::1]:8080")),
    (v.path, ("/a/b?c=d%20e",), "/a/b?c=d%20e"),
    (v.method, ("patch",), "PATCH"),
    (v.sni, (ISTIO_SNI,), ISTIO_SNI),
    (v.alpn, ("h2, http/1.1,",), ("h2", "http/1.1")),
    (v.admin_url, ("https://[::1]:15000/prefix",), "https://[::1]:15000/prefix"),
    (v.pod_spec, ("istio-system/istio-ingressgateway-5d8c-q2w7x",), "istio-system/istio-ingressgateway-5d8c-q2w7x"),
    (v.pod_spec, ("shop/deploy/web.v2",), "shop/deploy/web.v2"),
    (v.pod_spec, ("deploy/web",), "deploy/web"),
]

GOOD += [
    (v.spiffe_principal, ("spiffe://cluster.local/ns/default/sa/sleep",), "spiffe://cluster.local/ns/default/sa/sleep"),
    (v.instant, ("2026-12-07T21:00:00Z",), datetime(2026, 12, 7, 21, tzinfo=UTC)),
    (v.instant, ("2026-12-07",), datetime(2026, 12, 7, tzinfo=UTC)),
    (v.instant, ("2026-12-07T22:00:00+01:00",), datetime(2026, 12, 7, 21, tzinfo=UTC)),
    (v.jwt_header, ("eyJhbGciOiJub25lIn0.e30.x", ["x-a: 1"]), "authorization: Bearer eyJhbGciOiJub25lIn0.e30.x"),
]

BAD: list[tuple[Callable[..., Any], tuple[Any, ...], str]] = [
    (v.ip, ("10.1.2", "--ip"), "Expected 4 octets"),
    (v.ip, ("10.99.230.256", "--ip"), "(> 255)"),
    (v.ip, ("not-an-ip", "--ip"), "not an IPv4 or IPv6 address"),
    (v.ip, ("", "--ip"), "an IP address is needed"),
    (v.ip, ("1.2.3.4.5", "--ip"), "not an IPv4 address"),
    (v.ip, ("::ffff:1.2.3.999", "--ip"), "not an IPv6 address"),
    (v.port, ("0", "--port"), "1 to 65535"),
    (v.port, ("٣", "--port"), "1 to 65535"),
    (v.host, ("a" * 64 + ".com", "--to"), "longer than 63"),
    (v.host, ("a-.com", "--to"), "the label `a-`"),
    (v.host, (".a.com", "--to"), "empty label"),
    (v.host, ("10.1.2.300", "--to"), "not an IPv4 address"),
    (v.destination, ("a:b:c", "http"), "not an IPv6 address"),
    (v.destination, ("[::1]x", "http"), "is not `:PORT`"),
    (v.destination, ("[]:80", "http"), "the host is empty"),
    (v.header, (":", "-H"), "expected 'NAME: VALUE'"),
    (v.header, (":method: POST", "-H"), "use --method"),
    (v.header, ("x-a: \x00", "-H"), "control character"),
    (v.header, ("x(a): b", "-H"), "not a header name"),
    (v.header, ("Host: a b", "-H"), "a Host is HOST[:PORT]"),
    (v.header, (":authority: a\"b", "-H"), "a Host is HOST[:PORT]"),
    (v.header, ("host:", "-H"), "a Host is HOST[:PORT]"),
    (v.path, ("",), "starts with /"),
    (v.path, ("/\x7f",), "control character"),
    (v.method, ("",), "token"),
    (v.sni, ("[::1]",), "without a port"),
    (v.sni, ("a..b",), "empty label"),
    (v.alpn, ("h2,h\x01",), "not an ALPN"),
    (v.admin_url, ("http://a b:15000",), "no spaces"),
    (v.admin_url, ("unix:///tmp/admin",), "the scheme is `unix`"),
    (v.admin_url, ("http://127.0.0.1:0",), "1 to 65535"),
    (v.pod_spec, ("ns/",), "a Kubernetes name is"),
    (v.pod_spec, ("a" * 64 + "/web",), "a namespace is"),
    (v.kube_name, ("web..v2", "--pod"), "a Kubernetes name is"),
    (v.positive, (0.0, "--admin-timeout"), "more than 0"),
    (v.non_negative, (-5, "--random-value"), "0 or more"),
    (v.spiffe_principal, ("cluster.local/ns/default/sa/sleep",), "a SPIFFE identity, spiffe://"),
    (v.spiffe_principal, ("spiffe://cluster.local",), "a trust domain (a DNS name) and a path"),
    (v.spiffe_principal, ("spiffe://a b/ns/x",), "no spaces"),
    (v.instant, ("yesterday",), "an ISO 8601 time"),
    (v.jwt_header, ("Bearer a.b.c", []), "without `Bearer `"),
    (v.jwt_header, ("a.b", []), "three base64url parts"),
    (v.jwt_header, ("e30.e30.x", ["Authorization: x"]), "-H already sets"),
    (v.jwt_header, ("bm9wZQ.e30.x", []), "not a base64url JSON object"),
]


@pytest.mark.parametrize("check,args,expected", GOOD, ids=[f"{c.__name__}-{a[0]}" for c, a, _ in GOOD])
def test_accepts(check: Callable[..., Any], args: tuple[Any, ...], expected: Any) -> None:
    assert check(*args) == expected


@pytest.mark.parametrize("check,args,words", BAD, ids=[f"{c.__name__}-{a[0]!r}" for c, a, _ in BAD])
def test_rejects_naming_the_flag(check: Callable[..., Any], args: tuple[Any, ...], words: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        check(*args)
    error = caught.value
    assert isinstance(error, EnvoyscopeError) and isinstance(error, ValueError)
    assert str(error).startswith(f"{error.flag} {str(args[0])!r}: ") and words in str(error)


def test_checked_request_names_the_fields_as_the_caller_does() -> None:
    request = v.checked_request(to="reviews:9080", dst_ip="[2001:DB8::7]", req_method="post",
                                headers=["host: reviews", "x-v: 2"], server_name="", alpn_list="h2c")
    assert (request.host, request.port, request.ip, request.method) == ("reviews", 9080, "2001:db8::7", "POST")
    assert request.headers == (("host", "reviews"), ("x-v", "2")) and request.alpn == ("h2c",)
    labels = {**v.CLI_FLAGS, "--ip": "destination IP"}
    with pytest.raises(ArgumentError, match=r"^destination IP '10\.1\.2': not an IPv4 address"):
        v.checked_request(to="reviews:9080", dst_ip="10.1.2", flags=labels)


def test_every_host_the_tui_suggests_is_accepted() -> None:
    """The trace form completes hosts from the dumps (route domains, cluster names): each must pass --to's rules."""
    from envoyscope.sources.files import load_sources
    from envoyscope.tui.catalog import known_hosts
    from tests.conftest import SAMPLES, shared_path

    files = sorted(str(p) for p in shared_path("real-dumps").glob("*/*.json")) + [str(p) for p in SAMPLES.iterdir()]
    hosts = known_hosts(load_sources(files))
    assert len(hosts) > 300
    assert [h for h in hosts if not _accepted(h)] == []


def _accepted(host: str) -> bool:
    try:
        v.destination(host, "http")
    except ArgumentError:
        return False
    return True


def test_checked_request_takes_the_policy_fields() -> None:
    """--principal, --jwt and --now are checked the same way for the CLI and the TUI form, under the caller's
    names."""
    request = v.checked_request(to="httpbin:8000", principal="spiffe://cluster.local/ns/default/sa/sleep",
                                inbound=True, jwt_token="eyJhbGciOiJub25lIn0.e30.x", now="2026-12-07T21:00:00Z")
    assert request.principal == "spiffe://cluster.local/ns/default/sa/sleep" and request.inbound
    assert ("authorization", "Bearer eyJhbGciOiJub25lIn0.e30.x") in request.headers
    assert request.now == datetime(2026, 12, 7, 21, tzinfo=UTC)
    with pytest.raises(ArgumentError, match=r"^Principal 'sleep': a SPIFFE identity"):
        v.checked_request(to="httpbin:8000", principal="sleep", flags={**v.CLI_FLAGS, "--principal": "Principal"})
