"""Which listener takes a connection.

Envoy's ``ConnectionHandlerImpl``: a connection arrives on the listener bound to its address. When that
listener has ``use_original_dst`` (Istio's virtual outbound listener on 15001, fed by iptables), Envoy looks
the restored destination up among all its listeners — ``getBalancedHandlerByAddress``: the listener whose
address is exactly ``ip:port``, else the wildcard ``0.0.0.0:port`` (``[::]:port`` for IPv6) — and hands the
connection over. ``bind_to_port: false`` listeners exist only for this hand-off. With no such listener the
connection stays where it arrived and that listener's own filter chains decide (Istio's Passthrough or
BlackHole chain).

Only active (and static) listeners take connections. A listener Envoy rejected (``error_state``), or one still
warming or draining, is reported as a near miss where the request would have used it, and the trace goes on
with what Envoy does instead: if Istio's virtual listener itself is not active, nothing listens on 15001/15006
and the connection is refused.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from envoyscope.engine.assumed_listener import assumed_listener
from envoyscope.engine.not_serving import not_serving_misses, why_not_serving
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
    """Whether the listener owns a socket (``bind_to_port`` defaults to true; Envoy <= 1.16's
    ``deprecated_v1.bind_to_port`` is brought here by `envoyscope.model.deprecated`)."""
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


_ENTRIES = {
    "outbound": ("virtualOutbound", VIRTUAL_OUTBOUND_PORT, "OUTBOUND"),
    "inbound": ("virtualInbound", VIRTUAL_INBOUND_PORT, "INBOUND"),
}


def _entry_listener(listeners: list[Resource], entry: str) -> Resource | None:
    """Istio's virtual listener for intercepted traffic: ``virtualOutbound`` (15001) or ``virtualInbound`` (15006)."""
    name, port, direction = _ENTRIES[entry]
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


def _held_entry(proxy: ConfigDump, entry: str) -> list[Resource]:
    """Istio's virtual listener for ``entry`` among the listeners Envoy holds but does not use."""
    name, port, _ = _ENTRIES[entry]
    return [r for r in proxy.not_serving("listener")
            if r.name == name or any(a.port == port for a in listener_addresses(r.raw))]


def _held_at(proxy: ConfigDump, ip: str, port: int) -> list[Resource]:
    """Listeners not in use whose address is ``ip:port``, or the wildcard of its family on ``port``."""
    wildcard = "::" if _ip_version(ip) == 6 else "0.0.0.0"
    return [r for r in proxy.not_serving("listener")
            if any(a.port == port and a.ip in (ip, wildcard, "") for a in listener_addresses(r.raw))]


def _with_held(step: Step, proxy: ConfigDump, wire: Wire) -> Step:
    """The step, with the listeners for the destination that Envoy holds but does not use as its first near misses."""
    chosen = proxy.listener(step.matched) if step.matched else None
    if chosen is not None and chosen.error_details:  # Envoy kept the previous version: say what it refused
        miss = NearMiss(chosen.name, f"Envoy rejected the last update of listener {chosen.name}: "
                                     f"{chosen.error_details}; it serves the previous version", chosen.path)
        step = replace(step, near_misses=(miss, *step.near_misses))
    held = _held_at(proxy, wire.dst_ip, wire.dst_port)
    if not held:
        return step
    instead = (f"Envoy serves this port with `{step.matched}`" if step.matched
               else "no active listener serves this port")
    names = ", ".join(f"`{name}`" for name in dict.fromkeys(r.name for r in held))
    return Step(step.kind, step.matched, f"{step.reason} (not in use for this address: {names}, see the near misses)",
                step.path, not_serving_misses(held, instead) + step.near_misses, step.raw)


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


def _host_of(wire: Wire) -> str:
    """The host the client asked for: the Host header without its port, else the SNI, else the destination IP."""
    if wire.http and wire.authority:
        authority = wire.authority
        if authority.startswith("["):
            return authority[1:].partition("]")[0]
        return authority.rpartition(":")[0] if authority.count(":") == 1 else authority
    return wire.sni or wire.dst_ip


def select_listener(proxy: ConfigDump, wire: Wire, entry: str) -> tuple[Resource | None, Step]:
    """The listener that processes the connection, after the original-destination hand-off.

    entry: ``outbound`` (the app's connection, intercepted to 15001), ``inbound`` (a connection to the pod,
    intercepted to 15006) or ``direct`` (a connection to a port the proxy binds, e.g. a gateway's 8080).
    """
    resource, step = _select(proxy, wire, entry)
    step = _with_held(step, proxy, wire)
    unread = proxy.unread_notes()  # never silent: what reading the dump could not use, at each hop on it
    if unread:
        more = f" and {len(unread) - 3} more" if len(unread) > 3 else ""
        step = replace(step, reason=f"{step.reason} (note: {'; '.join(unread[:3])}{more})")
    return resource, step


def _select(proxy: ConfigDump, wire: Wire, entry: str) -> tuple[Resource | None, Step]:
    listeners = list(proxy.active_listeners())
    dst = f"{wire.dst_ip}:{wire.dst_port}"
    arrival = _entry_listener(listeners, entry) if entry in ("outbound", "inbound") else None
    held = _held_entry(proxy, entry) if arrival is None and entry in ("outbound", "inbound") else []
    if held:
        port = _ENTRIES[entry][1]
        who = "the app's" if entry == "outbound" else "the inbound"
        return None, Step("listener", None, f"iptables sends {who} connection to port {port}, but no active listener "
                                            f"is there: listener `{held[0].name}` {why_not_serving(held[0])}; the "
                                            "connection is refused", held[0].path,
                          not_serving_misses(held, f"Envoy has no other listener on port {port}"))
    if not proxy.listeners and proxy.bootstrap is None:  # a partial dump: routes without their listeners
        assumed = assumed_listener(proxy, wire)
        if assumed is not None:
            return assumed
    if arrival is None:
        bound = find_bound_listener(listeners, wire.dst_ip, wire.dst_port, bound_only=True)
        if bound is None:
            from envoyscope.engine.service_port import service_port_misses

            return None, Step("listener", None, f"no listener is bound to {dst} (nor to the wildcard address on port "
                                                 f"{wire.dst_port}): the connection is refused",
                              near_misses=_near_misses(listeners, wire, None)
                              + service_port_misses(proxy, wire.dst_port, _host_of(wire)))
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
