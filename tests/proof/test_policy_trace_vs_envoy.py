"""The policy filters together in one HCM, traced end to end and checked against a real Envoy 1.40.

One Envoy holds two listeners. ``istio``: an HCM in Istio's order — ``jwt_authn`` (a RequestAuthentication:
the token is optional, an invalid one is refused, its payload goes to ``envoy.filters.http.jwt_authn`` metadata
under the issuer), RBAC DENY, RBAC ALLOW (one policy reads the JWT's ``groups`` claim through a ``metadata``
principal, as Istio compiles ``request.auth.claims[groups]``, another its ``sub``), ``ext_authz`` (an HTTP service of
the lab's that denies a request carrying ``x-authz-deny``), ``fault`` (header-controlled abort, per-route aborts and
delays), a fault the HCM disables and routes enable, ``local_ratelimit``, then the router; routes carry
``envoy.config.route.v3.FilterConfig`` wrappers (``config`` and ``disabled``) for jwt_authn, fault and RBAC.
``netrbac``: a network RBAC filter *before* the HCM, which closes the connection of a denied client.

Generated requests (methods, paths, valid / expired / wrong-issuer / badly signed / malformed / missing tokens,
deny and fault headers, several source addresses) are sent to Envoy; each one is traced by
``envoyscope.engine.trace.trace`` on the ``/config_dump`` of that Envoy (the request built by
``checked_request``, the CLI's checks, with ``now`` = the moment it is sent). Envoy's access log gives
``%RESPONSE_CODE%``, ``%RESPONSE_CODE_DETAILS%``, ``%RESPONSE_FLAGS%``, ``%CONNECTION_TERMINATION_DETAILS%`` and
the jwt_authn metadata; the deciding filter on Envoy's side is read from its details (the filter that writes
``jwt_authn_access_denied…``, ``fault_filter_abort``, or the RBAC filter owning the policy named in
``rbac_access_denied_matched_policy[…]``). The trace's outcome kind, code, details, flags, deciding filter and
policy, and jwt metadata must match. ext_authz cannot be decided offline: the trace goes on as if it allowed, and
where the lab's service denies, Envoy's answer must be the one the trace's ext_authz step announces for a denial.
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import random
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.trace import Trace, trace
from envoyscope.engine.validate import checked_request
from envoyscope.sources.files import load_sources
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines
from tests.lab.jwt_keys import Keys

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("policy-trace")]
T = "type.googleapis.com/"
ISS = "https://issuer.lab"
JWT_NS = "envoy.filters.http.jwt_authn"
FIELDS = {"case": "%REQ(X-CASE)%", "code": "%RESPONSE_CODE%", "details": "%RESPONSE_CODE_DETAILS%",
          "flags": "%RESPONSE_FLAGS%", "jwt": f"%DYNAMIC_METADATA({JWT_NS})%", "remote": "%DOWNSTREAM_REMOTE_ADDRESS%"}
CONN_FIELDS = {"remote": "%DOWNSTREAM_REMOTE_ADDRESS%", "term": "%CONNECTION_TERMINATION_DETAILS%",
               "flags": "%RESPONSE_FLAGS%"}
OK = {"direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
FILTER_CONFIG = T + "envoy.config.route.v3.FilterConfig"
HTTP_FAULT = T + "envoy.extensions.filters.http.fault.v3.HTTPFault"
RBAC = T + "envoy.extensions.filters.http.rbac.v3.RBAC"
DENY_POST = "ns[web]-policy[deny-post-admin]-rule[0]"
DENY_HEADER = "ns[web]-policy[deny-header]-rule[0]"
DENY_SRC = "ns[web]-policy[deny-tcp-src]-rule[0]"
ALLOW_POLICIES = ("ns[web]-policy[allow-public]-rule[0]", "ns[web]-policy[allow-admin-group]-rule[0]",
                  "ns[web]-policy[allow-alice]-rule[0]", "ns[web]-policy[allow-open]-rule[0]")
PATHS = ["/public/a", "/admin/keys", "/admin", "/fault/fixed", "/fault/delay", "/fault/x", "/nofault/x", "/nojwt/x",
         "/jwtoff/x", "/norbac/admin", "/open/x", "/other", "/on-plain/x", "/on-wrapped/x"]
SOURCES = ["127.0.0.1", "127.0.0.9", "127.1.2.3"]
SEED, CASES = 13, 300


def _prefix(path: str) -> dict[str, Any]:
    return {"url_path": {"path": {"prefix": path}}}


def _claim(key: str, value: str, listed: bool) -> dict[str, Any]:
    """Istio's ``request.auth.claims[key]``: a metadata principal on jwt_authn's payload under the issuer."""
    match = {"list_match": {"one_of": {"string_match": {"exact": value}}}} if listed else {
        "string_match": {"exact": value}}
    return {"metadata": {"filter": JWT_NS, "path": [{"key": ISS}, {"key": key}], "value": match}}


def _filters(jwks: str, authz_port: int) -> list[dict[str, Any]]:
    jwt = {"@type": T + "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
           "providers": {"origins-0": {"issuer": ISS, "local_jwks": {"inline_string": jwks}, "forward": True,
                                       "payload_in_metadata": ISS}},
           "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
               {"provider_name": "origins-0"}, {"allow_missing": {}}]}}}]}
    deny = {"@type": RBAC, "rules": {"action": "DENY", "policies": {
        DENY_POST: {"permissions": [{"and_rules": {"rules": [
            {"header": {"name": ":method", "string_match": {"exact": "POST"}}}, _prefix("/admin")]}}],
            "principals": [{"any": True}]},
        DENY_HEADER: {"permissions": [{"any": True}],
                      "principals": [{"header": {"name": "x-deny", "present_match": True}}]}}}}
    public, group, alice, open_ = ALLOW_POLICIES
    allow = {"@type": RBAC, "rules": {"action": "ALLOW", "policies": {
        public: {"permissions": [_prefix("/public")], "principals": [{"any": True}]},
        group: {"permissions": [_prefix("/admin"), _prefix("/norbac")],
                "principals": [_claim("groups", "admin", listed=True)]},
        alice: {"permissions": [{"any": True}], "principals": [_claim("sub", "alice", listed=False)]},
        open_: {"permissions": [{"or_rules": {"rules": [_prefix(p) for p in ("/open", "/fault", "/nofault", "/nojwt",
                                                                              "/jwtoff", "/on-")]}}],
                "principals": [{"any": True}]}}}}
    fault = {"@type": HTTP_FAULT, "abort": {"header_abort": {}, "percentage": {"numerator": 100}}}
    ratelimit = {"@type": T + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", "stat_prefix": "rl",
                 "token_bucket": {"max_tokens": 100000, "tokens_per_fill": 1, "fill_interval": "3600s"},
                 "filter_enabled": {"default_value": {"numerator": 100}, "runtime_key": "rl_on"},
                 "filter_enforced": {"default_value": {"numerator": 100}, "runtime_key": "rl_enforced"}}
    return [{"name": "envoy.filters.http.jwt_authn", "typed_config": jwt},
            {"name": "rbac-deny", "typed_config": deny},
            {"name": "rbac-allow", "typed_config": allow},
            {"name": "envoy.filters.http.ext_authz", "typed_config": {
                "@type": T + "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
                "http_service": {"server_uri": {"uri": f"http://127.0.0.1:{authz_port}/", "cluster": "authz",
                                                "timeout": "2s"}, "path_prefix": "/check"},
                "allowed_headers": {"patterns": [{"exact": "x-authz-deny"}]}}},
            {"name": "envoy.filters.http.fault", "typed_config": fault},
            {"name": "fault-off", "disabled": True, "typed_config": {
                "@type": HTTP_FAULT, "abort": {"http_status": 451, "percentage": {"numerator": 100}}}},
            {"name": "envoy.filters.http.local_ratelimit", "typed_config": ratelimit},
            {"name": "envoy.filters.http.router", "typed_config": {
                "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}]


def _wrapped(filter_name: str, *, config: dict[str, Any] | None = None, disabled: bool = False) -> dict[str, Any]:
    wrapper: dict[str, Any] = {"@type": FILTER_CONFIG}
    if config is not None:
        wrapper["config"] = config
    if disabled:
        wrapper["disabled"] = True
    return {"typed_per_filter_config": {filter_name: wrapper}}


def _routes() -> list[dict[str, Any]]:
    fixed = {"@type": HTTP_FAULT, "abort": {"http_status": 418, "percentage": {"numerator": 100}}}
    delayed = {"@type": HTTP_FAULT, "delay": {"fixed_delay": "0.005s", "percentage": {"numerator": 100}},
               "abort": {"http_status": 503, "percentage": {"numerator": 100}}}
    jwt_off = {"@type": T + "envoy.extensions.filters.http.jwt_authn.v3.PerRouteConfig", "disabled": True}

    def route(prefix: str, **extra: Any) -> dict[str, Any]:
        return {"name": prefix.strip("/") or "all", "match": {"prefix": prefix}, **OK, **extra}

    return [route("/fault/fixed", **_wrapped("envoy.filters.http.fault", config=fixed)),
            route("/fault/delay", **_wrapped("envoy.filters.http.fault", config=delayed)),
            route("/nofault/", **_wrapped("envoy.filters.http.fault", disabled=True)),
            route("/nojwt/", **_wrapped("envoy.filters.http.jwt_authn", config=jwt_off)),
            route("/jwtoff/", **_wrapped("envoy.filters.http.jwt_authn", disabled=True)),
            route("/norbac/", **_wrapped("rbac-allow", disabled=True)),
            # fault-off is disabled in the HCM: a route's plain per-route config enables it, as a FilterConfig does
            route("/on-plain/", typed_per_filter_config={"fault-off": {**fixed, "abort": {
                "http_status": 452, "percentage": {"numerator": 100}}}}),
            route("/on-wrapped/", **_wrapped("fault-off", config={**fixed, "abort": {
                "http_status": 453, "percentage": {"numerator": 100}}})),
            route("/")]


def _hcm(name: str, log: Path, jwks: str, authz_port: int) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": name, "http_filters": _filters(jwks, authz_port), "access_log": [json_access_log(log, FIELDS)],
        "route_config": {"name": name, "virtual_hosts": [{"name": name, "domains": ["*"], "routes": _routes()}]}}}


def _net_rbac() -> dict[str, Any]:
    return {"name": "envoy.filters.network.rbac", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.rbac.v3.RBAC", "stat_prefix": "tcp.",
        "rules": {"action": "DENY", "policies": {DENY_SRC: {"permissions": [{"any": True}], "principals": [
            {"source_ip": {"address_prefix": "127.0.0.9", "prefix_len": 32}},
            {"direct_remote_ip": {"address_prefix": "127.1.0.0", "prefix_len": 16}}]}}}}}


class AuthzService(http.server.ThreadingHTTPServer):
    """The ext_authz HTTP service: 403 to a check carrying ``x-authz-deny``, 200 otherwise."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                code = 403 if self.headers.get("x-authz-deny") else 200
                self.send_response(code)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class Lab:
    def __init__(self, workdir: Path, keys: Keys) -> None:
        self.workdir, self.keys = workdir, keys
        self.log, self.conn_log = workdir / "requests.json", workdir / "connections.json"
        self.ports = {"istio": free_port(), "netrbac": free_port()}
        while self.ports["netrbac"] == self.ports["istio"]:
            self.ports["netrbac"] = free_port()
        self.dump = workdir / "policy.config_dump.json"
        self.authz = AuthzService()

    def bootstrap(self) -> dict[str, Any]:
        jwks = self.keys.jwks()

        def listener(name: str, filters: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
            return {"name": name, "address": {"socket_address": {"address": "0.0.0.0",
                                                                 "port_value": self.ports[name]}},
                    "filter_chains": [{"filters": filters}], **extra}

        port = self.authz.server_address[1]
        authz = {"name": "authz", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": "authz", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": port}}}}]}]}}
        return {"static_resources": {"listeners": [
            listener("istio", [_hcm("istio", self.log, jwks, port)]),
            listener("netrbac", [_net_rbac(), _hcm("netrbac", self.log, jwks, port)],
                     access_log=[json_access_log(self.conn_log, CONN_FIELDS)])], "clusters": [authz]}}


def _tokens(keys: Keys, now: int) -> dict[str, str | None]:
    def claims(sub: str, groups: list[str], **extra: Any) -> dict[str, Any]:
        return {"iss": ISS, "sub": sub, "groups": groups, "iat": now - 60, "exp": now + 3600, **extra}

    return {"none": None, "admin": keys.sign(claims("bob", ["dev", "admin"])),
            "alice": keys.sign(claims("alice", ["dev"]), key="ec"), "dev": keys.sign(claims("carol", ["dev"])),
            "expired": keys.sign(claims("bob", ["admin"], exp=now - 600)),
            "not-yet": keys.sign(claims("bob", ["admin"], nbf=now + 600)),
            "wrong-issuer": keys.sign({**claims("bob", ["admin"]), "iss": "https://elsewhere"}),
            "bad-signature": keys.sign(claims("bob", ["admin"]), key="other"), "malformed": "a.b"}


def _cases(keys: Keys, now: int) -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    tokens = _tokens(keys, now)
    # The ones issue 13 names, first: claims reaching RBAC, a missing token where RBAC needs claims, a fault abort
    # after RBAC allows, a RBAC deny before a fault.
    named = [("/admin/keys", "GET", "admin", {}), ("/admin/keys", "GET", "none", {}),
             ("/admin/keys", "GET", "dev", {}), ("/other", "GET", "alice", {}),
             ("/fault/x", "GET", "none", {"x-envoy-fault-abort-request": "503"}),
             ("/fault/fixed", "GET", "dev", {}), ("/fault/delay", "GET", "none", {}),
             ("/fault/fixed", "GET", "none", {"x-deny": "1"}), ("/admin", "POST", "admin",
                                                                {"x-envoy-fault-abort-request": "500"}),
             ("/nofault/x", "GET", "none", {"x-envoy-fault-abort-request": "500"}),
             ("/nojwt/x", "GET", "bad-signature", {}), ("/jwtoff/x", "GET", "expired", {}),
             ("/norbac/admin", "GET", "none", {}), ("/admin/keys", "GET", "expired", {}),
             ("/fault/fixed", "GET", "none", {"x-authz-deny": "1"}), ("/admin", "GET", "none", {"x-authz-deny": "1"})]
    out = [{"listener": "istio", "path": p, "method": m, "token": t, "headers": h, "src": "127.0.0.1"}
           for p, m, t, h in named]
    while len(out) < CASES:
        headers: dict[str, str] = {}
        if rng.random() < 0.12:
            headers["x-deny"] = "yes"
        if rng.random() < 0.15:
            headers["x-authz-deny"] = "1"
        if rng.random() < 0.3:
            headers["x-envoy-fault-abort-request"] = rng.choice(["500", "429", "204", "abc", "700"])
        listener = "netrbac" if rng.random() < 0.2 else "istio"
        out.append({"listener": listener, "path": rng.choice(PATHS), "method": rng.choice(["GET", "GET", "POST"]),
                    "token": rng.choice([*tokens, "none", "none", "admin", "admin", "alice", "dev"]),
                    "headers": headers,
                    "src": rng.choice(SOURCES) if listener == "netrbac" else "127.0.0.1"})
    for index, case in enumerate(out):
        case["name"] = f"c{index}"
        case["jwt"] = tokens[case["token"]]
    return out


def _send(lab: Lab, case: dict[str, Any]) -> str:
    """Send one request from the case's source address; our end's address (a closed connection logs only that)."""
    headers = {"x-case": case["name"], **case["headers"]}
    if case["jwt"] is not None:
        headers["authorization"] = f"Bearer {case['jwt']}"
    conn = http.client.HTTPConnection("127.0.0.1", lab.ports[case["listener"]], timeout=5,
                                      source_address=(case["src"], 0))
    try:
        conn.connect()
        assert conn.sock is not None
        peer = "{}:{}".format(*conn.sock.getsockname()[:2])
        with contextlib.suppress(ConnectionError, http.client.HTTPException, socket.timeout, OSError):
            conn.request(case["method"], case["path"], headers=headers)
            conn.getresponse().read()
        return peer
    finally:
        conn.close()


def _trace(lab: Lab, dumps: list[Any], case: dict[str, Any], now: datetime) -> Trace:
    headers = [f"{k}: {v}" for k, v in case["headers"].items()]
    token, as_flag = case["jwt"], case["token"] in ("admin", "alice", "expired")
    if token is not None and not as_flag:
        headers.append(f"authorization: Bearer {token}")
    request = checked_request(to=f"lab.svc:{lab.ports[case['listener']]}", scheme="http", dst_ip="127.0.0.1",
                              source_ip=case["src"], req_path=case["path"], req_method=case["method"],
                              headers=headers, jwt_token=token if as_flag else None, now=now.isoformat())
    return trace(request, dumps)


def _decider_of(details: str, term: str, code: int | None = None) -> tuple[str | None, str | None]:
    """The filter (and policy) Envoy's details name: RBAC's policies are unique to one filter here."""
    said = term or details
    if said.startswith("rbac_access_denied_matched_policy["):
        policy = said[len("rbac_access_denied_matched_policy["):-1]
        owner = ("envoy.filters.network.rbac" if policy == DENY_SRC else
                 "rbac-deny" if policy in (DENY_POST, DENY_HEADER) else "rbac-allow")
        return owner, policy
    if said.startswith("jwt_authn_access_denied"):
        return "envoy.filters.http.jwt_authn", None
    if said == "fault_filter_abort":  # the HCM-disabled one answers 452/453 only
        return ("fault-off" if code in (451, 452, 453) else "envoy.filters.http.fault"), None
    if said.startswith("ext_authz_"):
        return "envoy.filters.http.ext_authz", None
    if said == "local_rate_limited":
        return "envoy.filters.http.local_ratelimit", None
    return None, None


def observed(line: dict[str, Any] | None, conn: dict[str, Any] | None) -> dict[str, Any]:
    if conn is not None and conn.get("term"):  # closed by the network RBAC before any request
        filt, policy = _decider_of("", str(conn["term"]))
        return {"code": None, "details": None, "term": conn["term"], "flags": conn.get("flags"), "filter": filt,
                "policy": policy, "jwt": None}
    assert line is not None
    details = str(line.get("details"))
    filt, policy = _decider_of(details, "", line.get("code"))
    return {"code": line.get("code"), "details": details, "term": None, "flags": line.get("flags"), "filter": filt,
            "policy": policy if policy != "none" else None, "jwt": line.get("jwt") or None}


def predicted(result: Trace) -> dict[str, Any]:
    data = result.to_json()
    outcome = data["outcome"]
    hop = result.hops[0]
    ending = next((v for v in (*hop.network_filters, *hop.http_filters) if v.ends), None)
    jwt: dict[str, Any] = {}
    for verdict in hop.http_filters:
        jwt.update(verdict.metadata.get(JWT_NS, {}))
    authz = next((v for v in hop.http_filters if v.name == "envoy.filters.http.ext_authz"), None)
    term = outcome.get("connection_termination_details")
    details = None if term else (outcome.get("response_code_details") or
                                 ("direct_response" if outcome["kind"] == "direct_response" else None))
    return {"code": None if term else outcome["response_code"], "details": details, "term": term,
            "flags": outcome["response_flags"] or "-", "filter": ending.name if ending else None,
            # Envoy names a policy only in RBAC's details: the trace's other policies (a jwt rule, a fault) are words
            "policy": ending.policy if ending and ending.outcome == "denied" and ending.policy != "none" else None,
            "jwt": jwt or None,
            "kind": outcome["kind"], "authz": authz}


ENVOY_KIND = {"rbac_access_denied": "denied", "jwt_authn_access_denied": "unauthenticated",
              "fault_filter_abort": "fault_abort", "direct_response": "direct_response"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lab, list[Any], list[Any]]:
    """The lab, the dumps read from Envoy's config_dump, and (case, Envoy's answer, the trace's) for every case."""
    workdir = tmp_path_factory.mktemp("policy-trace")
    keys = Keys()
    lab = Lab(workdir, keys)
    moment = datetime.now(UTC).replace(microsecond=0)
    cases = _cases(keys, int(moment.timestamp()))
    peers: dict[str, str] = {}
    with EnvoyProcess("policy-trace", workdir, lab.bootstrap()) as envoy:
        lab.dump.write_text(json.dumps(envoy.get_json("/config_dump")))
        for case in cases:
            peers[case["name"]] = _send(lab, case)
        deadline = time.monotonic() + 8
        while True:  # every case logged: its request, or its connection closed by the network RBAC
            lines = {line["case"]: line for line in read_json_lines(lab.log)}
            conns = {line["remote"]: line for line in read_json_lines(lab.conn_log)}
            missing = [c for c in cases
                       if c["name"] not in lines and not (conns.get(peers[c["name"]]) or {}).get("term")]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    dumps = load_sources([str(lab.dump)])
    out = []
    for case in cases:
        seen = observed(lines.get(case["name"]), conns.get(peers[case["name"]]))
        out.append((case, seen, predicted(_trace(lab, dumps, case, moment))))
    lab.authz.shutdown()
    lab.authz.server_close()
    return lab, dumps, out


@pytest.fixture(scope="module")
def judged(run: tuple[Lab, list[Any], list[Any]]) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    return run[2]


AUTHZ_DENIAL = "a denial there is answered with its status (403 by default) and flag UAEX (`ext_authz_denied`)"


def expected(case: dict[str, Any], want: dict[str, Any]) -> dict[str, Any]:
    """What the trace says Envoy answers. ext_authz is assumed to allow; where the lab's service denies (the case
    sends ``x-authz-deny``) and the trace reached ext_authz, the answer is the denial its step announces."""
    authz = want["authz"]
    if "x-authz-deny" not in case["headers"] or authz is None or want["term"]:
        return want
    assert authz.verdict == "assumed" and AUTHZ_DENIAL in authz.reason, authz.reason
    return {**want, "code": 403, "details": "ext_authz_denied", "flags": "UAEX", "filter": authz.name,
            "policy": None, "kind": None}


def test_policy_filters_in_one_hcm_agree_with_envoy(judged: list[Any]) -> None:
    problems = []
    for case, seen, traced in judged:
        want = expected(case, traced)
        expected_kind = next((k for p, k in ENVOY_KIND.items() if str(seen["term"] or seen["details"]).startswith(p)),
                             None)
        mine = {k: want[k] for k in seen}
        if mine != seen or (want["kind"] is not None and expected_kind is not None and want["kind"] != expected_kind):
            problems.append((case["name"], case["path"], case["method"], case["token"], case["headers"], case["src"],
                             {k: (seen[k], mine[k]) for k in seen if seen[k] != mine[k]}, want["kind"], expected_kind))
    shown = "\n".join(repr(p) for p in problems[:8])
    assert not problems, f"{len(problems)} of {len(judged)} traces disagree with Envoy:\n{shown}"


def test_the_cases_cover_every_decision(judged: list[Any]) -> None:
    """Every decision issue 13 names happened (and was compared above): claims reaching RBAC, a missing token where
    RBAC needs claims, a fault abort after RBAC allowed, an RBAC deny before a fault, the network RBAC before the
    HCM, JWT rejections, per-route FilterConfig wrappers."""
    by_name = {case["name"]: (case, seen) for case, seen, _ in judged}
    admin_ok, no_token, dev, alice, *_ = (by_name[f"c{i}"][1] for i in range(14))
    assert admin_ok["code"] == 200 and admin_ok["jwt"][ISS]["groups"] == ["dev", "admin"]
    assert no_token["details"] == "rbac_access_denied_matched_policy[none]" and dev["code"] == 403
    assert alice["code"] == 200
    seen_all = [seen for _, seen, _ in judged]
    deciders = {(s["filter"], s["code"]) for s in seen_all}
    assert ("envoy.filters.http.fault", 503) in deciders and ("envoy.filters.http.fault", 418) in deciders
    assert ("fault-off", 452) in deciders and ("fault-off", 453) in deciders
    assert ("rbac-deny", 403) in deciders and ("rbac-allow", 403) in deciders
    assert ("envoy.filters.http.jwt_authn", 401) in deciders
    assert ("envoy.filters.network.rbac", None) in deciders and ("envoy.filters.http.ext_authz", 403) in deciders
    assert by_name["c14"][1]["details"] == "ext_authz_denied"  # ext_authz before the fault: its denial wins
    assert by_name["c15"][1]["details"] == "rbac_access_denied_matched_policy[none]"  # RBAC before ext_authz
    assert by_name["c7"][1]["policy"] == DENY_HEADER  # x-deny on a faulting route: RBAC decides first
    assert by_name["c9"][1]["code"] == 200 and by_name["c10"][1]["code"] == 200 and by_name["c11"][1]["code"] == 200
    assert sum(1 for s in seen_all if s["code"] == 200) > 50 and len(judged) >= 300


def test_jwt_expiry_is_judged_at_now(run: tuple[Lab, list[Any], list[Any]]) -> None:
    """The trace judges exp/nbf at ``now``: the token Envoy refused as expired passes an hour earlier; with no
    ``now`` the machine's clock is used and said as an assumption."""
    lab, dumps, judged = run
    case, seen, _ = next(j for j in judged if j[0]["token"] == "expired" and j[0]["path"] == "/admin/keys")
    assert seen["details"] == "jwt_authn_access_denied{Jwt_is_expired}"
    port = lab.ports["istio"]
    earlier = datetime.now(UTC) - timedelta(hours=1)
    allowed = predicted(_trace(lab, dumps, case, earlier))
    assert allowed["kind"] == "direct_response" and allowed["jwt"][ISS]["sub"] == "bob"
    request = checked_request(to=f"lab.svc:{port}", scheme="http", dst_ip="127.0.0.1", req_path=case["path"],
                              jwt_token=case["jwt"])
    clock = trace(request, dumps)
    assert clock.outcome.kind == "unauthenticated"
    assert any("machine's clock" in a for a in clock.assumptions), clock.assumptions

