"""Downstream TLS against a real Envoy: client certificates required, plaintext into a TLS chain, ALPN choice.

One plain Envoy holds three listeners whose only filter chain terminates TLS: ``mtls`` (a MUTUAL gateway:
``require_client_certificate`` with a trusted CA and SANs), ``simple`` (server certificate only, ALPN
``http/1.1, h2``) and ``https`` (an HTTP connection manager behind TLS). Each case opens the connection a client
would and reads what Envoy did from its listener access log (``%DOWNSTREAM_TRANSPORT_FAILURE_REASON%``) and from
the client side (the ALPN the server chose); envoyscope's trace of Envoy's own ``/config_dump`` must give the same
outcome, the same BoringSSL reason and the same ALPN.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.lab.envoy import EnvoyProcess, free_port, json_access_log, read_json_lines
from tests.proof.test_outcomes_vs_envoy import run_cli

T = "type.googleapis.com/"
FIELDS = {"listener": "", "chain": "%FILTER_CHAIN_NAME%", "cluster": "%UPSTREAM_CLUSTER%",
          "failure": "%DOWNSTREAM_TRANSPORT_FAILURE_REASON%", "remote": "%DOWNSTREAM_REMOTE_ADDRESS%",
          "code": "%RESPONSE_CODE%", "route": "%ROUTE_NAME%"}
pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("downstream-tls")]


def _pki(folder: Path) -> dict[str, str]:
    """A throwaway CA, a server certificate for gw.example and a client certificate (URI SAN), as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lab root CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    files: dict[str, str] = {}

    def write(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        files[name] = str(path)

    write("ca.pem", ca.public_bytes(pem))
    for name, cn, san in (("server", "gw.example", x509.DNSName("gw.example")),
                          ("client", "sleep", x509.UniformResourceIdentifier("spiffe://lab/ns/default/sa/sleep"))):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(2 if name == "server" else 3)
                .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False).sign(ca_key, hashes.SHA256()))
        write(f"{name}.pem", cert.public_bytes(pem))
        write(f"{name}.key", key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return files


class Upstream:
    """A TCP server that accepts and reads until the peer closes: tcp_proxy connects to its upstream at once, and a
    refused upstream would close the client's connection before its TLS handshake could show anything."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while conn.recv(4096):
                pass

    def close(self) -> None:
        self.server.close()


class Lab:
    def __init__(self, workdir: Path, upstream: int) -> None:
        self.workdir = workdir
        self.ports = {name: free_port() for name in ("mtls", "simple", "https")} | {"up": upstream}
        self.log = workdir / "access.json"
        self.pki = _pki(workdir)

    def _tls(self, *, mutual: bool, alpn: list[str], inline: bool = False) -> dict[str, Any]:
        """Certificates from files, or written inline (then the dump holds the certificate, not the key)."""
        def source(name: str) -> dict[str, str]:
            return {"inline_string": Path(self.pki[name]).read_text()} if inline else {"filename": self.pki[name]}

        common: dict[str, Any] = {"tls_certificates": [{"certificate_chain": source("server.pem"),
                                                        "private_key": source("server.key")}]}
        if alpn:
            common["alpn_protocols"] = alpn
        context: dict[str, Any] = {"@type": T + "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
                                   "common_tls_context": common}
        if mutual:
            common["validation_context"] = {"trusted_ca": {"filename": self.pki["ca.pem"]},
                                            "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {
                                                "prefix": "spiffe://lab/"}}]}
            context["require_client_certificate"] = True
        return {"name": "envoy.transport_sockets.tls", "typed_config": context}

    def bootstrap(self) -> dict[str, Any]:
        p = self.ports
        tcp = [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
            "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "up",
            "cluster": "up", "access_log": [json_access_log(self.log, {**FIELDS, "listener": "tcp_proxy"})]}}]
        hcm = [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
            "@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "stat_prefix": "https", "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
            "route_config": {"name": "local", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
                {"name": "default", "match": {"prefix": "/"}, "direct_response": {"status": 200}}]}]}}}]

        def listener(name: str, chain: dict[str, Any]) -> dict[str, Any]:
            return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": p[name]}},
                    "filter_chains": [{"name": f"{name}-chain", **chain}],
                    "access_log": [json_access_log(self.log, {**FIELDS, "listener": name})]}

        listeners = [
            listener("mtls", {"filters": tcp, "transport_socket": self._tls(mutual=True, alpn=[])}),
            listener("simple", {"filters": tcp, "transport_socket": self._tls(mutual=False, alpn=["http/1.1", "h2"])}),
            listener("https", {"filters": hcm, "transport_socket": self._tls(mutual=False, alpn=["h2", "http/1.1"],
                                                                          inline=True)}),
        ]
        up = {"name": "up", "type": "STATIC", "connect_timeout": "1s", "load_assignment": {
            "cluster_name": "up", "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                "address": "127.0.0.1", "port_value": p["up"]}}}}]}]}}
        return {"static_resources": {"listeners": listeners, "clusters": [up]}}

    def send(self, case: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """Envoy's listener access log line for the case, and the ALPN the client saw negotiated."""
        sock = socket.create_connection(("127.0.0.1", self.ports[case["listener"]]), timeout=5)
        host, port = sock.getsockname()[:2]
        remote = f"{host}:{port}"
        before = len(read_json_lines(self.log))
        chosen = None
        with sock, contextlib.suppress(OSError):
            if case["scheme"] == "http":
                sock.sendall(b"GET / HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n")
                while sock.recv(4096):
                    pass
            elif case["scheme"] == "tcp":
                sock.sendall(b"hello\n")
                while sock.recv(4096):
                    pass
            else:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
                if case.get("alpn"):
                    ctx.set_alpn_protocols(case["alpn"].split(","))
                if case.get("client_cert"):
                    ctx.load_cert_chain(self.pki["client.pem"], self.pki["client.key"])
                with ctx.wrap_socket(sock, server_hostname="gw.example") as tls:
                    chosen = tls.selected_alpn_protocol()
                    if case["listener"] == "https":
                        tls.sendall(b"GET / HTTP/1.1\r\nHost: gw.example\r\nConnection: close\r\n\r\n")
                        while tls.recv(4096):
                            pass
                    else:  # the upstream never answers: give Envoy a moment to fail the handshake, then hang up
                        tls.sendall(b"hello\n")
                        tls.settimeout(0.3)
                        with contextlib.suppress(TimeoutError):
                            tls.recv(4096)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            lines = [x for x in read_json_lines(self.log)[before:] if x["remote"] == remote
                     and x["listener"] == case["listener"]]
            if lines:
                return lines[0], chosen
            time.sleep(0.02)
        raise AssertionError(f"no access log line for {case}")


CASES: list[dict[str, Any]] = [
    {"id": "mtls-no-client-cert", "listener": "mtls", "scheme": "tls", "kind": "tls_handshake_failed",
     "failure": "PEER_DID_NOT_RETURN_A_CERTIFICATE"},
    {"id": "mtls-trusted-client-cert", "listener": "mtls", "scheme": "tls", "client_cert": True, "kind": "external"},
    {"id": "plaintext-http-into-tls", "listener": "simple", "scheme": "http", "kind": "tls_handshake_failed",
     "failure": "HTTP_REQUEST"},
    {"id": "plaintext-bytes-into-tls", "listener": "simple", "scheme": "tcp", "kind": "tls_handshake_failed",
     "failure": "WRONG_VERSION_NUMBER"},
    {"id": "alpn-server-preference", "listener": "simple", "scheme": "tls", "alpn": "h2,http/1.1", "kind": "external"},
    {"id": "alpn-none-in-common", "listener": "simple", "scheme": "tls", "alpn": "foo", "kind": "external"},
    {"id": "alpn-no-offer", "listener": "simple", "scheme": "tls", "kind": "external"},
    {"id": "https-h2-preferred", "listener": "https", "scheme": "https", "alpn": "http/1.1,h2",
     "kind": "direct_response"},
    {"id": "https-plaintext", "listener": "https", "scheme": "http", "kind": "tls_handshake_failed",
     "failure": "HTTP_REQUEST"},
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    workdir = tmp_path_factory.mktemp("downstream-tls")
    upstream = Upstream()
    lab = Lab(workdir, upstream.port)
    with contextlib.closing(upstream), EnvoyProcess("downstream-tls", workdir, lab.bootstrap()) as envoy:
        lab.dump = workdir / "config_dump.json"  # type: ignore[attr-defined]
        lab.dump.write_text(json.dumps(envoy.get_json("/config_dump")))  # type: ignore[attr-defined]
        yield lab


def _argv(lab: Lab, case: dict[str, Any]) -> list[str]:
    scheme = "https" if case["listener"] == "https" and case["scheme"] == "https" else case["scheme"]
    argv = ["trace", str(lab.dump), "--to", f"gw.example:{lab.ports[case['listener']]}",  # type: ignore[attr-defined]
            "--ip", "127.0.0.1", "--scheme", scheme, "-o", "json"]
    if case.get("alpn"):
        argv += ["--alpn", case["alpn"]]
    if case.get("client_cert"):
        argv += ["--client-cert", "validated"]
    return argv


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_downstream_tls_agrees_with_envoy(lab: Lab, case: dict[str, Any]) -> None:
    line, chosen = lab.send(case)
    result = json.loads(run_cli(_argv(lab, case)))
    hop = result["hops"][0]
    down = hop["downstream_tls"]
    assert result["outcome"]["kind"] == case["kind"], (result["outcome"], line)
    assert hop["filter_chain"] == line["chain"]
    failure = line.get("failure") or ""
    if case["kind"] == "tls_handshake_failed":
        assert case["failure"] in failure, line  # Envoy's own reason …
        assert down["failure"] == case["failure"]  # … is the one envoyscope names
        assert case["failure"] in result["outcome"]["detail"]
    else:
        assert failure in ("", "-", None), line
        assert down["failure"] is None
        assert down["negotiated_alpn"] == chosen, (down, chosen)  # the ALPN the client was given
    cert = down["certificate"]
    if case["listener"] == "https":  # inline: decoded from the dump
        assert (cert["source"], cert["subject"], cert["sans"]) == ("inline", "CN=gw.example", ["gw.example"])
        assert "PRIVATE KEY" not in json.dumps(result)
    else:  # a file the proxy reads: the dump names it only
        assert (cert["source"], cert["subject"]) == (f"file:{lab.pki['server.pem']}", None)
    assert down["require_client_certificate"] is (case["listener"] == "mtls")
    if case["listener"] == "mtls":
        assert down["trusted_sans"] == ["prefix:spiffe://lab/"]


def test_text_output_shows_the_handshake_step(lab: Lab) -> None:
    argv = [a for a in _argv(lab, CASES[0]) if a not in ("-o", "json")]
    text = " ".join(run_cli(argv).split())
    assert "downstream tls" in text and "PEER_DID_NOT_RETURN_A_CERTIFICATE" in text
    assert "outcome: tls_handshake_failed" in text
