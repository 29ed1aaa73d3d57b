"""What a ztunnel does with an outbound connection, read from its config (not proven: no ztunnel runs here).

ztunnel (Istio's ambient node proxy) intercepts the application's connection and decides from its workload and
service tables (``proxy/outbound.rs``'s ``build_request``, described here in envoyscope's words):
- the destination is a service VIP: a service with a ``waypoint`` sends everything to that waypoint, over HBONE,
  with the CONNECT authority ``VIP:port``; otherwise ztunnel picks an endpoint of the service itself and
  continues with that workload and the service's target port;
- the destination is a workload (a pod IP, or the endpoint just picked): a workload with a ``waypoint`` goes to
  the waypoint with CONNECT ``podIP:port``; a workload in the mesh (protocol ``HBONE``) gets HBONE to its own node's
  ztunnel at ``podIP:15008``; one outside it (``TCP``) gets the bytes as they are;
- anything else passes through to the original destination.
The connection leaves with the client workload's SPIFFE identity (mTLS, ALPN h2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from envoyscope.engine.request import TraceRequest, Wire, first_wire
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.model.dump import ConfigDump
from envoyscope.model.ztunnel import GatewayRef, Service, Workload, ZtunnelConfig

if TYPE_CHECKING:
    from envoyscope.engine.trace import Hop, Outcome

HBONE_PORT = 15008
NOT_PROVEN = "read from ztunnel's config, not checked against a running ztunnel"


@dataclass(frozen=True, slots=True)
class ZtunnelDecision:
    steps: tuple[Step, ...]
    target_ip: str | None = None  # where ztunnel connects
    target_port: int = 0
    authority: str | None = None  # the HBONE CONNECT authority; None: plain TCP (or passthrough)
    via: str = ""  # hbone_waypoint | hbone | tcp | passthrough
    detail: str = ""


def _gateway_step(zt: ZtunnelConfig, ref: GatewayRef, owner: str, authority: str, path: str) -> ZtunnelDecision:
    found = zt.gateway(ref)
    if found is None:
        step = Step("ztunnel", None, f"{owner} names waypoint {ref.destination}, which ztunnel's config does not "
                                     f"resolve to an address: ztunnel cannot send it ({NOT_PROVEN})", path)
        return ZtunnelDecision((step,), via="unresolved", detail=step.reason)
    ip, name = found
    step = Step("ztunnel", name, f"{owner} is served by waypoint {name} ({ref.destination}): ztunnel sends HBONE to "
                                 f"{ip}:{ref.port} with CONNECT {authority} ({NOT_PROVEN})", path)
    return ZtunnelDecision((step,), ip, ref.port, authority, "hbone_waypoint", step.reason)


def _to_workload(zt: ZtunnelConfig, workload: Workload, ip: str, port: int, why: str) -> ZtunnelDecision:
    authority = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    owner = f"{why}workload {workload.name}.{workload.namespace} ({ip})"
    if workload.waypoint is not None:
        return _gateway_step(zt, workload.waypoint, owner, authority, workload.path)
    if workload.protocol.upper() == "HBONE":
        reason = (f"{owner} is in the mesh (protocol HBONE, identity {workload.identity}) and has no waypoint: "
                  f"ztunnel sends HBONE to its node's ztunnel at {ip}:{HBONE_PORT} with CONNECT {authority} "
                  f"({NOT_PROVEN})")
        step = Step("ztunnel", f"{ip}:{HBONE_PORT}", reason, workload.path)
        return ZtunnelDecision((step,), ip, HBONE_PORT, authority, "hbone", step.reason)
    step = Step("ztunnel", authority, f"{owner} is not in the mesh (protocol {workload.protocol}): ztunnel sends the "
                                      f"bytes to {authority} as they are, without mTLS ({NOT_PROVEN})", workload.path)
    return ZtunnelDecision((step,), ip, port, None, "tcp", step.reason)


def _service(zt: ZtunnelConfig, service: Service, vip: str, port: int, random_value: int) -> ZtunnelDecision:
    authority = f"[{vip}]:{port}" if ":" in vip else f"{vip}:{port}"
    owner = f"service {service.hostname} (VIP {vip})"
    if service.waypoint is not None:
        return _gateway_step(zt, service.waypoint, owner, authority, service.path)
    if service.target_port(port) is None:
        ports = ", ".join(str(p) for p, _ in service.ports) or "none"
        step = Step("ztunnel", None, f"{owner} has no port {port} (its ports: {ports}): ztunnel passes the "
                                     f"connection to {authority} unchanged ({NOT_PROVEN})", service.path)
        return ZtunnelDecision((step,), vip, port, None, "passthrough", step.reason)
    healthy = [e for e in service.endpoints if zt.workload_by_uid(e.workload_uid) is not None]
    if not healthy:
        step = Step("ztunnel", None, f"{owner} has no endpoint with a known workload: ztunnel has nowhere to send "
                                     f"the connection and closes it ({NOT_PROVEN})", service.path)
        return ZtunnelDecision((step,), via="no_endpoint", detail=step.reason)
    endpoint = healthy[random_value % len(healthy)]
    workload = zt.workload_by_uid(endpoint.workload_uid)
    assert workload is not None
    target = service.target_port(port, endpoint) or port
    others = tuple(NearMiss(e.address, "another endpoint of the service", service.path) for e in healthy
                   if e is not endpoint)
    pick = Step("ztunnel", endpoint.address, f"{owner} has no waypoint: ztunnel picks endpoint {endpoint.address} "
                                             f"(one of {len(healthy)}), port {port} → target port {target}",
                service.path, others)
    decision = _to_workload(zt, workload, endpoint.address, target, "its endpoint, ")
    return ZtunnelDecision((pick, *decision.steps), decision.target_ip, decision.target_port, decision.authority,
                           decision.via, decision.detail)


def ztunnel_outbound(zt: ZtunnelConfig, dst_ip: str, dst_port: int, random_value: int = 0) -> ZtunnelDecision:
    """Where ztunnel sends an application's connection to ``dst_ip:dst_port``."""
    service = zt.service_by_vip(dst_ip)
    if service is not None:
        return _service(zt, service, dst_ip, dst_port, random_value)
    workload = zt.workload_by_ip(dst_ip)
    if workload is not None:
        return _to_workload(zt, workload, dst_ip, dst_port, "")
    step = Step("ztunnel", None, f"{dst_ip} is neither a service VIP nor a workload ztunnel knows: it passes the "
                                 f"connection through to {dst_ip}:{dst_port} ({NOT_PROVEN})")
    return ZtunnelDecision((step,), dst_ip, dst_port, None, "passthrough", step.reason)


def ztunnel_start(request: TraceRequest, zt_dump: ConfigDump, dst_ip: str, src_ip: str,
                  by_ip: dict[str, ConfigDump]) -> tuple[Hop, Outcome | None, ConfigDump | None, Wire | None]:
    """The trace's first hop when a ztunnel's config is given: ztunnel's decision, then the proxy it sends to
    (a waypoint among the sources) with the HBONE connection, or the outcome when it goes to none of them."""
    from envoyscope.engine.hbone import hbone_wire
    from envoyscope.engine.trace import Hop, Outcome

    assert zt_dump.ztunnel is not None
    app = first_wire(request, dst_ip, src_ip)
    decision = ztunnel_outbound(zt_dump.ztunnel, dst_ip, request.port, request.random_value)
    hop = Hop(proxy=zt_dump.identity.name, wire=app, endpoint=(f"{decision.target_ip}:{decision.target_port}"
                                                               if decision.target_ip else None),
              steps=decision.steps)
    if decision.via in ("hbone", "hbone_waypoint") and decision.target_ip and decision.authority:
        client = zt_dump.ztunnel.workload_by_ip(src_ip)
        identity = f" as {client.identity}" if client is not None else ""
        wire = hbone_wire(decision.target_ip, src_ip, decision.authority, app)
        peer = by_ip.get(f"{decision.target_ip}:{decision.target_port}") or by_ip.get(decision.target_ip)
        if peer is not None:
            return hop, None, peer, wire
        return hop, Outcome("mesh_internal", f"ztunnel sends HBONE{identity} to {decision.target_ip}:"
                                             f"{decision.target_port} (CONNECT {decision.authority}); no dump of that "
                                             f"peer was given ({NOT_PROVEN})"), None, None
    kind = {"passthrough": "passthrough", "tcp": "mesh_internal", "no_endpoint": "no_healthy_upstream",
            "unresolved": "unsupported"}.get(decision.via, "unsupported")
    return hop, Outcome(kind, decision.detail), None, None
