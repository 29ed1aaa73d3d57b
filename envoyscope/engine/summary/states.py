"""The STATE column and the ``-o json`` entries of resources Envoy holds but does not use.

istioctl shows only active and static resources. envoyscope also shows the ones Envoy rejected (its
``error_state``), the warming ones and the draining listeners, with a STATE column that is there only when a
dump has such a resource (so that tables of dumps without any stay exactly istioctl's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from envoyscope.model.dump import Resource

STATE_COLUMN = "STATE"


def shows_state(resources: Iterable[Resource]) -> bool:
    """Whether a table of these resources needs a STATE column: one is not in use, or its last update failed."""
    return any(not r.serving or r.error_details for r in resources)


def state_cell(resource: Resource) -> str:
    """``ACTIVE``, ``WARMING``, ``DRAINING``, ``REJECTED: <Envoy's details>`` or
    ``ACTIVE (last update REJECTED: <details>)``."""
    if resource.state == "rejected":
        return f"REJECTED: {resource.error_details}"
    if resource.error_details:
        return f"{resource.status.upper()} (last update REJECTED: {resource.error_details})"
    return resource.status.upper()


def resource_json(resource: Resource) -> Any:
    """A serving resource as the dump holds it (istioctl's ``-o json``); any other wrapped with its state:
    ``{"name", "state", "details", "last_update_attempt", <kind>: <the resource>}``."""
    if resource.serving:
        return resource.raw
    out: dict[str, Any] = {"name": resource.name, "state": resource.status}
    if resource.error_state is not None:
        out["details"] = resource.error_details
        out["last_update_attempt"] = resource.error_state.get("last_update_attempt", "")
    out[resource.kind] = resource.raw
    return out
