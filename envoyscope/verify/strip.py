"""Istio-only extensions a stock Envoy (1.40) does not have: removed from a replay form, each with a note.

None of them decides where a request goes (they exchange peer metadata, count stats, set ALPN, read peer
identity), so the listener, filter chain, route and cluster Envoy picks stay the same without them.
"""

from __future__ import annotations

from typing import Any

# Filter names and type names (the @type of typed_config, or a TypedStruct's type_url) of Istio's own builds.
ISTIO_FILTER_NAMES = frozenset({
    "istio.metadata_exchange", "istio.stats", "istio.alpn", "istio_authn", "io.istio.http.peer_metadata",
    "envoy.filters.network.metadata_exchange", "envoy.filters.http.metadata_exchange",
    "envoy.filters.network.upstream.metadata_exchange", "istio.peer_metadata", "istio.telemetry",
    "envoy.filters.network.wasm", "envoy.filters.http.wasm", "envoy.wasm", "istio.authn",
})
ISTIO_TYPE_MARKS = ("istio.", "stats.PluginConfig", "metadataexchange", "metadata_exchange", ".wasm.", "Wasm")


def type_of(filt: dict[str, Any]) -> str:
    """The extension's type: a TypedStruct's type_url, else typed_config's @type ("" when neither is there)."""
    typed = filt.get("typed_config") or filt.get("config") or {}
    if not isinstance(typed, dict):
        return ""
    inner = typed.get("type_url")
    if isinstance(inner, str) and inner:
        return inner
    value = typed.get("value")
    if isinstance(value, dict) and isinstance(typed.get("@type"), str) and "TypedStruct" in typed["@type"]:
        return str(typed.get("type_url", ""))
    return str(typed.get("@type", ""))


def is_istio_only(filt: dict[str, Any]) -> bool:
    if not isinstance(filt, dict):
        return False
    if str(filt.get("name", "")) in ISTIO_FILTER_NAMES:
        return True
    discovery = filt.get("config_discovery")
    if isinstance(discovery, dict):  # ECDS (Istio's WasmPlugin)
        return True  # its config comes from the control plane (ECDS), which a replay does not have
    kind = type_of(filt)
    return any(mark in kind for mark in ISTIO_TYPE_MARKS)


def strip_filters(filters: list[Any], where: str, notes: list[str]) -> list[Any]:
    """``filters`` without the Istio-only ones; each removal noted once per filter name and place kind."""
    kept = []
    for filt in filters:
        if is_istio_only(filt):
            kind = type_of(filt) or ("ECDS" if "config_discovery" in filt else "no type")
            note = f"removed {filt.get('name') or kind} ({kind}) from {where}"
            if note not in notes:
                notes.append(note)
            continue
        kept.append(filt)
    return kept


def strip_per_filter_config(node: Any, notes: list[str]) -> None:
    """Drop ``typed_per_filter_config`` entries of Istio-only filters, anywhere below ``node``."""
    if isinstance(node, dict):
        per = node.get("typed_per_filter_config")
        if isinstance(per, dict):
            for name in [n for n, cfg in per.items() if is_istio_only({"name": n, "typed_config": cfg})]:
                del per[name]
                note = f"removed the per-route config of {name}"
                if note not in notes:
                    notes.append(note)
        for value in node.values():
            strip_per_filter_config(value, notes)
    elif isinstance(node, list):
        for value in node:
            strip_per_filter_config(value, notes)


def strip_listener(listener: dict[str, Any], notes: list[str]) -> None:
    """Listener filters, network filters and HTTP filters of every chain (in place)."""
    if listener.get("listener_filters"):
        listener["listener_filters"] = strip_filters(listener["listener_filters"], "listener filters", notes)
    chains = list(listener.get("filter_chains") or ())
    if isinstance(listener.get("default_filter_chain"), dict):
        chains.append(listener["default_filter_chain"])
    for chain in chains:
        chain["filters"] = strip_filters(list(chain.get("filters") or ()), "network filters", notes)
        for filt in chain["filters"]:
            typed = filt.get("typed_config") or {}
            if isinstance(typed.get("http_filters"), list):
                typed["http_filters"] = strip_filters(typed["http_filters"], "HTTP filters", notes)
    strip_per_filter_config(listener, notes)


def strip_cluster(cluster: dict[str, Any], notes: list[str]) -> None:
    if cluster.get("filters"):
        cluster["filters"] = strip_filters(cluster["filters"], "cluster filters", notes)
    options = cluster.get("typed_extension_protocol_options") or {}
    for opts in options.values():
        if isinstance(opts, dict) and isinstance(opts.get("http_filters"), list):
            opts["http_filters"] = strip_filters(opts["http_filters"], "upstream HTTP filters", notes)
