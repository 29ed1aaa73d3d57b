"""HTTP routing matchers, table by table: path templates (match and rewrite), gRPC requests, TLS context,
old-style header matchers, Host port stripping, virtual-host near misses, h2c and the HCM codec, and what the
route action step reports (retries, mirrors, hash policy). The same decisions are judged by a real Envoy in
tests/proof/test_routes_vs_envoy.py and tests/proof/test_http_routing_vs_envoy.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.matchers import HttpRequest, header_matches
from envoyscope.engine.network_filters import hcm_codec
from envoyscope.engine.request import TraceRequest, first_wire
from envoyscope.engine.route import is_grpc_request, match_route, request_from_wire, route_http, route_request
from envoyscope.engine.uri_template import TemplateError, parse_template, rewrite_path, template_match
from envoyscope.engine.vhost import find_virtual_host, routing_host


def _template_route(template: str, rewrite: str | None = None, name: str = "t") -> dict[str, Any]:
    action: dict[str, Any] = {"cluster": "c"}
    if rewrite is not None:
        action["path_rewrite_policy"] = {"name": "envoy.path.rewrite.uri_template.uri_template_rewriter",
                                         "typed_config": {"path_template_rewrite": rewrite}}
    return {"name": name, "match": {"path_match_policy": {
        "name": "envoy.path.match.uri_template.uri_template_matcher", "typed_config": {"path_template": template}}},
        "route": action}


def _config(*routes: dict[str, Any], **vhost: Any) -> dict[str, Any]:
    return {"name": "rc", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": list(routes), **vhost}]}


@pytest.mark.parametrize(
    ("template", "path", "captured"),
    [
        ("/api/{v}", "/api/v1", {"v": "v1"}),
        ("/api/{v}", "/api/v1/x", None),
        ("/api/{v}", "/api/", None),  # `*` and `{v}` need at least one character
        ("/t/{v=a/*}/x", "/t/a/b/x", {"v": "a/b"}),  # a variable spanning two segments
        ("/t/{v=a/*}/x", "/t/a/b/c/x", None),
        ("/{p=**}", "/a/b/c", {"p": "a/b/c"}),
        ("/{p=**}", "/", {"p": ""}),  # `**` may be empty
        ("/api/**", "/api", None),
        ("/api/**", "/api/", {}),
        ("/files/{p=**}.txt", "/files/a/b.txt", {"p": "a/b"}),
        ("/{a}/{b=*/x}/**", "/1/2/x/3/4", {"a": "1", "b": "2/x"}),
        ("/{a}", "/a=b", {"a": "a=b"}),  # `=` is a literal character in Envoy 1.40
        ("/{a}", "/a?b", None),  # match_route strips the query first; `?` itself is no pchar
        ("/a{b}c", "/aXYc", {"b": "XY"}),
        ("/{name}.json", "/x.json", {"name": "x"}),
        ("/x*y", "/y", {}),  # a literal `*` stays a regex repetition in Envoy's regex
        ("/api/{v}", "/API/v1", None),  # always case-sensitive
    ],
)
def test_template_match(template: str, path: str, captured: dict[str, str] | None) -> None:
    ok, found, _ = template_match(template, path)
    assert ok == (captured is not None)
    if captured is not None:
        assert found == captured


@pytest.mark.parametrize("template", ["/a//b", "/{v=**.txt}", "/**/*", "/{a}/{a}", "/*.txt/*", "api", "/{v=}",
                                      "/{a}/{b}/{c}/{d}/{e}/{f}", "/{1v}", "/{a}{b}", "/*{a}"])
def test_templates_envoy_refuses_match_nothing(template: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(template)
    route = _template_route(template)
    ok, _, why = match_route(route, HttpRequest(authority="h", path="/a/b"))
    assert not ok and "Envoy rejects it" in why


@pytest.mark.parametrize(
    ("template", "rewrite", "path", "expected"),
    [
        ("/api/{v=*}/users/{id}", "/users/{id}/{v}", "/api/v2/users/7?x=1", "/users/7/v2?x=1"),  # query kept
        ("/t/{v=a/*}/x", "/out/{v}", "/t/a/b/x", "/out/a/b"),
        ("/{p=**}", "/root/{p}", "/", "/root/"),
        ("/files/{p=**}.txt", "/{p}", "/files/.txt", "/"),
        ("/{a}/{b}", "/{b}/{a}", "/x/y", "/y/x"),
        ("/{a}", "/{b}", "/x", None),  # the rewrite names a variable the match lacks: Envoy refuses the route
        ("/{a}", "x/{a}", "/x", None),  # a rewrite starts with `/`
        ("/{a}", "/{a}", "/x/y", None),  # the template does not match: no rewrite
    ],
)
def test_template_rewrite(template: str, rewrite: str, path: str, expected: str | None) -> None:
    assert rewrite_path(template, rewrite, path) == expected


def test_template_rewrite_reaches_the_route_result() -> None:
    result = route_http(_config(_template_route("/api/{v}/{rest=**}", "/{rest}/{v}")),
                        HttpRequest(authority="h", path="/api/v1/a/b?q"))
    assert (result.route, result.cluster, result.path) == ("t", "c", "/a/b/v1?q")
    assert "path rewritten to `/a/b/v1?q`" in result.steps[-1].reason
    assert "path_rewrite_policy" in result.action


@pytest.mark.parametrize(
    ("content_type", "grpc"),
    [("application/grpc", True), ("application/grpc+proto", True), ("application/grpc+json", True),
     ("application/grpc-web", False), ("application/grpc-web+proto", False), ("application/grpc;charset=utf-8", False),
     ("Application/gRPC", False), ("application/json", False), (None, False)],
)
def test_is_grpc_request(content_type: str | None, grpc: bool) -> None:
    headers = (("content-type", content_type),) if content_type is not None else ()
    request = HttpRequest(authority="h", path="/", method="POST", headers=headers)
    assert is_grpc_request(request) is grpc
    ok, _, why = match_route({"match": {"prefix": "/", "grpc": {}}}, request)
    assert ok is grpc
    if not grpc:
        assert "gRPC" in why


@pytest.mark.parametrize(
    ("scheme", "client_cert", "criteria", "matches"),
    [
        ("https", "", {"presented": False}, True),  # a plain HTTPS client presents no certificate
        ("https", "", {"presented": True}, False),
        ("https", "", {"validated": False}, True),
        ("https", "presented", {"presented": True}, True),
        ("https", "presented", {"validated": True}, False),
        ("https", "validated", {"presented": True, "validated": True}, True),  # Istio mTLS between sidecars
        ("http", "", {"presented": False}, True),  # plaintext: no certificate either
        ("http", "", {"presented": True}, False),
        ("http", "validated", {"validated": True}, False),  # a certificate needs TLS
        ("https", "validated", {"presented": {"value": False}}, False),  # BoolValue wrappers of old dumps
    ],
)
def test_tls_context(scheme: str, client_cert: str, criteria: dict[str, Any], matches: bool) -> None:
    request = HttpRequest(authority="h", path="/", scheme=scheme, client_cert=client_cert)
    ok, _, why = match_route({"match": {"prefix": "/", "tls_context": criteria}}, request)
    assert ok is matches
    if not matches:
        assert why.startswith("tls_context.")


def test_client_certificate_flows_from_the_request_to_the_router() -> None:
    request = TraceRequest("api.internal", 443, scheme="https", client_cert="validated")
    wire = first_wire(request, "10.0.0.1", "10.0.0.2")
    assert wire.client_cert == "validated"
    assert request_from_wire(wire, request).client_cert == "validated"
    plain = TraceRequest("api.internal", 80, client_cert="validated")
    assert first_wire(plain, "10.0.0.1", "10.0.0.2").client_cert == ""


@pytest.mark.parametrize(
    ("spec", "value", "matches"),
    [
        ({"exact_match": "prod"}, "prod", True),
        ({"exact_match": "prod"}, "PROD", False),
        ({"prefix_match": "pro"}, "prod", True),
        ({"suffix_match": "-1"}, "PROD-1", True),
        ({"contains_match": "rod"}, "prod", True),
        ({"contains_match": "rod"}, "pr", False),
        ({"safe_regex_match": {"regex": "v[0-9]"}}, "v2", True),
        ({"safe_regex_match": {"regex": "v[0-9]"}}, "v2x", False),  # a full match, as RE2 in Envoy
        ({"exact_match": "prod", "invert_match": True}, "prod", False),
        ({"prefix_match": "x", "invert_match": True}, None, False),  # absent header: no match, even inverted
        ({"prefix_match": "", "treat_missing_header_as_empty": True}, None, True),
    ],
)
def test_old_style_header_matchers(spec: dict[str, Any], value: str | None, matches: bool) -> None:
    headers = (("x-env", value),) if value is not None else ()
    ok, _ = header_matches({"name": "x-env", **spec}, HttpRequest(authority="h", path="/", headers=headers))
    assert ok is matches


@pytest.mark.parametrize(
    ("authority", "hcm", "listener_port", "expected"),
    [
        ("example.com:8080", {"strip_any_host_port": True}, 80, "example.com"),
        ("example.com:80", {"strip_matching_host_port": True}, 80, "example.com"),
        ("example.com:8080", {"strip_matching_host_port": True}, 80, "example.com:8080"),
        ("[::1]:80", {"strip_any_host_port": True}, 80, "[::1]"),
        ("Example.COM:80", None, 80, "example.com:80"),
        ("example.com", {"strip_any_host_port": True}, 80, "example.com"),
    ],
)
def test_routing_host_port_stripping(authority: str, hcm: dict[str, Any] | None, listener_port: int,
                                     expected: str) -> None:
    host, _ = routing_host(authority, {}, hcm, listener_port)
    assert host == expected


def test_the_default_virtual_host_is_not_its_own_near_miss() -> None:
    """The `*` virtual host used to be listed as "fits the name but not the port" when it was the one chosen."""
    config = {"virtual_hosts": [{"name": "default", "domains": ["*"]},
                                {"name": "api", "domains": ["api.example.com:80"]},
                                {"name": "wild", "domains": ["*.example.com:80"]}]}
    vhost, how, misses = find_virtual_host(config, "api.example.com:8080")
    assert vhost is not None and vhost["name"] == "default"
    assert "default `*`" in how
    assert [m.candidate for m in misses] == ["virtual host `api`", "virtual host `wild`"]
    vhost, _, misses = find_virtual_host(config, "other.org:8080")
    assert vhost is not None and vhost["name"] == "default"
    assert misses == []


@pytest.mark.parametrize(
    ("alpn", "http"),
    [((), "http/1.1"), (("h2c",), "h2c"), (("h2c", "http/1.1"), "h2c"), (("h2",), "http/1.1")],
)
def test_first_wire_knows_h2c_prior_knowledge(alpn: tuple[str, ...], http: str) -> None:
    assert first_wire(TraceRequest("a", 80, alpn=alpn), "10.0.0.1", "10.0.0.2").http == http


@pytest.mark.parametrize(
    ("codec", "http", "protocol"),
    [("AUTO", "h2c", "HTTP/2"), ("AUTO", "http/1.1", "HTTP/1.1"), (None, "h2c", "HTTP/2"),
     ("HTTP1", "h2c", None), ("HTTP1", "http/1.1", "HTTP/1.1"), ("HTTP2", "http/1.1", None),
     ("HTTP2", "h2c", "HTTP/2")],
)
def test_hcm_codec(codec: str | None, http: str, protocol: str | None) -> None:
    hcm = {"codec_type": codec} if codec else {}
    assert hcm_codec(hcm, http)[0] == protocol


def test_an_h2c_client_on_an_http1_codec_gets_400() -> None:
    config = _config({"name": "r", "match": {"prefix": "/"}, "route": {"cluster": "c"}})
    request = TraceRequest("a", 80, alpn=("h2c",))
    wire = first_wire(request, "10.0.0.1", "10.0.0.2")
    routed = route_request(config, wire, request, {"codec_type": "HTTP1"}, listener_port=80)
    assert (routed.kind, routed.code, routed.route) == ("reset", 400, None)
    assert "DPE" in routed.detail
    assert route_request(config, wire, request, {"codec_type": "AUTO"}, listener_port=80).route == "r"


def _action_step(action: dict[str, Any], **vhost: Any) -> Any:
    result = route_http(_config({"name": "r", "match": {"prefix": "/"}, "route": action}, **vhost),
                        HttpRequest(authority="h", path="/"))
    assert result.steps[-1].kind == "route_action"
    return result


def test_route_action_reports_retries() -> None:
    result = _action_step({"cluster": "c", "retry_policy": {"retry_on": "5xx,reset", "num_retries": 3,
                                                            "per_try_timeout": "2s"}})
    assert "retries up to 3 time(s) on 5xx,reset, 2s per try" in result.steps[-1].reason
    assert result.action["retry_policy"]["num_retries"] == 3
    default = _action_step({"cluster": "c", "retry_policy": {"retry_on": "connect-failure"}})
    assert "retries up to 1 time(s) on connect-failure" in default.steps[-1].reason  # Envoy's default count
    from_vhost = _action_step({"cluster": "c"}, retry_policy={"retry_on": "gateway-error", "num_retries": 2})
    assert "retries up to 2 time(s) on gateway-error (the virtual host's retry_policy)" in from_vhost.steps[-1].reason


def test_route_action_reports_mirrors() -> None:
    result = _action_step({"cluster": "c", "request_mirror_policies": [
        {"cluster": "shadow"},
        {"cluster": "canary", "runtime_fraction": {"default_value": {"numerator": 10, "denominator": "HUNDRED"}}}]})
    reason = result.steps[-1].reason
    assert "mirrored to shadow" in reason
    assert "mirrored to canary (10/hundred of requests)" in reason
    assert [m["cluster"] for m in result.action["request_mirror_policies"]] == ["shadow", "canary"]
    assert result.cluster == "c"  # mirrors never change where the request itself goes


def test_route_action_reports_hash_policy() -> None:
    result = _action_step({"cluster": "c", "hash_policy": [
        {"header": {"header_name": "x-user"}, "terminal": True}, {"cookie": {"name": "session", "ttl": "0s"}},
        {"connection_properties": {"source_ip": True}}]})
    reason = result.steps[-1].reason
    assert "consistent hashing on header `x-user` (terminal" in reason
    assert "cookie `session`" in reason and "source IP" in reason
    assert len(result.action["hash_policy"]) == 3
    assert "consistent hashing" not in _action_step({"cluster": "c"}).steps[-1].reason
