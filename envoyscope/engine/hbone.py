"""HBONE: TCP carried in an HTTP/2 ``CONNECT`` stream over mutual TLS, as Istio's ambient mode moves it.

A ztunnel (or a waypoint's ``connect_originate``) opens mTLS to the peer's port 15008 with ALPN ``h2`` and its
SPIFFE certificate, then sends ``CONNECT`` with ``:authority`` = the destination ``IP:port``; the stream's
bytes are the application's connection. In Envoy the sending side is a ``tcp_proxy`` with ``tunneling_config``
(``hostname`` formatted per connection, e.g. ``%DOWNSTREAM_LOCAL_ADDRESS%``) over a cluster that speaks HTTP/2;
the receiving side (a waypoint's ``connect_terminate``) is an ``http_connection_manager`` whose route upgrades
``CONNECT`` and sends the stream to the internal listener ``main_internal``.

A `Wire` that is HBONE has ``method == "CONNECT"``, ``authority`` = the tunnel's target and ``inner`` = the
tunnelled connection (the application's bytes, its own destination not yet restored).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from envoyscope.engine.internal_listener import internal_listeners
from envoyscope.engine.request import TraceRequest, Wire, first_wire
from envoyscope.engine.steps import Step
from envoyscope.model.dump import ConfigDump

if TYPE_CHECKING:
    from envoyscope.engine.hop import HopResult
    from envoyscope.engine.trace import Outcome

HBONE_PORT = 15008
MAIN_INTERNAL = "main_internal"


def hbone_wire(dst_ip: str, src_ip: str, authority: str, inner: Wire, *, alpn: tuple[str, ...] = ("h2",),
               sni: str | None = None, client_cert: str = "validated", client_sans: tuple[str, ...] = ()) -> Wire:
    """The connection a ztunnel (or connect_originate) opens to ``dst_ip:15008`` for ``authority``; client_sans:
    the identity its certificate carries (ztunnel presents the client workload's SPIFFE ID), when known."""
    return Wire(dst_ip=dst_ip, dst_port=HBONE_PORT, src_ip=src_ip, transport="tls", sni=sni, alpn=alpn, http="h2",
                authority=authority, path="", method="CONNECT", headers=(), client_cert=client_cert,
                client_sans=client_sans, inner=inner)


def _hostname(template: str, wire: Wire) -> str:
    """``tunneling_config.hostname``: the substitution commands a tunnel's authority uses."""
    def value(match: re.Match[str]) -> str:
        command = match.group(1)
        if command in ("DOWNSTREAM_LOCAL_ADDRESS", "UPSTREAM_LOCAL_ADDRESS"):
            return f"{wire.dst_ip}:{wire.dst_port}"
        if command == "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT":
            return wire.dst_ip
        if command == "DOWNSTREAM_LOCAL_PORT":
            return str(wire.dst_port)
        if command == "REQUESTED_SERVER_NAME":
            return wire.sni or ""
        return match.group(0)

    return re.sub(r"%([A-Z_]+)%", value, template)


def tunnel(result: HopResult, tcp_proxy: dict[str, Any], received: Wire) -> HopResult:
    """tcp_proxy with ``tunneling_config``: the upstream connection is an HTTP/2 CONNECT carrying ``received``."""
    from envoyscope.engine.hop import HopResult

    assert result.next_wire is not None
    config = tcp_proxy.get("tunneling_config") or {}
    authority = _hostname(str(config.get("hostname", "")), received)
    out = result.next_wire
    tls = result.hop.tls
    alpn = out.alpn or (("h2",) if tls is not None and tls.mode != "plaintext" else ())
    use_post = bool(config.get("use_post"))
    method = "POST" if use_post else "CONNECT"
    wire = out.with_(http="h2" if out.transport == "tls" else "h2c", alpn=alpn, method=method, authority=authority,
                     path=str(config.get("post_path", "/")) if use_post else "", headers=(), inner=received)
    via = f"{out.dst_ip}:{out.dst_port}"
    sans = f", verifying the peer's SAN {', '.join(tls.verify_sans)}" if tls is not None and tls.verify_sans else ""
    cert = f" with client certificate {tls.client_cert}" if tls is not None and tls.client_cert else ""
    mode = tls.mode if tls is not None else "plaintext"
    step = Step("tunnel", authority, f"tcp_proxy tunneling_config: the connection travels inside an HTTP/2 {method} "
                                     f"with :authority `{authority}` (hostname `{config.get('hostname', '')}`) to "
                                     f"{via}, over {mode}{cert}{sans}, ALPN {', '.join(alpn) or 'none'} (HBONE when "
                                     "the peer listens on 15008)", "tcp_proxy.tunneling_config", raw=config)
    hop = replace(result.hop, steps=(*result.hop.steps, step))
    return HopResult(hop, None, next_wire=wire, endpoint_ip=result.endpoint_ip, cluster=result.cluster,
                     assumption=result.assumption)


def leaves_hbone(result: HopResult) -> Outcome:
    """The outcome when an HBONE tunnel leaves the proxies given: the peer at :15008 is a ztunnel (or a waypoint
    whose dump was not given)."""
    from envoyscope.engine.trace import Outcome

    wire = result.next_wire
    assert wire is not None
    tls = result.hop.tls
    mode = tls.mode if tls is not None else "plaintext"
    target = wire.authority.rpartition(":")[0].strip("[]")
    peer = ("the destination's ztunnel" if target == wire.dst_ip else
            "not the destination's own node: the peer the endpoint's metadata names (its waypoint, or a network "
            "gateway)")
    return Outcome("mesh_internal", f"reaches {wire.dst_ip}:{wire.dst_port} over HBONE ({mode}, HTTP/2 "
                                    f"{wire.method} {wire.authority}): {peer}, which carries the stream on to "
                                    f"{wire.authority}")


# -- waypoints --

def is_waypoint(dump: ConfigDump) -> bool:
    """A proxy built as Istio builds a waypoint: type ``waypoint``, or an internal listener ``main_internal``."""
    return dump.identity.proxy_type == "waypoint" or any(r.name == MAIN_INTERNAL for r in internal_listeners(dump))


def connect_terminate(dump: ConfigDump) -> str | None:
    """The listener bound to port 15008, where HBONE arrives (Istio's ``connect_terminate``)."""
    from envoyscope.engine.listener import binds, listener_addresses

    for resource in dump.active_listeners():
        if binds(resource.raw) and any(a.port == HBONE_PORT for a in listener_addresses(resource.raw)):
            return resource.name
    return None


def matcher_chains(matcher: dict[str, Any], out: list[tuple[str, str, str]], prefix: str = "") -> None:
    """(IP range, port or '', chain name) of a DestinationIP → DestinationPort filter_chain_matcher tree."""
    tree = matcher.get("matcher_tree") or {}
    kind = str(((tree.get("input") or {}).get("typed_config") or {}).get("@type", ""))
    if "custom_match" in tree and kind.endswith("DestinationIPInput"):
        custom = (tree["custom_match"].get("typed_config") or {})
        for rm in custom.get("range_matchers") or ():
            for cidr in rm.get("ranges") or ():
                net = f"{cidr.get('address_prefix')}/{int(cidr.get('prefix_len', 32) or 0)}"
                matcher_chains((rm.get("on_match") or {}).get("matcher") or {}, out, net)
    elif "exact_match_map" in tree and kind.endswith("DestinationPortInput"):
        for port, on_match in ((tree["exact_match_map"] or {}).get("map") or {}).items():
            action = (on_match.get("action") or {})
            name = str((action.get("typed_config") or {}).get("value", action.get("name", "")))
            out.append((prefix, str(port), name))


def waypoint_hostname(dump: ConfigDump, host: str, port: int) -> str | None:
    """Why ``host:port`` goes to the waypoint by name: main_internal's ``on_no_match`` chooses a chain by a
    ``FilterStateInput`` (Istio: the CONNECT authority kept as ``io.istio.connect_authority``), for hosts without a
    VIP. None when the waypoint has no such fallback (or ``host`` is an IP address)."""
    from envoyscope.engine.request import is_ip

    if is_ip(host):
        return None
    wanted = f"{host}:{port}"
    for listener in internal_listeners(dump):
        no_match = ((listener.raw.get("filter_chain_matcher") or {}).get("on_no_match") or {}).get("matcher") or {}
        tree = no_match.get("matcher_tree") or {}
        typed = (tree.get("input") or {}).get("typed_config") or {}
        if not str(typed.get("@type", "")).endswith("FilterStateInput"):
            continue
        table = (tree.get("exact_match_map") or {}).get("map") or {}
        key = typed.get("key", "")
        if wanted in table:
            action = (table[wanted].get("action") or {})
            chain = (action.get("typed_config") or {}).get("value", action.get("name", ""))
            return (f"{wanted} has no VIP: `{listener.name}`'s on_no_match sends the filter state `{key}` "
                    f"{wanted} to chain `{chain}`; the CONNECT authority is the name")
        return (f"{wanted} has no VIP the waypoint knows and is not in `{listener.name}`'s on_no_match map on the "
                f"filter state `{key}`: the CONNECT authority is the name (--ip gives an address instead)")
    return None


def waypoint_vip(dump: ConfigDump, host: str, port: int) -> tuple[str, str] | None:
    """The service VIP the waypoint's main_internal matcher sends to a chain named for ``host:port``
    (``inbound-vip|PORT|PROTO|HOST``, Istio's chain name), and why."""
    from envoyscope.engine.destination import same_host

    for listener in internal_listeners(dump):
        found: list[tuple[str, str, str]] = []
        matcher_chains(listener.raw.get("filter_chain_matcher") or {}, found)
        for net, chain_port, chain in found:
            parts = chain.split("|")
            if len(parts) == 4 and parts[0] == "inbound-vip" and parts[1] == str(port) and chain_port == str(port):
                chain_host = parts[3].rsplit("-", 1)[0] if parts[3].endswith(("-http", "-tcp")) else parts[3]
                if same_host(chain_host, host):
                    try:
                        ip = str(ipaddress.ip_network(net, strict=False).network_address)
                    except ValueError:
                        continue
                    return ip, (f"{ip}: the VIP whose range {net} the waypoint's `{listener.name}` matcher sends, "
                                f"on port {port}, to chain `{chain}`")
    return None


def waypoint_start(request: TraceRequest, start: ConfigDump, dst_ip: str, src_ip: str) -> tuple[Wire, str, str]:
    """How the request reaches a waypoint from a ztunnel: (wire, entry, assumption).

    HBONE to the waypoint's 15008 with CONNECT ``dst_ip:port``; a dump without that listener (istioctl's test
    fixture holds only main_internal) starts at main_internal, as if the HBONE had been terminated."""
    inner = first_wire(request, dst_ip, src_ip)
    authority = f"[{dst_ip}]:{request.port}" if ":" in dst_ip else f"{dst_ip}:{request.port}"
    listener = connect_terminate(start)
    waypoint_ip = start.identity.instance_ips[0] if start.identity.instance_ips else "127.0.0.1"
    if listener is not None:
        who = (f"the client's workload certificate {request.principal}" if request.principal else
               "the client's workload certificate, identity unknown: --principal gives it")
        return (hbone_wire(waypoint_ip, src_ip, authority, inner,
                           client_sans=(request.principal,) if request.principal else ()), "direct",
                f"the request reaches the waypoint as a ztunnel sends it: HBONE (mTLS with {who}, "
                f"ALPN h2) to {waypoint_ip}:{HBONE_PORT}, HTTP/2 CONNECT {authority}")
    names = [r.name for r in internal_listeners(start)]
    target = MAIN_INTERNAL if MAIN_INTERNAL in names else names[0]
    state = (("envoy.filters.listener.original_dst.local_ip", authority),)
    return (inner.with_(filter_state=state), f"internal:{target}",
            f"the dump has no listener on port {HBONE_PORT} (connect_terminate): the trace starts at internal listener "
            f"`{target}` with destination {authority}, as connect_terminate would hand it the CONNECT stream")
