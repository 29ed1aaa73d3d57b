"""What the router changes in the request it forwards, level by level, and the weighted cluster entry it picks.

Envoy's order (``WeightedClusterEntry::finalizeRequestHeaders``, then ``RouteEntryImplBase::finalizeRequestHeaders``):
the picked weighted cluster entry's ``request_headers_to_remove``/``_to_add``, then its ``host_rewrite_literal``;
then the route's, the virtual host's and the route configuration's header mutations in that order (reversed by
``most_specific_header_mutations_wins``), each later one writing over the earlier; then the route's own Host
rewrite (``host_rewrite_literal``/``_header``/``_path_regex``), which wins over the entry's. Response headers go
the same way on the way back; an entry's ``typed_per_filter_config`` wins over the route's for its filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Level = tuple[str, dict[str, Any]]  # ("weighted cluster entry v2", the entry), ("route r1", the route)…


@dataclass(frozen=True, slots=True)
class Change:
    """One header change: ``op`` is ``set`` (added or overwritten), ``append`` or ``remove``."""

    direction: str  # request | response
    op: str
    name: str
    value: str
    level: str

    def text(self) -> str:
        sign = {"set": "sets", "append": "appends", "remove": "removes"}[self.op]
        value = f": {self.value}" if self.op != "remove" else ""
        expands = ", Envoy expands its %…% command operators" if "%" in self.value else ""
        return f"{self.direction} header: {sign} {self.name}{value} ({self.level}{expands})"


def weight(item: dict[str, Any]) -> int:
    weight = item.get("weight", 0)
    if isinstance(weight, dict):
        weight = weight.get("value", 0)
    return int(weight or 0)


def pick_entry(weighted: dict[str, Any], random_value: int, header: Any = None) -> tuple[dict[str, Any], int, str]:
    """The entry ``random_value % total_weight`` falls in (the cumulative weights, in order), the value used, and
    where it came from. ``header(name)`` reads ``header_name``'s value: a number there replaces the random value."""
    clusters = [c for c in weighted.get("clusters") or () if isinstance(c, dict)]
    if not clusters:
        return {}, random_value, ""
    value, source = random_value, "random value"
    name = str(weighted.get("header_name") or "")
    if name and header is not None:
        given = str(header(name) or "")
        if given.isascii() and given.isdigit():
            value, source = int(given), f"header `{name}`"
    total = weighted.get("total_weight")
    total = int((total.get("value") if isinstance(total, dict) else total) or 0) or sum(map(weight, clusters))
    if total <= 0:
        return clusters[0], value, source
    point, acc = value % total, 0
    for item in clusters:
        acc += weight(item)
        if point < acc:
            return item, value, source
    return clusters[-1], value, source


def entry_name(entry: dict[str, Any]) -> str:
    """A weighted cluster entry as the trace names it: its cluster, or the header its cluster comes from."""
    return str(entry.get("name") or (f"cluster_header {entry['cluster_header']}" if entry.get("cluster_header")
                                     else "(unnamed)"))


def entry_label(entry: dict[str, Any]) -> str:
    return f"weighted cluster entry {entry_name(entry)}"


def header_levels(entry: dict[str, Any] | None, route: dict[str, Any], vhost: dict[str, Any],
                  route_config: dict[str, Any], route_name: str) -> tuple[Level, ...]:
    """The levels whose header mutations apply, in the order Envoy evaluates them."""
    shared: list[Level] = [(f"route {route_name}", route), (f"virtual host {vhost.get('name', '')}", vhost),
                           (f"route configuration {route_config.get('name', '')}".rstrip(), route_config)]
    wins = route_config.get("most_specific_header_mutations_wins")
    if (wins.get("value") if isinstance(wins, dict) else wins) is True:
        shared.reverse()
    return ((entry_label(entry), entry), *shared) if entry else tuple(shared)


def _append_action(entry: dict[str, Any]) -> str:
    if "append_action" in entry:
        return str(entry["append_action"])
    append = entry.get("append", True)
    if isinstance(append, dict):
        append = append.get("value", True)
    return "APPEND_IF_EXISTS_OR_ADD" if append is not False else "OVERWRITE_IF_EXISTS_OR_ADD"


def mutate(headers: list[tuple[str, str]], levels: tuple[Level, ...], which: str,
           substitute: Any = None) -> tuple[list[tuple[str, str]], list[Change]]:
    """``HeaderParser::evaluateHeaders`` level after level: removals, then additions by their ``append_action``.
    Returns the headers and what each level did. ``substitute(value)`` expands command operators such as
    ``%DOWNSTREAM_REMOTE_ADDRESS%`` (None: kept as written)."""
    out, changes = list(headers), []
    for label, level in levels:
        for raw in level.get(f"{which}_headers_to_remove") or ():
            name = str(raw).lower()
            if any(n == name for n, _ in out):
                out = [(n, v) for n, v in out if n != name]
                changes.append(Change(which, "remove", name, "", label))
        for item in level.get(f"{which}_headers_to_add") or ():
            header = item.get("header") or {}
            name, value = str(header.get("key", "")).lower(), str(header.get("value", ""))
            if substitute is not None:
                value = substitute(value)
            action = _append_action(item)
            present = any(n == name for n, _ in out)
            if (action == "ADD_IF_ABSENT" and present) or (action == "OVERWRITE_IF_EXISTS" and not present):
                continue
            op = "append" if present and action == "APPEND_IF_EXISTS_OR_ADD" else "set"
            if action in ("OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"):
                out = [(n, v) for n, v in out if n != name]
            out.append((name, value))
            changes.append(Change(which, op, name, value, label))
    return out, changes


def response_changes(levels: tuple[Level, ...]) -> list[Change]:
    """What each level configures for the response (Envoy applies it on the way back: shown, not traced)."""
    changes = []
    for label, level in levels:
        changes += [Change("response", "remove", str(n).lower(), "", label)
                    for n in level.get("response_headers_to_remove") or ()]
        for item in level.get("response_headers_to_add") or ():
            header = item.get("header") or {}
            op = "append" if _append_action(item) == "APPEND_IF_EXISTS_OR_ADD" else "set"
            changes.append(Change("response", op, str(header.get("key", "")).lower(), str(header.get("value", "")),
                                  label))
    return changes


def entry_notes(entry: dict[str, Any]) -> list[str]:
    """What else a weighted cluster entry carries: its per-filter configuration and metadata_match."""
    notes = []
    filters = sorted(str(k) for k in (entry.get("typed_per_filter_config") or {}))
    if filters:
        notes.append(f"{entry_label(entry)} configures {', '.join(filters)} (typed_per_filter_config, "
                     "over the route's and the virtual host's)")
    if entry.get("metadata_match"):
        notes.append(f"{entry_label(entry)} has its own metadata_match (subset load balancing)")
    return notes
