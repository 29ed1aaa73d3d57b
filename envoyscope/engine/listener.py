"""Which listener takes a connection.

Envoy's ``ConnectionHandlerImpl``: a connection arrives on the listener bound to its address. When that
listener has ``use_original_dst`` (Istio's virtual outbound listener on 15001, fed by iptables), Envoy looks
the restored destination up among all its listeners — ``getBalancedHandlerByAddress``: the listener whose
address is exactly ``ip:port``, else the wildcard ``0.0.0.0:port`` (``[::]:port`` for IPv6) — and hands the
connection over. ``bind_to_port: false`` listeners exist only for this hand-off. With no such listener the
connection stays where it arrived and that listener's own filter chains decide (Istio's Passthrough or
BlackHole chain).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.request import Wire
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.model.dump import ConfigDump, Resource

VIRTUAL_OUTBOUND_PORT = 15001
VIRTUAL_INBOUND_PORT = 15006


@dataclass(frozen=True, slots=True)
class ListenerAddress:
    ip: str
    port: int

    def is_wildcard(self) -> bool:
        return self.ip in ("0.0.0.0", "::", "")


def listener_addresses(raw: dict[str, Any]) -> list[ListenerAddress]:
    """The listener's address and its ``additional_addresses`` (socket addresses only)."""
    out = []
    entries = [raw.get("address") or {}] + [a.get("address") or {} for a in raw.get("additional_addresses") or ()]
    for entry in entries:
        sock = entry.get("socket_address") or {}
        if "port_value" in sock:
            out.append(ListenerAddress(str(sock.get("address", "")), int(sock["port_value"])))
    return out


def binds(raw: dict[str, Any]) -> bool:
    """Whether the listener owns a socket (``bind_to_port`` defaults to true; ``deprecated_v1`` ignored)."""
    value = raw.get("bind_to_port")
    if isinstance(value, dict):  # BoolValue wrapper written as {"value": false}
        value = value.get("value")
    return value is not False


def uses_original_dst(raw: dict[str, Any]) -> bool:
    value = raw.get("use_original_dst")
    if isinstance(value, dict):
        value = value.get("value")
    return bool(value)


def _ip_version(ip: str) -> int:
    try:
        return ipaddress.ip_address(ip.strip("[]")).version
    except ValueError:
        return 4


def _describe(resource: Resource) -> str:
    addrs = listener_addresses(resource.raw)
    where = ", ".join(f"{a.ip}:{a.port}" for a in addrs) or "no socket address"
    return f"`{resource.name}` ({where})"


def find_bound_listener(listeners: list[Resource], ip: str, port: int, *, bound_only: bool) -> Resource | None:
    """The listener at exactly ``ip:port``, else the wildcard of the destination's IP family on ``port``."""
    wildcard = "::" if _ip_version(ip) == 6 else "0.0.0.0"
    exact = wild = None
    for resource in listeners:
        if bound_only and not binds(resource.raw):
            continue
        for addr in listener_addresses(resource.raw):
            if addr.port != port:
                continue
            if addr.ip == ip and exact is None:
                exact = resource
            elif addr.ip in (wildcard, "") and wild is None:
                wild = resource
    return exact or wild


def _entry_listener(listeners: list[Resource], entry: str) -> Resource | None:
    """Istio's virtual listener for intercepted traffic: ``virtualOutbound`` (15001) or ``virtualInbound`` (15006)."""
    name, port, direction = {
        "outbound": ("virtualOutbound", VIRTUAL_OUTBOUND_PORT, "OUTBOUND"),
        "inbound": ("virtualInbound", VIRTUAL_INBOUND_PORT, "INBOUND"),
    }[entry]
    by_name = [r for r in listeners if r.name == name]
    if by_name:
        return by_name[0]
    for resource in listeners:
        if any(a.port == port for a in listener_addresses(resource.raw)) and (
            resource.raw.get("traffic_direction") in (direction, None)
        ):
            return resource
    if entry == "outbound":  # plain Envoy with an iptables-style catch-all: any use_original_dst listener
        for resource in listeners:
            if uses_original_dst(resource.raw) and resource.raw.get("traffic_direction") != "INBOUND":
                return resource
    return None


def _near_misses(listeners: list[Resource], wire: Wire, chosen: Resource | None) -> tuple[NearMiss, ...]:
    misses = []
    for resource in listeners:
        if resource is chosen:
            continue
        for addr in listener_addresses(resource.raw):
            if addr.port == wire.dst_port and not addr.is_wildcard() and addr.ip != wire.dst_ip:
                misses.append(NearMiss(resource.name, f"listens on {addr.ip}:{addr.port}, the destination IP is "
                                                      f"{wire.dst_ip}", resource.path))
    return tuple(misses[:5])


def select_listener(proxy: ConfigDump, wire: Wire, entry: str) -> tuple[Resource | None, Step]:
    """The listener that processes the connection, after the original-destination hand-off.

    entry: ``outbound`` (the app's connection, intercepted to 15001), ``inbound`` (a connection to the pod,
    intercepted to 15006) or ``direct`` (a connection to a port the proxy binds, e.g. a gateway's 8080).
    """
    listeners = list(proxy.active_listeners())
    dst = f"{wire.dst_ip}:{wire.dst_port}"
    arrival = _entry_listener(listeners, entry) if entry in ("outbound", "inbound") else None
    if arrival is None:
        bound = find_bound_listener(listeners, wire.dst_ip, wire.dst_port, bound_only=True)
        if bound is None:
            return None, Step("listener", None, f"no listener is bound to {dst} (nor to the wildcard address on port "
                                                 f"{wire.dst_port}): the connection is refused",
                              near_misses=_near_misses(listeners, wire, None))
        arrival = bound
        why = f"{_describe(bound)} is bound to {dst}"
        if not uses_original_dst(bound.raw):
            return bound, Step("listener", bound.name, why, bound.path, _near_misses(listeners, wire, bound), bound.raw)
    else:
        why = f"iptables sends the app's connection to {_describe(arrival)}" if entry == "outbound" else (
            f"iptables sends the inbound connection to {_describe(arrival)}")
    if not uses_original_dst(arrival.raw):
        return arrival, Step("listener", arrival.name, f"{why}; it has no use_original_dst, so it keeps the "
                                                       "connection", arrival.path, raw=arrival.raw)
    others = [r for r in listeners if r is not arrival]
    target = find_bound_listener(others, wire.dst_ip, wire.dst_port, bound_only=False)
    misses = _near_misses(listeners, wire, target)
    if target is None:
        return arrival, Step("listener", arrival.name,
                             f"{why}; use_original_dst: no listener for the original destination {dst} nor "
                             f"0.0.0.0:{wire.dst_port}, so `{arrival.name}` keeps the connection and its own filter "
                             "chains decide", arrival.path, misses, arrival.raw)
    addr = next(a for a in listener_addresses(target.raw) if a.port == wire.dst_port)
    how = "exactly" if addr.ip == wire.dst_ip else "by the wildcard address"
    return target, Step("listener", target.name,
                        f"{why}; use_original_dst hands the connection to {_describe(target)}, which matches the "
                        f"original destination {dst} {how}", target.path, misses, target.raw)
