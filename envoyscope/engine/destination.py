"""Which IP the application connects to when the user gave only a host name.

Istio's sidecar never sees the name, only the IP the app's DNS lookup returned. The mesh's DNS (kube-dns, or
Istio's DNS proxy) answers with an address the proxy's config also names, so envoyscope looks for the host the
way that answer shows up in a dump, in this order:

1. a listener on a specific address ``<ip>_<port>`` (Istio ≥ 1.10 gives each service VIP its own) whose HTTP
   route configuration, virtual host or tcp_proxy cluster names the host and port — this covers Service VIPs,
   ServiceEntry ``addresses`` and the VIPs Istio auto-allocates (240.240.0.0/16);
2. a filter chain of a wildcard listener that matches the host's address by ``prefix_ranges`` (/32) and names it;
3. a virtual host that lists the VIP among its domains (Istio < 1.10 wrote ``10.96.4.20:80`` there);
4. a cluster ``outbound|port||host``: the mesh knows the service but the dump holds no address for it, so any
   address that no listener claims behaves the same;
5. an unknown external host: some public address outside every range the proxies configure.

Every answer comes with the sentence saying which rule and which resource gave it (shown as an assumption).
A short name (``reviews``) is expanded as Kubernetes DNS would: the pod's own namespace first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.request import is_ip
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.names import parse_cluster_name

# Documentation ranges (RFC 5737): never a real host, so a trace to them says what an unknown IP gets.
_UNKNOWN_CANDIDATES = ("203.0.113.10", "198.51.100.10", "192.0.2.10")
# Where Istio's DNS auto-allocation puts ServiceEntry VIPs (the Class E range, and its IPv6 twin).
_AUTO_ALLOCATED = (ipaddress.ip_network("240.240.0.0/16"), ipaddress.ip_network("2001:2::/48"))
_WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True, slots=True)
class _Candidate:
    ip: str
    fqdn: str  # the name the config uses for the host (to rank short-name expansions)
    why: str


def _listener_ip_port(raw: dict[str, Any]) -> tuple[str, int] | None:
    sock = (raw.get("address") or {}).get("socket_address") or {}
    if "address" not in sock or "port_value" not in sock:
        return None
    return str(sock["address"]), int(sock["port_value"])


def _tcp_proxy_clusters(chain: dict[str, Any]) -> Iterator[str]:
    for filt in chain.get("filters") or ():
        typed = filt.get("typed_config") or {}
        if not str(typed.get("@type", "")).endswith("TcpProxy"):
            continue
        if "cluster" in typed:
            yield str(typed["cluster"])
        for weighted in (typed.get("weighted_clusters") or {}).get("clusters") or ():
            yield str(weighted.get("name", ""))


def _route_configs(chain: dict[str, Any], dump: ConfigDump) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(route configuration name, its resource when the dump has it) for each HCM of a chain."""
    for filt in chain.get("filters") or ():
        typed = filt.get("typed_config") or {}
        if not str(typed.get("@type", "")).endswith("HttpConnectionManager"):
            continue
        inline = typed.get("route_config")
        if isinstance(inline, dict):
            yield str(inline.get("name", "")), inline
            continue
        name = str((typed.get("rds") or {}).get("route_config_name", ""))
        if name:
            found = dump.route_config(name)
            yield name, found.raw if found else None


def same_host(fqdn: str, host: str) -> bool:
    """``host`` names ``fqdn``: equal, or a short name Kubernetes DNS expands (``reviews`` → ``reviews.ns.svc…``)."""
    fqdn, host = fqdn.lower().rstrip("."), host.lower().rstrip(".")
    return bool(host) and (fqdn == host or fqdn.startswith(host + "."))


def _host_port(text: str) -> tuple[str, int | None]:
    host, sep, port = text.rpartition(":")
    return (host, int(port)) if sep and port.isdigit() else (text, None)


def _names_service(text: str, host: str, port: int) -> str | None:
    """The FQDN when ``text`` (a route configuration or virtual host name, ``host:port``) names host and port."""
    name, named_port = _host_port(text)
    if named_port == port and same_host(name, host):
        return name
    return None


def _chain_names(chain: dict[str, Any], dump: ConfigDump, host: str, port: int) -> Iterator[tuple[str, str]]:
    """(fqdn, what in the chain names it) for every way a filter chain says it serves host:port."""
    for cluster in _tcp_proxy_clusters(chain):
        name = parse_cluster_name(cluster)
        if name.host and same_host(name.host, host) and name.port in (None, port):
            yield name.host, f"whose tcp_proxy goes to `{cluster}`"
    for config_name, config in _route_configs(chain, dump):
        fqdn = _names_service(config_name, host, port)
        if fqdn:
            yield fqdn, f"whose HTTP route configuration is `{config_name}`"
            continue
        for vhost in (config or {}).get("virtual_hosts") or ():
            vname = str(vhost.get("name", ""))
            fqdn = _names_service(vname, host, port)
            domains = [str(d) for d in vhost.get("domains") or () if "*" not in str(d)]
            named = next((d for d in domains if same_host(_host_port(d)[0], host)), None)
            if fqdn:
                yield fqdn, f"whose route configuration `{config_name}` has virtual host `{vname}`"
            elif named:
                yield _host_port(named)[0], f"whose route configuration `{config_name}` serves domain `{named}`"


def _chain_ips(chain: dict[str, Any]) -> Iterator[str]:
    for prefix in (chain.get("filter_chain_match") or {}).get("prefix_ranges") or ():
        address = str(prefix.get("address_prefix", ""))
        length = int(prefix.get("prefix_len", 32 if ":" not in address else 128))
        if is_ip(address) and length == (128 if ":" in address else 32):
            yield address


def _kind_of(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if any(addr in net for net in _AUTO_ALLOCATED):
        return "an address Istio auto-allocated for a ServiceEntry"
    return "the service VIP (or a ServiceEntry address)"


def _listener_candidates(dump: ConfigDump, host: str, port: int) -> Iterator[_Candidate]:
    owner = dump.identity.name
    for listener in dump.active_listeners():
        found = _listener_ip_port(listener.raw)
        if not found or found[1] != port:
            continue
        ip = found[0]
        for chain in _listener_chains(listener):
            for fqdn, why in _chain_names(chain, dump, host, port):
                if ip not in _WILDCARDS:
                    yield _Candidate(ip, fqdn, f"{ip} from listener `{listener.name}` of {owner}, {why}: "
                                               f"{_kind_of(ip)}")
                    continue
                for chain_ip in _chain_ips(chain):
                    yield _Candidate(chain_ip, fqdn, f"{chain_ip} from a filter chain of listener `{listener.name}` "
                                                     f"of {owner} matching {chain_ip}/32, {why}: {_kind_of(chain_ip)}")


def _listener_chains(listener: Resource) -> Iterator[dict[str, Any]]:
    yield from listener.raw.get("filter_chains") or ()
    default = listener.raw.get("default_filter_chain")
    if isinstance(default, dict):
        yield default


def _vhost_candidates(dump: ConfigDump, host: str, port: int) -> Iterator[_Candidate]:
    for route in dump.route_configs:
        for vhost in route.raw.get("virtual_hosts") or ():
            domains = [str(d).lower() for d in vhost.get("domains") or ()]
            named = next((d for d in domains if "*" not in d and same_host(_host_port(d)[0], host)
                          and _host_port(d)[1] in (None, port)), None)
            if named is None:
                continue
            for domain in domains:
                bare = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain.strip("[]")
                if is_ip(bare) and bare not in _WILDCARDS:
                    yield _Candidate(bare, _host_port(named)[0],
                                     f"{bare}: virtual host `{vhost.get('name')}` of route `{route.name}` of "
                                     f"{dump.identity.name} lists {domain} beside {named} (the service VIP)")


def _best(candidates: Iterable[_Candidate], host: str, namespace: str) -> _Candidate | None:
    """The exact name first, then the expansion in the pod's own namespace (Kubernetes DNS search order)."""
    ranked: list[tuple[int, int, _Candidate]] = []
    for index, cand in enumerate(candidates):
        fqdn = cand.fqdn.lower()
        if fqdn == host.lower().rstrip("."):
            rank = 0
        elif namespace and fqdn.startswith(f"{host.lower()}.{namespace.lower()}."):
            rank = 1
        else:
            rank = 2
        ranked.append((rank, index, cand))
    return min(ranked, key=lambda item: item[:2])[2] if ranked else None


def _known_cluster(dump: ConfigDump, host: str, port: int) -> str | None:
    for cluster in dump.clusters:
        name = parse_cluster_name(cluster.name)
        if name.direction == "outbound" and name.port == port and name.host and same_host(name.host, host):
            return cluster.name
    return None


def configured_ranges(dumps: Iterable[ConfigDump]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every listener address and filter chain prefix range narrower than the whole address space."""
    ranges = []
    for dump in dumps:
        for listener in dump.listeners:
            found = _listener_ip_port(listener.raw)
            if found and is_ip(found[0]) and found[0] not in _WILDCARDS:
                ranges.append(ipaddress.ip_network(found[0]))
            for chain in listener.raw.get("filter_chains") or ():
                for prefix in (chain.get("filter_chain_match") or {}).get("prefix_ranges") or ():
                    try:
                        net = ipaddress.ip_network(
                            f"{prefix.get('address_prefix')}/{prefix.get('prefix_len', 32)}", strict=False)
                    except ValueError:
                        continue
                    if net.prefixlen > 0:
                        ranges.append(net)
    return ranges


def _unclaimed_ip(dumps: list[ConfigDump]) -> str:
    ranges = configured_ranges(dumps)
    for candidate in _UNKNOWN_CANDIDATES:
        addr = ipaddress.ip_address(candidate)
        if not any(addr in net for net in ranges):
            return candidate
    return _UNKNOWN_CANDIDATES[0]


def assume_destination_ip(host: str, port: int, dumps: list[ConfigDump], first: ConfigDump) -> tuple[str, str]:
    """The IP to trace with, and a sentence saying which rule gave it (shown as an assumption)."""
    if is_ip(host):
        return host.strip("[]"), f"{host} is an IP address"
    namespace = first.identity.namespace
    naming: list[ConfigDump] = []

    def ordered() -> Iterator[ConfigDump]:
        """The first proxy, then the others that may name the host. A proxy of a folder not read yet is looked at
        only if it is a gateway (a sidecar's scope may hide a service its gateways know; other sidecars of a mesh
        mostly hold the same names, and reading them all would cost the whole capture) and its file holds the name
        at all (found without decoding it)."""
        yield first
        if not naming:
            naming.extend(d for d in dumps if d is not first and (d.loaded or (
                d.identity.proxy_type != "sidecar" and d.mentions(host) and d.readable())))
        yield from naming

    for finder in (_listener_candidates, _vhost_candidates):
        for dump in ordered():
            best = _best(finder(dump, host, port), host, namespace)
            if best is not None:
                return best.ip, best.why
    unclaimed = _unclaimed_ip([d for d in dumps if d.loaded])  # the ranges of the proxies read for the question
    for dump in ordered():
        cluster = _known_cluster(dump, host, port)
        if cluster:
            return unclaimed, (f"{unclaimed}: {dump.identity.name} knows {host}:{port} as cluster `{cluster}`, but "
                               f"no listener, filter chain or virtual host of the dump names its address; any "
                               f"address no listener claims behaves the same (pass --ip for the real VIP)")
    return unclaimed, (f"{unclaimed}: no configuration names an address for {host}, so any external IP "
                       f"outside the proxies' configured ranges behaves the same (pass --ip to choose)")
