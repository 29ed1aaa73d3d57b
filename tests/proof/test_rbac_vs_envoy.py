"""RBAC decisions checked against a real Envoy 1.40, case by case.

Generated policy sets (ALLOW / DENY / LOG rules, shadow rules, the matcher form, per-route RBACPerRoute, every
permission and principal kind envoyscope evaluates, nested and/or/not) on HTTP listeners (plaintext and mutual
TLS, one to three RBAC filters in a row after a header_to_metadata filter) and on network RBAC filters before
tcp_proxy; generated requests and connections from many loopback addresses (``127.x.y.z`` for both ends, so
source, direct remote and destination IPs vary), some with ``x-forwarded-for``, the TLS ones with client
certificates made for the case (URI and DNS SANs, a subject). For each one, Envoy's access log (response code,
``%RESPONSE_CODE_DETAILS%``, ``%CONNECTION_TERMINATION_DETAILS%``, ``%RESPONSE_FLAGS%``, the whole RBAC dynamic
metadata namespace with the shadow results, and ``envoy.common``'s access log hint) must equal what envoyscope's
trace of the same connection says, on the config Envoy dumps at its admin port.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.hop import run_hop
from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.model.parse import parse_document
from envoyscope.verify import certs
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-rbac")]

SEED = int(os.environ.get("ENVOYSCOPE_RBAC_SEED", "13"))  # another seed explores other policy sets
HTTP_LISTENERS, HTTP_REQUESTS = 14, 28
TLS_LISTENERS, TLS_REQUESTS = 5, 18
NET_LISTENERS, NET_CONNECTIONS = 8, 14
COMPARED: dict[str, int] = {"http": 0, "tls": 0, "network": 0}

RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
NET_RBAC = "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
PER_ROUTE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute"
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
TEMPLATE = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"
ACTION = "type.googleapis.com/envoy.config.rbac.v3.Action"
INPUTS = "type.googleapis.com/envoy.extensions.matching.common_inputs.network.v3."
HEADER_INPUT = "type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput"

SRC_IPS = ["127.0.0.1", "127.0.0.9", "127.1.0.5", "127.1.2.3", "127.2.0.1"]
DST_IPS = ["127.0.0.1", "127.0.0.7", "127.1.0.1", "127.3.3.3"]
XFF = ["10.9.9.9", "10.0.0.1, 10.1.2.3", "192.168.1.1", "not-an-ip"]
CIDRS = [("127.0.0.0", 8), ("127.0.0.0", 24), ("127.1.0.0", 16), ("127.1.2.3", 32), ("127.0.0.1", 32),
         ("10.0.0.0", 8), ("10.9.9.9", 32), ("127.2.0.0", 16), ("::", 0)]
METHODS = ["GET", "POST", "PUT", "DELETE"]
PATHS = ["/", "/ok", "/ok/x?y=1", "/api/v1/users", "/api/v2/users/7", "/admin", "/admin/keys?all", "/nope",
         "/pr/one", "/dis/x", "/static/a.css"]
HOSTS = ["web", "web:8000", "httpbin.web.svc.cluster.local", "api.example.com"]
ROLES = ["admin", "viewer", "guest"]
SPIFFE = ["spiffe://cluster.local/ns/default/sa/sleep", "spiffe://cluster.local/ns/default/sa/curl",
          "spiffe://cluster.local/ns/web/sa/httpbin", "spiffe://other.domain/ns/default/sa/sleep"]
DNS = ["sleep.default.svc", "curl.example.com", "a.example.com"]
SNIS = ["a.example.com", "httpbin.web.svc.cluster.local", "b.test", None]
POLICY_NAMES = ["ns[web]-policy[allow-get]-rule[0]", "ns[web]-policy[deny-post]-rule[0]", "a", "B", "z-last",
                "ns[default]-policy[x]-rule[1]", "policy with space", "ärger", "0"]


def _sm(rng: random.Random, pool: list[str]) -> dict[str, Any]:
    value = rng.choice(pool)
    kind = rng.choice(["exact", "exact", "prefix", "suffix", "contains", "safe_regex", "ignore"])
    if kind == "prefix":
        return {"prefix": value[: max(1, len(value) // 2)]}
    if kind == "suffix":
        return {"suffix": value[len(value) // 2:] or value}
    if kind == "contains":
        return {"contains": value[1:4] or value}
    if kind == "safe_regex":
        return {"safe_regex": {"regex": ".*" + value[-3:].replace(".", "\\.").replace("?", "\\?")}}
    if kind == "ignore":
        return {"exact": value.upper(), "ignore_case": True}
    return {"exact": value}


def _cidr(rng: random.Random) -> dict[str, Any]:
    prefix, length = rng.choice(CIDRS)
    return {"address_prefix": prefix, "prefix_len": length}


def _header(rng: random.Random) -> dict[str, Any]:
    name, pool = rng.choice([(":method", METHODS), (":path", PATHS), (":authority", HOSTS), ("host", HOSTS),
                             ("x-h", ["1", "yes", "no"]), ("x-role", ROLES)])
    kind = rng.choice(["string", "string", "exact", "prefix", "present", "regex"])
    spec: dict[str, Any] = {"name": name}
    if kind == "string":
        spec["string_match"] = _sm(rng, pool)
    elif kind == "exact":
        spec["exact_match"] = rng.choice(pool)
    elif kind == "prefix":
        spec["prefix_match"] = rng.choice(pool)[:2]
    elif kind == "present":
        spec["present_match"] = True
    else:
        spec["safe_regex_match"] = {"regex": rng.choice(["GET|POST", "/api/.*", "[a-z]+", ".*example.*"])}
    if rng.random() < 0.15:
        spec["invert_match"] = True
    return spec


def _metadata(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.3:
        return {"sourced_metadata": {"metadata_matcher": {"filter": "lab.route", "path": [{"key": "tier"}],
                                                          "value": {"string_match": {"exact": rng.choice(
                                                              ["gold", "silver"])}}},
                                     "metadata_source": "ROUTE"}}
    value = ({"present_match": True} if rng.random() < 0.2 else {"string_match": _sm(rng, ROLES)})
    return {"metadata": {"filter": "lab.md", "path": [{"key": "role"}], "value": value,
                         **({"invert": True} if rng.random() < 0.1 else {})}}


def _permission(rng: random.Random, depth: int, network: bool) -> dict[str, Any]:
    kinds = ["any", "destination_ip", "destination_port", "destination_port_range", "requested_server_name",
             "metadata"]
    if not network:
        kinds += ["header", "header", "url_path", "uri_template", "metadata"]
    if depth < 2:
        kinds += ["and", "or", "not"]
    kind = rng.choice(kinds)
    if kind == "any":
        return {"any": True}
    if kind == "header":
        return {"header": _header(rng)}
    if kind == "url_path":
        return {"url_path": {"path": _sm(rng, PATHS)}}
    if kind == "uri_template":
        return {"uri_template": {"name": "envoy.path.match.uri_template.uri_template_matcher", "typed_config": {
            "@type": TEMPLATE, "path_template": rng.choice(["/api/{v}/users", "/api/**", "/{a}", "/admin/*"])}}}
    if kind == "destination_ip":
        return {"destination_ip": _cidr(rng)}
    if kind == "destination_port":
        return {"destination_port": rng.choice(PORTS_IN_USE or [80])}
    if kind == "destination_port_range":
        start = rng.choice(PORTS_IN_USE or [80]) + rng.choice([-5, 0, 1])
        return {"destination_port_range": {"start": start, "end": start + rng.choice([1, 10])}}
    if kind == "requested_server_name":
        return {"requested_server_name": _sm(rng, [s for s in SNIS if s])}
    if kind == "metadata":
        return _metadata(rng)
    if kind == "not":
        return {"not_rule": _permission(rng, depth + 1, network)}
    key = "and_rules" if kind == "and" else "or_rules"
    return {key: {"rules": [_permission(rng, depth + 1, network) for _ in range(rng.randint(1, 3))]}}


def _principal(rng: random.Random, depth: int, network: bool) -> dict[str, Any]:
    kinds = ["any", "authenticated", "authenticated", "source_ip", "direct_remote_ip", "remote_ip", "metadata"]
    if not network:
        kinds += ["header", "url_path"]
    if depth < 2:
        kinds += ["and", "or", "not"]
    kind = rng.choice(kinds)
    if kind == "any":
        return {"any": True}
    if kind == "authenticated":
        if rng.random() < 0.2:
            return {"authenticated": {}}
        pool = rng.choice([SPIFFE, SPIFFE, DNS, ["CN=envoyscope verify"]])
        return {"authenticated": {"principal_name": _sm(rng, pool)}}
    if kind in ("source_ip", "direct_remote_ip", "remote_ip"):
        return {kind: _cidr(rng)}
    if kind == "metadata":
        return _metadata(rng)
    if kind == "header":
        return {"header": _header(rng)}
    if kind == "url_path":
        return {"url_path": {"path": _sm(rng, PATHS)}}
    if kind == "not":
        return {"not_id": _principal(rng, depth + 1, network)}
    key = "and_ids" if kind == "and" else "or_ids"
    return {key: {"ids": [_principal(rng, depth + 1, network) for _ in range(rng.randint(1, 3))]}}


def _rules(rng: random.Random, network: bool, actions: tuple[str, ...] = ("ALLOW", "DENY", "LOG")) -> dict[str, Any]:
    names = rng.sample(POLICY_NAMES, rng.randint(0, 4))
    policies = {name: {"permissions": [_permission(rng, 0, network) for _ in range(rng.randint(1, 2))],
                       "principals": [_principal(rng, 0, network) for _ in range(rng.randint(1, 2))]}
                for name in names}
    return {"action": rng.choice(actions), "policies": policies}


def _matcher(rng: random.Random, network: bool) -> dict[str, Any]:
    def action(name: str, kind: str) -> dict[str, Any]:
        return {"action": {"name": "action", "typed_config": {"@type": ACTION, "name": name, "action": kind}}}

    def predicate() -> dict[str, Any]:
        options = [(INPUTS + "SourceIPInput", rng.choice(SRC_IPS)), (INPUTS + "DestinationIPInput",
                                                                       rng.choice(DST_IPS)),
                   (INPUTS + "DestinationPortInput", str(rng.choice(PORTS_IN_USE or [80])))]
        if not network:
            options.append((HEADER_INPUT, rng.choice(METHODS)))
        input_type, value = rng.choice(options)
        typed: dict[str, Any] = {"@type": input_type}
        if input_type == HEADER_INPUT:
            typed["header_name"] = ":method"
        return {"single_predicate": {"input": {"name": "input", "typed_config": typed},
                                     "value_match": {"exact": value}}}

    entries = [{"predicate": predicate(), "on_match": action(rng.choice(POLICY_NAMES),
                                                              rng.choice(["ALLOW", "DENY"]))}
               for _ in range(rng.randint(1, 3))]
    out: dict[str, Any] = {"matcher_list": {"matchers": entries}}
    if rng.random() < 0.5:
        out["on_no_match"] = action("fallback", rng.choice(["ALLOW", "DENY"]))
    return out


def _rbac_config(rng: random.Random, network: bool) -> dict[str, Any]:
    config: dict[str, Any] = {}
    roll = rng.random()
    if roll < 0.12:
        config["matcher"] = _matcher(rng, network)
    elif roll < 0.94:
        config["rules"] = _rules(rng, network)
    if rng.random() < 0.45:
        config["shadow_rules"] = _rules(rng, network, ("ALLOW", "DENY"))
        if rng.random() < 0.3:
            config["shadow_rules_stat_prefix"] = "audit_"
    elif rng.random() < 0.1:
        config["shadow_matcher"] = _matcher(rng, network)
    if not network and rng.random() < 0.15:
        config["rules_stat_prefix"] = "pre_"
    return config


PORTS_IN_USE: list[int] = []
FIELDS = {"case": "%REQ(x-case)%", "code": "%RESPONSE_CODE%", "details": "%RESPONSE_CODE_DETAILS%",
          "flags": "%RESPONSE_FLAGS%", "term": "%CONNECTION_TERMINATION_DETAILS%",
          "rbac": "%DYNAMIC_METADATA(envoy.filters.http.rbac)%", "common": "%DYNAMIC_METADATA(envoy.common)%",
          "remote": "%DOWNSTREAM_REMOTE_ADDRESS%"}
NET_FIELDS = {"code": "%RESPONSE_CODE%", "flags": "%RESPONSE_FLAGS%", "term": "%CONNECTION_TERMINATION_DETAILS%",
              "rbac": "%DYNAMIC_METADATA(envoy.filters.network.rbac)%", "remote": "%DOWNSTREAM_REMOTE_ADDRESS%"}
H2M = {"name": "h2m", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config",
    "request_rules": [{"header": "x-role", "on_header_present": {"metadata_namespace": "lab.md", "key": "role",
                                                                 "type": "STRING"}}]}}
TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}
ROUTER = {"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}


@dataclass
class Case:
    kind: str  # http | tls | network
    listener: str
    port: int
    src: str
    dst: str
    method: str = "GET"
    path: str = "/"
    host: str = "web"
    headers: dict[str, str] = field(default_factory=dict)
    sni: str | None = None
    sans: tuple[str, ...] | None = None  # None: no client certificate
    name: str = ""


def _routes(rng: random.Random, filter_names: list[str]) -> dict[str, Any]:
    def ok(prefix: str, name: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "match": {"prefix": prefix}, "direct_response": {"status": 200}, **extra}

    per_route: dict[str, Any] = {}
    if filter_names:
        target = rng.choice(filter_names)
        per_route = {target: {"@type": PER_ROUTE, "rbac": _rbac_config(rng, False)}
                     if rng.random() < 0.8 else {"@type": PER_ROUTE}}
    disabled = {rng.choice(filter_names): {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                                           "disabled": True}} if filter_names else {}
    routes = [ok("/pr", "per-route", typed_per_filter_config=per_route) if per_route else ok("/pr", "per-route"),
              ok("/dis", "disabled", typed_per_filter_config=disabled) if disabled else ok("/dis", "disabled"),
              ok("/api", "api", metadata={"filter_metadata": {"lab.route": {"tier": "gold"}}}),
              ok("/ok", "ok"), ok("/admin", "admin"), ok("/static", "static"),
              {"name": "root", "match": {"path": "/"}, "direct_response": {"status": 200}}]
    return {"name": "routes", "virtual_hosts": [{"name": "vh", "domains": ["*"], "routes": routes}]}


def _http_listener(rng: random.Random, name: str, port: int, log: Path, tls: dict[str, Any] | None) -> dict[str, Any]:
    count = rng.choice([1, 1, 2, 3])
    names = [rng.choice(["envoy.filters.http.rbac", "rbac-deny", "istio.rbac"]) + (f"-{i}" if i else "")
             for i in range(count)]
    filters = [H2M] + [{"name": n, "typed_config": {"@type": RBAC, **_rbac_config(rng, False)}} for n in names]
    hcm = {"@type": HCM, "stat_prefix": name, "route_config": _routes(rng, names), "http_filters": filters + [ROUTER],
           "access_log": [json_access_log(log, FIELDS)], "delayed_close_timeout": "0s"}
    chain: dict[str, Any] = {"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                          "typed_config": hcm}]}
    listener: dict[str, Any] = {"name": name, "address": {"socket_address": {"address": "0.0.0.0",
                                                                          "port_value": port}},
                                "filter_chains": [chain]}
    if tls:
        chain["transport_socket"] = tls
        if rng.random() < 0.6:  # RBAC's requested_server_name is what tls_inspector read: without it, empty
            listener["listener_filters"] = [TLS_INSPECTOR]
    return listener


def _net_listener(rng: random.Random, name: str, port: int, log: Path, tls: dict[str, Any] | None) -> dict[str, Any]:
    rbac = {"name": rng.choice(["envoy.filters.network.rbac", "istio.tcp.rbac"]), "typed_config": {
        "@type": NET_RBAC, "stat_prefix": name, **_rbac_config(rng, True)}}
    tcp = {"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": name, "cluster": "sink", "access_log": [json_access_log(log, NET_FIELDS)]}}
    chain: dict[str, Any] = {"filters": [rbac, tcp]}
    listener: dict[str, Any] = {"name": name, "address": {"socket_address": {"address": "0.0.0.0",
                                                                          "port_value": port}},
                                "filter_chains": [chain]}
    if tls:
        chain["transport_socket"] = tls
        listener["listener_filters"] = [TLS_INSPECTOR]
    return listener


def _tls_socket(ca: certs.TestCA, required: bool) -> dict[str, Any]:
    cert, key = ca.leaf(("localhost",))
    return {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "require_client_certificate": required,
        "common_tls_context": {"tls_certificates": [{"certificate_chain": {"inline_string": cert},
                                                     "private_key": {"inline_string": key}}],
                               "validation_context": {"trusted_ca": {"inline_string": ca.ca_pem}}}}}


def _client_sans(rng: random.Random) -> tuple[str, ...] | None:
    roll = rng.random()
    if roll < 0.15:
        return None
    sans: list[str] = []
    if roll < 0.85:
        sans += rng.sample(SPIFFE, rng.choice([1, 1, 2]))
    if rng.random() < 0.4:
        sans.append(rng.choice(DNS))
    return tuple(sans) or (rng.choice(DNS),)


def _http_case(rng: random.Random, kind: str, listener: str, port: int, index: int) -> Case:
    headers: dict[str, str] = {}
    if rng.random() < 0.5:
        headers["x-h"] = rng.choice(["1", "yes", "no"])
    if rng.random() < 0.5:
        headers["x-role"] = rng.choice(ROLES)
    if rng.random() < 0.25:
        headers["x-forwarded-for"] = rng.choice(XFF)
    case = Case(kind, listener, port, rng.choice(SRC_IPS), rng.choice(DST_IPS), rng.choice(METHODS),
                rng.choice(PATHS), rng.choice(HOSTS), headers, name=f"{listener}-{index}")
    if kind == "tls":
        case.sni = rng.choice(SNIS)
        case.sans = _client_sans(rng)
    return case


def _connect(case: Case, work: Path, ca: certs.TestCA) -> socket.socket:
    raw = socket.create_connection((case.dst, case.port), timeout=3, source_address=(case.src, 0))
    if case.kind == "http" or (case.kind == "network" and case.sans is None and case.sni is None):
        return raw
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if case.sans is not None:
        cert, key = ca.leaf(case.sans)
        stem = work / f"client-{abs(hash(case.sans))}"
        Path(f"{stem}.pem").write_text(cert)
        Path(f"{stem}.key").write_text(key)
        context.load_cert_chain(f"{stem}.pem", f"{stem}.key")
    return context.wrap_socket(raw, server_hostname=case.sni)


def _send(case: Case, work: Path, ca: certs.TestCA) -> str:
    """Send the case; returns our end's address as Envoy logs it (network cases are matched by it)."""
    with contextlib.ExitStack() as stack:
        try:
            sock = stack.enter_context(_connect(case, work, ca))
        except (ssl.SSLError, ConnectionResetError, OSError):
            return ""
        peer = "{}:{}".format(*sock.getsockname()[:2])
        if case.kind == "network":
            data = b"hello\r\n"
        else:
            extra = "".join(f"{k}: {v}\r\n" for k, v in case.headers.items())
            data = (f"{case.method} {case.path} HTTP/1.1\r\nHost: {case.host}\r\nx-case: {case.name}\r\n{extra}"
                    "content-length: 0\r\nConnection: close\r\n\r\n").encode()
        with contextlib.suppress(ConnectionResetError, TimeoutError, ssl.SSLError, OSError):
            sock.sendall(data)
            while sock.recv(4096):
                pass
        return peer


def _wire(case: Case) -> Wire:
    tls = case.kind == "tls" or case.sans is not None or case.sni is not None
    return Wire(dst_ip=case.dst, dst_port=case.port, src_ip=case.src, transport="tls" if tls else "raw_buffer",
                sni=case.sni if tls else None, http=None if case.kind == "network" else "http/1.1",
                authority=case.host, path=case.path, method=case.method,
                headers=tuple((k, v) for k, v in case.headers.items()),
                client_cert="validated" if case.sans is not None else "", client_sans=case.sans or (),
                client_subject="CN=envoyscope verify" if case.sans is not None else "")


def _predict(dump: Any, case: Case) -> dict[str, Any]:
    request = TraceRequest(host=case.host, port=case.port, path=case.path, method=case.method,
                           scheme="https" if case.kind == "tls" else "http")
    result = run_hop(dump, _wire(case), "direct", request)
    hop = result.hop
    verdicts = hop.network_filters if case.kind == "network" else hop.http_filters
    namespace = "envoy.filters.network.rbac" if case.kind == "network" else "envoy.filters.http.rbac"
    metadata: dict[str, dict[str, Any]] = {}
    for verdict in verdicts:
        for ns, values in verdict.metadata.items():
            metadata.setdefault(ns, {}).update(values)
    outcome = result.outcome
    out = {"rbac": metadata.get(namespace) or None, "common": metadata.get("envoy.common") or None,
           "denied": outcome is not None and outcome.kind == "denied"}
    if outcome is not None and outcome.kind == "denied":
        out.update(code=outcome.response_code, details=outcome.response_code_details,
                   term=outcome.connection_termination_details, flags=outcome.response_flags or "-")
    else:
        out.update(code=outcome.response_code if outcome else None, term=None, flags=(outcome.response_flags
                                                                                     if outcome else "") or "-")
    out["steps"] = [s.reason for s in hop.steps if s.kind in ("http_filter", "network_filter")]
    return out


def _wait(log: Path, count: int, timeout: float = 6.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    lines = read_json_lines(log)
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = read_json_lines(log)
    return lines


def _build(rng: random.Random, work: Path, ca: certs.TestCA) -> tuple[dict[str, Any], list[Case]]:
    listeners: list[dict[str, Any]] = []
    cases: list[Case] = []
    wanted = HTTP_LISTENERS + TLS_LISTENERS + NET_LISTENERS + 1
    ports: list[int] = []
    while len(ports) < wanted:  # distinct ports: the OS may hand the same free port out twice
        port = free_port()
        if port not in ports:
            ports.append(port)
    PORTS_IN_USE[:] = ports[:-1]
    sink = ports[-1]
    at = 0
    for i in range(HTTP_LISTENERS):
        port = ports[at]
        at += 1
        listeners.append(_http_listener(rng, f"http{i}", port, work / "http.log", None))
        cases += [_http_case(rng, "http", f"http{i}", port, n) for n in range(HTTP_REQUESTS)]
    for i in range(TLS_LISTENERS):
        port = ports[at]
        at += 1
        listeners.append(_http_listener(rng, f"tls{i}", port, work / "http.log", _tls_socket(ca, required=False)))
        cases += [_http_case(rng, "tls", f"tls{i}", port, n) for n in range(TLS_REQUESTS)]
    for i in range(NET_LISTENERS):
        port = ports[at]
        at += 1
        with_tls = i % 3 == 2
        listeners.append(_net_listener(rng, f"net{i}", port, work / "net.log",
                                       _tls_socket(ca, required=False) if with_tls else None))
        for _ in range(NET_CONNECTIONS):
            case = Case("network", f"net{i}", port, rng.choice(SRC_IPS), rng.choice(DST_IPS))
            if with_tls:
                case.sni = rng.choice(SNIS[:-1])
                case.sans = _client_sans(rng) or ("spiffe://cluster.local/ns/default/sa/sleep",)
            cases.append(case)
    listeners.append({"name": "sink", "address": {"socket_address": {"address": "127.0.0.1", "port_value": sink}},
                      "filter_chains": [{"filters": [{"name": "envoy.filters.network.direct_response",
                                                      "typed_config": {
                                                          "@type": "type.googleapis.com/envoy.extensions.filters."
                                                                   "network.direct_response.v3.Config",
                                                          "response": {"inline_string": "bye"}}}]}]})
    sink_cluster = {"name": "sink", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
        "cluster_name": "sink", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": sink}}}}]}]}}
    return {"static_resources": {"listeners": listeners, "clusters": [sink_cluster]}}, cases


@pytest.fixture(scope="module")
def judged(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Case, dict[str, Any], dict[str, Any] | None]]:
    work = tmp_path_factory.mktemp("rbac")
    rng = random.Random(SEED)
    ca = certs.TestCA()
    bootstrap, cases = _build(rng, work, ca)
    peers: dict[int, str] = {}  # network cases by id: our end's address (a port may be reused later)
    with EnvoyProcess("rbac", work, bootstrap) as envoy:
        dump = parse_document(json.loads(envoy.get("/config_dump")), "rbac-lab")
        for case in cases:
            peer = _send(case, work, ca)
            if case.kind == "network" and peer:
                peers[id(case)] = peer
        http_count = sum(1 for c in cases if c.kind != "network")
        http_lines = {line.get("case"): line for line in _wait(work / "http.log", http_count)}
        by_remote: dict[str, list[dict[str, Any]]] = {}
        for line in _wait(work / "net.log", len(peers)):  # in the order the connections closed, one at a time
            by_remote.setdefault(str(line.get("remote")), []).append(line)
    out = []
    for case in cases:
        if case.kind == "network":
            queue = by_remote.get(peers.get(id(case), ""), [])
            line = queue.pop(0) if queue else None
        else:
            line = http_lines.get(case.name)
        out.append((case, _predict(dump, case), line))
    return out


def _observed(line: dict[str, Any], network: bool) -> dict[str, Any]:
    out = {"rbac": line.get("rbac") or None, "flags": line.get("flags"), "term": line.get("term")}
    if not network:
        out.update(code=line.get("code"), common=line.get("common") or None)
        if str(line.get("details", "")).startswith("rbac_access_denied"):
            out["details"] = line["details"]
    return out


def _expected(predicted: dict[str, Any], network: bool) -> dict[str, Any]:
    out = {"rbac": predicted["rbac"], "flags": predicted["flags"], "term": predicted["term"]}
    if not network:
        out.update(code=predicted["code"], common=predicted["common"])
        if predicted["denied"]:
            out["details"] = predicted["details"]
    return out


def test_rbac_decisions_agree_with_envoy(judged: list[tuple[Case, dict[str, Any], dict[str, Any] | None]]) -> None:
    disagreements = []
    for case, predicted, line in judged:
        if line is None:
            disagreements.append((case.name or case.listener, "no access log line", predicted))
            continue
        network = case.kind == "network"
        seen, want = _observed(line, network), _expected(predicted, network)
        if seen != want:
            disagreements.append((case, {k: (seen.get(k), want.get(k)) for k in seen if seen.get(k) != want.get(k)},
                                  predicted["steps"]))
        else:
            COMPARED[case.kind] += 1
    shown = "\n".join(repr(d)[:1500] for d in disagreements[:6])
    assert not disagreements, f"{len(disagreements)} of {len(judged)} cases disagree with Envoy:\n{shown}"


def test_enough_rbac_cases_were_compared(judged: list[Any]) -> None:
    """The test above compared at least 500 generated cases, denials and allowals, mTLS and network ones."""
    assert sum(COMPARED.values()) >= 500, COMPARED
    assert COMPARED["tls"] >= 60 and COMPARED["network"] >= 80, COMPARED
    denied = sum(1 for _, predicted, _line in judged if predicted["denied"])
    assert 0.15 * len(judged) < denied < 0.85 * len(judged), (denied, len(judged))
