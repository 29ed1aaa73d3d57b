"""Rewrites of a /config_dump (decoded JSON) that change nothing Envoy does, each of one kind of noise.

`noisy(doc)` applies them all: version_info and last_updated bumped, every key order and every order-free list
(resources, virtual hosts, domains, filter chains, endpoints, localities) reversed, defaults written out,
durations as ``5.000s``, HTTP filter configs wrapped in TypedStruct, v2 type URLs, then camelCase field names.
"""

from __future__ import annotations

import copy
import re
from typing import Any

# Lists whose order Envoy never looks at (resources by name, sets, filter chains by match, endpoints).
ORDER_FREE = frozenset({
    "static_listeners", "dynamic_listeners", "static_clusters", "dynamic_active_clusters", "dynamic_route_configs",
    "static_route_configs", "dynamic_endpoint_configs", "dynamic_active_secrets", "static_secrets",
    "virtual_hosts", "domains", "filter_chains", "server_names", "lb_endpoints", "endpoints", "cluster_statuses",
    "host_statuses", "prefix_ranges", "application_protocols",
})
# Struct and map fields: their keys are data, kept as written (as Envoy's JSON and normalize treat them).
OPAQUE = frozenset({"filter_metadata", "typed_filter_metadata", "labels", "fields", "static_layer", "json_format",
                    "metadata"})
V2_TYPES = {
    "envoy.config.cluster.v3.Cluster": "envoy.api.v2.Cluster",
    "envoy.config.listener.v3.Listener": "envoy.api.v2.Listener",
    "envoy.config.route.v3.RouteConfiguration": "envoy.api.v2.RouteConfiguration",
    "envoy.config.endpoint.v3.ClusterLoadAssignment": "envoy.api.v2.ClusterLoadAssignment",
}
_V3_FILTER = re.compile(r"envoy\.extensions\.filters\.(http|network|listener)\.(\w+)\.v3\.(\w+)$")
T = "type.googleapis.com/"


def walk(value: Any, fn: Any, key: str = "") -> Any:
    """``fn(key, value)`` applied bottom-up to every dict and list (not inside opaque fields)."""
    if isinstance(value, dict):
        value = {k: (v if k in OPAQUE else walk(v, fn, k)) for k, v in value.items()}
    elif isinstance(value, list):
        value = [walk(item, fn, f"{key}[]") for item in value]
    return fn(key, value)


def bump_versions(doc: Any) -> Any:
    def fn(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            if "version_info" in value:
                value["version_info"] = f"{value['version_info']}-next"
            if "last_updated" in value:
                value["last_updated"] = "2031-01-02T03:04:05.678Z"
        return value
    return walk(doc, fn)


def reorder(doc: Any) -> Any:
    """Every key order reversed, and every order-free list."""
    def fn(key: str, value: Any) -> Any:
        if isinstance(value, dict):
            return dict(reversed(list(value.items())))
        if key in ORDER_FREE and isinstance(value, list):
            return list(reversed(value))
        return value
    return walk(doc, fn)


def longer_duration(text: str) -> str:
    """``5s`` → ``5.000s``, ``0.25s`` → ``0.250s``: the same Duration with more digits."""
    seconds, _, fraction = text.removesuffix("s").partition(".")
    return f"{seconds}.{fraction.ljust(3, '0')}s"


def write_defaults(doc: Any) -> Any:
    """Zero values written out, as a JSON printer with defaults on would: enums, bools, empty lists and maps."""
    def fn(key: str, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        if "connect_timeout" in value and isinstance(value["connect_timeout"], str):  # a cluster
            value.setdefault("lb_policy", "ROUND_ROBIN")
            value.setdefault("respect_dns_ttl", False)
            value["connect_timeout"] = longer_duration(value["connect_timeout"])
            value.setdefault("metadata", {})
        if key == "socket_address":
            value.setdefault("protocol", "TCP")
            value.setdefault("ipv4_compat", False)
        if "filter_chains" in value:  # a listener
            value.setdefault("listener_filters", [])
            value.setdefault("traffic_direction", "UNSPECIFIED")
            value.setdefault("continue_on_listener_filters_timeout", False)
        if "match" in value and ("route" in value or "redirect" in value):  # a route
            value.setdefault("typed_per_filter_config", {})
            value.setdefault("request_headers_to_add", [])
        return value
    return walk(doc, fn)


def typed_struct(doc: Any) -> Any:
    """Every HTTP filter's typed_config in a TypedStruct that carries the same fields."""
    def fn(key: str, value: Any) -> Any:
        if key == "http_filters" and isinstance(value, list):
            for filt in value:
                typed = filt.get("typed_config")
                if isinstance(typed, dict) and "@type" in typed and "TypedStruct" not in typed["@type"]:
                    inner = {k: v for k, v in typed.items() if k != "@type"}
                    filt["typed_config"] = {"@type": T + "udpa.type.v1.TypedStruct", "type_url": typed["@type"],
                                            "value": inner}
        return value
    return walk(doc, fn)


def v2_types(doc: Any) -> Any:
    """Resources and filter configs with v2 type URLs (Istio <= 1.6 pushed those)."""
    def fn(key: str, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("@type"), str):
            name = value["@type"].removeprefix(T)
            if name in V2_TYPES:
                value["@type"] = T + V2_TYPES[name]
            elif (match := _V3_FILTER.match(name)) is not None and match.group(2) in ("router", "fault", "cors"):
                value["@type"] = f"{T}envoy.config.filter.{match.group(1)}.{match.group(2)}.v2.{match.group(3)}"
        return value
    return walk(doc, fn)


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest) if rest and head else name


def camel_case(doc: Any) -> Any:
    """Every field name in camelCase, as jsonpb and older istioctl wrote them; map keys and Structs kept."""
    def convert(value: Any, parent: str = "") -> Any:
        if isinstance(value, list):
            return [convert(item, parent) for item in value]
        if not isinstance(value, dict):
            return value
        struct = parent in OPAQUE
        out = {}
        for key, child in value.items():
            if struct or key.startswith("@"):
                out[key] = child
            elif key in OPAQUE:
                out[camel(key)] = convert_metadata(child) if key == "metadata" else child
            else:
                out[camel(key)] = convert(child, key)
        return out

    def convert_metadata(value: Any) -> Any:
        if isinstance(value, dict) and ("filter_metadata" in value or "typed_filter_metadata" in value):
            return {camel(k): v for k, v in value.items()}
        return value

    return convert(doc)


def noisy(doc: Any, *, camel_names: bool = True) -> Any:
    doc = copy.deepcopy(doc)
    for step in (bump_versions, reorder, write_defaults, typed_struct, v2_types):
        doc = step(doc)
    return camel_case(doc) if camel_names else doc
