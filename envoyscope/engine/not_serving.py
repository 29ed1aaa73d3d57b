"""Resources Envoy holds but does not use: rejected (``error_state``), warming, draining.

Envoy serves only its active (and static) listeners, clusters and route configurations. A listener or
cluster whose update it rejected serves its previous version, or nothing if there was none; a warming one
serves nothing until its dependencies arrive; a draining listener takes no new connection. The trace follows
what Envoy does, and says where such a resource would have taken the request.
"""

from __future__ import annotations

from envoyscope.engine.steps import NearMiss
from envoyscope.model.dump import ConfigDump, Resource

_KINDS = {"route_config": "route configuration"}
_WHY = {
    "warming": "is warming: Envoy does not use it until its dependencies (RDS, EDS, SDS) arrive",
    "draining": "is draining: it takes no new connection",
}


def why_not_serving(resource: Resource) -> str:
    """``rejected by Envoy: <Envoy's details>``, ``is warming: …`` or ``is draining: …``."""
    if resource.state == "rejected":
        return f"was rejected by Envoy: {resource.error_details}"
    return _WHY.get(resource.status, f"is {resource.status}")


def not_serving_misses(resources: list[Resource] | tuple[Resource, ...], instead: str) -> tuple[NearMiss, ...]:
    """A near miss for each resource that would have matched but is not in use; ``instead``: what Envoy uses."""
    return tuple(NearMiss(r.name, f"{_KINDS.get(r.kind, r.kind)} {r.name} {why_not_serving(r)}; {instead}", r.path)
                 for r in resources)


def missing_cluster(dump: ConfigDump, name: str) -> tuple[str, tuple[NearMiss, ...]]:
    """Why a route's cluster is not there when the dump holds it warming or rejected: a sentence ('' when the
    dump does not hold it at all) and the near misses."""
    held = dump.not_serving("cluster", name)
    if not held:
        return "", ()
    reason = f"; the dump holds it, but it {why_not_serving(held[0])}"
    return reason, not_serving_misses(held, "Envoy has no active cluster of that name: 503 (NC)")
