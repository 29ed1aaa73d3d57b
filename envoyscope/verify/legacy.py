"""Old (v2-era, Envoy ≤1.16) dumps name some extensions without any config; Envoy 1.40 wants a typed config."""

from __future__ import annotations

from typing import Any

T = "type.googleapis.com/"

# Extensions old (v2-era) dumps name without any config: each one's v3 type with its default config, which is
# what Envoy then used. Named extensions that carry a config are left alone (Envoy says if it cannot load them).
DEFAULT_TYPES = {
    "envoy.transport_sockets.raw_buffer": "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
    "raw_buffer": "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer",
    "envoy.retry_host_predicates.previous_hosts":
        "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
    "envoy.filters.http.router": "envoy.extensions.filters.http.router.v3.Router",
    "envoy.router": "envoy.extensions.filters.http.router.v3.Router",
    "envoy.filters.http.cors": "envoy.extensions.filters.http.cors.v3.Cors",
    "envoy.cors": "envoy.extensions.filters.http.cors.v3.Cors",
    "envoy.filters.http.fault": "envoy.extensions.filters.http.fault.v3.HTTPFault",
    "envoy.fault": "envoy.extensions.filters.http.fault.v3.HTTPFault",
    "envoy.filters.listener.tls_inspector": "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.listener.tls_inspector": "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
    "envoy.filters.listener.http_inspector": "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    "envoy.listener.http_inspector": "envoy.extensions.filters.listener.http_inspector.v3.HttpInspector",
    "envoy.filters.listener.original_dst": "envoy.extensions.filters.listener.original_dst.v3.OriginalDst",
}


def type_untyped(node: Any, notes: list[str]) -> None:
    """Give each config-less extension its v3 type (in place), noting which names were typed."""
    if isinstance(node, dict):
        name = node.get("name")
        if (isinstance(name, str) and name in DEFAULT_TYPES and not node.get("typed_config")
                and not node.get("config") and set(node) <= {"name", "config", "typed_config"}):
            node.pop("config", None)
            node["typed_config"] = {"@type": T + DEFAULT_TYPES[name]}
            note = f"typed the config-less {name} (as old dumps write it) with its default v3 config"
            if note not in notes:
                notes.append(note)
        for value in node.values():
            type_untyped(value, notes)
    elif isinstance(node, list):
        for value in node:
            type_untyped(value, notes)
