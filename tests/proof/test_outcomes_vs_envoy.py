"""Outcome kinds, trace flags, LOGICAL_DNS, IPv6 wildcards and ``filter_chain_matcher``, against a real Envoy.

One plain Envoy (static resources, no Istio) holds a listener for each thing to show. Every case is a
``envoyscope trace … -o json`` command line (run in-process through the CLI) and the connection the lab opens
for it; envoyscope's trace of Envoy's own ``/config_dump?include_eds`` must name the listener, filter chain,
route, cluster and upstream host Envoy logged, and an outcome kind Envoy's decision allows. Upstreams are closed
loopback ports: Envoy picks a host, connects, fails (UF) — the choice is what is compared.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import ssl
import time
from pathlib import Path
from typing import Any

import pytest

from envoyscope.cli import main as envoyscope_main
from envoyscope.engine.trace import OUTCOME_KINDS
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines
from tests.lab.relay import parse_client_hello
from tests.proof.test_scenarios_vs_envoy import envoy_outcome

T = "type.googleapis.com/"
FIELDS = {"listener": "", "chain": "%FILTER_CHAIN_NAME%", "route": "%ROUTE_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "upstream": "%UPSTREAM_HOST%", "flags": "%RESPONSE_FLAGS%", "code": "%RESPONSE_CODE%",
          "remote": "%DOWNSTREAM_REMOTE_ADDRESS%"}


def _tcp(cluster: str) -> list[dict[str, Any]]:
    return [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
        "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": cluster,
        "cluster": cluster}}]


def _static(name: str, port: int, host: str = "127.0.0.1", kind: str = "STATIC") -> dict[str, Any]:
    endpoints = [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
        "address": host, "port_value": port}}}}]}] if port else []
    out = {"name": name, "type": kind, "connect_timeout": "1s",
           "load_assignment": {"cluster_name": name, "endpoints": endpoints}}
    if kind.endswith("DNS"):
        out["dns_lookup_family"] = "V4_ONLY"
    return out


def _action(name: str) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": T + "google.protobuf.StringValue", "value": name}}


def _input(kind: str) -> dict[str, Any]:
    return {"name": kind, "typed_config": {
        "@type": T + f"envoy.extensions.matching.common_inputs.network.v3.{kind}"}}


def _exact(kind: str, value: str) -> dict[str, Any]:
    return {"single_predicate": {"input": _input(kind), "value_match": {"exact": value}}}


TLS_INSPECTOR = {"name": "envoy.filters.listener.tls_inspector", "typed_config": {
    "@type": T + "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}


class Lab:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("http", "tls", "src", "v6", "fcm", "fcm2", "up", "up2")}
        self.log = workdir / "access.json"

    def bootstrap(self) -> dict[str, Any]:
        p = self.ports
        routes = [
            {"name": "direct", "match": {"prefix": "/direct"}, "direct_response": {"status": 200}},
            {"name": "redirect", "match": {"prefix": "/redirect"}, "redirect": {"https_redirect": True}},
            {"name": "logical", "match": {"prefix": "/logical"}, "route": {"cluster": "logical"}},
            {"name": "nc", "match": {"prefix": "/nc"}, "route": {"cluster": "missing"}},
            {"name": "uh", "match": {"prefix": "/uh"}, "route": {"cluster": "empty"}},
            {"name": "post", "match": {"prefix": "/m", "headers": [{"name": ":method",
                                                                   "string_match": {"exact": "POST"}}]},
             "route": {"cluster": "up2"}},
            {"name": "get", "match": {"prefix": "/m"}, "route": {"cluster": "up"}},
            {"name": "weighted", "match": {"prefix": "/w"}, "route": {"weighted_clusters": {
                "header_name": "x-random", "clusters": [{"name": "up", "weight": 30}, {"name": "up2", "weight": 70}]}}},
            {"name": "default", "match": {"prefix": "/"}, "route": {"cluster": "up"}},
        ]
        hcm = {"@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
               "stat_prefix": "http", "delayed_close_timeout": "0s",
               "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                   "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
               "route_config": {"name": "local", "validate_clusters": False,
                                "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]},
               "access_log": [json_access_log(self.log, {**FIELDS, "listener": "http"})]}
        fcm = {"matcher_tree": {"input": _input("ServerNameInput"), "exact_match_map": {"map": {
            "a.example": {"action": _action("fcm-a")}, "b.example": {"action": _action("fcm-b")}}}},
            "on_no_match": {"action": _action("fcm-default")}}
        fcm2 = {"matcher_list": {"matchers": [
            {"predicate": {"and_matcher": {"predicate": [_exact("TransportProtocolInput", "tls"),
                                                         _exact("ApplicationProtocolInput", "'h2'")]}},
             "on_match": {"action": _action("fcm-h2")}},
            {"predicate": _exact("TransportProtocolInput", "tls"), "on_match": {"action": _action("fcm-tls")}}]},
            "on_no_match": {"action": _action("fcm-rest")}}

        def listener(name: str, port: int, chains: list[dict[str, Any]], host: str = "127.0.0.1",
                     **extra: Any) -> dict[str, Any]:
            return {"name": name, "address": {"socket_address": {"address": host, "port_value": port}},
                    "filter_chains": chains, "access_log": [json_access_log(self.log, {**FIELDS, "listener": name})],
                    **extra}

        listeners = [
            listener("http", p["http"], [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                       "typed_config": hcm}]}]),
            listener("tls", p["tls"], [
                {"name": "a-h2", "filter_chain_match": {"server_names": ["a.example"], "application_protocols": ["h2"]},
                 "filters": _tcp("up")},
                {"name": "a-any", "filter_chain_match": {"server_names": ["a.example"]}, "filters": _tcp("up2")}],
                listener_filters=[TLS_INSPECTOR]),
            listener("src", p["src"], [
                {"name": "from-2", "filter_chain_match": {"source_prefix_ranges": [
                    {"address_prefix": "127.0.0.2", "prefix_len": 32}]}, "filters": _tcp("up")},
                {"name": "others", "filters": _tcp("up2")}]),
            listener("v6", p["v6"], [{"name": "v6", "filters": _tcp("up")}], host="::"),
            listener("fcm", p["fcm"], [{"name": n, "filters": _tcp(c)} for n, c in (
                ("fcm-a", "up"), ("fcm-b", "up2"), ("fcm-default", "up"))],
                listener_filters=[TLS_INSPECTOR], filter_chain_matcher=fcm),
            listener("fcm2", p["fcm2"], [{"name": n, "filters": _tcp("up")} for n in ("fcm-h2", "fcm-tls", "fcm-rest")],
                     listener_filters=[TLS_INSPECTOR], filter_chain_matcher=fcm2),
        ]
        clusters = [_static("up", p["up"]), _static("up2", p["up2"]), _static("empty", 0),
                    _static("logical", p["up"], host="localhost", kind="LOGICAL_DNS")]
        return {"static_resources": {"listeners": listeners, "clusters": clusters}}

    # -- sending --
    def send(self, case: dict[str, Any]) -> dict[str, Any] | str:
        """Envoy's access log line for the case, or ``refused``."""
        family = socket.AF_INET6 if ":" in case["ip"] else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(5)
        if case.get("source_ip"):
            sock.bind((case["source_ip"], 0))
        try:
            sock.connect((case["ip"], self.ports[case["listener"]]))
        except ConnectionRefusedError:
            sock.close()
            return "refused"
        before = len(read_json_lines(self.log))
        host, port = sock.getsockname()[:2]
        remote = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        with sock, contextlib.suppress(OSError):
            if case.get("scheme") in ("tls", "https"):
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                if case.get("alpn"):
                    ctx.set_alpn_protocols(case["alpn"].split(","))
                with ctx.wrap_socket(sock, server_hostname=case.get("sni"), do_handshake_on_connect=False) as tls:
                    tls.do_handshake()
            elif case.get("scheme") == "tcp":
                sock.sendall(b"hello\n")
                while sock.recv(4096):
                    pass
            elif case.get("raw"):
                sock.sendall(case["raw"])
                while sock.recv(4096):
                    pass
            else:
                extra = "".join(f"{h}\r\n" for h in case.get("headers", []))
                sock.sendall(f"{case.get('method', 'GET')} {case['path']} HTTP/1.1\r\nHost: x\r\n{extra}"
                             "Connection: close\r\n\r\n".encode())
                while sock.recv(4096):
                    pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [line for line in read_json_lines(self.log)[before:] if line["remote"] == remote]
            http = [line for line in lines if line["listener"] == "http" and line.get("code") not in (None, "0")]
            if http or (lines and case["listener"] != "http") or (lines and case.get("raw")):
                return (http or lines)[0]
            time.sleep(0.02)
        raise AssertionError(f"no access log line for {case}")


def _hello() -> bytes:
    """A TLS ClientHello, as an app that speaks TLS would send to a plaintext HTTP port."""
    a, b = socket.socketpair()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    out = ssl.MemoryBIO()
    obj = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="x.example")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    a.close()
    b.close()
    data = out.read()
    assert parse_client_hello(data)
    return data


# Each case: how the lab connects, and the trace flags; `kind` is the outcome envoyscope must give.
CASES: list[dict[str, Any]] = [
    {"id": "direct_response", "listener": "http", "path": "/direct", "kind": "direct_response"},
    {"id": "redirect", "listener": "http", "path": "/redirect", "kind": "redirect"},
    {"id": "unknown_cluster", "listener": "http", "path": "/nc", "kind": "unknown_cluster"},
    {"id": "no_healthy_upstream", "listener": "http", "path": "/uh", "kind": "no_healthy_upstream"},
    {"id": "logical_dns", "listener": "http", "path": "/logical", "kind": "external"},
    {"id": "method-post", "listener": "http", "path": "/m", "method": "POST", "kind": "external"},
    {"id": "method-get", "listener": "http", "path": "/m", "method": "GET", "kind": "external"},
    *({"id": f"random-value-{v}", "listener": "http", "path": "/w", "headers": [f"x-random: {v}"],
       "random_value": v, "kind": "external"} for v in (0, 29, 30, 99, 130)),
    {"id": "alpn-h2", "listener": "tls", "scheme": "tls", "sni": "a.example", "alpn": "h2", "kind": "external"},
    {"id": "alpn-http11", "listener": "tls", "scheme": "tls", "sni": "a.example", "alpn": "http/1.1",
     "kind": "external"},
    {"id": "no_filter_chain", "listener": "tls", "scheme": "tls", "sni": "other.example", "kind": "no_filter_chain"},
    {"id": "source-ip-2", "listener": "src", "scheme": "tcp", "source_ip": "127.0.0.2", "kind": "external"},
    {"id": "source-ip-1", "listener": "src", "scheme": "tcp", "source_ip": "127.0.0.1", "kind": "external"},
    {"id": "ipv6-wildcard", "listener": "v6", "ip": "::1", "scheme": "tcp", "kind": "external"},
    {"id": "no_listener-ipv4-on-ipv6-wildcard", "listener": "v6", "scheme": "tcp", "kind": "no_listener"},
    {"id": "reset-tls-into-http", "listener": "http", "raw": "hello", "scheme": "tls", "sni": "x.example",
     "kind": "reset"},
    *({"id": f"fcm-{sni or 'no-sni'}", "listener": "fcm", "scheme": "tls" if sni else "tcp", "sni": sni,
       "kind": "external"} for sni in ("a.example", "b.example", "c.example", None)),
    *({"id": f"fcm2-{scheme}-{alpn or 'none'}", "listener": "fcm2", "scheme": scheme, "sni": "x.example",
       "alpn": alpn, "kind": "external"}
      for scheme, alpn in (("tls", "h2"), ("tls", "http/1.1"), ("tls", None), ("tcp", None))),
]
for _case in CASES:
    _case.setdefault("ip", "127.0.0.1")


def argv_for(case: dict[str, Any], dump: Path, port: int, output: str = "json") -> list[str]:
    scheme = case.get("scheme", "http")
    argv = ["trace", str(dump), "--to", f"svc.example:{port}", "--ip", case["ip"], "--scheme", scheme,
            "-o", output]
    if scheme == "http":
        argv += ["--path", case.get("path", "/"), "--method", case.get("method", "GET")]
    if case.get("sni"):
        argv += ["--sni", case["sni"]]
    elif scheme == "tls":
        argv += ["--sni", ""]
    if case.get("alpn"):
        argv += ["--alpn", case["alpn"]]
    if case.get("source_ip"):
        argv += ["--source-ip", case["source_ip"]]
    if "random_value" in case:
        argv += ["--random-value", str(case["random_value"])]
    return argv


def run_cli(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert envoyscope_main(argv) == 0, argv
    return out.getvalue()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("outcomes")
    lab = Lab(workdir)
    with EnvoyProcess("outcomes", workdir, lab.bootstrap()) as envoy:
        lab.dump = workdir / "outcomes.config_dump.json"  # type: ignore[attr-defined]
        lab.dump.write_text(json.dumps(envoy.get_json("/config_dump?include_eds")))  # type: ignore[attr-defined]
        yield lab


def _compare(lab: Lab, case: dict[str, Any]) -> list[str]:
    if case.get("raw"):  # the bytes of a TLS client, sent where Envoy expects plaintext HTTP
        case = {**case, "raw": _hello()}
    envoy = lab.send(case)
    port = lab.ports[case["listener"]]
    result = json.loads(run_cli(argv_for(case, lab.dump, port)))  # type: ignore[attr-defined]
    kind = result["outcome"]["kind"]
    problems = [] if kind == case["kind"] else [f"envoyscope outcome {kind}, the case wants {case['kind']}"]
    if envoy == "refused":
        return problems + ([] if kind == "no_listener" else [f"Envoy refused the connection, envoyscope: {kind}"])
    assert isinstance(envoy, dict)
    hop = result["hops"][-1]
    back = {f"127.0.0.1:{lab.ports['up']}": "up", f"127.0.0.1:{lab.ports['up2']}": "up2"}
    endpoint = (hop["endpoint"] or "").replace("localhost", "127.0.0.1")  # LOGICAL_DNS: what the name resolves to
    chain = None if str(hop["filter_chain"]).isdigit() else hop["filter_chain"]  # unnamed: Envoy logs -
    ours = {"listener": hop["listener"], "chain": chain, "route": hop["route"], "cluster": hop["cluster"],
            "upstream": back.get(endpoint, endpoint or None)}
    theirs = {k: (None if envoy.get(k) in (None, "-", "") else envoy[k]) for k in ours}
    theirs["upstream"] = back.get(theirs["upstream"] or "", theirs["upstream"])
    if kind == "reset":  # the HTTP codec fails on TLS bytes: Envoy answers 400 (DPE) and closes
        return problems + ([] if "DPE" in (envoy.get("flags") or "") else [f"Envoy did not fail the codec: {envoy}"])
    for key, value in ours.items():
        if key == "cluster" and kind == "unknown_cluster":
            continue  # Envoy logs no cluster for NC
        if theirs[key] != value:
            problems.append(f"{key}: envoyscope {value!r}, Envoy {theirs[key]!r}")
    decision = {"filter_chain": theirs["chain"], "route": theirs["route"], "cluster": theirs["cluster"],
                "response_flags": theirs.get("flags") or envoy.get("flags"), "upstream_host": theirs["upstream"],
                "response_code": int(envoy["code"]) if envoy.get("code") not in (None, "-", "0", 0) else None}
    if kind not in envoy_outcome(decision):
        problems.append(f"outcome {kind}: Envoy's decision {decision} allows {envoy_outcome(decision)}")
    return problems


@pytest.mark.envoy
def test_cases_agree_with_envoy(lab: Lab) -> None:
    problems = {case["id"]: p for case in CASES if (p := _compare(lab, case))}
    assert not problems
    covered = {case["kind"] for case in CASES}
    assert {"direct_response", "redirect", "unknown_cluster", "no_healthy_upstream", "no_filter_chain",
            "no_listener", "reset", "external"} <= covered


@pytest.mark.envoy
def test_text_output_names_every_step(lab: Lab) -> None:
    case = next(c for c in CASES if c["id"] == "method-post")
    text = run_cli(argv_for(case, lab.dump, lab.ports["http"], output="text"))  # type: ignore[attr-defined]
    for word in ("listener http", "route post", "cluster up2", "outcome: external"):
        assert word in " ".join(text.split()), text


def test_outcome_kinds_are_documented_everywhere() -> None:
    """engine/trace.py OUTCOME_KINDS, the README's Outcomes table and docs/report-schema.json's enum agree."""
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    table = readme.split("## Outcomes", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    schema = json.loads((REPO / "docs" / "report-schema.json").read_text())

    def enums(node: Any, path: str = "") -> list[tuple[str, list[str]]]:
        found = []
        if isinstance(node, dict):
            if "enum" in node and "external" in node["enum"]:
                found.append((path, list(node["enum"])))
            for key, value in node.items():
                found += enums(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found += enums(value, f"{path}/{index}")
        return found

    schema_enums = enums(schema)
    assert schema_enums, "docs/report-schema.json has no outcome kind enum"
    assert documented == set(OUTCOME_KINDS), (set(OUTCOME_KINDS) ^ documented)
    for where, values in schema_enums:
        assert set(values) == set(OUTCOME_KINDS), (where, set(OUTCOME_KINDS) ^ set(values))
