"""What one proxy's dump holds: its resources by kind, each with its state and where it came from.

A `ConfigDump` is built from the decoded JSON of Envoy's ``/config_dump`` (or of istioctl's
``proxy-config -o json`` lists) by `envoyscope.model.parse`. Resources keep their raw JSON, normalised to
snake_case v3 (`envoyscope.model.normalize`); typed views are built on demand by the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from envoyscope.model.clusters_status import ClustersStatus
from envoyscope.model.identity import Identity

KINDS = ("listener", "cluster", "route_config", "scoped_route", "endpoint", "secret", "ecds")


@dataclass(frozen=True, slots=True)
class Resource:
    """One xDS resource as the proxy holds it.

    state: ``static``, ``dynamic_active``, ``dynamic_warming``, ``dynamic_draining`` (listeners),
    ``dynamic`` (routes, endpoints), ``inline`` (a route config inside an HCM).
    path: the JSON path of ``raw`` in the input, e.g. ``configs[1].dynamic_active_clusters[3].cluster``.
    """

    kind: str
    name: str
    state: str
    raw: dict[str, Any]
    path: str
    version_info: str = ""
    last_updated: str = ""
    error_state: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConfigDump:
    """Everything known about one proxy."""

    source: str
    identity: Identity
    bootstrap: dict[str, Any] | None = None
    listeners: tuple[Resource, ...] = ()
    clusters: tuple[Resource, ...] = ()
    route_configs: tuple[Resource, ...] = ()
    scoped_routes: tuple[Resource, ...] = ()
    endpoints: tuple[Resource, ...] = ()
    secrets: tuple[Resource, ...] = ()
    ecds: tuple[Resource, ...] = ()
    clusters_status: ClustersStatus | None = None
    sections: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    _index: dict[tuple[str, str], Resource] = field(default_factory=dict, repr=False, compare=False)
    # Set by the source when it knows them (admin/Kubernetes fetches): the sha256 of the bytes it read, and
    # when it read them (RFC 3339). Empty otherwise; the report then works them out from the file.
    sha256: str = ""
    captured_at: str = ""

    def __post_init__(self) -> None:
        for kind in KINDS:
            for resource in self.of_kind(kind):
                # The first of a name wins: active before warming, as Envoy serves the active one.
                self._index.setdefault((kind, resource.name), resource)

    def of_kind(self, kind: str) -> tuple[Resource, ...]:
        return {
            "listener": self.listeners,
            "cluster": self.clusters,
            "route_config": self.route_configs,
            "scoped_route": self.scoped_routes,
            "endpoint": self.endpoints,
            "secret": self.secrets,
            "ecds": self.ecds,
        }[kind]

    def get(self, kind: str, name: str) -> Resource | None:
        """The resource of that kind and name (the active one when several states hold it)."""
        return self._index.get((kind, name))

    def listener(self, name: str) -> Resource | None:
        return self.get("listener", name)

    def cluster(self, name: str) -> Resource | None:
        return self.get("cluster", name)

    def route_config(self, name: str) -> Resource | None:
        return self.get("route_config", name)

    def endpoint(self, cluster_name: str) -> Resource | None:
        """The ClusterLoadAssignment EDS gave a cluster (by its service name)."""
        return self.get("endpoint", cluster_name)

    def secret(self, name: str) -> Resource | None:
        return self.get("secret", name)

    def active_listeners(self) -> Iterator[Resource]:
        """Listeners that take connections: static and dynamic active ones."""
        return (r for r in self.listeners if r.state in ("static", "dynamic_active"))

    def inline_route_configs(self) -> Iterator[Resource]:
        """Route configurations written inside a listener's http_connection_manager."""
        for listener in self.listeners:
            for where, chain in _chains(listener.raw):
                for findex, filt in enumerate(chain.get("filters") or ()):
                    config = (filt.get("typed_config") or {}).get("route_config")
                    if isinstance(config, dict):
                        yield Resource(
                            kind="route_config",
                            name=str(config.get("name", "")),
                            state="inline",
                            raw=config,
                            path=f"{listener.path}.{where}.filters[{findex}].typed_config.route_config",
                            version_info=listener.version_info,
                            last_updated=listener.last_updated,
                        )

    def has(self, section: str) -> bool:
        """Whether the input held that section at all (e.g. ``clusters``), as opposed to holding none."""
        return section in self.sections


def _chains(listener: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, chain in enumerate(listener.get("filter_chains") or ()):
        yield f"filter_chains[{index}]", chain
    if isinstance(listener.get("default_filter_chain"), dict):
        yield "default_filter_chain", listener["default_filter_chain"]
