"""What a ztunnel reports about the mesh: its admin ``/config_dump`` on port 15000 (the JSON
``istioctl ztunnel-config all -o json`` prints and ``--file`` reads).

ztunnel is not Envoy: it is Istio's per-node L4 proxy of the ambient mode. Its dump holds
- ``workloads``: pods and other workloads it knows (``workloadIps``, ``uid``, ``name``, ``namespace``,
  ``serviceAccount``, ``trustDomain``, ``node``, ``network``, ``protocol`` ``HBONE`` (in the mesh) or ``TCP``, an
  optional ``waypoint``: ``{"destination": "<network>/<ip>" or "<namespace>/<hostname>", "hboneMtlsPort"|"port"}``);
- ``services``: ``hostname``, ``vips`` (``<network>/<ip>``), ``ports`` (service port → target port), an optional
  ``waypoint``, ``endpoints`` (by ``<workload uid>:<network>/<ip>``: ``workloadUid``, ``address``, ``port``);
- ``policies``: authorization policies as ztunnel enforces them (``name``, ``namespace``, ``scope``, ``action``,
  ``rules``);
- ``certificates``: per identity, its ``state`` and ``certChain`` (serial, validity).
Older ztunnels write ``workloads`` and ``services`` as objects keyed by ``<network>/<ip>``, newer ones as lists;
both are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoyscope.errors import DumpFormatError


@dataclass(frozen=True, slots=True)
class GatewayRef:
    """A workload's or service's ``waypoint`` (or ``networkGateway``): where ztunnel sends its traffic instead."""

    destination: str  # as written: "<network>/<ip>" or "<namespace>/<hostname>"
    port: int = 15008

    @property
    def address(self) -> str:
        """The IP or hostname part."""
        return self.destination.rpartition("/")[2]


@dataclass(frozen=True, slots=True)
class Workload:
    uid: str
    name: str
    namespace: str
    ips: tuple[str, ...]
    service_account: str
    trust_domain: str
    node: str
    network: str
    protocol: str  # HBONE | TCP
    status: str
    waypoint: GatewayRef | None
    workload_name: str = ""
    canonical_name: str = ""
    canonical_revision: str = ""
    cluster_id: str = ""
    path: str = ""

    @property
    def identity(self) -> str:
        return f"spiffe://{self.trust_domain or 'cluster.local'}/ns/{self.namespace}/sa/{self.service_account}"


@dataclass(frozen=True, slots=True)
class ServiceEndpoint:
    workload_uid: str
    address: str  # the IP, without its network
    ports: tuple[tuple[int, int], ...]  # service port → target port


@dataclass(frozen=True, slots=True)
class Service:
    name: str
    namespace: str
    hostname: str
    vips: tuple[str, ...]  # IPs, without their network
    ports: tuple[tuple[int, int], ...]  # service port → target port
    waypoint: GatewayRef | None
    endpoints: tuple[ServiceEndpoint, ...]
    path: str = ""

    def target_port(self, port: int, endpoint: ServiceEndpoint | None = None) -> int | None:
        for source in ((endpoint.ports if endpoint else ()), self.ports):
            for service_port, target in source:
                if service_port == port:
                    return target or port
        return None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    namespace: str
    scope: str
    action: str
    rules: Any


@dataclass(frozen=True, slots=True)
class Certificate:
    identity: str
    state: str
    chain: tuple[tuple[str, str, str], ...]  # (serial, valid from, expiration) per certificate


@dataclass(frozen=True, slots=True)
class ZtunnelConfig:
    workloads: tuple[Workload, ...]
    services: tuple[Service, ...]
    policies: tuple[Policy, ...]
    certificates: tuple[Certificate, ...]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)  # the dump as written

    def workload_by_ip(self, ip: str) -> Workload | None:
        return next((w for w in self.workloads if ip in w.ips), None)

    def workload_by_uid(self, uid: str) -> Workload | None:
        return next((w for w in self.workloads if w.uid == uid), None)

    def service_by_vip(self, ip: str) -> Service | None:
        return next((s for s in self.services if ip in s.vips), None)

    def service_by_host(self, host: str) -> Service | None:
        host = host.lower().rstrip(".")
        exact = [s for s in self.services if s.hostname.lower() == host]
        short = [s for s in self.services if s.hostname.lower().startswith(host + ".")]
        found = exact or short
        return found[0] if found else None

    def gateway(self, ref: GatewayRef) -> tuple[str, str] | None:
        """(the IP ztunnel connects to, what it is) for a waypoint reference: a service's VIP resolves to one of
        its endpoints (the waypoint pod), a workload IP is itself."""
        address = ref.address
        service = self.service_by_vip(address) or (self.service_by_host(address) if "." in address else None)
        if service is not None:
            for endpoint in service.endpoints:
                return endpoint.address, f"{service.name}.{service.namespace}"
            return None
        workload = self.workload_by_ip(address)
        if workload is not None:
            return address, f"{workload.name}.{workload.namespace}"
        return (address, address) if address.replace(".", "").isdigit() or ":" in address else None

    def gateway_name(self, ref: GatewayRef | None) -> str:
        """The waypoint's name as istioctl prints it in WAYPOINT columns: ``None`` without one, ``NA`` unknown."""
        if ref is None:
            return "None"
        address = ref.address
        service = self.service_by_vip(address) or self.service_by_host(address)
        return service.name if service is not None else "NA"


def is_ztunnel_document(doc: Any) -> bool:
    """Whether decoded JSON is a ztunnel dump rather than an Envoy one."""
    return isinstance(doc, dict) and "configs" not in doc and "workloads" in doc and (
        "services" in doc or "policies" in doc or "certificates" in doc)


def _entries(value: Any, path: str, source: str) -> list[tuple[str, dict[str, Any]]]:
    if value is None:
        return []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(str(i), v) for i, v in enumerate(value)]
    else:
        raise DumpFormatError(f"expected a list or an object, found {type(value).__name__}", source=source,
                              json_path=path)
    out = []
    for key, entry in items:
        if not isinstance(entry, dict):
            raise DumpFormatError(f"expected an object, found {type(entry).__name__}", source=source,
                                  json_path=f"{path}[{key}]")
        out.append((key, entry))
    return out


def _ip(value: Any) -> str:
    return str(value).rpartition("/")[2]


def _gateway(value: Any) -> GatewayRef | None:
    if not isinstance(value, dict) or not value.get("destination"):
        return None
    port = value.get("hboneMtlsPort") or value.get("port") or 15008
    return GatewayRef(str(value["destination"]), int(port))


def _ports(value: Any) -> tuple[tuple[int, int], ...]:
    out = []
    for key, target in (value or {}).items() if isinstance(value, dict) else ():
        if str(key).isdigit():
            out.append((int(key), int(target) if str(target).isdigit() else int(key)))
    return tuple(sorted(out))


def parse_ztunnel(doc: dict[str, Any], source: str) -> ZtunnelConfig:
    """Read a ztunnel dump; a part of the wrong JSON type raises DumpFormatError naming its path."""
    workloads = []
    for key, raw in _entries(doc.get("workloads"), "workloads", source):
        workloads.append(Workload(
            uid=str(raw.get("uid", "")), name=str(raw.get("name", "")), namespace=str(raw.get("namespace", "")),
            ips=tuple(_ip(ip) for ip in raw.get("workloadIps") or ()),
            service_account=str(raw.get("serviceAccount", "")), trust_domain=str(raw.get("trustDomain", "")),
            node=str(raw.get("node", "")), network=str(raw.get("network", "")),
            protocol=str(raw.get("protocol", "TCP")), status=str(raw.get("status", "")),
            waypoint=_gateway(raw.get("waypoint")), workload_name=str(raw.get("workloadName", "")),
            canonical_name=str(raw.get("canonicalName", "")), canonical_revision=str(raw.get("canonicalRevision", "")),
            cluster_id=str(raw.get("clusterId", "")), path=f"workloads[{key}]"))
    services = []
    for key, raw in _entries(doc.get("services"), "services", source):
        endpoints = [ServiceEndpoint(str(e.get("workloadUid", "")), _ip(e.get("address", "")), _ports(e.get("port")))
                     for _, e in _entries(raw.get("endpoints"), f"services[{key}].endpoints", source)]
        services.append(Service(
            name=str(raw.get("name", "")), namespace=str(raw.get("namespace", "")),
            hostname=str(raw.get("hostname", "")), vips=tuple(_ip(v) for v in raw.get("vips") or ()),
            ports=_ports(raw.get("ports")), waypoint=_gateway(raw.get("waypoint")), endpoints=tuple(endpoints),
            path=f"services[{key}]"))
    policies = [Policy(str(p.get("name", "")), str(p.get("namespace", "")), str(p.get("scope", "")),
                       str(p.get("action", "")), p.get("rules"))
                for _, p in _entries(doc.get("policies"), "policies", source)]
    certificates = []
    for key, raw in _entries(doc.get("certificates"), "certificates", source):
        chain = tuple((str(c.get("serialNumber", "")), str(c.get("validFrom", "")), str(c.get("expirationTime", "")))
                      for _, c in _entries(raw.get("certChain"), f"certificates[{key}].certChain", source))
        certificates.append(Certificate(str(raw.get("identity", "")), str(raw.get("state", "")), chain))
    return ZtunnelConfig(tuple(workloads), tuple(services), tuple(policies), tuple(certificates), raw=doc)
