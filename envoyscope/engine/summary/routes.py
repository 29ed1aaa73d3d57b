"""The routes summary: ``NAME  VHOST NAME  DOMAINS  MATCH  VIRTUAL SERVICE``, one row per route, as istioctl.

Like ``istioctl proxy-config routes`` (verbose, its default): dynamic route configurations then static ones;
routes to PassthroughCluster are left out; a virtual host without routes shows ``/*`` and ``404``. DOMAINS
shows the shortest names (no ``:port`` forms, no ``.svc``/``.svc.cluster.local`` expansions, two at most and
``+ N more...``). ``-o wide`` shows the header and query conditions in MATCH and adds CLUSTER: the route's
cluster, every weighted cluster with its weight, or what the route does instead (redirect, direct response).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.summary._common import (
    describe_management,
    describe_match,
    describe_match_wide,
    obj,
    reading,
    seq,
    text,
)
from envoyscope.engine.summary.states import STATE_COLUMN, shows_state, state_cell
from envoyscope.engine.summary.types import Filters, Row, Table
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.names import PASSTHROUGH

COLUMNS = ("NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE")


def describe_route_domains(domains: list[str]) -> str:
    """istioctl's describeRouteDomains: the one domain, else up to two short ones and a count of the rest."""
    if not domains:
        return ""
    if len(domains) == 1:
        return domains[0]
    without_port = [d for d in domains if ":" not in d or (d.count(":") > 2 and d.endswith("]"))]
    without_port = _unexpand(without_port)
    if len(without_port) > 2:
        return f"{', '.join(without_port[:2])} + {len(without_port) - 2} more..."
    return ", ".join(without_port)


def _unexpand(domains: list[str]) -> list[str]:
    """Drop ``x.svc.cluster.local`` and ``x.svc`` when the shorter ``x`` is there too; keep the order."""
    unique = set(domains)
    drop = set()
    for domain in domains:
        for suffix in (".svc.cluster.local", ".svc"):
            short = domain.removesuffix(suffix)
            if short != domain and short in unique:
                drop.add(domain)
    return [d for d in domains if d not in drop]


def _numeric(name: str) -> int | None:
    body = name[1:] if name[:1] in "+-" else name
    return int(name) if body.isascii() and body.isdigit() else None


def order_like_istioctl(routes: list[Resource]) -> list[Resource]:
    """istioctl sorts route configs by number when both names are numbers and calls any other pair equal.

    For the lists Go sorts by insertion (up to 12) that leaves every other name where it is and sorts each run of
    numeric names between them; we do that for every length, which is also what a reader expects.
    """
    out: list[Resource] = []
    run: list[tuple[int, Resource]] = []
    for route in routes:
        number = _numeric(route.name)
        if number is None:
            out.extend(r for _, r in sorted(run, key=lambda item: item[0]))
            run = []
            out.append(route)
        else:
            run.append((number, route))
    out.extend(r for _, r in sorted(run, key=lambda item: item[0]))
    return out


def is_passthrough(route: dict[str, Any]) -> bool:
    return obj(route.get("route")).get("cluster") == PASSTHROUGH


def describe_action(route: dict[str, Any]) -> str:
    """What a route does, for the wide CLUSTER column."""
    action = route.get("route")
    if isinstance(action, dict):
        if isinstance(action.get("cluster"), str):
            return action["cluster"]
        weighted = obj(action.get("weighted_clusters"))
        if weighted:
            clusters = [obj(c) for c in seq(weighted.get("clusters"))]
            weights = [_weight(c.get("weight")) for c in clusters]
            total = _weight(weighted.get("total_weight")) or sum(weights)
            parts = []
            for cluster, weight in zip(clusters, weights, strict=True):
                share = f"{weight}%" if total == 100 else f"{weight}/{total}"
                parts.append(f"{text(cluster.get('name')) or text(cluster.get('cluster_header'))} {share}")
            return ", ".join(parts)
        if text(action.get("cluster_header")):
            return f"header:{action['cluster_header']}"
        if isinstance(action.get("cluster_specifier_plugin"), str):
            return f"plugin:{action['cluster_specifier_plugin']}"
        if isinstance(action.get("inline_cluster_specifier_plugin"), dict):
            return "plugin"
        return ""
    if isinstance(route.get("redirect"), dict):
        details = ",".join(f"{k}={v}" for k, v in route["redirect"].items())
        return f"redirect {details}".rstrip()
    if isinstance(route.get("direct_response"), dict):
        return f"direct_response {route['direct_response'].get('status', '')}".rstrip()
    if "non_forwarding_action" in route or "filter_action" in route:
        return "non-forwarding"
    return ""


def _weight(value: Any) -> int:
    if isinstance(value, dict):
        value = value.get("value", 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def selected(dump: ConfigDump, filters: Filters) -> list[Resource]:
    shown = [r for r in dump.route_configs if r.state == "dynamic"]
    shown += [r for r in dump.route_configs if r.state == "static"]
    shown += [r for r in dump.route_configs if r.state == "rejected"]
    shown = order_like_istioctl(shown)
    return [r for r in shown if not filters.name or r.name == filters.name]


def summarize_routes(dump: ConfigDump, filters: Filters, *, wide: bool = False, named: bool = False) -> Table:
    shown = selected(dump, filters)
    state = shows_state(shown)
    columns = COLUMNS + (("CLUSTER",) if wide else ()) + ((STATE_COLUMN,) if state else ())
    rows = []
    for config in shown:
        tail = (state_cell(config),) if state else ()
        with reading(dump.source, config):
            name = f"route/{config.name}" if named else config.name
            for vhost in seq(config.raw.get("virtual_hosts")):
                vhost = obj(vhost)
                vhost_name = text(vhost.get("name"))
                domains = describe_route_domains([str(d) for d in seq(vhost.get("domains"))])
                routes = seq(vhost.get("routes"))
                for route in routes:
                    route = obj(route)
                    if is_passthrough(route):
                        continue
                    match = obj(route.get("match"))
                    cells: tuple[str, ...] = (name, vhost_name, domains,
                                              describe_match_wide(match) if wide else describe_match(match),
                                              describe_management(route))
                    rows.append(Row(cells + ((describe_action(route),) if wide else ()) + tail,
                                    ("route_config", config.name)))
                if not routes:
                    cells = (name, vhost_name, domains, "/*", "404")
                    rows.append(Row(cells + (("",) if wide else ()) + tail, ("route_config", config.name)))
            if not seq(config.raw.get("virtual_hosts")) and not config.serving:
                rows.append(Row((name, "-", "-", "-", "-") + (("",) if wide else ()) + tail,
                                ("route_config", config.name)))
    notes = [] if dump.has("routes") else ["no routes section in this dump"]
    return Table("routes", columns, tuple(rows), tuple(notes))
