"""The bootstrap summary: Istio version, Istio proxy version and Envoy version, as istioctl prints them.

``-o wide`` adds who the proxy is: node id, proxy type, pod, namespace, instance IPs, mesh and cluster ids.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.summary._common import obj, text
from envoyscope.engine.summary.types import Row, Table
from envoyscope.model.dump import ConfigDump

COLUMNS = ("FIELD", "VALUE")


def _number(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def envoy_version(node: dict[str, Any]) -> str:
    """``1.18.3-label/Clean/RELEASE/BoringSSL`` from the node's user agent build version (``0.0.0`` if none)."""
    build = obj(node.get("user_agent_build_version"))
    version = obj(build.get("version"))
    meta = obj(build.get("metadata"))
    numbers = (_number(version.get(key)) for key in ("major_number", "minor_number", "patch"))
    out = ".".join(str(n) for n in numbers)
    if "build.label" in meta:
        out += f"-{text(meta['build.label'])}"
    for key in ("revision.status", "build.type", "ssl.version"):
        if key in meta:
            out += f"/{text(meta[key])}"
    return out


def summarize_bootstrap(dump: ConfigDump, *, wide: bool = False) -> Table:
    if dump.bootstrap is None:
        return Table("bootstrap", COLUMNS, (), ("no bootstrap section in this dump",))
    node = obj(dump.bootstrap.get("node"))
    metadata = obj(node.get("metadata"))
    istio_version = text(metadata.get("ISTIO_VERSION"))
    sha = text(metadata.get("ISTIO_PROXY_SHA"))
    if len(sha.split(":")) > 1:
        sha = sha.split(":")[1]
    rows = []
    if istio_version:
        rows.append(Row(("Istio Version:", istio_version)))
    if sha:
        rows.append(Row(("Istio Proxy Version:", sha)))
    rows.append(Row(("Envoy Version:", envoy_version(node))))
    if wide:
        identity = dump.identity
        for label, value in (("Node ID:", identity.node_id), ("Proxy Type:", identity.proxy_type),
                             ("Pod:", identity.pod), ("Namespace:", identity.namespace),
                             ("Instance IPs:", ",".join(identity.instance_ips)), ("Mesh ID:", identity.mesh_id),
                             ("Cluster ID:", identity.cluster_id)):
            if value:
                rows.append(Row((label, value)))
    return Table("bootstrap", COLUMNS, tuple(rows))
