"""Who a proxy is, from its bootstrap node: Istio's node id and metadata, Envoy's build version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Istio's node id is type~ip~pod.namespace~namespace.svc.cluster.local; `router` is a gateway.
PROXY_TYPES = {"sidecar": "sidecar", "router": "gateway", "waypoint": "waypoint", "ztunnel": "ztunnel"}
# The node metadata keys an identity is made of (`identity_from_bootstrap` reads these and no others).
NODE_METADATA_KEYS = ("NAME", "NAMESPACE", "INSTANCE_IPS", "LABELS", "ISTIO_VERSION", "ISTIO_PROXY_SHA", "MESH_ID",
                      "CLUSTER_ID")


@dataclass(frozen=True, slots=True)
class Identity:
    node_id: str = ""
    node_cluster: str = ""
    proxy_type: str = "envoy"  # sidecar | gateway | waypoint | ztunnel | envoy (not Istio)
    pod: str = ""
    namespace: str = ""
    instance_ips: tuple[str, ...] = ()
    istio_version: str = ""
    istio_proxy_sha: str = ""
    envoy_version: str = ""
    mesh_id: str = ""
    cluster_id: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """A short name to show and to select by: ``pod.namespace``, else the node id, else ``envoy``."""
        if self.pod:
            return f"{self.pod}.{self.namespace}" if self.namespace else self.pod
        return self.node_id or "envoy"

    @property
    def is_gateway(self) -> bool:
        return self.proxy_type == "gateway"

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def identity_from_bootstrap(bootstrap: dict[str, Any] | None) -> Identity:
    """Read the node of a (snake_case) bootstrap; every field is optional."""
    node = (bootstrap or {}).get("node") or {}
    node_id = str(node.get("id", ""))
    metadata = node.get("metadata") or {}
    parts = node_id.split("~")
    proxy_type, pod, namespace = "envoy", "", ""
    ips: tuple[str, ...] = ()
    if len(parts) == 4:
        proxy_type = PROXY_TYPES.get(parts[0], parts[0])
        pod, _, namespace = parts[2].rpartition(".")
        if not pod:
            pod, namespace = parts[2], ""
        ips = (parts[1],)
    pod = str(metadata.get("NAME") or pod)
    namespace = str(metadata.get("NAMESPACE") or namespace)
    if metadata.get("INSTANCE_IPS"):
        ips = tuple(ip.strip() for ip in str(metadata["INSTANCE_IPS"]).split(",") if ip.strip())
    labels = metadata.get("LABELS")
    label_items = tuple(sorted((str(k), str(v)) for k, v in labels.items())) if isinstance(labels, dict) else ()
    return Identity(
        node_id=node_id,
        node_cluster=str(node.get("cluster", "")),
        proxy_type=proxy_type,
        pod=pod,
        namespace=namespace,
        instance_ips=ips,
        istio_version=str(metadata.get("ISTIO_VERSION", "")),
        istio_proxy_sha=str(metadata.get("ISTIO_PROXY_SHA", "")).removeprefix("istio-proxy:"),
        envoy_version=envoy_version(node.get("user_agent_build_version"), node.get("build_version")),
        mesh_id=str(metadata.get("MESH_ID", "")),
        cluster_id=str(metadata.get("CLUSTER_ID", "")),
        labels=label_items,
    )


def envoy_version(build: Any, old_build: Any = None) -> str:
    """``1.18.3/Clean/RELEASE/BoringSSL``, as Envoy prints its own version (0.0.0 when the node has none).

    ``old_build``: Envoy <= 1.16's ``build_version`` string, ``<sha>/<version>/<status>/<type>/<ssl>``, read when
    the node has no ``user_agent_build_version``."""
    if not isinstance(build, dict):
        sha, _, rest = str(old_build or "").partition("/")
        return rest if rest and len(sha) >= 7 else "0.0.0"
    version = build.get("version") or {}
    number = f"{version.get('major_number', 0)}.{version.get('minor_number', 0)}.{version.get('patch', 0)}"
    meta = build.get("metadata") or {}
    tail = [str(meta[key]) for key in ("revision.status", "build.type", "ssl.version") if key in meta]
    return "/".join([number, *tail])


def identity_without_bootstrap(listeners: list[dict[str, Any]]) -> tuple[Identity, str]:
    """Who a proxy is when its dump has no bootstrap (istioctl's lists, listener-only dumps): a sidecar when a
    listener hands connections over by original destination (Istio's ``virtualOutbound``), else plain Envoy.

    Returns the identity and a sentence saying why, for the dump's notes ('' when nothing was inferred).
    """
    for raw in listeners:
        value = raw.get("use_original_dst")
        if isinstance(value, dict):  # BoolValue written as {"value": true}
            value = value.get("value")
        if value is True and raw.get("traffic_direction") != "INBOUND":
            name = str(raw.get("name") or "?")
            return Identity(proxy_type="sidecar"), (
                f"no bootstrap: taken as a sidecar, as listener {name} has use_original_dst (Istio's virtual "
                "outbound listener); traces start there")
    return Identity(), ""
