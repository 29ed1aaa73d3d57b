"""jwt_authn, fault, local_ratelimit and ext_authz evaluators against a real Envoy.

One Envoy holds a listener per filter (each HCM: that filter, then the router). Tokens are signed in the test by keys
generated for the run; the JWKS is inline in the filter's config, except for provider ``p3`` whose keys Envoy fetches
from a loopback server (remote_jwks: envoyscope cannot check those signatures and says so). Every case is sent to
Envoy; its access log gives ``%RESPONSE_CODE%``, ``%RESPONSE_CODE_DETAILS%``, ``%RESPONSE_FLAGS%`` and the jwt_authn
metadata. The evaluator is called with a ``FilterContext`` built from the same request and Envoy's own
``/config_dump`` (the filter's typed config and the route Envoy's route table picks): its verdict must give the same
code, details and flags (a request it lets through gets the route's answer: ``direct_response`` or
``via_upstream``), and the same metadata. What the upstream receives proves the header changes.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict, type_name
from envoyscope.engine.http_filters.registry import evaluator_for
from envoyscope.engine.matchers import HttpRequest
from envoyscope.engine.request import Wire
from envoyscope.engine.route import match_route
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines
from tests.lab.jwt_keys import Keys

T = "type.googleapis.com/"
pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-filters")]
FIELDS = {"case": "%REQ(X-CASE)%", "code": "%RESPONSE_CODE%", "details": "%RESPONSE_CODE_DETAILS%",
          "flags": "%RESPONSE_FLAGS%", "metadata": "%DYNAMIC_METADATA(envoy.filters.http.jwt_authn)%"}
CORS = "envoy.extensions.filters.http.cors.v3.Cors"
OK = {"direct_response": {"status": 200, "body": {"inline_string": "fine"}}}
NOW = int(time.time())


class Upstream(http.server.ThreadingHTTPServer):
    """Answers 200 (403 to an authz check carrying ``x-deny``), serves the JWKS at /jwks, keeps what it got."""

    def __init__(self, jwks: str) -> None:
        self.jwks, self.seen = jwks, {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if self.path.startswith("/authz") and self.headers.get("x-deny"):
                    code, body = 403, b"denied"
                else:
                    code, body = 200, (outer.jwks.encode() if self.path == "/jwks" else b"ok")
                    outer.seen[self.headers.get("x-case", "")] = {k.lower(): v for k, v in self.headers.items()}
                self.send_response(code)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_OPTIONS = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


def _per_route(filter_name: str, config: dict[str, Any]) -> dict[str, Any]:
    return {"typed_per_filter_config": {filter_name: config}}


def _jwt_config(jwks: str, port: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    providers = {
        "p1": {"issuer": "https://one", "audiences": ["aud-one"], "local_jwks": {"inline_string": jwks},
               "payload_in_metadata": "p1", "forward_payload_header": "x-jwt-payload"},
        "p2": {"issuer": "https://two", "from_headers": [{"name": "x-token", "value_prefix": "Token "}],
               "from_params": ["tk"], "local_jwks": {"inline_string": jwks}, "payload_in_metadata": "p2",
               "forward": True},
        "p3": {"issuer": "https://three", "remote_jwks": {"http_uri": {"uri": f"http://127.0.0.1:{port}/jwks",
                                                                        "cluster": "up", "timeout": "1s"}}},
        "p4": {"issuer": "https://four", "local_jwks": {"inline_string": jwks}, "require_expiration": True,
               "subjects": {"prefix": "spiffe://"}, "clock_skew_seconds": 5},
    }

    def rule(prefix: str, requires: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"match": {"prefix": prefix, **extra}}
        if requires is not None:
            out["requires"] = requires
        return out

    p1, p2 = {"provider_name": "p1"}, {"provider_name": "p2"}
    config = {"@type": T + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", "providers": providers,
              "requirement_map": {"need-p2": p2, "need-p1": p1},
              "rules": [rule("/p1/", p1), rule("/p3/", {"provider_name": "p3"}), rule("/p4/", {"provider_name": "p4"}),
                        rule("/aud/", {"provider_and_audiences": {"provider_name": "p1", "audiences": ["zzz"]}}),
                        rule("/any/", {"requires_any": {"requirements": [p1, p2]}}),
                        rule("/all/", {"requires_all": {"requirements": [p1, p2]}}),
                        rule("/optional/", {"requires_any": {"requirements": [p1, {"allow_missing": {}}]}}),
                        rule("/missing-ok/", {"allow_missing": {}}),
                        rule("/failed-ok/", {"allow_missing_or_failed": {}}),
                        {"match": {"prefix": "/map/"}, "requirement_name": "need-p2"},
                        rule("/hdr/", p1, headers=[{"name": "x-need", "string_match": {"exact": "yes"}}]),
                        rule("/hdr/", p2), rule("/nothing/"), rule("/fwd/", p1)]}
    per = "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig"
    name = "envoy.filters.http.jwt_authn"
    routes = [{"name": "wrong", "match": {"prefix": "/wrong/"}, **OK,
               **_per_route(name, {"@type": T + per, "requirement_name": "nope"})},
              {"name": "per-route", "match": {"prefix": "/per-route/"}, **OK,
               **_per_route(name, {"@type": T + per, "requirement_name": "need-p1"})},
              {"name": "disabled", "match": {"prefix": "/p1/disabled"}, **OK,
               **_per_route(name, {"@type": T + per, "disabled": True})},
              {"name": "fwd", "match": {"prefix": "/fwd/"}, "route": {"cluster": "up"}},
              {"name": "all", "match": {"prefix": "/"}, **OK}]
    return config, routes


def _fault(**fields: Any) -> dict[str, Any]:
    return {"@type": T + "envoy.extensions.filters.http.fault.v3.HTTPFault", **fields}


def _pct(numerator: int, denominator: str = "HUNDRED") -> dict[str, Any]:
    return {"numerator": numerator, "denominator": denominator}


FAULT_ROUTES: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
    ("abort100", _fault(abort={"http_status": 503, "percentage": _pct(100)}), None),
    ("abort0", _fault(abort={"http_status": 503, "percentage": _pct(0)}), None),
    ("abort-tenk", _fault(abort={"http_status": 502, "percentage": _pct(10000, "TEN_THOUSAND")}), None),
    ("abort-million0", _fault(abort={"http_status": 502, "percentage": _pct(0, "MILLION")}), None),
    ("grpc", _fault(abort={"grpc_status": 14, "percentage": _pct(100)}), None),
    ("by-header", _fault(abort={"header_abort": {}, "percentage": _pct(100)},
                         delay={"header_delay": {}, "percentage": _pct(100)}), None),
    ("by-header0", _fault(abort={"header_abort": {}, "percentage": _pct(0)}), None),
    ("delay100", _fault(delay={"fixed_delay": "0.15s", "percentage": _pct(100)}), None),
    ("delay0", _fault(delay={"fixed_delay": "0.15s", "percentage": _pct(0)}), None),
    ("delay-abort", _fault(delay={"fixed_delay": "0.05s", "percentage": _pct(100)},
                           abort={"http_status": 418, "percentage": _pct(100)}), None),
    ("past-timeout", _fault(delay={"fixed_delay": "0.3s", "percentage": _pct(100)}),
     {"route": {"cluster": "up", "timeout": "0.1s"}}),
    ("nodes", _fault(abort={"http_status": 503, "percentage": _pct(100)}, downstream_nodes=["node-a"]), None),
    ("cluster-up", _fault(abort={"http_status": 503, "percentage": _pct(100)}, upstream_cluster="up"),
     {"route": {"cluster": "up"}}),
    ("cluster-other", _fault(abort={"http_status": 503, "percentage": _pct(100)}, upstream_cluster="dead"),
     {"route": {"cluster": "up"}}),
    ("max-zero", _fault(abort={"http_status": 503, "percentage": _pct(100)}, max_active_faults=0), None),
]
# the filter's own config: only requests with x-default-fault: yes, on routes without a per-route fault
FILTER_FAULT = _fault(abort={"http_status": 429, "percentage": _pct(100)},
                      headers=[{"name": "x-default-fault", "exact_match": "yes"}])


def _hcm(name: str, log: Path, filters: list[dict[str, Any]], routes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name, "http_filters": [*filters, {"name": "envoy.filters.http.router", "typed_config": {
            "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
        "route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": routes}]},
        "access_log": [json_access_log(log, FIELDS)]}}


class Lab:
    def __init__(self, workdir: Path, keys: Keys) -> None:
        self.workdir, self.keys, self.log = workdir, keys, workdir / "access.json"
        self.upstream = Upstream(keys.jwks())
        self.ports = {k: free_port() for k in ("jwt", "fault", "rl", "authz", "authz-open", "authz-off", "cors")}

    def bootstrap(self) -> dict[str, Any]:
        up = self.upstream.server_address[1]
        jwt_config, jwt_routes = _jwt_config(self.keys.jwks(), up)
        fault_routes = [{"name": n, "match": {"prefix": f"/{n}"}, **(action or OK),
                         **_per_route("envoy.filters.http.fault", f)} for n, f, action in FAULT_ROUTES]
        fault_routes.append({"name": "default", "match": {"prefix": "/"}, **OK})
        rl = {"@type": T + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", "stat_prefix": "rl",
              "token_bucket": {"max_tokens": 2, "tokens_per_fill": 1, "fill_interval": "3600s"},
              "filter_enabled": {"default_value": _pct(100), "runtime_key": "rl_on"},
              "filter_enforced": {"default_value": _pct(100), "runtime_key": "rl_enforced"}}
        rl_route_off = {"@type": rl["@type"], "stat_prefix": "rl_off",
                        "token_bucket": {"max_tokens": 1, "tokens_per_fill": 1, "fill_interval": "3600s"}}
        authz = {"@type": T + "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                 "http_service": {"server_uri": {"uri": f"http://127.0.0.1:{up}/", "cluster": "up", "timeout": "1s"},
                                  "path_prefix": "/authz"},
                 "allowed_headers": {"patterns": [{"exact": "x-deny"}]}}
        dead = {"@type": authz["@type"], "http_service": {"server_uri": {"uri": "http://127.0.0.1:1/",
                                                                          "cluster": "dead", "timeout": "0.5s"}}}

        def listener(name: str, filt: str, config: dict[str, Any], routes: list[dict[str, Any]]) -> dict[str, Any]:
            return {"name": name, "address": {"socket_address": {"address": "127.0.0.1",
                                                                 "port_value": self.ports[name]}},
                    "filter_chains": [{"filters": [_hcm(name, self.log, [{"name": filt, "typed_config": config}],
                                                        routes)]}]}

        one = [{"name": "r", "match": {"prefix": "/"}, **OK}]
        policy = {"@type": T + "envoy.extensions.filters.http.cors.v3.CorsPolicy", "allow_methods": "GET",
                  "allow_origin_string_match": [{"exact": "http://ok.example"}]}
        cors_routes = [{"name": n, "match": {"prefix": f"/{n}"}, **action,
                        **_per_route("envoy.filters.http.cors", policy)}
                       for n, action in (("direct", OK), ("up", {"route": {"cluster": "up"}}))]
        rl_routes = [{"name": "off", "match": {"prefix": "/off"}, **OK,
                      **_per_route("envoy.filters.http.local_ratelimit", rl_route_off)}, *one]
        listeners = [listener("jwt", "envoy.filters.http.jwt_authn", jwt_config, jwt_routes),
                     listener("fault", "envoy.filters.http.fault", FILTER_FAULT, fault_routes),
                     listener("rl", "envoy.filters.http.local_ratelimit", rl, rl_routes),
                     listener("authz", "envoy.filters.http.ext_authz", authz, one),
                     listener("authz-open", "envoy.filters.http.ext_authz", {**dead, "failure_mode_allow": True}, one),
                     listener("authz-off", "envoy.filters.http.ext_authz", dead, one),
                     listener("cors", "envoy.filters.http.cors", {"@type": T + CORS}, cors_routes)]
        clusters = [{"name": name, "type": "STATIC", "connect_timeout": "0.5s", "load_assignment": {
            "cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}}}}]}]}} for name, port in (("up", up), ("dead", 1))]
        return {"static_resources": {"listeners": listeners, "clusters": clusters}}

    def send(self, listener: str, path: str, headers: dict[str, str], case: str, method: str = "GET") -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.ports[listener], timeout=5)
        conn.request(method, path, headers={"x-case": case, **headers})
        conn.getresponse().read()
        conn.close()

    def lines(self, cases: list[str]) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + 5
        while True:
            found = {line["case"]: line for line in read_json_lines(self.log)}
            if all(c in found for c in cases) or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("policy-filters")
    lab = Lab(workdir, Keys())
    with EnvoyProcess("policy-filters", workdir, lab.bootstrap()) as envoy:
        lab.dump = envoy.get_json("/config_dump")  # type: ignore[attr-defined]
        yield lab
    lab.upstream.shutdown()
    lab.upstream.server_close()


# -- envoyscope's side: the filter's typed config and the route, from Envoy's own dump --

def _hcm_of(dump: dict[str, Any], listener: str) -> dict[str, Any]:
    for section in dump["configs"]:
        for item in section.get("static_listeners") or ():
            if item["listener"]["name"] == listener:
                return dict(item["listener"]["filter_chains"][0]["filters"][0]["typed_config"])
    raise AssertionError(f"no listener {listener} in the dump")


def verdict_for(lab: Lab, listener: str, path: str, headers: dict[str, str], random_value: int = 0,
                method: str = "GET") -> tuple[FilterVerdict, dict[str, Any] | None]:
    hcm = _hcm_of(lab.dump, listener)  # type: ignore[attr-defined]
    filt = hcm["http_filters"][0]
    config = hcm["route_config"]
    vhost = config["virtual_hosts"][0]
    authority = f"127.0.0.1:{lab.ports[listener]}"
    lowered = tuple((k.lower(), v) for k, v in headers.items())
    request = HttpRequest(authority, path, method, lowered)
    route = next((r for r in vhost["routes"] if match_route(r, request)[0]), None)
    timeout = (route or {}).get("route", {}).get("timeout")
    wire = Wire(dst_ip="127.0.0.1", dst_port=lab.ports[listener], src_ip="127.0.0.1", authority=authority, path=path,
                method=method, headers=lowered)
    ctx = FilterContext(wire, route=route, virtual_host=vhost, route_config=config, now=datetime.now(UTC),
                        random_value=random_value,
                        route_timeout_ms=round(float(timeout[:-1]) * 1000) if timeout else None)
    evaluate = evaluator_for(type_name(filt["typed_config"]))
    assert evaluate is not None, filt
    return evaluate(filt["name"], filt["typed_config"], ctx), route


def expected(verdict: FilterVerdict, route: dict[str, Any] | None) -> tuple[int, str, str]:
    """What Envoy should log for the verdict: the filter's own answer, or the route's."""
    if verdict.ends:
        return verdict.response_code or 0, verdict.response_code_details or "", verdict.response_flags or "-"
    details = "direct_response" if route and "direct_response" in route else "via_upstream"
    return 200, details, verdict.response_flags or "-"


def _compare(lab: Lab, cases: list[tuple[str, str, str, dict[str, str]]]) -> tuple[int, dict[str, str]]:
    for case, listener, path, headers in cases:
        lab.send(listener, path, headers, case)
    logged = lab.lines([c[0] for c in cases])
    problems = {}
    for case, listener, path, headers in cases:
        verdict, route = verdict_for(lab, listener, path, headers)
        line = logged.get(case)
        if line is None:
            problems[case] = "Envoy logged nothing"
            continue
        theirs = (int(line["code"]), line["details"], line["flags"] or "-")
        ours = expected(verdict, route)
        if theirs != ours:
            problems[case] = f"Envoy {theirs}, envoyscope {ours}: {verdict.reason}"
        elif verdict.verdict == "allow" and listener == "jwt":
            mine = verdict.metadata.get("envoy.filters.http.jwt_authn")
            if (line.get("metadata") or None) != mine:
                problems[case] = f"metadata: Envoy {line.get('metadata')}, envoyscope {mine}"
    return len(cases), problems


def jwt_cases(keys: Keys) -> list[tuple[str, str, str, dict[str, str]]]:
    one = {"iss": "https://one", "aud": "aud-one", "sub": "alice", "exp": NOW + 3600}
    tokens = {
        "good-rs256": keys.sign(one), "good-es256": keys.sign({**one, "aud": ["x", "aud-one"]}, "ec"),
        "no-kid": keys.sign(one, kid=""), "good-p2": keys.sign({"iss": "https://two", "sub": "bob"}, "ec"),
        "good-p3": keys.sign({"iss": "https://three", "sub": "carol"}),
        "expired-p3": keys.sign({"iss": "https://three", "exp": NOW - 3600}),
        "good-p4": keys.sign({"iss": "https://four", "sub": "spiffe://x", "exp": NOW + 3600}),
        "no-exp-p4": keys.sign({"iss": "https://four", "sub": "spiffe://x"}),
        "bad-sub-p4": keys.sign({"iss": "https://four", "sub": "bob", "exp": NOW + 3600}),
        "skew-p4": keys.sign({"iss": "https://four", "sub": "spiffe://x", "exp": NOW - 30}),
        "expired": keys.sign({**one, "exp": NOW - 3600}), "within-skew": keys.sign({**one, "exp": NOW - 20}),
        "not-yet": keys.sign({**one, "nbf": NOW + 3600}), "wrong-issuer": keys.sign({**one, "iss": "https://evil"}),
        "wrong-audience": keys.sign({**one, "aud": "nope"}), "no-audience": keys.sign({"iss": "https://one"}),
        "wrong-key": keys.sign(one, "other"), "unknown-kid": keys.sign(one, "other", kid="zzz"),
        **keys.broken(one),
    }
    cases = []
    paths = ("/p1/", "/p3/", "/p4/", "/aud/", "/any/", "/all/", "/optional/", "/missing-ok/", "/failed-ok/", "/map/",
             "/hdr/", "/nothing/", "/wrong/", "/per-route/", "/p1/disabled", "/open")
    for path in paths:
        for name, token in [("none", ""), *tokens.items()]:
            if path == "/p3/" and name in ("wrong-key", "unknown-kid", "tampered", "padded-header"):
                continue  # remote JWKS: only Envoy can check the signature (test_remote_jwks_is_an_assumption)
            headers = {"authorization": f"Bearer {token}"} if token else {}
            cases.append((f"{path}{name}", "jwt", path + "x", headers))
    good, p2 = tokens["good-rs256"], tokens["good-p2"]
    for name, path, headers in [
            ("p2-header", "/map/x", {"x-token": f"Token {p2}"}), ("p2-param", f"/map/x?tk={p2}", {}),
            ("p2-no-prefix", "/map/x", {"x-token": p2}), ("p2-embedded", "/map/x", {"x-token": f"a Token {p2}"}),
            ("p2-any", "/any/x", {"x-token": f"Token {p2}"}),
            ("p2-optional", "/optional/x", {"x-token": f"Token {p2}"}),
            ("both-all", "/all/x", {"authorization": f"Bearer {good}", "x-token": f"Token {p2}"}),
            ("both-any-errors", "/any/x", {"authorization": f"Bearer {tokens['expired']}",
                                           "x-token": f"Token {tokens['wrong-key']}"}),
            ("missing-ok-p2", "/missing-ok/x", {"x-token": f"Token {p2}"}),
            ("hdr-match", "/hdr/x", {"x-need": "yes", "authorization": f"Bearer {good}"}),
            ("hdr-other", "/hdr/x", {"x-token": f"Token {p2}"}),
            ("param-default", f"/p1/x?access_token={good}", {}),
            ("param-good-header-expired", f"/p1/x?access_token={good}",
             {"authorization": f"Bearer {tokens['expired']}"}),
            ("two-spaces", "/p1/x", {"authorization": f"Bearer  {good}"}),
            ("trailing-text", "/p1/x", {"authorization": f"Bearer {good} tail"}),
            ("trailing-comma", "/p1/x", {"authorization": f"Bearer {good},x"}),
            ("leading-junk", "/p1/x", {"authorization": f"Bearer @@{good}"}),
            ("lowercase-bearer", "/p1/x", {"authorization": f"bearer {good}"}),
            ("basic", "/p1/x", {"authorization": "Basic abc"}),
            ("prefix-twice", "/p1/x", {"authorization": f"Bearer x Bearer {good}"})]:
        cases.append((name, "jwt", path, headers))
    return cases


def test_jwt_authn_agrees_with_envoy(lab: Lab) -> None:
    count, problems = _compare(lab, jwt_cases(lab.keys))
    assert not problems, f"{len(problems)} of {count} disagree: {json.dumps(problems, indent=1)[:6000]}"
    assert count > 500
    print(f"jwt_authn: {count} of {count} cases agree with Envoy")


def test_jwt_header_changes_reach_the_upstream(lab: Lab) -> None:
    """forward_payload_header is set to the payload, Authorization removed (forward: false), a forged payload
    header dropped: what the upstream receives, and what the verdict's changes say."""
    token = lab.keys.sign({"iss": "https://one", "aud": "aud-one", "sub": "alice"})
    headers = {"authorization": f"Bearer {token}", "x-jwt-payload": "forged"}
    lab.send("jwt", "/fwd/x", headers, "changes")
    deadline = time.monotonic() + 5
    while "changes" not in lab.upstream.seen and time.monotonic() < deadline:
        time.sleep(0.02)
    seen = lab.upstream.seen["changes"]
    verdict, _ = verdict_for(lab, "jwt", "/fwd/x", headers)
    payload = token.split(".")[1]
    assert seen.get("x-jwt-payload") == payload and "authorization" not in seen, seen
    assert f"request header: sets x-jwt-payload: {payload} (jwt_authn provider p1)" in verdict.changes
    assert "request header: removes authorization (jwt_authn provider p1)" in verdict.changes


def test_remote_jwks_is_an_assumption(lab: Lab) -> None:
    """A token the remote JWKS does not verify: Envoy says 401, envoyscope cannot know and says it assumed."""
    token = lab.keys.sign({"iss": "https://three"}, "other")
    lab.send("jwt", "/p3/x", {"authorization": f"Bearer {token}"}, "remote-wrong-key")
    line = lab.lines(["remote-wrong-key"])["remote-wrong-key"]
    verdict, _ = verdict_for(lab, "jwt", "/p3/x", {"authorization": f"Bearer {token}"})
    assert line["details"] == "jwt_authn_access_denied{Jwt_verification_fails}"
    assert verdict.verdict == "allow" and any("remote_jwks" in a for a in verdict.assumptions), verdict


FAULT_CASES = [
    ("abort100", "/abort100", {}), ("abort0", "/abort0", {}), ("abort-tenk", "/abort-tenk", {}),
    ("abort-million0", "/abort-million0", {}), ("grpc", "/grpc", {}),
    ("grpc-request", "/grpc", {"content-type": "application/grpc"}),
    ("header-abort", "/by-header", {"x-envoy-fault-abort-request": "451"}),
    ("header-abort-none", "/by-header", {}), ("header-abort-700", "/by-header", {"x-envoy-fault-abort-request": "700"}),
    ("header-abort-pct0", "/by-header", {"x-envoy-fault-abort-request": "451",
                                         "x-envoy-fault-abort-request-percentage": "0"}),
    ("header-abort-pct-high", "/by-header", {"x-envoy-fault-abort-request": "451",
                                             "x-envoy-fault-abort-request-percentage": "500"}),
    ("header-abort-at-0", "/by-header0", {"x-envoy-fault-abort-request": "451"}),
    ("header-grpc", "/by-header", {"x-envoy-fault-abort-grpc-request": "7"}),
    ("header-delay", "/by-header", {"x-envoy-fault-delay-request": "120"}),
    ("header-delay-abort", "/by-header", {"x-envoy-fault-delay-request": "50", "x-envoy-fault-abort-request": "409"}),
    ("header-delay-bad", "/by-header", {"x-envoy-fault-delay-request": "abc"}),
    ("header-delay-0", "/by-header", {"x-envoy-fault-delay-request": "0"}),
    ("delay100", "/delay100", {}), ("delay0", "/delay0", {}), ("delay-abort", "/delay-abort", {}),
    ("past-timeout", "/past-timeout", {}), ("nodes-hit", "/nodes", {"x-envoy-downstream-service-node": "node-a"}),
    ("nodes-miss", "/nodes", {"x-envoy-downstream-service-node": "node-b"}), ("nodes-absent", "/nodes", {}),
    ("cluster-up", "/cluster-up", {}), ("cluster-other", "/cluster-other", {}), ("max-zero", "/max-zero", {}),
    ("filter-level-hit", "/elsewhere", {"x-default-fault": "yes"}), ("filter-level-miss", "/elsewhere", {}),
    ("per-route-replaces", "/abort0", {"x-default-fault": "yes"}),
]


def test_fault_agrees_with_envoy(lab: Lab) -> None:
    count, problems = _compare(lab, [(f"fault-{c}", "fault", p, h) for c, p, h in FAULT_CASES])
    assert not problems, json.dumps(problems, indent=1)
    assert count == len(FAULT_CASES)


def test_fault_delay_past_the_route_timeout_goes_on(lab: Lab) -> None:
    """Envoy starts the route timeout when the router gets the request: a longer delay does not end it."""
    verdict, _ = verdict_for(lab, "fault", "/past-timeout", {})
    assert verdict.verdict == "delay" and verdict.delay_ms == 300 and not verdict.ends
    assert "longer than the route timeout (100 ms)" in verdict.reason
    start = time.monotonic()
    lab.send("fault", "/past-timeout", {}, "timing")
    line = lab.lines(["timing"])["timing"]
    assert (int(line["code"]), line["details"], line["flags"]) == (200, "via_upstream", "DI")
    assert time.monotonic() - start >= 0.3


def test_local_ratelimit_429_and_ext_authz_answers(lab: Lab) -> None:
    """local_ratelimit: max_tokens 2, so the third request gets Envoy's 429 (RL) that the verdict announces;
    per-route config without filter_enabled: never limited. ext_authz: the denial and error strings the verdict
    quotes."""
    for index in range(3):
        lab.send("rl", "/", {}, f"rl-{index}")
    for index in range(3):
        lab.send("rl", "/off", {}, f"rl-off-{index}")
    lab.send("authz", "/", {"x-deny": "1"}, "authz-deny")
    lab.send("authz", "/", {}, "authz-allow")
    lab.send("authz-open", "/", {}, "authz-open")
    lab.send("authz-off", "/", {}, "authz-error")
    names = [f"rl-{i}" for i in range(3)] + [f"rl-off-{i}" for i in range(3)] + ["authz-deny", "authz-allow",
                                                                                  "authz-open", "authz-error"]
    got = {k: (int(v["code"]), v["details"], v["flags"]) for k, v in lab.lines(names).items()}
    limited, _ = verdict_for(lab, "rl", "/", {})
    off, _ = verdict_for(lab, "rl", "/off", {})
    assert [got[f"rl-{i}"][0] for i in range(3)] == [200, 200, 429]
    assert got["rl-2"] == (429, "local_rate_limited", "RL")
    assert "answers 429 (`local_rate_limited`, flag RL)" in limited.reason and limited.assumptions
    assert [got[f"rl-off-{i}"][0] for i in range(3)] == [200, 200, 200] and "not enabled" in off.reason
    assert got["authz-deny"] == (403, "ext_authz_denied", "UAEX") and got["authz-allow"][0] == 200
    assert got["authz-error"] == (403, "ext_authz_error", "UAEX") and got["authz-open"][0] == 200
    denied, _ = verdict_for(lab, "authz", "/", {})
    opened, _ = verdict_for(lab, "authz-open", "/", {})
    closed, _ = verdict_for(lab, "authz-off", "/", {})
    assert denied.verdict == "assumed" and "UAEX (`ext_authz_denied`)" in denied.reason
    assert denied.assumptions == ("ext_authz at cluster `up` decides; envoyscope goes on as if it allowed",)
    assert "403 (UAEX, `ext_authz_error`)" in closed.reason and "failure_mode_allow" in opened.reason


def test_cors_preflights_agree_with_envoy(lab: Lab) -> None:
    """A preflight from an allowed origin is answered by the CORS filter (200, cors_response); another origin, a
    plain request, or a route that answers by itself (direct_response: no CORS policy read) go on."""
    preflight = {"access-control-request-method": "GET"}
    cases = [("allowed", "/up", {**preflight, "origin": "http://ok.example"}, "OPTIONS"),
             ("other-origin", "/up", {**preflight, "origin": "http://bad.example"}, "OPTIONS"),
             ("not-preflight", "/up", {"origin": "http://ok.example"}, "GET"),
             ("direct-route", "/direct", {**preflight, "origin": "http://ok.example"}, "OPTIONS")]
    for case, path, headers, method in cases:
        lab.send("cors", path, headers, f"cors-{case}", method)
    logged = lab.lines([f"cors-{c[0]}" for c in cases])
    for case, path, headers, method in cases:
        verdict, route = verdict_for(lab, "cors", path, headers, method=method)
        line = logged[f"cors-{case}"]
        assert (int(line["code"]), line["details"], line["flags"]) == expected(verdict, route), (case, verdict)
