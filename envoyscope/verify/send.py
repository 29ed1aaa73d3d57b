"""Send one hop's incoming connection to a replayed Envoy and read back what Envoy decided.

The connection starts with a PROXY-protocol header carrying the hop's source and original destination (what
iptables and ``use_original_dst`` would give Envoy), then: a TLS ClientHello with the hop's SNI and ALPN (and a
client certificate signed by the replay's CA when the hop presents one), HTTP/1.1 with the hop's authority, path
and headers, or a few non-HTTP bytes.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envoyscope.engine.request import Wire
from envoyscope.verify import h2
from envoyscope.verify.replay import Replay
from envoyscope.verify.replay_form import ENTRY, RANDOM_HEADER

CASE_HEADER = "x-envoyscope-case"
_cases = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Decision:
    """What Envoy's access logs say it did with the connection (names as envoyscope labels them)."""

    listener: str | None
    filter_chain: str | None
    virtual_host: str | None
    route: str | None
    cluster: str | None
    response_flags: str
    response_code: int | None
    details: str = ""
    http: bool = False  # the HTTP connection manager logged the request
    downstream_failure: str = ""  # %DOWNSTREAM_TRANSPORT_FAILURE_REASON%: the listener's TLS handshake failed

    def to_json(self) -> dict[str, Any]:
        return {"listener": self.listener, "filter_chain": self.filter_chain, "virtual_host": self.virtual_host,
                "route": self.route, "cluster": self.cluster, "response_flags": self.response_flags or None,
                "response_code": self.response_code, "details": self.details or None}


def proxy_header(wire: Wire) -> bytes:
    v6 = ":" in wire.dst_ip
    src = wire.src_ip if (":" in wire.src_ip) == v6 else ("fd00::1" if v6 else "10.255.0.1")
    return f"PROXY TCP{6 if v6 else 4} {src} {wire.dst_ip} {wire.src_port} {wire.dst_port}\r\n".encode()


def http_request(wire: Wire, case: str, random_value: int = 0, *, version: str = "http/1.1",
                 scheme: str = "http") -> bytes:
    """The hop's request: HTTP/1.1, or HTTP/2 (``h2``: h2c prior knowledge, or h2 negotiated in TLS)."""
    extra = [(CASE_HEADER, case), (RANDOM_HEADER, str(random_value))]
    extra += [(n, v) for n, v in wire.headers if n.lower() not in ("host", "connection", CASE_HEADER)]
    if version in ("h2", "h2c"):
        return h2.request(wire.method, scheme, wire.authority, wire.path, extra)
    lines = [f"{wire.method} {wire.path} HTTP/1.1", f"Host: {wire.authority}", "Connection: close"]
    lines += [f"{n}: {v}" for n, v in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _drain(sock: Any, mode: str) -> None:
    """Read until Envoy closes, or until its whole response is in (``http/1.1``, ``h2``): Envoy then waits for
    the client to close, so closing first saves time."""
    data = b""
    with contextlib.suppress(OSError, ssl.SSLError):
        while chunk := sock.recv(65536):
            data += chunk
            if mode in ("h2", "h2c") and h2.answered(data):
                return
            head, sep, body = data.partition(b"\r\n\r\n")
            if mode == "http/1.1" and sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(body) >= length:
                    return


_STRANGER: list[Any] = []  # a CA no replay trusts: for a client certificate that is presented but not validated


def _client_cert(replay: Replay, kind: str, sans: tuple[str, ...] = ()) -> tuple[str, str]:
    """A client certificate signed by the replay's CA (``validated``) or by a CA nobody trusts (``presented``),
    with the SANs the trace says the client's certificate has (the identity RBAC policies match)."""
    assert replay.form is not None and replay.form.ca is not None
    ca = replay.form.ca
    if kind != "validated":
        from envoyscope.verify.certs import TestCA

        if not _STRANGER:
            _STRANGER.append(TestCA())
        ca = _STRANGER[0]
    cert, key = ca.leaf(sans or ("spiffe://cluster.local/ns/default/sa/envoyscope-verify",))
    folder = Path(tempfile.mkdtemp(prefix="client-", dir=replay.workdir))
    (folder / "cert.pem").write_text(cert)
    (folder / "key.pem").write_text(key)
    return str(folder / "cert.pem"), str(folder / "key.pem")


def send(replay: Replay, entry: str, wire: Wire, payload_http: bool, timeout: float = 5.0,
         random_value: int = 0) -> Decision:
    """Open the hop's connection at the replay's entry (``outbound``, ``inbound`` or ``direct``), wait for the
    access-log lines it caused."""
    assert replay.form is not None
    port = replay.form.entries.get(entry) or replay.form.entries.get("direct") or replay.form.entries["outbound"]
    case = f"case-{next(_cases)}"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        direct = "{}:{}".format(*sock.getsockname()[:2])
        sock.sendall(proxy_header(wire))
        if wire.transport == "tls":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            if wire.alpn:
                ctx.set_alpn_protocols(list(wire.alpn))
            if wire.client_cert:
                ctx.load_cert_chain(*_client_cert(replay, wire.client_cert, wire.client_sans))
            with contextlib.suppress(OSError, ssl.SSLError), ctx.wrap_socket(
                    sock, server_hostname=wire.sni or None) as tls:
                tls.settimeout(timeout)
                tls.do_handshake()
                version = "h2" if tls.selected_alpn_protocol() in ("h2", "istio-h2") else "http/1.1"
                if payload_http:
                    tls.sendall(http_request(wire, case, random_value, version=version, scheme="https"))
                _drain(tls, version if payload_http else "")
        else:
            version = wire.http or ("http/1.1" if payload_http else "")
            not_http = b"\x16envoyscope-verify: not http\x00\r\n"
            sock.sendall(http_request(wire, case, random_value, version=version) if version else not_http)
            _drain(sock, version)
    return _decision(replay, case, direct, time.monotonic() + timeout)


def _clean(value: Any) -> str | None:
    return None if value in (None, "", "-") else str(value)


def _decision(replay: Replay, case: str, direct: str, deadline: float) -> Decision:
    assert replay.form is not None
    form = replay.form
    while time.monotonic() < deadline:
        lines = replay.log_lines()
        conn = next((ln for ln in lines if ln.get("kind") == "connection" and ln.get("direct") == direct), None)
        if conn is not None:
            http = next((ln for ln in lines if ln.get("kind") == "http" and ln.get("case") == case), None)
            for used in (conn, http):
                if used is not None:
                    lines.remove(used)
            line = http or conn
            code = _clean(line.get("code"))
            listener = form.label(_clean(conn.get("listener")))
            return Decision(
                listener=None if conn.get("listener") == ENTRY else listener,
                filter_chain=form.label(_clean(line.get("chain"))) if conn.get("listener") != ENTRY else None,
                virtual_host=_clean(line.get("vhost")), route=form.label(_clean(line.get("route"))),
                cluster=_clean(line.get("cluster")) if conn.get("listener") != ENTRY else None,
                response_flags=_clean(line.get("flags")) or "",
                response_code=int(code) if code and code != "0" else None,
                details=" ".join(x for x in (_clean(line.get("details")), _clean(conn.get("failure"))) if x),
                http=http is not None, downstream_failure=_clean(conn.get("failure")) or "")
        time.sleep(0.01)
    raise TimeoutError(f"no access-log line for {case} ({direct})")
