"""A gateway's Service port and the pod port its listener binds.

Clients reach a gateway through its Kubernetes Service: a connection to the Service's port 80 arrives at the pod on
the Service's ``targetPort`` (8080 for Istio's ingress gateway, which runs without privileges), where the listener
``0.0.0.0_8080`` takes it. No dump holds the Service, but two things say how its ports map:

- the Kubernetes API (live sources): the Services that select the pod, with their ``port`` and ``targetPort``
  (`ConfigDump.service_ports`, filled by `envoyscope.sources.kube`);
- the dump itself: Istio names a gateway's virtual hosts ``<host>:<Gateway server port>``, and the Gateway's server
  port is the Service port (istiod finds the targetPort through the Service to build the listener). A virtual host
  ``app1.mplb.com:80`` served by the listener on 8080 says: Service port 80 → targetPort 8080.

`service_port_hints` lists what the dump says (the listener step's near misses use them when nothing listens on the
port asked for); `map_service_port` is the mapping a trace that starts at a gateway applies, and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.listener import listener_addresses
from envoyscope.engine.steps import NearMiss
from envoyscope.model.dump import ConfigDump, Resource


@dataclass(frozen=True, slots=True)
class ServicePortHint:
    """A listener on ``target_port`` serving a virtual host named after the Service port ``port``."""

    listener: str
    target_port: int
    port: int
    virtual_host: str
    path: str
    host_matches: bool  # one of the virtual host's domains is the host traced to

    def sentence(self) -> str:
        return (f"`{self.listener}` serves virtual host `{self.virtual_host}` — a Service port {self.port} → "
                f"targetPort {self.target_port} would reach it")


def _route_configs(proxy: ConfigDump, listener: Resource) -> Iterator[tuple[dict[str, Any], str]]:
    """The route configurations a listener's HTTP connection managers use (RDS from the dump, or inline)."""
    chains = list(listener.raw.get("filter_chains") or ())
    if isinstance(listener.raw.get("default_filter_chain"), dict):
        chains.append(listener.raw["default_filter_chain"])
    seen: set[str] = set()
    for chain in chains:
        for filt in chain.get("filters") or ():
            typed = filt.get("typed_config") or {}
            rds = typed.get("rds") or {}
            name = str(rds.get("route_config_name") or "")
            if name and name not in seen:
                seen.add(name)
                config = proxy.route_config(name)
                if config is not None:
                    yield config.raw, config.path
            elif isinstance(typed.get("route_config"), dict):
                yield typed["route_config"], f"{listener.path} (inline route configuration)"


def _host_matches(domains: list[str], host: str) -> bool:
    host = host.lower()
    for domain in (str(d).lower() for d in domains):
        bare = domain.rsplit(":", 1)[0] if domain.count(":") == 1 else domain
        if bare == host or (bare.startswith("*") and host.endswith(bare[1:])):
            return True
    return False


def service_port_hints(proxy: ConfigDump, port: int, host: str = "") -> list[ServicePortHint]:
    """Listeners on another port whose virtual hosts are named ``…:<port>``: those matching ``host`` first."""
    hints = []
    for listener in proxy.active_listeners():
        if listener.raw.get("bind_to_port") is False:
            continue
        for target in sorted({a.port for a in listener_addresses(listener.raw)} - {port}):
            for config, path in _route_configs(proxy, listener):
                for vhost in config.get("virtual_hosts") or ():
                    name = str(vhost.get("name") or "")
                    if name.rpartition(":")[2] == str(port):
                        hints.append(ServicePortHint(listener.name, target, port, name, path,
                                                     _host_matches(list(vhost.get("domains") or ()), host)))
    return sorted(hints, key=lambda h: not h.host_matches)


def service_port_misses(proxy: ConfigDump, port: int, host: str) -> tuple[NearMiss, ...]:
    """The listener step's near misses when nothing listens on ``port``: the listeners the Service port reaches."""
    misses, seen = [], set()
    for hint in service_port_hints(proxy, port, host):
        if hint.listener in seen:
            continue
        seen.add(hint.listener)
        target = f"[{host}]" if ":" in host else host
        misses.append(NearMiss(hint.listener, f"no listener on {port}; {hint.sentence()}; try `--to "
                                              f"{target}:{hint.target_port}`", hint.path))
    return tuple(misses[:3])


def map_service_port(proxy: ConfigDump, port: int, host: str) -> tuple[int, str] | None:
    """The pod port a connection to the gateway's Service port ``port`` arrives on, and why; None when the
    Kubernetes Services read and the dump's virtual hosts do not say one port (or ``port`` is the pod's own)."""
    live = {(p.service, p.target_port) for p in proxy.service_ports if p.port == port}
    targets = {target for _, target in live}
    if len(targets) == 1:
        target = targets.pop()
        services = ", ".join(sorted(service for service, _ in live))
        return target, (f"Service port {port} → targetPort {target}: the Service {services} (read from Kubernetes) "
                        f"maps it so; the connection arrives at the pod on port {target}")
    if live:
        return None  # Services that disagree: no guess
    hints = service_port_hints(proxy, port, host)
    if len({h.target_port for h in hints}) != 1:
        return None
    hint = hints[0]
    return hint.target_port, (f"Service port {port} → targetPort {hint.target_port}: nothing listens on {port}, "
                              f"and `{hint.listener}` serves virtual host `{hint.virtual_host}` (Istio names a "
                              f"gateway's virtual hosts after the Service port); the connection arrives at the pod "
                              f"on port {hint.target_port}")
