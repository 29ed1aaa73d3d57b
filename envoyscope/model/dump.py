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
from envoyscope.model.ztunnel import ZtunnelConfig

KINDS = ("listener", "cluster", "route_config", "scoped_route", "endpoint", "secret", "ecds")
# States in which Envoy uses a resource; warming, draining and rejected ones are held but serve nothing.
SERVING_STATES = frozenset({"static", "dynamic_active", "dynamic", "inline"})
# The words every note about a part of the input that could not be read has (`ConfigDump.unread_notes`).
UNREAD = "not read by envoyscope"
_STATUS = {"dynamic_warming": "warming", "dynamic_draining": "draining", "rejected": "rejected"}


@dataclass(frozen=True, slots=True)
class Resource:
    """One xDS resource as the proxy holds it.

    state: ``static``, ``dynamic_active``, ``dynamic_warming``, ``dynamic_draining`` (listeners),
    ``dynamic`` (routes, endpoints), ``inline`` (a route config inside an HCM), ``rejected`` (Envoy refused it
    and holds no accepted version: ``raw`` is the ``failed_configuration`` of ``error_state``).
    error_state: Envoy's ``UpdateFailureState`` (``failed_configuration``, ``last_update_attempt``, ``details``)
    when the last update of this resource was rejected; a serving resource with one is the previous version.
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

    @property
    def serving(self) -> bool:
        """Whether Envoy uses this resource (static or active), as opposed to warming, draining or rejected."""
        return self.state in SERVING_STATES

    @property
    def status(self) -> str:
        """``active``, ``warming``, ``draining`` or ``rejected``."""
        return _STATUS.get(self.state, "active")

    @property
    def error_details(self) -> str:
        """Envoy's reason for rejecting the last update, on one line ('' when none was rejected)."""
        if not isinstance(self.error_state, dict):
            return ""
        return " ".join(str(self.error_state.get("details") or "no details").split())

    def status_text(self) -> str:
        """The status with Envoy's words: ``rejected by Envoy: …``, ``active; the last update was rejected: …``."""
        if self.state == "rejected":
            return f"rejected by Envoy: {self.error_details}"
        if self.error_details:
            return f"{self.status}; Envoy rejected its last update: {self.error_details}"
        return self.status


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of a Kubernetes Service that selects the proxy's pod, as the API server says it: connections to
    ``port`` (on the Service's addresses) reach the pod at ``target_port``."""

    service: str  # namespace/name
    port: int
    target_port: int
    name: str = ""
    protocol: str = "TCP"


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
    # Set by the Kubernetes source: the ports of the Services that select the pod (a gateway's Service port 80 →
    # targetPort 8080). Empty for files and admin URLs: no dump holds them.
    service_ports: tuple[ServicePort, ...] = ()
    ztunnel: ZtunnelConfig | None = None  # a ztunnel's own dump (Istio ambient), not an Envoy's: no resources

    def __post_init__(self) -> None:
        for kind in KINDS:
            resources = self.of_kind(kind)
            # The first of a name wins, serving ones before the others, as Envoy serves the active one.
            for resource in [r for r in resources if r.serving] + [r for r in resources if not r.serving]:
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
        """The resource of that kind and name (the serving one when several states hold it), to show."""
        return self._index.get((kind, name))

    def serving(self, kind: str, name: str) -> Resource | None:
        """The resource of that kind and name that Envoy uses; None when it is only warming, draining or rejected."""
        resource = self._index.get((kind, name))
        return resource if resource is not None and resource.serving else None

    def not_serving(self, kind: str, name: str | None = None) -> tuple[Resource, ...]:
        """The warming, draining and rejected resources of that kind (and name), in dump order."""
        return tuple(r for r in self.of_kind(kind) if not r.serving and (name is None or r.name == name))

    def listener(self, name: str) -> Resource | None:
        return self.serving("listener", name)

    def cluster(self, name: str) -> Resource | None:
        """The cluster Envoy routes to: a warming or rejected cluster is not there yet (a route to it gets NC)."""
        return self.serving("cluster", name)

    def route_config(self, name: str) -> Resource | None:
        return self.serving("route_config", name)

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
                            state="inline" if listener.serving else listener.state,  # a rejected one's too
                            raw=config,
                            path=f"{listener.path}.{where}.filters[{findex}].typed_config.route_config",
                            version_info=listener.version_info,
                            last_updated=listener.last_updated,
                        )

    def unread_notes(self) -> tuple[str, ...]:
        """The notes saying a part of the input could not be read (an unknown section, field or entry)."""
        return tuple(note for note in self.notes if UNREAD in note)

    # Folders and bundles give `envoyscope.sources.lazy.LazyDump`s, read on first use: these say how far that went.
    @property
    def loaded(self) -> bool:
        """Whether the resources are in memory (always, for a dump read at once)."""
        return True

    def load(self) -> ConfigDump:
        """The dump with its resources (itself, for a dump read at once)."""
        return self

    def readable(self) -> bool:
        """Whether the resources can be read (a dump read at once could)."""
        return True

    def mentions(self, text: str) -> bool:
        """Whether the input may name ``text`` anywhere: False only when that is known without decoding it."""
        return True

    def has(self, section: str) -> bool:
        """Whether the input held that section at all (e.g. ``clusters``), as opposed to holding none."""
        return section in self.sections


def _chains(listener: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, chain in enumerate(listener.get("filter_chains") or ()):
        yield f"filter_chains[{index}]", chain
    if isinstance(listener.get("default_filter_chain"), dict):
        yield "default_filter_chain", listener["default_filter_chain"]
