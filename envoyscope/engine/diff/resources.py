"""Comparers per kind: listeners and their filter chains, route configurations → virtual hosts → routes,
clusters, secrets and the bootstrap. Each takes two canonical forms (`canonical`) and returns `Change`s.

Order, as Envoy reads it: filter chains are chosen by their match, never by position (paired by the canonical
``filter_chain_match``); virtual hosts by domain (paired by name); routes first-match (paired by name when every
route has a distinct one, else by position; a route out of its place among the others is a ``position`` field).
"""

from __future__ import annotations

import difflib
from typing import Any

from envoyscope.engine.diff.canonical import fingerprint
from envoyscope.engine.diff.changes import ADDED, MODIFIED, REMOVED, Change, FieldChange
from envoyscope.engine.diff.values import diff_values, named

Doc = dict[str, Any]
HCM = "envoy.filters.network.http_connection_manager"


def modified(kind: str, name: str, fields: list[FieldChange]) -> list[Change]:
    return [Change(kind, name, MODIFIED, tuple(fields))] if fields else []


def without(doc: Doc, *keys: str) -> Doc:
    return {key: value for key, value in doc.items() if key not in keys}


# --- listeners and filter chains -----------------------------------------------------------------------------


def match_label(match: Doc) -> str:
    """A filter chain's match in a few words: ``server_names=a,b transport_protocol=tls``, or ``any``."""
    parts = []
    for key in sorted(match):
        value = match[key]
        if isinstance(value, list):
            value = ",".join(str(v) if not isinstance(v, dict) else _prefix(v) for v in value)
        parts.append(f"{key}={value}")
    return " ".join(parts) or "any"


def _prefix(value: Doc) -> str:
    return f"{value.get('address_prefix', '')}/{value.get('prefix_len', 0)}"


def chains(listener: Doc) -> dict[bytes, tuple[str, Doc]]:
    """A listener's filter chains by their canonical match (by name under a ``filter_chain_matcher``), each with the
    label to name it by."""
    found: dict[bytes, tuple[str, Doc]] = {}
    by_name = "filter_chain_matcher" in listener  # its matcher picks chains by name, not by filter_chain_match
    for chain in listener.get("filter_chains") or ():
        match = chain.get("filter_chain_match") or {}
        key = b"name:" + str(chain["name"]).encode() if by_name and chain.get("name") else fingerprint(match)
        while key in found:  # Envoy rejects duplicate matches; keep both rather than hide one
            key += b"#"
        found[key] = (str(chain.get("name") or match_label(match)), chain)
    if isinstance(listener.get("default_filter_chain"), dict):
        chain = listener["default_filter_chain"]
        found[b"default"] = (str(chain.get("name") or "default"), chain)
    return found


def inline_route_configs(chain: Doc) -> tuple[Doc, dict[str, Doc]]:
    """A chain without the route configurations written in its HCMs, and those by name."""
    configs: dict[str, Doc] = {}
    filters = []
    for filt in chain.get("filters") or ():
        typed = filt.get("typed_config")
        if isinstance(typed, dict) and isinstance(typed.get("route_config"), dict):
            config = typed["route_config"]
            configs[str(config.get("name", ""))] = config
            filt = {**filt, "typed_config": without(typed, "route_config")}
        filters.append(filt)
    return ({**chain, "filters": filters} if configs else chain), configs


def listener_changes(name: str, old: Doc, new: Doc) -> list[Change]:
    """A listener's own fields, then each filter chain added, removed or modified (with its inline routes)."""
    found = modified("listener", name, diff_values(without(old, "filter_chains", "default_filter_chain"),
                                                   without(new, "filter_chains", "default_filter_chain")))
    old_chains, new_chains = chains(old), chains(new)
    old_routes: dict[str, Doc] = {}
    new_routes: dict[str, Doc] = {}
    for key in list(old_chains) + [k for k in new_chains if k not in old_chains]:
        before, after = old_chains.get(key), new_chains.get(key)
        label = f"{name}/{(after or before or ('', {}))[0]}"
        if before is None or after is None:
            found.append(Change("filter_chain", label, ADDED if before is None else REMOVED))
            continue
        old_chain, old_inline = inline_route_configs(before[1])
        new_chain, new_inline = inline_route_configs(after[1])
        found.extend(modified("filter_chain", label, diff_values(old_chain, new_chain)))
        for route_name, config in old_inline.items():
            old_routes.setdefault(route_name, config)
        for route_name, config in new_inline.items():
            new_routes.setdefault(route_name, config)
    for route_name in old_routes.keys() & new_routes.keys():
        found.extend(route_config_changes(route_name, old_routes[route_name], new_routes[route_name]))
    return found


# --- route configurations, virtual hosts, routes -------------------------------------------------------------


def route_config_changes(name: str, old: Doc, new: Doc) -> list[Change]:
    found = modified("route_config", name, diff_values(without(old, "virtual_hosts"), without(new, "virtual_hosts")))
    old_hosts = {str(v.get("name", "")): v for v in old.get("virtual_hosts") or ()}
    new_hosts = {str(v.get("name", "")): v for v in new.get("virtual_hosts") or ()}
    for host in sorted(old_hosts.keys() | new_hosts.keys()):
        label = f"{name}/{host}"
        before, after = old_hosts.get(host), new_hosts.get(host)
        if before is None or after is None:
            found.append(Change("virtual_host", label, ADDED if before is None else REMOVED))
        elif before != after:
            found.extend(modified("virtual_host", label, diff_values(without(before, "routes"),
                                                                     without(after, "routes"))))
            found.extend(route_changes(label, list(before.get("routes") or ()), list(after.get("routes") or ())))
    return found


def route_changes(host: str, old: list[Doc], new: list[Doc]) -> list[Change]:
    """Routes in first-match order: paired by name when names are distinct on both sides, else by position."""
    old_named, new_named = named(old), named(new)
    if old_named is None or new_named is None:
        return _routes_by_position(host, old, new)
    old_names, new_names = list(old_named), list(new_named)
    matcher = difflib.SequenceMatcher(None, old_names, new_names, autojunk=False)
    in_place = {old_names[block.a + i] for block in matcher.get_matching_blocks() for i in range(block.size)}
    found: list[Change] = []
    for index, route in enumerate(new):
        route_name = route["name"]
        label = f"{host}/{route_name}"
        if route_name not in old_named:
            found.append(Change("route", label, ADDED, (FieldChange("position", None, index + 1),)))
            continue
        fields = []
        if route_name not in in_place:
            fields.append(FieldChange("position", old_names.index(route_name) + 1, index + 1))
        fields.extend(diff_values(old_named[route_name], route))
        found.extend(modified("route", label, fields))
    for index, route_name in enumerate(old_names):
        if route_name not in new_named:
            found.append(Change("route", f"{host}/{route_name}", REMOVED, (FieldChange("position", index + 1, None),)))
    return found


def _routes_by_position(host: str, old: list[Doc], new: list[Doc]) -> list[Change]:
    found: list[Change] = []
    for index in range(max(len(old), len(new))):
        before = old[index] if index < len(old) else None
        after = new[index] if index < len(new) else None
        route = after if after is not None else before
        label = f"{host}/{(route or {}).get('name') or f'#{index + 1}'}"
        if before is None:
            found.append(Change("route", label, ADDED, (FieldChange("position", None, index + 1),)))
        elif after is None:
            found.append(Change("route", label, REMOVED, (FieldChange("position", index + 1, None),)))
        else:
            found.extend(modified("route", label, diff_values(before, after)))
    return found


# --- clusters, secrets, bootstrap ----------------------------------------------------------------------------


def cluster_changes(name: str, old: Doc, new: Doc) -> list[Change]:
    """Everything of a cluster but its load_assignment (compared as its endpoints)."""
    return modified("cluster", name, diff_values(without(old, "load_assignment"), without(new, "load_assignment")))


def secret_changes(name: str, old: Doc, new: Doc) -> list[Change]:
    """Certificates compared by serial, subject, SANs and validity (`canonical` decoded them); keys are redacted."""
    return modified("secret", name, diff_values(old, new))


def bootstrap_view(bootstrap: Doc, envoy_version: str) -> Doc:
    """The bootstrap as compared: static resources are compared as resources; Envoy's build as one version."""
    view = without(bootstrap, "static_resources")
    node = view.get("node")
    if isinstance(node, dict):
        view["node"] = {**without(node, "user_agent_build_version", "build_version"), "envoy_version": envoy_version}
    return view


def bootstrap_changes(name: str, old: Doc, new: Doc) -> list[Change]:
    return modified("bootstrap", name, diff_values(old, new))
