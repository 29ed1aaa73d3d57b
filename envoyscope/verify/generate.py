"""Requests made from a dump's own names, to check a whole proxy against Envoy (``verify --all``-style tests).

For every listener: each virtual host's domains with a path per route (prefix, exact or path-separated prefix;
with the header a route matches on), the service of a ``<ip>_<port>`` listener (its tcp_proxy cluster), every SNI
filter chain (TLS with that SNI), and a few unknown hosts and ports. Each request is a `TraceRequest` with its
destination IP given (``--ip``), so nothing depends on how the destination would be guessed.
"""

from __future__ import annotations

import re
from typing import Any

from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import parse_cluster_name

UNKNOWN_IP = "10.254.254.254"
UNKNOWN_HOST = "unknown.envoyscope.invalid"
PER_LISTENER = 12


def _socket(raw: dict[str, Any]) -> tuple[str, int] | None:
    sock = (raw.get("address") or {}).get("socket_address") or {}
    if "port_value" not in sock:
        return None
    return str(sock.get("address", "")), int(sock["port_value"])


def _route_paths(route: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    match = route.get("match") or {}
    if "prefix" in match:
        path = str(match["prefix"]) or "/"
    elif "path" in match:
        path = str(match["path"])
    elif "path_separated_prefix" in match:
        path = str(match["path_separated_prefix"])
    else:
        return None
    if not path.startswith("/"):
        path = "/" + path
    headers = []
    for header in match.get("headers") or ():
        name = str(header.get("name", ""))
        if name.startswith(":") or not name:
            continue
        string = header.get("string_match") or {}
        if "exact" in string:
            headers.append((name, str(string["exact"])))
        elif "exact_match" in header:
            headers.append((name, str(header["exact_match"])))
        elif header.get("present_match"):
            headers.append((name, "1"))
        elif "prefix" in string:
            headers.append((name, str(string["prefix"]) + "x"))
    return path, tuple(headers)


def _domain(domains: list[str]) -> str | None:
    for domain in domains:
        if "*" not in domain:
            return domain
    return None


def http_requests(config: dict[str, Any], ip: str, port: int, limit: int) -> list[TraceRequest]:
    out = []
    for vhost in config.get("virtual_hosts") or ():
        domains = [str(d) for d in vhost.get("domains") or ()]
        domain = _domain(domains) or (UNKNOWN_HOST if "*" in domains else None)
        if domain is None:
            continue
        host = re.sub(r":\d+$", "", domain.strip("[]")) if not domain.startswith("[") else domain
        matched_headers = []
        for route in (vhost.get("routes") or ())[:3]:
            found = _route_paths(route)
            if found is None:
                continue
            path, headers = found
            matched_headers += [name for name, _ in headers]
            out.append(TraceRequest(host=host, port=port, ip=ip, path=path, headers=(("host", domain), *headers)))
        for name in sorted(set(matched_headers))[:1]:  # the routes after the header-matched ones
            out.append(TraceRequest(host=host, port=port, ip=ip, headers=(("host", domain), (name, "no-match"))))
            out.append(TraceRequest(host=host, port=port, ip=ip, headers=(("host", domain),)))
    step = max(1, len(out) // limit)
    return out[::step][:limit]


def _requires_client_certificate(chain: dict[str, Any]) -> bool:
    typed = (chain.get("transport_socket") or {}).get("typed_config") or {}
    value = typed.get("require_client_certificate")
    return bool(value.get("value") if isinstance(value, dict) else value)


def listener_requests(dump: ConfigDump, raw: dict[str, Any], instance_ip: str) -> list[TraceRequest]:
    where = _socket(raw)
    if where is None:
        return []
    address, port = where
    ip = address if address not in ("0.0.0.0", "::", "") else instance_ip
    out: list[TraceRequest] = []
    for chain in raw.get("filter_chains") or ():
        match = chain.get("filter_chain_match") or {}
        if match.get("destination_port") not in (None, port):
            continue
        for sni in (match.get("server_names") or ())[:2]:
            host = str(sni).replace("*", "any")
            out.append(TraceRequest(host=host, port=port, ip=ip, scheme="tls", sni=host))
            if _requires_client_certificate(chain):
                out.append(TraceRequest(host=host, port=port, ip=ip, scheme="tls", sni=host, client_cert="validated"))
            out.append(TraceRequest(host=host, port=port, ip=ip, path="/plaintext"))  # HTTP to a TLS chain
        if match.get("server_names"):
            out.append(TraceRequest(host=UNKNOWN_HOST, port=port, ip=ip, scheme="tls"))
        if match.get("server_names") or match.get("transport_protocol") == "tls":
            continue
        for filt in chain.get("filters") or ():
            typed = filt.get("typed_config") or {}
            rds = (typed.get("rds") or {}).get("route_config_name")
            found = dump.route_config(str(rds)) if rds else None
            config = typed.get("route_config") or (found.raw if found is not None else None)
            if isinstance(config, dict):
                found_http = http_requests(config, ip, port, PER_LISTENER)
                out += found_http
                out.append(TraceRequest(host=UNKNOWN_HOST, port=port, ip=ip, path="/unknown"))
                for first in found_http[:1]:  # HTTP/2 with prior knowledge; TLS or raw bytes to an HTTP port
                    out.append(TraceRequest(host=first.host, port=port, ip=ip, headers=first.headers,
                                            path=first.path, alpn=("h2c",)))
                    out.append(TraceRequest(host=first.host, port=port, ip=ip, scheme="https"))
                    out.append(TraceRequest(host=first.host, port=port, ip=ip, scheme="tcp"))
            cluster = typed.get("cluster")
            if isinstance(cluster, str) and "tcp_proxy" in str(typed.get("@type", "")).lower():
                name = parse_cluster_name(cluster)
                host = name.host if name.host else UNKNOWN_HOST
                out.append(TraceRequest(host=host, port=port, ip=ip, scheme="tcp"))
                out.append(TraceRequest(host=host, port=port, ip=ip, scheme="tls"))
                out.append(TraceRequest(host=host, port=port, ip=ip, path="/http-to-tcp"))
    return out[:PER_LISTENER + 6]


def requests_for(dump: ConfigDump) -> list[TraceRequest]:
    """Every request this dump's names suggest (deduplicated, in listener order)."""
    ips = dump.identity.instance_ips
    instance_ip = ips[0] if ips else "10.1.1.1"
    sidecar = dump.identity.proxy_type == "sidecar"
    out: list[TraceRequest] = []
    ports = set()
    for resource in dump.active_listeners():
        raw = resource.raw
        if resource.name in ("virtualInbound",) or raw.get("traffic_direction") == "INBOUND" and sidecar:
            continue
        where = _socket(raw)
        if where:
            ports.add(where[1])
        if where and where[0] in ("0.0.0.0", "::") and sidecar:
            raw_ip = UNKNOWN_IP  # a catch-all port: a destination no VIP listener claims
            out += listener_requests(dump, {**raw, "address": {"socket_address": {
                "address": raw_ip, "port_value": where[1]}}}, raw_ip)
        else:
            out += listener_requests(dump, raw, instance_ip)
    for port in (9, 8081, 31999):  # ports no listener has
        if port not in ports:
            out.append(TraceRequest(host=UNKNOWN_HOST, port=port, ip=UNKNOWN_IP if sidecar else instance_ip))
    seen, unique = set(), []
    for request in out:
        if request not in seen:
            seen.add(request)
            unique.append(request)
    return unique


def as_flags(request: TraceRequest) -> str:
    """The ``envoyscope verify`` options that make this request."""
    parts = [f"--to {request.host}:{request.port}"]
    if request.ip:
        parts.append(f"--ip {request.ip}")
    if request.scheme != "http":
        parts.append(f"--scheme {request.scheme}")
    if request.alpn:
        parts.append(f"--alpn {','.join(request.alpn)}")
    if request.sni and request.sni != request.host:
        parts.append(f"--sni {request.sni}")
    if request.path != "/" and request.scheme == "http":
        parts.append(f"--path {request.path}")
    parts += [f"-H '{n}: {v}'" for n, v in request.headers]
    return " ".join(parts)


# What another Istio sidecar sends to this pod: (label, wire, the request as the hop engine reads it, whether the
# payload is HTTP). The hop is checked on its own, entering at the virtual inbound listener.
InboundCase = tuple[str, Wire, TraceRequest, bool]
ISTIO_HTTP_ALPN = ("istio-http/1.1", "istio", "http/1.1")
ISTIO_TCP_ALPN = ("istio-peer-exchange", "istio")


def inbound_cases(dump: ConfigDump) -> list[InboundCase]:
    if dump.identity.proxy_type != "sidecar" or dump.listener("virtualInbound") is None:
        return []
    ip = dump.identity.instance_ips[0] if dump.identity.instance_ips else "10.1.1.1"
    ports = sorted({int(c.name.split("|")[1]) for c in dump.clusters
                    if c.name.startswith("inbound|") and c.name.split("|")[1].isdigit()})
    out: list[InboundCase] = []
    for port in [*ports, 9]:
        host = f"{dump.identity.label('app') or 'app'}.{dump.identity.namespace or 'default'}.svc.cluster.local"
        sni = f"outbound_.{port}_._.{host}"
        base = Wire(dst_ip=ip, dst_port=port, src_ip="10.1.2.3", authority=f"{host}:{port}")
        http = TraceRequest(host=host, port=port, ip=ip)
        tcp = TraceRequest(host=host, port=port, ip=ip, scheme="tcp")
        tls = TraceRequest(host=host, port=port, ip=ip, scheme="tls", sni=sni)
        out += [
            (f"inbound {ip}:{port} plaintext HTTP", base, http, True),
            (f"inbound {ip}:{port} plaintext TCP", base.with_(http=None), tcp, False),
            (f"inbound {ip}:{port} mTLS HTTP (alpn istio-http/1.1, client certificate)",
             base.with_(transport="tls", sni=sni, alpn=ISTIO_HTTP_ALPN, client_cert="validated"), http, True),
            (f"inbound {ip}:{port} mTLS TCP (alpn istio, client certificate)",
             base.with_(transport="tls", sni=sni, alpn=ISTIO_TCP_ALPN, client_cert="validated", http=None), tcp,
             False),
            (f"inbound {ip}:{port} TLS alpn istio-http/1.1 without a client certificate",
             base.with_(transport="tls", sni=sni, alpn=ISTIO_HTTP_ALPN), http, True),
            (f"inbound {ip}:{port} TLS from the app (no ALPN, no client certificate)",
             base.with_(transport="tls", sni=host, http=None), tls, False),
        ]
    return out
