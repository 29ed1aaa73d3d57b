"""Which IP the application connects to when the user gave only a host name.

Istio's sidecar never sees the name, only the IP the app's DNS lookup returned: a ServiceEntry ``addresses``
entry (listener ``<ip>_<port>``), a Service VIP (listed among a virtual host's domains), an auto-allocated
DNS VIP, or for an unknown external host some public address outside every range the proxy configures.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from envoyscope.engine.request import is_ip
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import parse_cluster_name

# Documentation ranges (RFC 5737): never a real host, so a trace to them says what an unknown IP gets.
_UNKNOWN_CANDIDATES = ("203.0.113.10", "198.51.100.10", "192.0.2.10")


def _listener_ip_port(raw: dict) -> tuple[str, int] | None:
    sock = (raw.get("address") or {}).get("socket_address") or {}
    if "address" not in sock or "port_value" not in sock:
        return None
    return str(sock["address"]), int(sock["port_value"])


def _tcp_proxy_clusters(raw: dict) -> Iterable[str]:
    for chain in raw.get("filter_chains") or ():
        for filt in chain.get("filters") or ():
            typed = filt.get("typed_config") or {}
            if "cluster" in typed and str(typed.get("@type", "")).endswith("TcpProxy"):
                yield str(typed["cluster"])
            for weighted in (typed.get("weighted_clusters") or {}).get("clusters") or ():
                yield str(weighted.get("name", ""))


def same_host(fqdn: str, host: str) -> bool:
    """``host`` names ``fqdn``: equal, or a short name Kubernetes DNS expands (``reviews`` → ``reviews.ns.svc…``)."""
    fqdn, host = fqdn.lower(), host.lower().rstrip(".")
    return bool(host) and (fqdn == host or fqdn.startswith(host + "."))


def _vhost_ips(dump: ConfigDump, host: str, port: int) -> Iterable[tuple[str, str]]:
    wanted = {host.lower(), f"{host.lower()}:{port}"}
    for route in dump.route_configs:
        for vhost in route.raw.get("virtual_hosts") or ():
            domains = [str(d).lower() for d in vhost.get("domains") or ()]
            if wanted & set(domains):
                for domain in domains:
                    bare = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
                    if is_ip(bare) and bare not in ("0.0.0.0", "::"):
                        yield bare, f"virtual host `{vhost.get('name')}` of route `{route.name}` lists {domain}"


def configured_ranges(dumps: Iterable[ConfigDump]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every listener address and filter chain prefix range narrower than the whole address space."""
    ranges = []
    for dump in dumps:
        for listener in dump.listeners:
            found = _listener_ip_port(listener.raw)
            if found and is_ip(found[0]) and found[0] not in ("0.0.0.0", "::"):
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


def assume_destination_ip(host: str, port: int, dumps: list[ConfigDump], first: ConfigDump) -> tuple[str, str]:
    """The IP to trace with, and a sentence saying where it came from (shown as an assumption)."""
    if is_ip(host):
        return host.strip("[]"), f"{host} is an IP address"
    for dump in [first, *[d for d in dumps if d is not first]]:
        for listener in dump.active_listeners():
            found = _listener_ip_port(listener.raw)
            if not found or found[1] != port or found[0] in ("0.0.0.0", "::"):
                continue
            for cluster in _tcp_proxy_clusters(listener.raw):
                if same_host(parse_cluster_name(cluster).host, host):
                    return found[0], (f"{found[0]} from listener `{listener.name}` of {dump.identity.name}, whose "
                                      f"tcp_proxy goes to `{cluster}` (a ServiceEntry address)")
        for ip, why in _vhost_ips(dump, host, port):
            return ip, f"{ip}: {why} of {dump.identity.name} (the service VIP)"
    ranges = configured_ranges(dumps)
    for candidate in _UNKNOWN_CANDIDATES:
        addr = ipaddress.ip_address(candidate)
        if not any(addr in net for net in ranges):
            return candidate, (f"{candidate}: no configuration names an address for {host}, so any external IP "
                               f"outside the proxies' configured ranges behaves the same (pass --ip to choose)")
    return _UNKNOWN_CANDIDATES[0], f"{_UNKNOWN_CANDIDATES[0]}: assumed for an unknown host (pass --ip)"
