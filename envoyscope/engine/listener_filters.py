"""What the listener filters let Envoy see of a connection before it picks a filter chain.

``tls_inspector`` reads the ClientHello (transport protocol ``tls``, SNI, ALPN); ``http_inspector`` sniffs
plaintext HTTP (ALPN ``http/1.1`` / ``h2c``); without them the connection is ``raw_buffer`` with no server name
(``ActiveTcpSocket::newConnection`` fills in ``raw_buffer`` when nothing was detected). A listener filter's
``filter_disabled`` matcher can switch it off for some connections (Istio disables the HTTP inspector on
ports it knows are not HTTP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoyscope.engine.request import Wire


@dataclass(frozen=True, slots=True)
class Detected:
    """The connection as filter chain matching sees it (``Network::ConnectionSocket`` after listener filters)."""

    dst_ip: str
    dst_port: int
    src_ip: str
    src_port: int
    transport_protocol: str
    server_name: str
    application_protocols: tuple[str, ...]
    notes: tuple[str, ...] = ()
    direct_src_ip: str = ""  # the TCP peer before a PROXY header restored the source; "" = src_ip
    filter_state: tuple[tuple[str, str], ...] = ()  # what an internal connection arrived with

    @property
    def direct_source(self) -> str:
        return self.direct_src_ip or self.src_ip


def _kind(filt: dict[str, Any]) -> str:
    type_url = str((filt.get("typed_config") or {}).get("@type", ""))
    name = str(filt.get("name", ""))
    for key, words in (("tls_inspector", ("TlsInspector", "tls_inspector")),
                       ("http_inspector", ("HttpInspector", "http_inspector")),
                       ("original_dst", ("OriginalDst", "original_dst")),
                       ("proxy_protocol", ("ProxyProtocol", "proxy_protocol"))):
        if any(w in type_url or w in name for w in words):
            return key
    return name or type_url


def listener_filter_disabled(matcher: dict[str, Any] | None, wire: Wire) -> bool:
    """``ListenerFilterMatcher``: destination port ranges, and/or/not of them, any_match."""
    if not matcher:
        return False
    if matcher.get("any_match"):
        return True
    if "destination_port_range" in matcher:
        rng = matcher["destination_port_range"]
        return int(rng.get("start", 0)) <= wire.dst_port < int(rng.get("end", 0))
    if "not_match" in matcher:
        return not listener_filter_disabled(matcher["not_match"], wire)
    if "or_match" in matcher:
        return any(listener_filter_disabled(m, wire) for m in matcher["or_match"].get("rules") or ())
    if "and_match" in matcher:
        return all(listener_filter_disabled(m, wire) for m in matcher["and_match"].get("rules") or ())
    return False


def detect(listener: dict[str, Any], wire: Wire) -> Detected:
    """Run the listener's filters over the connection, in order, as far as they change what matching sees."""
    active = []
    notes = []
    for filt in listener.get("listener_filters") or ():
        kind = _kind(filt)
        if listener_filter_disabled(filt.get("filter_disabled"), wire):
            notes.append(f"{kind} is disabled for destination port {wire.dst_port} (filter_disabled)")
            continue
        active.append(kind)
    transport, sni = "raw_buffer", ""
    alpn: tuple[str, ...] = ()
    if wire.transport == "tls":
        if "tls_inspector" in active:
            transport, sni, alpn = "tls", wire.sni or "", wire.alpn
            notes.append(f"tls_inspector reads the ClientHello: SNI {sni or '(none)'}"
                         f"{', ALPN ' + ','.join(alpn) if alpn else ''}")
        else:
            notes.append("the connection is TLS but the listener has no tls_inspector: Envoy sees it as raw_buffer, "
                         "with no server name")
    elif wire.http and "http_inspector" in active:
        alpn = ("h2c",) if wire.http == "h2c" else ("http/1.1",)
        notes.append(f"http_inspector recognises plaintext HTTP: application protocol {alpn[0]}")
    return Detected(wire.dst_ip, wire.dst_port, wire.src_ip, wire.src_port, transport, sni, tuple(alpn), tuple(notes),
                    filter_state=wire.filter_state)
