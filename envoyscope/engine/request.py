"""The request a user asks envoyscope to trace, and what it looks like on the wire at each hop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

SCHEMES = ("http", "https", "tcp", "tls")


@dataclass(frozen=True, slots=True)
class TraceRequest:
    """What the application sends.

    scheme: ``http`` (plaintext HTTP/1.1), ``https`` (TLS with SNI = host, then HTTP inside: envoyscope sees
    only the TLS handshake), ``tls`` (TLS, not HTTP), ``tcp`` (raw bytes, e.g. MySQL).
    authority: the Host / :authority header exactly as sent (``-H 'host: …'``), default ``host`` or ``host:port``
    as curl sends it (port left out when it is the scheme's default).
    alpn: for ``https``/``tls`` the ClientHello's ALPN; for ``http``, ``h2c`` means HTTP/2 with prior knowledge
    (``curl --http2-prior-knowledge``): the connection opens with the HTTP/2 preface instead of an HTTP/1.1 line.
    client_cert: whether a TLS client presents a certificate: ``""`` (a plain HTTPS client), ``presented`` (one the
    listener does not trust: a listener that verifies fails the handshake), ``offered`` (a proxy's own certificate
    to the next hop, trust not known: assumed trusted), or
    ``validated`` (one the receiving listener trusts, as between Istio sidecars with mutual TLS).
    assumed: what the description of the request left unsaid and was assumed (a sentence each, shown with the
    trace's assumptions), e.g. plain HTTP to port 443 when no scheme was given.
    """

    host: str
    port: int
    ip: str | None = None
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "http"
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    source_ip: str | None = None
    from_proxy: str | None = None
    random_value: int = 0
    runtime: tuple[tuple[str, float], ...] = field(default=())
    client_cert: str = ""
    assumed: tuple[str, ...] = ()
    principal: str | None = None  # --principal: the client certificate's URI SAN (a SPIFFE identity)
    inbound: bool = False  # --inbound: the connection arrives at the first proxy's inbound (iptables → 15006)
    now: datetime | None = None  # --now: when JWT expiry is judged (None: this machine's clock, said as assumed)

    @property
    def is_tls(self) -> bool:
        return self.scheme in ("https", "tls")

    @property
    def is_http(self) -> bool:
        return self.scheme == "http"

    @property
    def http_version(self) -> str | None:
        """What http_inspector sees of a plaintext HTTP request: ``h2c`` (prior knowledge) or ``http/1.1``."""
        if not self.is_http:
            return None
        return "h2c" if "h2c" in self.alpn else "http/1.1"

    @property
    def authority(self) -> str:
        for name, value in self.headers:
            if name.lower() in ("host", ":authority"):
                return value
        default = {"http": 80, "https": 443}.get(self.scheme)
        return self.host if self.port == default else f"{self.host}:{self.port}"

    @property
    def server_name(self) -> str | None:
        """The SNI a TLS client sends: ``--sni`` or the host name (never an IP address)."""
        if not self.is_tls:
            return None
        if self.sni is not None:
            return self.sni or None
        return None if is_ip(self.host) else self.host

    def header_list(self) -> tuple[tuple[str, str], ...]:
        """Headers as the router sees them, with :authority, :path, :method and x-forwarded-proto."""
        rest = tuple((n.lower(), v) for n, v in self.headers if n.lower() not in ("host", ":authority"))
        return ((":authority", self.authority), (":path", self.path), (":method", self.method), *rest)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "ip": self.ip,
            "scheme": self.scheme,
            "authority": self.authority if self.is_http else None,
            "method": self.method if self.is_http else None,
            "path": self.path if self.is_http else None,
            "headers": [[n, v] for n, v in self.headers],
            "sni": self.server_name,
            "alpn": list(self.alpn),
            "source_ip": self.source_ip,
            "from": self.from_proxy,
            "random_value": self.random_value,
            "client_cert": (self.client_cert or None) if self.is_tls else None,
            **({"principal": self.principal} if self.principal else {}),
            **({"inbound": True} if self.inbound else {}),
            **({"now": self.now.isoformat()} if self.now is not None else {}),
        }


@dataclass(frozen=True, slots=True)
class Wire:
    """One connection as a proxy receives it: where it is going and what its first bytes look like."""

    dst_ip: str
    dst_port: int
    src_ip: str
    src_port: int = 40000
    transport: str = "raw_buffer"  # raw_buffer | tls
    sni: str | None = None
    alpn: tuple[str, ...] = ()
    http: str | None = "http/1.1"  # http/1.1 | h2c | None (not HTTP, or HTTP hidden inside TLS)
    authority: str = ""
    path: str = "/"
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()  # other request headers, lower-case names
    client_cert: str = ""  # TLS only: "" (none) | presented (untrusted) | validated (trusted) | offered (not known)
    # HBONE: the connection carries an HTTP/2 CONNECT (method, authority above) whose stream is this connection
    inner: Wire | None = None
    # filter state objects the connection arrived with (shared by the connection that opened it, as Envoy's
    # internal listeners receive them)
    filter_state: tuple[tuple[str, str], ...] = ()
    # dynamic metadata passed through to an internal listener: (filter metadata namespace, key, value)
    metadata: tuple[tuple[str, str, str], ...] = ()
    client_sans: tuple[str, ...] = ()  # the client certificate's SANs (``scheme://…`` are URIs, the rest DNS names)
    client_subject: str = ""  # its subject, RFC 2253 (``CN=…``)

    def with_(self, **changes: Any) -> Wire:
        return replace(self, **changes)


def first_wire(request: TraceRequest, dst_ip: str, src_ip: str) -> Wire:
    """What the application's connection looks like to its sidecar (or to the first gateway)."""
    headers = tuple((n.lower(), v) for n, v in request.headers if n.lower() not in ("host", ":authority"))
    return Wire(
        dst_ip=dst_ip,
        dst_port=request.port,
        src_ip=src_ip,
        transport="tls" if request.is_tls else "raw_buffer",
        sni=request.server_name,
        alpn=request.alpn,
        http=request.http_version,
        authority=request.authority,
        path=request.path,
        method=request.method,
        headers=headers,
        client_cert=request.client_cert if request.is_tls else "",
        client_sans=(request.principal,) if request.principal and request.is_tls else (),
    )


def is_ip(host: str) -> bool:
    """Whether ``host`` is an IPv4 or IPv6 address (``[v6]`` too) rather than a name."""
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def parse_to(value: str, scheme: str) -> tuple[str, int]:
    """``host[:port]`` (``[v6]:port`` too); the port defaults to the scheme's. A malformed host or port raises
    `ArgumentError` (a ValueError) naming ``--to``: the rules are `envoyscope.engine.validate.destination`'s."""
    from envoyscope.engine.validate import destination

    return destination(value, scheme, "--to")
