"""HTTP routing decisions checked case by case against a real Envoy (the generated cases are in
test_routes_vs_envoy.py): path templates (which paths match, what the rewrite makes of them, which templates
Envoy refuses), ``tls_context`` matches with and without a client certificate, the Host port stripping options,
and h2c (HTTP/2 with prior knowledge): the filter chain http_inspector leads to and what each HTTP codec does
with it.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.filter_chain import find_filter_chain
from envoyscope.engine.listener_filters import detect
from envoyscope.engine.matchers import HttpRequest
from envoyscope.engine.request import TraceRequest, first_wire
from envoyscope.engine.route import route_http, route_request
from envoyscope.engine.uri_template import TemplateError, parse_template, rewrite_problem
from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines, require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-http-routing")]

ROUTER = [{"name": "envoy.filters.http.router", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]
HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
MATCH_TYPE = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"
REWRITE_TYPE = "type.googleapis.com/envoy.extensions.path.rewrite.uri_template.v3.UriTemplateRewriteConfig"

# (path template, rewrite template or None, request path)
TEMPLATE_CASES = [
    ("/api/{v}", None, "/api/v1"),
    ("/api/{v}", None, "/api/v1/x"),
    ("/api/{v}", None, "/API/v1"),
    ("/api/{v}/", None, "/api/v1/"),
    ("/api/{v=*}/users/{id}", "/users/{id}/{v}", "/api/v2/users/7?x=1"),
    ("/t/{v=a/*}/x", "/out/{v}", "/t/a/b/x"),
    ("/t/{v=a/*}/x", "/out/{v}", "/t/a/b/c/x"),
    ("/t/{v=a/*}/x", "/out/{v}", "/t/b/b/x"),
    ("/{p=**}", "/root/{p}", "/a/b/c"),
    ("/{p=**}", "/root/{p}", "/"),
    ("/files/{p=**}.txt", "/{p}", "/files/a/b.txt?download"),
    ("/files/{p=**}.txt", "/{p}", "/files/.txt"),
    ("/files/{p=**}.txt", "/{p}", "/files/a/b.txt.gz"),
    ("/{a}/{b}", "/{b}/{a}", "/x=1/y"),
    ("/{a}/{b}", "/{b}/{a}", "/x/y/z"),
    ("/api/**", None, "/api"),
    ("/api/**", None, "/api/"),
    ("/api/**", None, "/api/x/y"),
    ("/api/v1{rest=**}", "/v2{rest}", "/api/v1/users"),
    ("/{name}.json", "/json/{name}", "/thing.json"),
    ("/{a}", None, "/a%20b"),
    ("/{a}", None, "/a*b"),
    ("/{a}", None, "/a/"),
    ("/{a}/{b=*/x}/**", "/{b}/{a}", "/1/2/x/3/4?q"),
    ("/*.txt", None, "/a.txt"),
    ("/*.txt", None, "/a/b.txt"),
    ("/a{b}", "/{b}", "/abc"),
    ("/a{b}c", "/{b}", "/aXYc"),
    ("/a{b}/c", "/{b}", "/aXY/c"),
    ("/{a}x/y", "/{a}", "/Qx/y"),
    ("/{a}x/y", "/{a}", "/x/y"),
    ("/x*y", None, "/xxxy"),
    ("/x*y", None, "/x*y"),
    ("/x*y", None, "/y"),
    ("/{a=x*}", "/{a}", "/xxx"),
    ("/{a=x*}", "/{a}", "/"),
    ("/{v=a=b}", "/{v}", "/a=b"),
    ("/x/{a=b/**}/c", "/{a}", "/x/b/c"),
    ("/x/{a=b/**}/c", "/{a}", "/x/b/1/2/c"),
]
# templates and rewrites Envoy may refuse; envoyscope must say which it accepts
VALIDITY_CASES = [
    ("/a//b", None), ("/{v=**.txt}", None), ("/**/*", None), ("/{a}/{a}", None), ("/a*b", None),
    ("/{a}/{b}/{c}/{d}/{e}/{f}", None), ("/{abcdefghijklmnopq}", None), ("api", None), ("/{v=}", None),
    ("/{1v}", None), ("/{v=*}/**/{x}", None), ("/*.txt/*", None), ("/a{b}", None), ("/{v=*/}", None),
    ("/{v=a/**}/b", None), ("/*x/y", None), ("/{a}x/y", None), ("/{a}{b}", None), ("/a{b}c", None),
    ("/{a=x*}", None), ("/{a=*x}", None), ("/{a=/x}", None), ("/{a}x{b}", None), ("/a{b}c{d}", None),
    ("/*{a}", None), ("/{a}*", None), ("/{a}.x.y/*", None), ("/x{a=**}/y", None), ("/a/", None), ("/a=b", None),
    ("/{a}", "/{b}"), ("/{a}", "x/{a}"), ("/{a}", "/x//{a}"), ("/{a}", "/{a}.{a}"), ("/{a}", "/{a}={a}"),
    ("/{a}", "/x*{a}"), ("/{a}", "/{a}/"),
]


def _template_route(index: int, template: str, rewrite: str | None, case_insensitive: bool = False) -> dict[str, Any]:
    match: dict[str, Any] = {"path_match_policy": {"name": "envoy.path.match.uri_template.uri_template_matcher",
                                                   "typed_config": {"@type": MATCH_TYPE, "path_template": template}}}
    if case_insensitive:
        match["case_sensitive"] = False
    action: dict[str, Any] = {"cluster": "upstream"}
    if rewrite is not None:
        action["path_rewrite_policy"] = {"name": "envoy.path.rewrite.uri_template.uri_template_rewriter",
                                         "typed_config": {"@type": REWRITE_TYPE, "path_template_rewrite": rewrite}}
    return {"name": f"c{index}", "match": match, "route": action}


def _hcm(name: str, routes: dict[str, Any], log: Path, fields: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": HCM_TYPE, "stat_prefix": name, "route_config": routes, "http_filters": ROUTER,
        "access_log": [json_access_log(log, fields)], "delayed_close_timeout": "0s", **extra}}


def _listener(name: str, port: int, chains: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": chains, **extra}


def _http1(port: int, path: str, host: str, case: str = "", context: ssl.SSLContext | None = None) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=3) as raw, contextlib.ExitStack() as stack:
        sock = stack.enter_context(context.wrap_socket(raw, server_hostname="localhost")) if context else raw
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nx-case: {case}\r\nConnection: close\r\n\r\n".encode())
        with contextlib.suppress(ConnectionResetError, TimeoutError, ssl.SSLError):
            while sock.recv(4096):
                pass


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def _h2c(port: int, path: str, host: str, case: str) -> None:
    """An HTTP/2 prior-knowledge request: the preface, an empty SETTINGS and one HEADERS frame (HPACK literals
    without indexing), then read until the response ends or the connection closes, and say goodbye (GOAWAY)."""
    def literal(name: str, value: str) -> bytes:
        return bytes([0, len(name)]) + name.encode() + bytes([len(value)]) + value.encode()

    block = b"".join(literal(n, v) for n, v in ((":method", "GET"), (":scheme", "http"), (":path", path),
                                                  (":authority", host), ("x-case", case)))
    with socket.create_connection(("127.0.0.1", port), timeout=3) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"") + _frame(1, 0x5, 1, block))
        buffer = b""
        deadline = time.monotonic() + 3
        with_end = False
        while not with_end and time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            buffer += chunk
            at = 0
            while at + 9 <= len(buffer):
                size = int.from_bytes(buffer[at:at + 3], "big")
                stream = int.from_bytes(buffer[at + 5:at + 9], "big") & 0x7FFFFFFF
                with_end = with_end or (stream == 1 and bool(buffer[at + 4] & 0x1))
                at += 9 + size
        if with_end:
            sock.sendall(_frame(7, 0, 0, struct.pack(">II", 1, 0)))


def _wait_lines(log: Path, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    lines = read_json_lines(log)
    while len(lines) < count and time.monotonic() < deadline:
        time.sleep(0.02)
        lines = read_json_lines(log)
    return lines


# --- certificates: a throwaway CA, the listener's certificate, a client certificate from the CA, a self-signed one

def _certs(folder: Path) -> dict[str, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    pem = serialization.Encoding.PEM

    def make(name: str, issuer: tuple[Any, Any] | None, ca: bool = False) -> tuple[Any, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = (x509.CertificateBuilder().subject_name(subject)
                   .issuer_name(issuer[0].subject if issuer else subject).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256()), key

    ca = make("lab CA", None, ca=True)
    out: dict[str, Path] = {}
    for label, (cert, key) in {"ca": ca, "server": make("localhost", ca), "client": make("client", ca),
                               "stranger": make("stranger", None)}.items():
        out[f"{label}.pem"] = folder / f"{label}.pem"
        out[f"{label}.pem"].write_bytes(cert.public_bytes(pem))
        out[f"{label}.key"] = folder / f"{label}.key"
        out[f"{label}.key"].write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    return out


TLS_ROUTES = [
    {"name": name, "match": {"prefix": "/", "tls_context": criteria}, "direct_response": {"status": 200}}
    for name, criteria in (("validated", {"validated": True}), ("presented", {"presented": True}),
                           ("no-cert", {"presented": False}))
]
TLS_CLIENTS = {"no-certificate": "", "client": "validated", "stranger": "presented"}  # what envoyscope is told

STRIP_OPTIONS = {"none": {}, "any": {"strip_any_host_port": True}, "matching": {"strip_matching_host_port": True}}
STRIP_ROUTES = {"virtual_hosts": [
    {"name": "bare", "domains": ["example.com"], "routes": [
        {"name": "bare", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]},
    {"name": "ported", "domains": ["example.com:*"], "routes": [
        {"name": "ported", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]},
    {"name": "default", "domains": ["*"], "routes": [
        {"name": "default", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}
STRIP_HOSTS = ["example.com:{port}", "EXAMPLE.com:{port}", "example.com:8080", "example.com", "other.org:{port}"]

H2C_LISTENERS = {  # name: (codec_type, chains by application protocol?)
    "auto": ("AUTO", True), "http1": ("HTTP1", False), "http2": ("HTTP2", False),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One Envoy holding every listener of this module, and the answers it gave."""
    work = tmp_path_factory.mktemp("http-routing")
    certs = _certs(work)
    ports = {name: free_port() for name in ("upstream", "templates", "tls")}
    logs = {name: work / f"{name}.json" for name in ("upstream", "templates", "tls")}
    templates = {"name": "templates", "virtual_hosts": [
        {"name": f"c{i}", "domains": [f"c{i}"], "routes": [_template_route(i, t, r)]}
        for i, (t, r, _) in enumerate(TEMPLATE_CASES)] + [
        {"name": "ci", "domains": ["ci"], "routes": [_template_route(99, "/api/{v}", None, case_insensitive=True)]}]}
    upstream = {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"name": "upstream", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}
    tls_socket = {"name": "envoy.transport_sockets.tls", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        "common_tls_context": {
            "tls_certificates": [{"certificate_chain": {"filename": str(certs["server.pem"])},
                                  "private_key": {"filename": str(certs["server.key"])}}],
            "validation_context": {"trusted_ca": {"filename": str(certs["ca.pem"])},
                                   "trust_chain_verification": "ACCEPT_UNTRUSTED"}}}}
    fields = {"route": "%ROUTE_NAME%", "code": "%RESPONSE_CODE%", "case": "%REQ(X-CASE)%", "path": "%REQ(:PATH)%"}
    listeners = [
        _listener("upstream", ports["upstream"], [{"filters": [_hcm("up", upstream, logs["upstream"], fields)]}]),
        _listener("templates", ports["templates"], [{"filters": [_hcm("t", templates, logs["templates"], fields)]}]),
        _listener("tls", ports["tls"], [{"transport_socket": tls_socket, "filters": [
            _hcm("tls", {"virtual_hosts": [{"name": "tls", "domains": ["*"], "routes": TLS_ROUTES}]}, logs["tls"],
                 fields)]}]),
    ]
    for option, extra in STRIP_OPTIONS.items():
        ports[f"strip-{option}"] = free_port()
        logs[f"strip-{option}"] = work / f"strip-{option}.json"
        listeners.append(_listener(f"strip-{option}", ports[f"strip-{option}"], [{"filters": [
            _hcm(f"strip-{option}", STRIP_ROUTES, logs[f"strip-{option}"], fields, **extra)]}]))
    h2c: dict[str, Any] = {}
    for name, (codec, by_protocol) in H2C_LISTENERS.items():
        for client in ("h2c", "http/1.1"):
            key = f"{name}-{client}"
            port = free_port()
            log = work / f"h2c-{name}-{client.replace('/', '')}.json"
            chain_log = work / f"h2c-{name}-{client.replace('/', '')}.listener.json"
            route = {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [
                {"name": f"{key}-route", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}
            protocols = [["h2c"], ["http/1.1"]] if by_protocol else [None]
            chains = [{"name": f"{name}-{p[0] if p else 'any'}",
                       **({"filter_chain_match": {"application_protocols": p}} if p else {}),
                       "filters": [_hcm(key, route, log, fields, codec_type=codec)]} for p in protocols]
            listener = _listener(key, port, chains, listener_filters=[{
                "name": "envoy.filters.listener.http_inspector", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector"}}],
                access_log=[json_access_log(chain_log, {"chain": "%FILTER_CHAIN_NAME%"})])
            listeners.append(listener)
            h2c[key] = {"listener": listener, "port": port, "log": log, "chain_log": chain_log, "client": client,
                        "route_config": route, "hcm": chains[0]["filters"][0]["typed_config"]}
    bootstrap = {"node": {"id": "proof", "cluster": "proof"}, "static_resources": {
        "listeners": listeners,
        "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": "upstream", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": ports["upstream"]}}}}]}]}}]}}
    with EnvoyProcess("http-routing", work, bootstrap) as envoy:
        envoy.wait_for("/listeners", lambda text: all(f"{name}::" in text for name in ("templates", "tls", *h2c)))
        for i, (_t, _r, path) in enumerate(TEMPLATE_CASES):
            _http1(ports["templates"], path, f"c{i}", case=str(i))
        _http1(ports["templates"], "/API/v1", "ci", case="ci")
        for label in TLS_CLIENTS:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            if label != "no-certificate":
                context.load_cert_chain(certs[f"{label}.pem"], certs[f"{label}.key"])
            _http1(ports["tls"], "/", "tls.example", case=label, context=context)
        for option in STRIP_OPTIONS:
            port = ports[f"strip-{option}"]
            for i, host in enumerate(STRIP_HOSTS):
                _http1(port, "/", host.format(port=port), case=str(i))
        for key, item in h2c.items():
            if item["client"] == "h2c":
                _h2c(item["port"], "/", "h2c.example", key)
            else:
                _http1(item["port"], "/", "h2c.example", case=key)
        answers = {
            "templates": {line["case"]: line for line in _wait_lines(logs["templates"], len(TEMPLATE_CASES) + 1)},
            "upstream": {line["case"]: line for line in _wait_lines(logs["upstream"], 1)},
            "tls": {line["case"]: line for line in _wait_lines(logs["tls"], len(TLS_CLIENTS))},
            "strip": {option: {line["case"]: line for line in _wait_lines(logs[f"strip-{option}"], len(STRIP_HOSTS))}
                      for option in STRIP_OPTIONS},
            # the listener's line comes when the connection closes; the HCM's, if any, may be flushed just after:
            # give it half a second before reading "no request line" (a codec that closed before any request)
            "h2c": {key: (_wait_lines(item["chain_log"], 1), _wait_lines(item["log"], 1, timeout=0.5))
                    for key, item in h2c.items()},
        }
        time.sleep(0.1)
        answers["upstream"] = {line["case"]: line for line in read_json_lines(logs["upstream"])}
    return {"answers": answers, "templates": templates, "h2c": h2c, "ports": ports}


@pytest.mark.parametrize("index", range(len(TEMPLATE_CASES)))
def test_path_template_match_and_rewrite_agree_with_envoy(lab: Any, index: int) -> None:
    template, rewrite, path = TEMPLATE_CASES[index]
    answer = lab["answers"]["templates"][str(index)]
    result = route_http(lab["templates"], HttpRequest(authority=f"c{index}", path=path))
    envoy_route = answer["route"] or ""
    assert (result.route or "") == envoy_route, f"{template} vs {path}: Envoy chose {envoy_route!r}"
    if envoy_route:
        upstream = lab["answers"]["upstream"][str(index)]
        assert (result.path or path) == upstream["path"], f"{template} → {rewrite} on {path}"


def test_path_templates_ignore_case_sensitive_false_like_envoy(lab: Any) -> None:
    answer = lab["answers"]["templates"]["ci"]
    result = route_http(lab["templates"], HttpRequest(authority="ci", path="/API/v1"))
    assert (result.route or "") == (answer["route"] or "") == ""


def _envoy_accepts(work: Path, template: str, rewrite: str | None, index: int) -> subprocess.Popen[bytes]:
    route = _template_route(index, template, rewrite)
    config = {"static_resources": {"listeners": [_listener("v", 10000 + index, [{"filters": [
        _hcm("v", {"virtual_hosts": [{"name": "v", "domains": ["*"], "routes": [route]}]}, work / "x.json",
             {"r": "%ROUTE_NAME%"})]}])],
        "clusters": [{"name": "upstream", "type": "STATIC", "connect_timeout": "1s"}]}}
    path = work / f"validate{index}.json"
    path.write_text(json.dumps(config))
    return subprocess.Popen([require_envoy(), "--mode", "validate", "-c", str(path), "-l", "critical",
                             "--use-dynamic-base-id", "--disable-hot-restart"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def test_which_templates_envoy_refuses(tmp_path: Path) -> None:
    """Envoy refuses a route whose template or rewrite is invalid; envoyscope says the same of each one."""
    processes = [_envoy_accepts(tmp_path, t, r, i) for i, (t, r) in enumerate(VALIDITY_CASES)]
    disagreements = []
    for (template, rewrite), process in zip(VALIDITY_CASES, processes, strict=True):
        envoy_ok = process.wait(timeout=30) == 0
        if rewrite is None:
            try:
                parse_template(template)
                ours = True
            except TemplateError:
                ours = False
        else:
            ours = not rewrite_problem(template, rewrite)
        if ours != envoy_ok:
            disagreements.append((template, rewrite, "Envoy accepts" if envoy_ok else "Envoy refuses"))
    assert not disagreements


@pytest.mark.parametrize("label", list(TLS_CLIENTS))
def test_tls_context_match_agrees_with_envoy(lab: Any, label: str) -> None:
    """presented/validated are about the client's certificate, not about the connection being TLS."""
    answer = lab["answers"]["tls"][label]
    config = {"virtual_hosts": [{"name": "tls", "domains": ["*"], "routes": TLS_ROUTES}]}
    result = route_http(config, HttpRequest(authority="tls.example", path="/", scheme="https",
                                            client_cert=TLS_CLIENTS[label]))
    assert result.route == answer["route"]


@pytest.mark.parametrize("option", list(STRIP_OPTIONS))
@pytest.mark.parametrize("index", range(len(STRIP_HOSTS)))
def test_host_port_stripping_agrees_with_envoy(lab: Any, option: str, index: int) -> None:
    """strip_any_host_port / strip_matching_host_port (the listener's own port only) before virtual host matching."""
    port = lab["ports"][f"strip-{option}"]
    host = STRIP_HOSTS[index].format(port=port)
    answer = lab["answers"]["strip"][option][str(index)]
    result = route_http(STRIP_ROUTES, HttpRequest(authority=host, path="/"), hcm=STRIP_OPTIONS[option],
                        listener_port=port)
    assert result.route == answer["route"], f"{option}: Host {host}"


@pytest.mark.parametrize("key", [f"{n}-{c}" for n in H2C_LISTENERS for c in ("h2c", "http/1.1")])
def test_h2c_client_filter_chain_and_codec_agree_with_envoy(lab: Any, key: str) -> None:
    item = lab["h2c"][key]
    chain_lines, hcm_lines = lab["answers"]["h2c"][key]
    alpn = ("h2c",) if item["client"] == "h2c" else ()
    request = TraceRequest("h2c.example", item["port"], alpn=alpn)
    wire = first_wire(request, "127.0.0.1", "127.0.0.1")
    chosen, _, _ = find_filter_chain(item["listener"], detect(item["listener"], wire))
    assert chosen is not None
    assert chosen.chain["name"] == chain_lines[0]["chain"]
    routed = route_request(item["route_config"], wire, request, item["hcm"], listener_port=item["port"])
    if not hcm_lines:  # the codec closed the connection before any request: no HTTP access log line
        assert (routed.kind, routed.code) == ("reset", None)
    elif hcm_lines[0]["route"] is None:
        assert (routed.kind, routed.code) == ("reset", hcm_lines[0]["code"])
    else:
        assert routed.route == hcm_lines[0]["route"]
