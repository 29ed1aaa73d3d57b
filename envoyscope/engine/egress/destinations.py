"""Every destination one proxy's config can send to, as a request an app (or a client of a gateway) could make.

The candidates are read from what the config names: HTTP virtual hosts (their domains and the port of their
route configuration), SNI filter chains, ``<ip>_<port>`` TCP listeners, outbound clusters (DNS ones and the rest),
plus the catch-alls a mesh always has to answer: an unknown host on 80 (HTTP), on 443 (TLS with an unknown SNI)
and on an arbitrary TCP port. Whether a candidate leaves the mesh is not guessed here: each one is traced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from envoyscope.engine.downstream_tls import downstream_context
from envoyscope.engine.request import is_ip
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import BLACKHOLE, PASSTHROUGH, parse_cluster_name

UNKNOWN_HOST = "unknown.example.invalid"
UNKNOWN_TCP_PORT = 9999
_WILDCARDS = ("0.0.0.0", "::")
MAX_ROUTES = 6  # requests per virtual host: enough for header-selected subsets, not a flood
_ADMIN_PORTS = (15000, 15004, 15020, 15021, 15090)  # Istio's agent, health and metrics listeners


@dataclass(frozen=True, slots=True)
class Destination:
    host: str
    port: int
    protocol: str  # http | https (HTTP inside TLS the listener terminates) | tls | tcp
    named_by: str  # which part of the config names it
    ip: str | None = None
    catch_all: bool = False
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    sni: str | None = None
    client_cert: str = ""  # validated: what an Istio sidecar presents to a gateway chain that requires one
    clusters: tuple[str, ...] = ()  # the clusters the naming config sends to (routes, tcp_proxy, the cluster)

    @property
    def request(self) -> str:
        """What is asked, in a table cell: the path and headers of an HTTP request, ``-`` otherwise."""
        if self.protocol not in ("http", "https"):
            return "-"
        return " ".join([self.path, *(f"{n}:{v}" for n, v in self.headers)])

    @property
    def key(self) -> tuple[str, int, str, str, tuple[tuple[str, str], ...]]:
        return self.host.lower(), self.port, self.protocol, self.path, self.headers


def _socket(raw: dict[str, Any]) -> tuple[str, int] | None:
    sock = (raw.get("address") or {}).get("socket_address") or {}
    if "port_value" not in sock:
        return None
    return str(sock.get("address", "")), int(sock["port_value"])


def _is_name(domain: str) -> bool:
    bare = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
    return "*" not in bare and "." in bare and not is_ip(bare.strip("[]"))


def hcm_route_configs(chain: dict[str, Any], dump: ConfigDump) -> Iterator[tuple[str, dict[str, Any]]]:
    for filt in chain.get("filters") or ():
        typed = filt.get("typed_config") or {}
        if not str(typed.get("@type", "")).endswith("HttpConnectionManager"):
            continue
        if isinstance(typed.get("route_config"), dict):
            yield str(typed["route_config"].get("name", "")), typed["route_config"]
            continue
        name = str((typed.get("rds") or {}).get("route_config_name", ""))
        found = dump.route_config(name) if name else None
        if found is not None:
            yield name, found.raw


def _http(dump: ConfigDump) -> Iterator[Destination]:
    """The virtual hosts of every HTTP connection manager a listener serves, on that listener's port (and its
    address, for a per-service VIP listener)."""
    for listener in dump.active_listeners():
        found = _socket(listener.raw)
        if found is None or listener.raw.get("use_original_dst") or found[1] in _ADMIN_PORTS:
            continue
        ip = found[0] if found[0] not in _WILDCARDS and is_ip(found[0]) else None
        for chain in listener.raw.get("filter_chains") or ():
            match = chain.get("filter_chain_match") or {}
            port = int(match.get("destination_port") or found[1])
            tls = downstream_context(chain)
            for config_name, config in hcm_route_configs(chain, dump):
                for vhost in config.get("virtual_hosts") or ():
                    for dest in _vhost_destination(vhost, config_name, listener.name, port, ip):
                        if tls is not None:  # HTTP behind the chain's TLS: send what a client of it would
                            names = [str(n) for n in match.get("server_names") or () if "*" not in str(n)]
                            required = bool(tls[0].get("require_client_certificate"))
                            dest = replace(dest, protocol="https", sni=names[0] if names else dest.host,
                                           client_cert="validated" if required else "")
                        yield dest


def _vhost_destination(vhost: dict[str, Any], config_name: str, listener: str, port: int,
                       ip: str | None) -> Iterator[Destination]:
    """One request per route of the virtual host that a plain request can match (its path, its exact headers),
    so header-selected subsets and path routes each show where they go."""
    name = str(vhost.get("name", ""))
    domains = [str(d) for d in vhost.get("domains") or ()]
    if domains == ["*"] and ":" in name and _is_name(name.rsplit(":", 1)[0]):
        domains = [name.rsplit(":", 1)[0]]  # Istio ≥ 1.10: one route configuration per service VIP
    host = next((d.rsplit(":", 1)[0] if d.count(":") == 1 else d for d in domains if _is_name(d)), None)
    if host is None:  # its other domains are the same service's aliases: one name is enough
        return
    requests = [r for r in (route_request(route) for route in vhost.get("routes") or ()) if r is not None]
    clusters = tuple(_route_clusters(vhost))
    for path, headers, route in requests[:MAX_ROUTES] or [("/", (), "")]:
        which = f"route `{route}` of " if route else ""  # unnamed routes: the virtual host says enough
        yield Destination(host, port, "http", f"{which}virtual host `{name}` of route configuration `{config_name}` "
                                              f"on listener `{listener}`", ip=ip, path=path, headers=headers,
                          clusters=clusters)


def _route_clusters(vhost: dict[str, Any]) -> Iterator[str]:
    for route in vhost.get("routes") or ():
        action = route.get("route") or {}
        if "cluster" in action:
            yield str(action["cluster"])
        for weighted in (action.get("weighted_clusters") or {}).get("clusters") or ():
            yield str(weighted.get("name", ""))


def route_request(route: dict[str, Any]) -> tuple[str, tuple[tuple[str, str], ...], str] | None:
    """A path and headers that the route matches, or None when no plain request would (regex, templates…)."""
    match = route.get("match") or {}
    if "prefix" in match:
        path = str(match["prefix"]) or "/"
    elif "path" in match:
        path = str(match["path"])
    elif "path_separated_prefix" in match:
        path = str(match["path_separated_prefix"])
    else:
        return None
    headers = []
    for header in match.get("headers") or ():
        name = str(header.get("name", ""))
        exact = (header.get("string_match") or {}).get("exact", header.get("exact_match"))
        if name.startswith(":") or header.get("invert_match"):
            return None
        if exact is not None:
            headers.append((name, str(exact)))
        elif header.get("present_match"):
            headers.append((name, "1"))
        else:
            return None
    if match.get("query_parameters") or match.get("grpc") or match.get("dynamic_metadata"):
        return None
    return (path if path.startswith("/") else "/" + path), tuple(headers), str(route.get("name", ""))


def _sni(dump: ConfigDump) -> Iterator[Destination]:
    for listener in dump.active_listeners():
        found = _socket(listener.raw)
        if found is None or listener.raw.get("use_original_dst"):
            continue
        for index, chain in enumerate(listener.raw.get("filter_chains") or ()):
            match = chain.get("filter_chain_match") or {}
            port = int(match.get("destination_port") or found[1])
            for name in match.get("server_names") or ():
                if "*" not in str(name):
                    yield Destination(str(name), port, "tls", f"SNI filter chain {chain.get('name') or index} of "
                                                              f"listener `{listener.name}`")


def _tcp_listeners(dump: ConfigDump) -> Iterator[Destination]:
    for listener in dump.active_listeners():
        found = _socket(listener.raw)
        if found is None or found[0] in _WILDCARDS or not is_ip(found[0]):
            continue
        for chain in listener.raw.get("filter_chains") or ():
            for filt in chain.get("filters") or ():
                typed = filt.get("typed_config") or {}
                if str(typed.get("@type", "")).endswith("TcpProxy") and typed.get("cluster"):
                    name = parse_cluster_name(str(typed["cluster"]))
                    if name.host:
                        yield Destination(name.host, found[1], "tcp", f"listener `{listener.name}`", ip=found[0],
                                          clusters=(str(typed["cluster"]),))


def _clusters(dump: ConfigDump) -> Iterator[Destination]:
    http_ports = {d.port for d in _http(dump) if d.ip is None}  # a wildcard HTTP listener serves the port
    for cluster in dump.clusters:
        name = parse_cluster_name(cluster.name)
        if name.direction != "outbound" or not name.host or name.port is None or name.subset:
            continue
        kind = str(cluster.raw.get("type", ""))
        protocol = "http" if _speaks_http(cluster.raw) or name.port in http_ports else "tcp"
        yield Destination(name.host, name.port, protocol, f"cluster `{cluster.name}` ({kind or 'custom'})",
                          clusters=(cluster.name,))


def _speaks_http(cluster: dict[str, Any]) -> bool:
    options = cluster.get("typed_extension_protocol_options") or {}
    return bool(options.get("envoy.extensions.upstreams.http.v3.HttpProtocolOptions")) or (
        "http2_protocol_options" in cluster)


def _catch_alls(dump: ConfigDump) -> Iterator[Destination]:
    yield Destination(UNKNOWN_HOST, 80, "http", "catch-all: an unknown host on port 80", catch_all=True)
    yield Destination(UNKNOWN_HOST, 443, "tls", "catch-all: an unknown host on port 443 (TLS)", catch_all=True)
    yield Destination("203.0.113.99", UNKNOWN_TCP_PORT, "tcp", f"catch-all: an unknown address on TCP port "
                                                               f"{UNKNOWN_TCP_PORT}", catch_all=True)


def destinations_of(dump: ConfigDump) -> list[Destination]:
    """Candidates in a stable order, each (host, port, protocol) once: the first part of the config that names it
    wins (HTTP virtual hosts, SNI chains, TCP listeners, clusters, then the catch-alls)."""
    seen: dict[tuple[str, int, str, str, tuple[tuple[str, str], ...]], Destination] = {}
    finders = (_http, _sni, _tcp_listeners, _clusters) if dump.identity.proxy_type == "sidecar" else (_http, _sni)
    named: set[tuple[str, int]] = set()  # (host, port) already asked, whatever the protocol or path
    for finder in finders:
        for dest in finder(dump):
            if finder in (_clusters, _sni) and (dest.host.lower(), dest.port) in named:
                continue  # a cluster only adds a destination no listener or route already names
            seen.setdefault(dest.key, dest)
            named.add((dest.host.lower(), dest.port))
    if dump.identity.proxy_type == "sidecar":
        for dest in _catch_alls(dump):
            seen.setdefault(dest.key, dest)
    return list(seen.values())


def outbound_policy(dump: ConfigDump) -> str:
    """ALLOW_ANY or REGISTRY_ONLY, read from where the virtual outbound listener sends what nothing else takes."""
    if dump.identity.proxy_type != "sidecar":
        return "-"
    for listener in dump.active_listeners():
        if not listener.raw.get("use_original_dst"):
            continue
        chains = [*(listener.raw.get("filter_chains") or ()), listener.raw.get("default_filter_chain") or {}]
        text = str(chains)
        if PASSTHROUGH in text:
            return "ALLOW_ANY"
        if BLACKHOLE in text:
            return "REGISTRY_ONLY"
    return "unknown"
