"""Table-driven tests of the jwt_authn, fault, ext_authz and listed-only evaluators (Envoy's own answers to the same
configs are in tests/proof/test_policy_filters_vs_envoy.py), the ``--jwt`` flag, and every HTTP filter of the real
dumps getting a verdict."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from envoyscope.engine.http_filters import ext_authz, fault, jwt_authn, jwt_token, listed
from envoyscope.engine.http_filters.base import VERDICTS, FilterContext, type_name
from envoyscope.engine.http_filters.registry import evaluator_for
from envoyscope.engine.request import Wire
from tests.lab.jwt_keys import Keys

NOW = datetime(2030, 1, 1, tzinfo=UTC)
T0 = int(NOW.timestamp())
KEYS = Keys()


def ctx(path: str = "/", headers: dict[str, str] | None = None, *, route: dict[str, Any] | None = None,
        random_value: int = 0, method: str = "GET", timeout: int | None = None) -> FilterContext:
    wire = Wire(dst_ip="10.0.0.1", dst_port=80, src_ip="10.0.0.2", authority="svc", path=path, method=method,
                headers=tuple((k.lower(), v) for k, v in (headers or {}).items()))
    return FilterContext(wire, route=route, now=NOW, random_value=random_value, route_timeout_ms=timeout)


@pytest.mark.parametrize(("text", "decoded"), [
    ("YWJj", b"abc"), ("YWI", b"ab"), ("YWI=", b"ab"), ("Y W I", b"ab"), ("-_8", b"\xfb\xff"),
    ("YWJjZ", None), ("YW+j", None), ("YW/j", None), ("@@@", None), ("YQ===", None),
])
def test_base64url_as_envoy_decodes_it(text: str, decoded: bytes | None) -> None:
    assert jwt_token.b64url_decode(text) == decoded


def test_every_broken_token_gets_envoys_status() -> None:
    want = {"one-part": "JwtBadFormat", "two-parts": "JwtBadFormat", "four-parts": "JwtBadFormat",
            "empty-middle": "JwtBadFormat", "header-not-json": "JwtHeaderParseErrorBadJson",
            "no-alg": "JwtHeaderBadAlg", "alg-none": "JwtHeaderNotImplementedAlg", "kid-number": "JwtHeaderBadKid",
            "payload-bad-base64": "JwtPayloadParseErrorBadBase64", "payload-not-object": "JwtPayloadParseErrorBadJson",
            "iss-number": "JwtPayloadParseErrorIssNotString", "sub-number": "JwtPayloadParseErrorSubNotString",
            "iat-string": "JwtPayloadParseErrorIatNotInteger", "exp-negative": "JwtPayloadParseErrorExpOutOfRange",
            "jti-number": "JwtPayloadParseErrorJtiNotString", "aud-number": "JwtPayloadParseErrorAudNotString",
            "signature-bad-base64": "JwtSignatureParseErrorBadBase64", "tampered": "Ok", "padded-header": "Ok"}
    broken = KEYS.broken({"iss": "https://one", "sub": "a"})
    assert {name: jwt_token.parse(token).status for name, token in broken.items()} == want
    assert jwt_token.details("JwtExpired") == "jwt_authn_access_denied{Jwt_is_expired}"


@pytest.mark.parametrize(("nbf", "exp", "status"), [
    (0, 0, "Ok"), (T0 + 59, 0, "Ok"), (T0 + 61, 0, "JwtNotYetValid"), (0, T0 - 59, "Ok"), (0, T0 - 61, "JwtExpired"),
])
def test_time_window_with_the_default_clock_skew(nbf: int, exp: int, status: str) -> None:
    claims = {k: v for k, v in (("nbf", nbf), ("exp", exp)) if v}
    assert jwt_token.time_status(jwt_token.parse(KEYS.sign(claims)), T0, jwt_token.CLOCK_SKEW_SECONDS) == status


@pytest.mark.parametrize(("configured", "token", "ok"), [
    ([], ("x",), True), (["a"], (), False), (["a"], ("b", "a"), True), (["https://svc/"], ("svc",), True),
    (["http://svc"], ("https://svc/",), True), (["svc"], ("svc2",), False),
])
def test_audiences(configured: list[str], token: tuple[str, ...], ok: bool) -> None:
    assert jwt_token.audiences_allowed(configured, token) is ok


@pytest.mark.parametrize(("key", "kid", "status"), [
    ("rsa", None, "Ok"), ("ec", None, "Ok"), ("rsa", "", "Ok"), ("other", None, "JwtVerificationFail"),
    ("other", "zzz", "JwksKidAlgMismatch"),
])
def test_signature_against_the_jwks(key: str, kid: str | None, status: str) -> None:
    token = jwt_token.parse(KEYS.sign({"iss": "x"}, key, kid=kid))
    assert jwt_token.verify_signature(token, jwt_token.parse_jwks(KEYS.jwks()))[0] == status


@pytest.mark.parametrize(("value", "prefix", "token"), [
    ("Bearer abc.d.e", "Bearer ", "abc.d.e"), ("Bearer  abc", "Bearer ", "abc"), ("xBearer abc", "Bearer ", "abc"),
    ("Bearer abc tail", "Bearer ", "abc tail"), ("Bearer @@abc", "Bearer ", "abc"), ("bearer abc", "Bearer ", None),
    ("abc", "", "abc"), ("Bearer @@", "Bearer ", "Bearer @@"),
])
def test_token_extraction_from_a_header_value(value: str, prefix: str, token: str | None) -> None:
    assert jwt_authn.extract_token(value, prefix) == token


def _jwt_config() -> dict[str, Any]:
    jwks = {"inline_string": KEYS.jwks()}
    p1, p2 = {"provider_name": "p1"}, {"provider_name": "p2"}
    return {"providers": {
        "p1": {"issuer": "https://one", "audiences": ["aud-one"], "local_jwks": jwks, "payload_in_metadata": "p1"},
        "p2": {"issuer": "https://two", "from_headers": [{"name": "x-token", "value_prefix": "Token "}],
               "local_jwks": jwks},
        "p3": {"issuer": "https://three", "remote_jwks": {"http_uri": {"uri": "https://idp/jwks", "cluster": "idp"}}}},
        "requirement_map": {"need-p1": p1},
        "rules": [{"match": {"prefix": "/one"}, "requires": p1}, {"match": {"prefix": "/three"},
                                                                   "requires": {"provider_name": "p3"}},
                  {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [p1, p2]}}},
                  {"match": {"prefix": "/all"}, "requires": {"requires_all": {"requirements": [p1, p2]}}},
                  {"match": {"prefix": "/opt"}, "requires": {"requires_any": {"requirements": [
                      p1, {"allow_missing": {}}]}}},
                  {"match": {"prefix": "/map"}, "requirement_name": "need-p1"}]}


ONE = {"iss": "https://one", "aud": "aud-one", "sub": "alice", "exp": T0 + 60}
TWO = {"iss": "https://two", "sub": "bob"}


@pytest.mark.parametrize(("path", "headers", "verdict", "details"), [
    ("/one", {}, "unauthenticated", "jwt_authn_access_denied{Jwt_is_missing}"),
    ("/one", {"authorization": "Bearer " + KEYS.sign(ONE)}, "allow", None),
    ("/one?access_token=" + KEYS.sign(ONE), {}, "allow", None),
    ("/one", {"authorization": "Bearer " + KEYS.sign({**ONE, "exp": T0 - 3600})}, "unauthenticated",
     "jwt_authn_access_denied{Jwt_is_expired}"),
    ("/one", {"authorization": "Bearer " + KEYS.sign({**ONE, "aud": "x"})}, "unauthenticated",
     "jwt_authn_access_denied{Audiences_in_Jwt_are_not_allowed}"),
    ("/one", {"authorization": "Bearer " + KEYS.sign({**ONE, "iss": "https://evil"})}, "unauthenticated",
     "jwt_authn_access_denied{Jwt_issuer_is_not_configured}"),
    ("/three", {"authorization": "Bearer " + KEYS.sign({"iss": "https://three"}, "other")}, "allow", None),
    ("/any", {"x-token": "Token " + KEYS.sign(TWO, "ec")}, "allow", None),
    ("/any", {"authorization": "Bearer " + KEYS.sign(TWO)}, "unauthenticated",
     "jwt_authn_access_denied{Jwt_issuer_is_not_configured}"),
    ("/all", {"authorization": "Bearer " + KEYS.sign(ONE)}, "unauthenticated",
     "jwt_authn_access_denied{Jwt_is_missing}"),
    ("/all", {"authorization": "Bearer " + KEYS.sign(ONE), "x-token": "Token " + KEYS.sign(TWO)}, "allow", None),
    ("/opt", {}, "allow", None),
    ("/opt", {"authorization": "Bearer x.y"}, "unauthenticated",
     "jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}"),
    ("/map", {}, "unauthenticated", "jwt_authn_access_denied{Jwt_is_missing}"),
    ("/other", {}, "pass", None),
], ids=["missing", "rs256", "query-param", "expired", "audience", "issuer", "remote-jwks-claims-only", "any-p2",
        "any-unknown-issuer", "all-one-missing", "all-both", "optional-none", "optional-malformed", "requirement-map",
        "no-rule"])
def test_jwt_authn_requirements(path: str, headers: dict[str, str], verdict: str, details: str | None) -> None:
    result = jwt_authn.evaluate("jwt", _jwt_config(), ctx(path, headers))
    assert (result.verdict, result.response_code_details) == (verdict, details), result.reason
    assert result.verdict in VERDICTS
    if verdict == "unauthenticated":
        assert result.ends and result.outcome == "unauthenticated"
        assert result.response_code == (403 if "Audiences" in (details or "") else 401)


def test_jwt_authn_metadata_changes_and_assumptions() -> None:
    good = jwt_authn.evaluate("jwt", _jwt_config(), ctx("/one", {"authorization": "Bearer " + KEYS.sign(ONE)}))
    assert good.metadata == {"envoy.filters.http.jwt_authn": {"p1": ONE}}
    assert good.changes == ("request header: removes authorization (jwt_authn provider p1)",)
    assert "signature checked against the inline JWKS (key `a`, RS256)" in good.reason
    remote = jwt_authn.evaluate("jwt", _jwt_config(), ctx("/three", {"authorization": "Bearer " + KEYS.sign(
        {"iss": "https://three"}, "other")}))
    assert "remote_jwks https://idp/jwks" in remote.assumptions[0] and "claims alone" in remote.assumptions[0]


def test_jwt_authn_per_route_config() -> None:
    def on(per_route: dict[str, Any]) -> Any:
        route = {"typed_per_filter_config": {"jwt": per_route}}
        return jwt_authn.evaluate("jwt", _jwt_config(), FilterContext(ctx("/other").wire, route=route, now=NOW))

    assert on({"disabled": True}).verdict == "pass"
    assert on({"requirement_name": "need-p1"}).response_code_details == "jwt_authn_access_denied{Jwt_is_missing}"
    wrong = on({"requirement_name": "nope"})
    assert (wrong.response_code, wrong.response_code_details) == (
        403, "jwt_authn_access_denied{Wrong_requirement_name:_nope._It_should_be_one_of_[need-p1]}")


def _fault(**fields: Any) -> dict[str, Any]:
    return fields


PCT = {"numerator": 30, "denominator": "HUNDRED"}


@pytest.mark.parametrize(("config", "headers", "random_value", "verdict", "code", "flags", "delay"), [
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 100}}), {}, 0, "abort", 503, "FI", None),
    (_fault(abort={"http_status": 503}), {}, 0, "pass", None, None, None),
    (_fault(abort={"http_status": 503, "percentage": PCT}), {}, 29, "abort", 503, "FI", None),
    (_fault(abort={"http_status": 503, "percentage": PCT}), {}, 130, "pass", None, None, None),
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 5000, "denominator": "TEN_THOUSAND"}}), {}, 4999,
     "abort", 503, "FI", None),
    (_fault(abort={"grpc_status": 14, "percentage": {"numerator": 100}}), {}, 0, "abort", 200, "FI", None),
    (_fault(abort={"header_abort": {}, "percentage": {"numerator": 100}}), {"x-envoy-fault-abort-request": "451"}, 0,
     "abort", 451, "FI", None),
    (_fault(abort={"header_abort": {}, "percentage": {"numerator": 100}}), {"x-envoy-fault-abort-request": "99"}, 0,
     "pass", None, None, None),
    (_fault(abort={"header_abort": {}, "percentage": {"numerator": 100}}),
     {"x-envoy-fault-abort-request": "451", "x-envoy-fault-abort-request-percentage": "10"}, 10, "pass", None, None,
     None),
    (_fault(delay={"fixed_delay": "1.5s", "percentage": {"numerator": 100}}), {}, 0, "delay", None, "DI", 1500),
    (_fault(delay={"header_delay": {}, "percentage": {"numerator": 100}}), {"x-envoy-fault-delay-request": "20"}, 0,
     "delay", None, "DI", 20),
    (_fault(delay={"fixed_delay": "0.1s", "percentage": {"numerator": 100}},
            abort={"http_status": 418, "percentage": {"numerator": 100}}), {}, 0, "abort", 418, "DI,FI", 100),
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 100}},
            headers=[{"name": "x-f", "exact_match": "1"}]), {}, 0, "pass", None, None, None),
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 100}}, downstream_nodes=["a"]),
     {"x-envoy-downstream-service-node": "a"}, 0, "abort", 503, "FI", None),
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 100}}, max_active_faults=0), {}, 0, "pass", None,
     None, None),
    (_fault(abort={"http_status": 503, "percentage": {"numerator": 100}}, upstream_cluster="b"), {}, 0, "pass", None,
     None, None),
])
def test_fault(config: dict[str, Any], headers: dict[str, str], random_value: int, verdict: str, code: int | None,
               flags: str | None, delay: int | None) -> None:
    route = {"route": {"cluster": "a"}}
    result = fault.evaluate("f", config, ctx("/", headers, route=route, random_value=random_value))
    assert (result.verdict, result.response_code, result.response_flags, result.delay_ms) == (
        verdict, code, flags, delay), result.reason
    if verdict == "abort":
        assert result.ends and result.outcome == "fault_abort" and result.response_code_details == "fault_filter_abort"


def test_fault_per_route_replaces_the_filter_config_and_a_long_delay_goes_on() -> None:
    per_route = {"delay": {"fixed_delay": "2s", "percentage": {"numerator": 100}}}
    route = {"route": {"cluster": "a", "timeout": "1s"}, "typed_per_filter_config": {"f": per_route}}
    result = fault.evaluate("f", {"abort": {"http_status": 503, "percentage": {"numerator": 100}}},
                            ctx("/", route=route, timeout=1000))
    assert result.verdict == "delay" and not result.ends and "the request goes on" in result.reason


@pytest.mark.parametrize(("config", "per_route", "verdict", "words"), [
    ({"grpc_service": {"envoy_grpc": {"cluster_name": "authz"}}}, None, "assumed", "gRPC service on cluster `authz`"),
    ({"http_service": {"server_uri": {"uri": "http://a:8000", "cluster": "a"}}, "failure_mode_allow": True}, None,
     "assumed", "failure_mode_allow lets the request through"),
    ({"grpc_service": {"envoy_grpc": {"cluster_name": "authz"}}, "with_request_body": {"max_request_bytes": 10}},
     None, "assumed", "up to 10 bytes of body"),
    ({"grpc_service": {"envoy_grpc": {"cluster_name": "authz"}}}, {"disabled": True}, "pass", "disabled"),
])
def test_ext_authz(config: dict[str, Any], per_route: dict[str, Any] | None, verdict: str, words: str) -> None:
    route = {"typed_per_filter_config": {"ea": per_route}} if per_route else None
    result = ext_authz.evaluate("ea", config, ctx(route=route))
    assert result.verdict == verdict and words in result.reason, result.reason
    if verdict == "assumed":
        assert result.assumptions[0].endswith("decides; envoyscope goes on as if it allowed")
        assert "403 by default) and flag UAEX" in result.reason


@pytest.mark.parametrize(("kind", "config", "request_headers", "verdict", "words"), [
    (listed.P + "local_ratelimit.v3.LocalRateLimit", {"token_bucket": {"max_tokens": 5}}, {}, "pass", "not enabled"),
    (listed.P + "local_ratelimit.v3.LocalRateLimit", {
        "token_bucket": {"max_tokens": 5, "fill_interval": "1s"}, "filter_enabled": {"default_value": {
            "numerator": 100}}, "filter_enforced": {"default_value": {"numerator": 100}}}, {}, "pass", "answers 429"),
    (listed.P + "cors.v3.Cors", {}, {}, "pass", "no CORS policy"),
    (listed.P + "lua.v3.Lua", {"default_source_code": {"inline_string": "x"}}, {}, "assumed", "runs Lua code"),
    ("stats.PluginConfig", {}, {}, "pass", "does not change the request"),
    (listed.P + "health_check.v3.HealthCheck", {"pass_through_mode": False, "headers": [
        {"name": ":path", "string_match": {"exact": "/healthz"}}]}, {}, "pass", "not a health check request"),
])
def test_listed_filters(kind: str, config: dict[str, Any], request_headers: dict[str, str], verdict: str,
                        words: str) -> None:
    result = listed.EVALUATORS[kind]("x", config, ctx("/", request_headers))
    assert result.verdict == verdict and words in result.reason, result.reason


def test_every_http_filter_of_the_real_dumps_gets_a_verdict() -> None:
    """Each typed HTTP filter in ../shared's real dumps whose type these modules know: a verdict, never a crash."""
    from tests.conftest import shared_path

    folder = shared_path("real-dumps")
    seen: dict[str, set[str]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for filt in node.get("http_filters") or ():
                typed = filt.get("typed_config") if isinstance(filt, dict) else None
                evaluate = evaluator_for(type_name(typed)) if isinstance(typed, dict) else None
                if evaluate is not None and isinstance(typed, dict):
                    verdict = evaluate(str(filt.get("name")), typed, ctx("/", {"authorization": "Bearer a.b.c"}))
                    assert verdict.verdict in VERDICTS and verdict.reason
                    seen.setdefault(type_name(typed), set()).add(verdict.verdict)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(folder.rglob("*.json")):
        walk(json.loads(path.read_text()))
    assert {"envoy.extensions.filters.http.fault.v3.HTTPFault", "envoy.extensions.filters.http.cors.v3.Cors",
            "stats.PluginConfig", "envoy.extensions.filters.http.wasm.v3.Wasm",
            "istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig"} <= set(seen), seen
    assert seen["envoy.extensions.filters.http.fault.v3.HTTPFault"] == {"pass"}  # Istio's fault filter, no fault set


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from envoyscope.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("token", "problem"), [
    ("abc", "not a JWT: expected three base64url parts"), ("a.b", "not a JWT: expected three base64url parts"),
    ("a b.c.d", "not a JWT"), ("Bearer x.y.z", "without `Bearer `"),
    ("eyJhbGciOiJIUzI1NiJ9x.a.b", "its first part is not a base64url JSON object"),
])
def test_jwt_flag_refuses_what_is_not_a_jwt(token: str, problem: str) -> None:
    from tests.conftest import SAMPLES

    code, _, err = _cli(["trace", str(SAMPLES / "egress-gateway-http"), "--to", "httpbin.org:80", "--jwt", token])
    assert code == 2 and problem in err and len(err.strip().splitlines()) == 1, err


def test_jwt_flag_sends_the_bearer_header() -> None:
    from tests.conftest import SAMPLES

    token = KEYS.sign({"iss": "x", "exp": 1})  # expired: still a JWT, traced as sent
    code, out, _ = _cli(["trace", str(SAMPLES / "egress-gateway-http"), "--to", "httpbin.org:80", "--jwt", token,
                         "-o", "json"])
    assert code == 0 and json.loads(out)["request"]["headers"] == [["authorization", f"Bearer {token}"]]


def test_network_ext_authz_and_wasm_plugins() -> None:
    network = ext_authz.evaluate_network("ea", {"grpc_service": {"envoy_grpc": {"cluster_name": "authz"}}}, ctx())
    assert network.verdict == "assumed" and "a denial closes the connection" in network.reason
    assert network.assumptions == ("ext_authz at cluster `authz` decides; envoyscope goes on as if it allowed",)
    stats = {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
             "type_url": "type.googleapis.com/envoy.config.filter.http.wasm.v2.Wasm",
             "value": {"config": {"root_id": "stats_inbound", "vm_config": {"vm_id": "stats_inbound"}}}}
    evaluate = evaluator_for(type_name(stats))
    assert evaluate is not None and evaluate("istio.stats", stats, ctx()).verdict == "pass"
    custom = {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
              "config": {"name": "acme-auth", "root_id": "acme"}}
    verdict = listed.EVALUATORS[listed.P + "wasm.v3.Wasm"]("acme", custom, ctx())
    assert verdict.verdict == "assumed" and "does not run the Wasm code at acme" in verdict.assumptions[0]


def test_every_filter_type_has_one_evaluator() -> None:
    """Two modules answering for one type would let the later silently replace the earlier (the registry merges
    them in MODULES order): a specific evaluator (header_to_metadata's metadata) lost to a 'listed only' one."""
    import importlib

    from envoyscope.engine.http_filters.registry import MODULES

    owners: dict[str, list[str]] = {}
    for module in MODULES:
        for kind in importlib.import_module(f"envoyscope.engine.http_filters.{module}").EVALUATORS:
            owners.setdefault(kind, []).append(module)
    assert {kind: mods for kind, mods in owners.items() if len(mods) > 1} == {}
