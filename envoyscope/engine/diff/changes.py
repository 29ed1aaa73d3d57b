"""What a diff finds: a `Change` per resource, with the `FieldChange`s that make it up, per proxy a `ProxyDiff`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envoyscope.model.dump import ConfigDump

KINDS = ("bootstrap", "listener", "filter_chain", "route_config", "virtual_host", "route", "cluster", "endpoint",
         "secret")
ADDED, REMOVED, MODIFIED = "added", "removed", "modified"


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a resource: its path in the canonical form (``a.b[name].c``), before and after.

    ``None`` on one side: the field is set only on the other (``null`` in JSON).
    """

    path: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True, slots=True)
class Change:
    """One resource added, removed or modified.

    kind: one of `KINDS`. name: the resource's name; a virtual host is ``route_config/virtual_host``, a route
    ``route_config/virtual_host/route`` (its name, else ``#position``), a filter chain ``listener/chain`` (its
    name, else its match), an endpoint its cluster's name.
    """

    kind: str
    name: str
    change: str  # added | removed | modified
    fields: tuple[FieldChange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.change,
                "fields": [field.to_json() for field in self.fields]}

    def field(self, path: str) -> FieldChange | None:
        return next((f for f in self.fields if f.path == path), None)


# The kinds of change a resource owns: a route configuration's virtual hosts and routes, a listener's chains.
_PARTS = {"listener": ("listener", "filter_chain"), "route_config": ("route_config", "virtual_host", "route"),
          "virtual_host": ("virtual_host", "route"), "cluster": ("cluster", "endpoint")}


def touching(changes: Iterable[Change], kind: str, name: str) -> list[Change]:
    """The changes of a resource and of its parts: ``touching(changes, "route_config", "80")`` gives the changes
    of route configuration 80, of its virtual hosts ``80/…`` and of their routes; a cluster's include its
    endpoints; a listener's its filter chains. (Route configurations written inside a listener's chains are
    named by their own name, as RDS ones are.)"""
    kinds = _PARTS.get(kind, (kind,))
    return [c for c in changes if c.kind in kinds and (c.name == name or c.name.startswith(f"{name}/"))]


@dataclass(frozen=True, slots=True)
class ProxyDiff:
    """The changes of one proxy: ``old`` or ``new`` is None for a proxy found on one side only."""

    old: ConfigDump | None
    new: ConfigDump | None
    changes: tuple[Change, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.changes) or self.old is None or self.new is None

    def to_json(self) -> dict[str, Any]:
        return {"old": proxy_name(self.old), "new": proxy_name(self.new),
                "changes": [change.to_json() for change in self.changes]}


def proxy_name(dump: ConfigDump | None) -> str | None:
    """How a proxy is named in the output: pod.namespace, else its node id, else its file."""
    if dump is None:
        return None
    name = dump.identity.name
    return dump.source if name == "envoy" else name


def diff_json(proxies: list[ProxyDiff]) -> dict[str, Any]:
    """``{"proxies": [{"old", "new", "changes"}], "changes": [every change, flattened]}``."""
    return {"proxies": [proxy.to_json() for proxy in proxies],
            "changes": [change.to_json() for proxy in proxies for change in proxy.changes]}
