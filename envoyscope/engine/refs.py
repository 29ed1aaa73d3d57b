"""What a piece of configuration refers to, for following links the way Envoy follows names:
listener → filter chains → route configuration (RDS or inline) → virtual hosts → routes → clusters →
endpoints (EDS or ``load_assignment``) and secrets (SDS). Pure functions over the raw JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from envoyscope.model.dump import ConfigDump, Resource

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"


@dataclass(frozen=True, slots=True)
class Node:
    """A piece of configuration to show: a whole resource, or a part of one (a filter chain, a virtual host…).

    kind: listener | filter_chain | route_config | virtual_host | route | cluster | endpoint | secret | …
    path: the JSON path of ``raw`` in the input, e.g. ``…dynamic_listeners[2].active_state.listener.filter_chains[1]``
    """

    kind: str
    name: str
    raw: dict[str, Any]
    path: str
    state: str = ""
    problem: str = ""  # why Envoy does not use it as dumped: "rejected by Envoy: …", "warming", …; '' when it does


@dataclass(frozen=True, slots=True)
class Link:
    """A reference from one node to another; ``node`` is None when the dump does not hold the target."""

    label: str
    kind: str
    name: str
    node: Node | None


def node_of(resource: Resource) -> Node:
    problem = "" if resource.serving and not resource.error_details else resource.status_text()
    return Node(resource.kind, resource.name, resource.raw, resource.path, resource.state, problem)


def links(dump: ConfigDump, node: Node) -> list[Link]:
    """Every node ``node`` refers to, in the order Envoy uses them, each once."""
    found = list(_LINKS.get(node.kind, _none)(dump, node))
    seen: set[tuple[str, str, str]] = set()
    out = []
    for link in found:
        key = (link.kind, link.name, link.node.path if link.node else "")
        if key not in seen:
            seen.add(key)
            out.append(link)
    return out


def _none(dump: ConfigDump, node: Node) -> Iterator[Link]:
    return iter(())


def _resource_link(dump: ConfigDump, kind: str, name: str, label: str) -> Link:
    resource = dump.get(kind, name)
    return Link(label, kind, name, node_of(resource) if resource is not None else None)


def chain_label(index: int | None, chain: dict[str, Any]) -> str:
    """``filter chain 1 `sni-googleapis` (server_names www.googleapis.com, transport_protocol tls)``."""
    where = "default filter chain" if index is None else f"filter chain {index}"
    name = f" `{chain['name']}`" if chain.get("name") else ""
    match = chain.get("filter_chain_match") or {}
    parts = []
    for key, value in match.items():
        if isinstance(value, list):
            shown = ", ".join(f"{v.get('address_prefix')}/{v.get('prefix_len', 32)}" if isinstance(v, dict) else str(v)
                              for v in value[:3])
            parts.append(f"{key} {shown}" + (" …" if len(value) > 3 else ""))
        elif isinstance(value, dict):
            parts.append(f"{key} {value.get('value', value)}")
        else:
            parts.append(f"{key} {value}")
    return f"{where}{name}" + (f" ({'; '.join(parts)})" if parts else " (matches any connection)")


def _listener(dump: ConfigDump, node: Node) -> Iterator[Link]:
    for index, chain in enumerate(node.raw.get("filter_chains") or ()):
        name = str(chain.get("name") or index)
        yield Link(chain_label(index, chain), "filter_chain", f"{node.name}/{name}",
                   Node("filter_chain", f"{node.name}/{name}", chain, f"{node.path}.filter_chains[{index}]"))
    default = node.raw.get("default_filter_chain")
    if isinstance(default, dict):
        yield Link(chain_label(None, default), "filter_chain", f"{node.name}/default",
                   Node("filter_chain", f"{node.name}/default", default, f"{node.path}.default_filter_chain"))


def _filter_chain(dump: ConfigDump, node: Node) -> Iterator[Link]:
    for findex, filt in enumerate(node.raw.get("filters") or ()):
        config = filt.get("typed_config") or {}
        name = filt.get("name", "")
        if name == HCM or "rds" in config or "route_config" in config:
            rds = config.get("rds") or {}
            if rds.get("route_config_name"):
                yield _resource_link(dump, "route_config", str(rds["route_config_name"]),
                                     f"routes `{rds['route_config_name']}` (RDS)")
            inline = config.get("route_config")
            if isinstance(inline, dict):
                yield Link(f"routes `{inline.get('name', '')}` (inline)", "route_config", str(inline.get("name", "")),
                           Node("route_config", str(inline.get("name", "")), inline,
                                f"{node.path}.filters[{findex}].typed_config.route_config", "inline"))
        if name == TCP_PROXY or "stat_prefix" in config and ("cluster" in config or "weighted_clusters" in config):
            yield from _cluster_targets(dump, config, "tcp_proxy")
    yield from _secrets(dump, node.raw.get("transport_socket") or {}, "downstream TLS")


def _cluster_targets(dump: ConfigDump, action: dict[str, Any], via: str) -> Iterator[Link]:
    if isinstance(action.get("cluster"), str):
        yield _resource_link(dump, "cluster", action["cluster"], f"cluster {action['cluster']} ({via})")
    weighted = action.get("weighted_clusters")
    if isinstance(weighted, dict):
        for cluster in weighted.get("clusters") or ():
            name = str(cluster.get("name"))
            yield _resource_link(dump, "cluster", name, f"cluster {name} ({via}, weight {cluster.get('weight', 0)})")
    if action.get("cluster_header"):
        yield Link(f"the cluster named by header `{action['cluster_header']}` ({via})", "cluster",
                   f"<header {action['cluster_header']}>", None)


def _route_config(dump: ConfigDump, node: Node) -> Iterator[Link]:
    for index, vhost in enumerate(node.raw.get("virtual_hosts") or ()):
        name = str(vhost.get("name") or index)
        domains = vhost.get("domains") or []
        shown = ", ".join(domains[:4]) + (f" … (+{len(domains) - 4})" if len(domains) > 4 else "")
        yield Link(f"virtual host {name} ({shown})", "virtual_host", f"{node.name}/{name}",
                   Node("virtual_host", f"{node.name}/{name}", vhost, f"{node.path}.virtual_hosts[{index}]"))


def _virtual_host(dump: ConfigDump, node: Node) -> Iterator[Link]:
    for index, route in enumerate(node.raw.get("routes") or ()):
        name = str(route.get("name") or index)
        match = route.get("match") or {}
        spec = next((f"{k} {match[k]}" for k in ("prefix", "path", "path_separated_prefix") if k in match),
                    "regex " + str((match.get("safe_regex") or {}).get("regex")) if "safe_regex" in match else "")
        what = ("cluster " + str(route["route"].get("cluster") or "weighted")) if "route" in route else (
            "redirect" if "redirect" in route else "direct_response" if "direct_response" in route else "")
        yield Link(f"route {name} ({spec} → {what})", "route", f"{node.name}/{name}",
                   Node("route", f"{node.name}/{name}", route, f"{node.path}.routes[{index}]"))


def _route(dump: ConfigDump, node: Node) -> Iterator[Link]:
    action = node.raw.get("route")
    if isinstance(action, dict):
        yield from _cluster_targets(dump, action, "route")
        for mirror in action.get("request_mirror_policies") or ():
            if mirror.get("cluster"):
                yield _resource_link(dump, "cluster", str(mirror["cluster"]), f"cluster {mirror['cluster']} (mirror)")


def _cluster(dump: ConfigDump, node: Node) -> Iterator[Link]:
    raw = node.raw
    if raw.get("type") == "EDS" or "eds_cluster_config" in raw:
        service = str((raw.get("eds_cluster_config") or {}).get("service_name") or node.name)
        yield _resource_link(dump, "endpoint", service, f"endpoints of {service} (EDS)")
    elif isinstance(raw.get("load_assignment"), dict):
        yield Link(f"endpoints of {node.name} (load_assignment)", "endpoint", node.name,
                   Node("endpoint", node.name, raw["load_assignment"], f"{node.path}.load_assignment", "inline"))
    yield from _secrets(dump, raw.get("transport_socket") or {}, "upstream TLS")
    for match in raw.get("transport_socket_matches") or ():
        yield from _secrets(dump, match.get("transport_socket") or {}, f"upstream TLS `{match.get('name', '')}`")


def _secrets(dump: ConfigDump, socket: dict[str, Any], via: str) -> Iterator[Link]:
    common = (socket.get("typed_config") or {}).get("common_tls_context") or {}
    for config in common.get("tls_certificate_sds_secret_configs") or ():
        name = str(config.get("name"))
        yield _resource_link(dump, "secret", name, f"secret {name} ({via} certificate)")
    validation = common.get("validation_context_sds_secret_config") or (
        common.get("combined_validation_context") or {}).get("validation_context_sds_secret_config")
    if isinstance(validation, dict):
        yield _resource_link(dump, "secret", str(validation.get("name")), f"secret {validation.get('name')} ({via} CA)")


_LINKS = {"listener": _listener, "filter_chain": _filter_chain, "route_config": _route_config,
          "virtual_host": _virtual_host, "route": _route, "cluster": _cluster}
