"""Which virtual host of a route configuration serves a Host: Envoy's ``RouteMatcher::findVirtualHost``.

Domains are compared without case. Order: an exact domain, then the longest suffix wildcard (``*.example.com``,
``*-svc.example.com``: the ``*`` stands for at least one character), then the longest prefix wildcard
(``example.*``), then the default ``*``. The Host keeps its port unless the route configuration sets
``ignore_port_in_host_matching`` or the HTTP connection manager strips it (``strip_any_host_port``,
``strip_matching_host_port``) before routing.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.steps import NearMiss


def split_port(host: str) -> tuple[str, str]:
    """``host:port`` → (host, port); IPv6 literals keep their brackets; no port → (host, "")."""
    if host.startswith("["):
        end = host.find("]")
        if end >= 0 and host[end + 1:end + 2] == ":":
            return host[:end + 1], host[end + 2:]
        return host, ""
    if host.count(":") == 1:
        name, port = host.split(":")
        if port.isdigit():
            return name, port
    return host, ""


def routing_host(authority: str, route_config: dict[str, Any], hcm: dict[str, Any] | None,
                 listener_port: int | None) -> tuple[str, list[str]]:
    """The Host value virtual host matching uses, and what was done to it."""
    notes = []
    host = authority
    name, port = split_port(authority)
    if port and hcm:
        if hcm.get("strip_any_host_port"):
            host = name
            notes.append(f"strip_any_host_port removes `:{port}`")
        elif hcm.get("strip_matching_host_port") and listener_port is not None and port == str(listener_port):
            host = name
            notes.append(f"strip_matching_host_port removes `:{port}` (the listener's port)")
    if route_config.get("ignore_port_in_host_matching") and host != name:
        host = name
        notes.append("ignore_port_in_host_matching drops the port")
    return host.lower(), notes


def find_virtual_host(route_config: dict[str, Any], host: str) -> tuple[dict[str, Any] | None, str, list[NearMiss]]:
    """The virtual host for ``host`` (already lower-case, port handled), how it matched, and near misses."""
    vhosts = list(route_config.get("virtual_hosts") or ())
    exact: dict[str, dict[str, Any]] = {}
    suffixes: dict[str, dict[str, Any]] = {}
    prefixes: dict[str, dict[str, Any]] = {}
    default = None
    for vhost in vhosts:
        for domain in vhost.get("domains") or ():
            domain = str(domain).lower()
            if domain == "*":
                default = default or vhost
            elif domain.startswith("*"):
                suffixes.setdefault(domain[1:], vhost)
            elif domain.endswith("*"):
                prefixes.setdefault(domain[:-1], vhost)
            else:
                exact.setdefault(domain, vhost)
    if host in exact:
        return exact[host], f"domain `{host}` matches the Host exactly", []
    for suffix in sorted(suffixes, key=len, reverse=True):
        if len(suffix) < len(host) and host.endswith(suffix):
            return suffixes[suffix], f"wildcard domain `*{suffix}` is the longest suffix of `{host}`", []
    for prefix in sorted(prefixes, key=len, reverse=True):
        if len(prefix) < len(host) and host.startswith(prefix):
            return prefixes[prefix], f"wildcard domain `{prefix}*` is the longest prefix of `{host}`", []
    misses = _near_misses(vhosts, host)
    if default is not None:
        return default, f"no domain matches `{host}`; the default `*` virtual host takes it", misses
    return None, f"no virtual host has a domain matching `{host}` and there is no `*`", misses


def _near_misses(vhosts: list[dict[str, Any]], host: str) -> list[NearMiss]:
    """Virtual hosts whose domains differ from the Host only by the port or a label."""
    bare, port = split_port(host)
    out = []
    for vhost in vhosts:
        for domain in vhost.get("domains") or ():
            d = str(domain).lower()
            d_bare, d_port = split_port(d)
            name = str(vhost.get("name", ""))
            if d_bare == bare and d_port != port:
                want = f"port {d_port}" if d_port else "no port"
                out.append(NearMiss(f"virtual host `{name}`", f"has domain `{domain}` ({want}), the request Host is "
                                                             f"`{host}`"))
                break
            if d == "*":
                continue  # the default matches every Host: never a near miss (it is the one chosen, if any)
            suffix = split_port(d[1:])[0] if d.startswith("*") else ""
            if d.startswith("*") and len(suffix) < len(bare) and bare.endswith(suffix) and d_port != port:
                out.append(NearMiss(f"virtual host `{name}`", f"wildcard `{domain}` fits the name but not the port "
                                                             f"of `{host}`"))
                break
    return out[:5]
