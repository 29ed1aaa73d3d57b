"""Bring every dump to one shape: snake_case field names and v3 resource types.

Envoy's admin writes snake_case; older istioctl and jsonpb wrote camelCase; Istio <= 1.6 pushed
``envoy.api.v2.*`` resources, which later admins still wrap in v3 ``*ConfigDump`` sections. The engine
reads only the one shape this module produces, so nothing downstream has to know about the others.

Field names are converted, map keys and ``google.protobuf.Struct`` contents are not: those are user data
(``filter_metadata``'s ``tlsMode`` label, node metadata's ``ISTIO_VERSION``).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from envoyscope.model.deprecated import has_deprecated, upgrade_deprecated

_CAMEL = re.compile(r"^[a-z][a-z0-9]*[A-Z][A-Za-z0-9]*$")
_UPPER = re.compile(r"([A-Z])")

# Fields whose value is a map or a Struct: their keys are data, never converted.
_OPAQUE = frozenset(
    {
        "filter_metadata",
        "typed_filter_metadata",
        "static_layer",
        "labels",
        "fields",
        "ecds_filters_metadata",
        "json_format",
    }
)
# Maps whose keys are names (RBAC policy names) and whose values are messages: keys kept, values converted.
_NAMED_MAPS = frozenset({"policies"})
# Struct fields that only are Structs under a given parent list: transport_socket_matches[].match.
_OPAQUE_UNDER = {"transport_socket_matches": frozenset({"match"})}
# Fields holding a Metadata message when they hold filter_metadata, a Struct otherwise (node.metadata).
_METADATA_MESSAGE_KEYS = frozenset(
    {"filterMetadata", "filter_metadata", "typedFilterMetadata", "typed_filter_metadata"}
)


@lru_cache(maxsize=4096)
def snake(key: str) -> str:
    """``dynamicActiveClusters`` -> ``dynamic_active_clusters``; anything not camelCase is left alone."""
    if not _CAMEL.match(key):
        return key
    return _UPPER.sub(r"_\1", key).lower()


def has_camel_keys(value: Any, budget: int = 400) -> bool:
    """Whether a sample of ``value`` (walked depth first, at most ``budget`` keys) has camelCase field names."""
    stack: list[tuple[Any, frozenset[str]]] = [(value, frozenset())]
    seen = 0
    while stack and seen < budget:
        item, opaque = stack.pop()
        if isinstance(item, dict):
            for key, child in item.items():
                seen += 1
                if _CAMEL.match(key):
                    return True
                if key in _OPAQUE or key in opaque or key == "metadata" or key == "value":
                    continue
                if isinstance(child, dict | list):
                    stack.append((child, _OPAQUE_UNDER.get(snake(key), frozenset())))
        elif isinstance(item, list):
            stack.extend((child, opaque) for child in item[:3])
    return False


def to_snake_case(value: Any, opaque: frozenset[str] = frozenset()) -> Any:
    """A copy of ``value`` with every proto field name in snake_case; map keys and Structs kept as written."""
    if isinstance(value, list):
        return [to_snake_case(item, opaque) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    typed_struct = str(value.get("@type", "")).endswith("TypedStruct")
    for key, child in value.items():
        name = snake(key)
        struct_metadata = name == "metadata" and not (
            isinstance(child, dict) and _METADATA_MESSAGE_KEYS & child.keys()
        )
        if name in _OPAQUE or name in opaque or (typed_struct and name == "value") or struct_metadata:
            out[name] = child
        elif name in _NAMED_MAPS and isinstance(child, dict):
            out[name] = {k: to_snake_case(v) for k, v in child.items()}
        else:
            out[name] = to_snake_case(child, _OPAQUE_UNDER.get(name, frozenset()))
    return out


# --- v2 -> v3 -------------------------------------------------------------------------------------------

_V2_TYPES = {
    "envoy.api.v2.Cluster": "envoy.config.cluster.v3.Cluster",
    "envoy.api.v2.Listener": "envoy.config.listener.v3.Listener",
    "envoy.api.v2.RouteConfiguration": "envoy.config.route.v3.RouteConfiguration",
    "envoy.api.v2.ScopedRouteConfiguration": "envoy.config.route.v3.ScopedRouteConfiguration",
    "envoy.api.v2.ClusterLoadAssignment": "envoy.config.endpoint.v3.ClusterLoadAssignment",
    "envoy.api.v2.auth.Secret": "envoy.extensions.transport_sockets.tls.v3.Secret",
    "envoy.api.v2.auth.UpstreamTlsContext": "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
    "envoy.api.v2.auth.DownstreamTlsContext": "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    "envoy.config.bootstrap.v2.Bootstrap": "envoy.config.bootstrap.v3.Bootstrap",
    "envoy.config.accesslog.v2.FileAccessLog": "envoy.extensions.access_loggers.file.v3.FileAccessLog",
}
_V2_FILTER_TYPE = re.compile(r"^envoy\.config\.filter\.(network|http|listener)\.([a-z0-9_]+)\.v2(?:alpha\d*)?\.(\w+)$")

_DEPRECATED_NAMES = {
    "envoy.http_connection_manager": "envoy.filters.network.http_connection_manager",
    "envoy.tcp_proxy": "envoy.filters.network.tcp_proxy",
    "envoy.mongo_proxy": "envoy.filters.network.mongo_proxy",
    "envoy.redis_proxy": "envoy.filters.network.redis_proxy",
    "envoy.ratelimit": "envoy.filters.network.ratelimit",
    "envoy.router": "envoy.filters.http.router",
    "envoy.cors": "envoy.filters.http.cors",
    "envoy.fault": "envoy.filters.http.fault",
    "envoy.lua": "envoy.filters.http.lua",
    "envoy.grpc_web": "envoy.filters.http.grpc_web",
    "envoy.listener.tls_inspector": "envoy.filters.listener.tls_inspector",
    "envoy.listener.original_dst": "envoy.filters.listener.original_dst",
    "envoy.listener.http_inspector": "envoy.filters.listener.http_inspector",
    "envoy.listener.proxy_protocol": "envoy.filters.listener.proxy_protocol",
    "envoy.transport_sockets.tls": "envoy.transport_sockets.tls",
}
# Typed config to give a filter that carries only the v2 ``config`` Struct.
_STRUCT_CONFIG_TYPES = {
    "envoy.filters.network.http_connection_manager": (
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
    ),
    "envoy.filters.network.tcp_proxy": "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
}
_PREFIX = "type.googleapis.com/"


def v3_type_url(type_url: str) -> str:
    """The v3 type URL for a v2 one (``envoy.api.v2.Cluster`` -> ``envoy.config.cluster.v3.Cluster``)."""
    name = type_url.removeprefix(_PREFIX)
    if name in _V2_TYPES:
        return _PREFIX + _V2_TYPES[name]
    match = _V2_FILTER_TYPE.match(name)
    if match:
        kind, filter_name, message = match.groups()
        return f"{_PREFIX}envoy.extensions.filters.{kind}.{filter_name}.v3.{message}"
    return type_url


def is_v2(resource: dict[str, Any]) -> bool:
    return ".v2." in str(resource.get("@type", "")) or ".v2alpha" in str(resource.get("@type", ""))


def upgrade_v2(value: Any) -> Any:
    """Rewrite the v2 shapes that matter to the engine into their v3 form, in a copy.

    Type URLs, deprecated filter names, a filter's ``config`` Struct (as ``typed_config``), a cluster's
    ``hosts`` (as ``load_assignment``) and ``tls_context`` (as a TLS ``transport_socket``).
    Everything else is kept as written.
    """
    if isinstance(value, list):
        return [upgrade_v2(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: (child if key in _OPAQUE else upgrade_v2(child)) for key, child in value.items()}
    if isinstance(out.get("@type"), str):
        out["@type"] = v3_type_url(out["@type"])
    name = out.get("name")
    if isinstance(name, str) and name in _DEPRECATED_NAMES:
        out["name"] = _DEPRECATED_NAMES[name]
        name = out["name"]
    if "config" in out and "typed_config" not in out and isinstance(name, str) and name in _STRUCT_CONFIG_TYPES:
        out["typed_config"] = {"@type": _PREFIX + _STRUCT_CONFIG_TYPES[name], **out.pop("config")}
    if "hosts" in out and "load_assignment" not in out and isinstance(out["hosts"], list):
        hosts = out.pop("hosts")
        out["load_assignment"] = {
            "cluster_name": out.get("name", ""),
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": host}} for host in hosts]}],
        }
    if "tls_context" in out and "transport_socket" not in out and isinstance(out["tls_context"], dict):
        downstream = "filters" in out  # a filter chain's context terminates TLS; a cluster's originates it
        kind = "DownstreamTlsContext" if downstream else "UpstreamTlsContext"
        out["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {
                "@type": f"{_PREFIX}envoy.extensions.transport_sockets.tls.v3.{kind}",
                **out.pop("tls_context"),
            },
        }
    return out


def normalize_resource(resource: Any, camel: bool | None = None) -> Any:
    """One resource as the engine reads it: snake_case, v3.

    ``camel``: whether the resource is known to be camelCase (True), snake_case (False), or unknown (None: sample it).
    """
    if not isinstance(resource, dict):
        return resource
    if camel or (camel is None and has_camel_keys(resource)):
        resource = to_snake_case(resource)
    deprecated = has_deprecated(resource)
    if deprecated:
        resource = upgrade_deprecated(resource)
    if deprecated or is_v2(resource) or "tls_context" in resource or "hosts" in resource:
        resource = upgrade_v2(resource)
    return resource
