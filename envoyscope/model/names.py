"""Istio's naming conventions, decoded: cluster names, SNI names, special clusters, config metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"
INBOUND_PASSTHROUGH = ("InboundPassthroughClusterIpv4", "InboundPassthroughClusterIpv6", "InboundPassthroughCluster")
SPECIAL_CLUSTERS = {
    PASSTHROUGH: "passthrough: to the original destination, outside the mesh's knowledge",
    BLACKHOLE: "blackhole: dropped (REGISTRY_ONLY, or nothing else matched)",
    "InboundPassthroughClusterIpv4": "inbound passthrough to the app",
    "InboundPassthroughClusterIpv6": "inbound passthrough to the app",
    "InboundPassthroughCluster": "inbound passthrough to the app",
}


@dataclass(frozen=True, slots=True)
class ClusterName:
    """``direction|port|subset|host`` (Istio's BuildSubsetKey), or a plain name."""

    name: str
    direction: str = ""  # outbound | inbound | inbound-vip | "" (not an Istio service cluster)
    port: int | None = None
    subset: str = ""
    host: str = ""

    @property
    def is_istio(self) -> bool:
        return bool(self.direction)


def parse_cluster_name(name: str) -> ClusterName:
    """Split an Istio cluster name; names Istio did not build come back with only ``name`` set."""
    parts = name.split("|")
    if len(parts) == 4 and parts[0] in ("outbound", "inbound", "inbound-vip") and parts[1].isdigit():
        return ClusterName(name=name, direction=parts[0], port=int(parts[1]), subset=parts[2], host=parts[3])
    return ClusterName(name=name)


def parse_sni(sni: str) -> ClusterName | None:
    """``outbound_.80_.v1_.reviews.default.svc.cluster.local`` (Istio's BuildDNSSrvSubsetKey) decoded."""
    parts = sni.split("_.", 3)
    if len(parts) == 4 and parts[0] in ("outbound", "inbound") and parts[1].isdigit():
        return ClusterName(name=sni, direction=parts[0], port=int(parts[1]), subset=parts[2], host=parts[3])
    return None


def sni_for(cluster: ClusterName) -> str:
    """The SNI Istio puts on mTLS connections to a cluster (what an egress gateway's SNI chains match)."""
    return f"{cluster.direction}_.{cluster.port}_.{cluster.subset}_.{cluster.host}"


def describe_special(name: str) -> str | None:
    return SPECIAL_CLUSTERS.get(name)


def special_kind(name: str) -> str | None:
    """``passthrough``, ``blackhole`` or ``inbound-passthrough`` for Istio's special clusters, else None."""
    if name == PASSTHROUGH:
        return "passthrough"
    if name == BLACKHOLE:
        return "blackhole"
    if name in INBOUND_PASSTHROUGH:
        return "inbound-passthrough"
    return None


def describe_sni(sni: str) -> str:
    """An SNI as Istio builds it, with the cluster it names: ``outbound_.80_.v1_.r.ns (outbound|80|v1|r.ns)``."""
    cluster = parse_sni(sni)
    if cluster is None:
        return sni
    return f"{sni} ({cluster.direction}|{cluster.port}|{cluster.subset}|{cluster.host})"


@dataclass(frozen=True, slots=True)
class IstioConfig:
    """The Istio object behind an Envoy resource, from its ``istio`` filter metadata."""

    kind: str  # VirtualService | DestinationRule | ServiceEntry | Sidecar | Gateway | ...
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.name}.{self.namespace}"


def istio_configs(resource: dict[str, Any]) -> tuple[IstioConfig, ...]:
    """Every Istio config named in a resource's ``metadata.filter_metadata.istio.config``/``configs``.

    Istio writes ``/apis/networking.istio.io/v1alpha3/namespaces/<ns>/virtual-service/<name>``.
    """
    istio = ((resource.get("metadata") or {}).get("filter_metadata") or {}).get("istio") or {}
    paths = []
    if isinstance(istio.get("config"), str):
        paths.append(istio["config"])
    for item in istio.get("configs") or ():
        if isinstance(item, str):
            paths.append(item)
    out = []
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) >= 4 and parts[-4] == "namespaces":
            out.append(IstioConfig(kind=config_kind(parts[-2]), namespace=parts[-3], name=parts[-1]))
    return tuple(out)


# The kinds Istio names in config paths: older Istio wrote `virtual-service`, newer writes `virtualservices`.
_KINDS = {kind.lower(): kind for kind in (
    "VirtualService", "DestinationRule", "ServiceEntry", "Sidecar", "Gateway", "EnvoyFilter", "WorkloadEntry",
    "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "AuthorizationPolicy", "PeerAuthentication")}


def config_kind(segment: str) -> str:
    """``virtual-service`` / ``virtualservices`` / ``httproutes`` -> ``VirtualService`` / ``HTTPRoute``."""
    word = segment.replace("-", "").lower()
    for candidate in (word, word.removesuffix("s"), word.removesuffix("ies") + "y" if word.endswith("ies") else ""):
        if candidate in _KINDS:
            return _KINDS[candidate]
    return "".join(part.capitalize() for part in segment.split("-"))
