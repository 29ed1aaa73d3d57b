"""Diff two dumps of one proxy (`diff_dumps`), and two sets of proxies paired by identity (`diff_proxies`).

Fast on big dumps: resources are paired by name, and a pair whose raw JSON is equal (``==`` on the decoded
JSON, in C, blind to key order) is done with; only the others are made canonical, and only canonical forms that
still differ are compared field by field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from envoyscope.engine.diff.canonical import canonical
from envoyscope.engine.diff.changes import ADDED, REMOVED, Change, FieldChange, ProxyDiff, proxy_name
from envoyscope.engine.diff.endpoints import address_of, endpoint_changes
from envoyscope.engine.diff.resources import (
    bootstrap_changes,
    bootstrap_view,
    cluster_changes,
    listener_changes,
    route_config_changes,
    secret_changes,
)
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.identity import envoy_version
from envoyscope.model.normalize import normalize_resource, snake, to_snake_case

Doc = dict[str, Any]
Comparer = Callable[[str, Doc, Doc], list[Change]]
# How Envoy holds a resource, as far as a diff cares: static and dynamic are the same, warming is not active.
_STATE = {"dynamic_warming": "warming", "dynamic_draining": "draining"}


def key_of(resource: Resource) -> str:
    """A resource's name; for a listener without one (a bootstrap's), its address, which Envoy binds it by."""
    if resource.name or resource.kind != "listener":
        return resource.name
    return address_of(resource.raw.get("address") or {})


def by_name(resources: Iterable[Resource]) -> dict[str, Resource]:
    """Resources by name; the first of a name wins (active before warming, as `ConfigDump.get`)."""
    found: dict[str, Resource] = {}
    for resource in resources:
        found.setdefault(key_of(resource), resource)
    return found


def _state(resource: Resource) -> str:
    return _STATE.get(resource.state, "active")


def renormalized(raw: Doc) -> Doc:
    """A resource normalize left camelCase (inside a snake_case section, parse trusts the section's casing), in
    snake_case and v3, so that its v2 fields (``tls_context``, ``hosts``) are upgraded as anywhere else."""
    if any(snake(key) != key for key in raw):
        return normalize_resource(to_snake_case(raw), camel=False)  # type: ignore[no-any-return]
    return raw


def compare_kind(kind: str, old: Iterable[Resource], new: Iterable[Resource], comparer: Comparer) -> list[Change]:
    """Resources of one kind paired by name: added, removed, and what the comparer finds in the others."""
    old_by, new_by = by_name(old), by_name(new)
    found: list[Change] = []
    for name in sorted(old_by.keys() | new_by.keys()):
        before, after = old_by.get(name), new_by.get(name)
        if before is None or after is None:
            found.append(Change(kind, name, ADDED if before is None else REMOVED))
            continue
        if before.raw == after.raw and _state(before) == _state(after):
            continue
        changes = comparer(name, canonical(renormalized(before.raw)), canonical(renormalized(after.raw)))
        if _state(before) != _state(after):
            state = FieldChange("state", _state(before), _state(after))
            if changes and changes[0].kind == kind and changes[0].name == name:
                changes[0] = Change(kind, name, changes[0].change, (state, *changes[0].fields))
            else:
                changes.insert(0, Change(kind, name, "modified", (state,)))
        found.extend(changes)
    return found


def diff_bootstrap(old: ConfigDump, new: ConfigDump) -> list[Change]:
    if old.bootstrap is None or new.bootstrap is None or old.bootstrap == new.bootstrap:
        return []
    views = []
    for dump in (old, new):
        assert dump.bootstrap is not None
        node = dump.bootstrap.get("node") or {}
        views.append(bootstrap_view(canonical(dump.bootstrap), envoy_version(node.get("user_agent_build_version"))))
    return bootstrap_changes(proxy_name(new) or "", views[0], views[1])


def _both(old: ConfigDump, new: ConfigDump, section: str) -> bool:
    """Whether both inputs hold a section: one that holds none (an istioctl list of clusters only, a dump with
    a section left out) says nothing about its resources, which are then not compared."""
    return old.has(section) and new.has(section)


def _rds(dump: ConfigDump) -> list[Resource]:
    """Route configurations given by RDS. The static ones are those written inside listeners (Envoy lists them
    again, unnamed or repeated once per filter chain): they are compared as part of their listener."""
    return [resource for resource in dump.route_configs if resource.state != "static"]


def diff_dumps(old: ConfigDump, new: ConfigDump) -> list[Change]:
    """Every change from ``old`` to ``new`` (one proxy): bootstrap, listeners (their filter chains and inline
    routes), route configurations (virtual hosts, routes), clusters, endpoints, secrets — in that order.
    A section only one side holds is not compared (`_both`)."""
    changes = diff_bootstrap(old, new)
    if _both(old, new, "listeners"):
        changes += compare_kind("listener", old.listeners, new.listeners, listener_changes)
    if _both(old, new, "routes"):
        changes += compare_kind("route_config", _rds(old), _rds(new), route_config_changes)
    if _both(old, new, "clusters"):
        changes += compare_kind("cluster", old.clusters, new.clusters, cluster_changes)
    changes += endpoint_changes(old, new)
    if _both(old, new, "secrets"):
        changes += compare_kind("secret", old.secrets, new.secrets, secret_changes)
    return changes


# --- proxies ---------------------------------------------------------------------------------------------------

_POD_HASH = re.compile(r"-[a-z0-9]{8,10}-[a-z0-9]{5}$|-[a-z0-9]{5}$|-\d+$")


def _keys(dump: ConfigDump) -> list[str]:
    """What identifies a proxy, strongest first: its node id, its pod, then its workload (pod name without the
    ReplicaSet hash, so that yesterday's pod pairs with the one that replaced it)."""
    ident = dump.identity
    keys = []
    if ident.node_id:
        keys.append(f"id:{ident.node_id}")
    if ident.pod:
        keys.append(f"pod:{ident.pod}.{ident.namespace}")
        keys.append(f"workload:{ident.proxy_type}:{_POD_HASH.sub('', ident.pod)}.{ident.namespace}")
    return keys


def pair_proxies(old: list[ConfigDump], new: list[ConfigDump]) -> list[tuple[ConfigDump | None, ConfigDump | None]]:
    """Old and new dumps of the same proxy, by node id, then pod, then workload; one proxy on each side left
    over is the same proxy. Proxies found on one side only come with None on the other; old's order first."""
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for level in range(3):
        index: dict[str, int] = {}
        for j, dump in enumerate(new):
            keys = _keys(dump)
            if j not in taken and level < len(keys):
                index.setdefault(keys[level], j)
        for i, dump in enumerate(old):
            keys = _keys(dump)
            if i in pairs or level >= len(keys):
                continue
            j_found = index.get(keys[level])
            if j_found is not None and j_found not in taken:
                pairs[i] = j_found
                taken.add(j_found)
    rest_old = [i for i in range(len(old)) if i not in pairs]
    rest_new = [j for j in range(len(new)) if j not in taken]
    if len(rest_old) == 1 and len(rest_new) == 1:
        pairs[rest_old[0]] = rest_new[0]
        taken.add(rest_new[0])
    result: list[tuple[ConfigDump | None, ConfigDump | None]] = []
    for i, dump in enumerate(old):
        result.append((dump, new[pairs[i]] if i in pairs else None))
    result.extend((None, dump) for j, dump in enumerate(new) if j not in taken)
    return result


def diff_proxies(old: list[ConfigDump], new: list[ConfigDump]) -> list[ProxyDiff]:
    """Every proxy's changes, paired by `pair_proxies`."""
    found = []
    for before, after in pair_proxies(old, new):
        changes = tuple(diff_dumps(before, after)) if before is not None and after is not None else ()
        found.append(ProxyDiff(before, after, changes))
    return found
