"""Internal listeners: an upstream connection that never leaves the Envoy process.

Envoy's ``envoy.bootstrap.internal_listener`` extension lets a cluster's endpoint be an
``envoy_internal_address`` (``server_listener_name`` and an ``endpoint_id``): the "connection" is handed to the
listener of that name, which has ``internal_listener`` instead of a socket address
(``InternalListenerRegistry``, ``IoSocketHandleImpl`` pairs for ``EnvoyInternal`` addresses). That listener then
runs its listener filters, chooses a filter chain and proceeds as any listener would — within the same proxy.

What the internal listener knows of the connection comes from the side that opened it:
- the cluster's ``internal_upstream`` transport socket (``InternalUpstreamTransport``) passes metadata through —
  ``passthrough_metadata`` of ``kind: host`` (the endpoint's) or ``kind: cluster`` — as the internal
  connection's dynamic metadata, and filter state objects shared with the upstream (``shared_with_upstream``
  ``ONCE`` or ``TRANSITIVE``, set by ``set_filter_state``);
- the ``original_dst`` listener filter on an internal listener restores the destination from the dynamic
  metadata ``envoy.filters.listener.original_dst`` key ``local`` (an ``IP:port``), else from the filter state
  ``envoy.filters.listener.original_dst.local_ip``. That restored destination is what filter chain matching
  (``DestinationIPInput``, ``destination_port``) and ``%DOWNSTREAM_LOCAL_ADDRESS%`` see.
"""

from __future__ import annotations

import re
from typing import Any

from envoyscope.engine.request import Wire
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.model.dump import ConfigDump, Resource

ORIGINAL_DST = "envoy.filters.listener.original_dst"
LOCAL_IP_STATE = "envoy.filters.listener.original_dst.local_ip"
REMOTE_IP_STATE = "envoy.filters.listener.original_dst.remote_ip"


def internal_address(endpoint_raw: dict[str, Any] | None) -> tuple[str, str] | None:
    """(server_listener_name, endpoint_id) of an lb_endpoint whose address is an ``envoy_internal_address``."""
    address = ((endpoint_raw or {}).get("endpoint") or {}).get("address") or {}
    internal = address.get("envoy_internal_address")
    if not isinstance(internal, dict):
        return None
    return str(internal.get("server_listener_name", "")), str(internal.get("endpoint_id", ""))


def internal_from_shown(address: str) -> tuple[str, str] | None:
    """The same from the ``envoy://NAME/ID`` form envoyscope shows (and ``/clusters`` prints)."""
    match = re.fullmatch(r"envoy://([^/]*)/?(.*)", address)
    return (match.group(1), match.group(2)) if match else None


def is_internal_listener(raw: dict[str, Any]) -> bool:
    return "internal_listener" in raw


def internal_listeners(proxy: ConfigDump) -> list[Resource]:
    return [r for r in proxy.active_listeners() if is_internal_listener(r.raw)]


def format_value(template: str, wire: Wire, state: dict[str, str], peer_uri_sans: tuple[str, ...] | None = None
                 ) -> str | None:
    """The few substitution commands Istio's ``set_filter_state`` uses; None for anything else.

    ``%DOWNSTREAM_PEER_URI_SAN%`` is the client certificate's URI SANs (comma-separated), known only when the
    caller knows the certificate (``peer_uri_sans`` not None)."""
    def value(match: re.Match[str]) -> str:
        command = match.group(1)
        if command == "REQ(:AUTHORITY)":
            return wire.authority
        if command == "DOWNSTREAM_LOCAL_ADDRESS":
            return f"{wire.dst_ip}:{wire.dst_port}"
        if command == "DOWNSTREAM_REMOTE_ADDRESS":
            return f"{wire.src_ip}:{wire.src_port}"
        if command == "DOWNSTREAM_PEER_URI_SAN" and peer_uri_sans:
            return ",".join(peer_uri_sans)
        found = re.fullmatch(r"FILTER_STATE\(([^:)]+)(?::PLAIN)?\)", command)
        if found and found.group(1) in state:
            return state[found.group(1)]
        raise KeyError(command)

    try:
        return re.sub(r"%([^%]+)%", value, template)
    except KeyError:
        return None


def filter_state_entries(typed: dict[str, Any], key: str, wire: Wire, state: dict[str, str],
                         peer_uri_sans: tuple[str, ...] | None = None) -> list[tuple[str, str, str | None, str]]:
    """A ``set_filter_state`` config's entries under ``on_new_connection`` / ``on_request_headers``, in order:
    (object key, format template, value or None when envoyscope cannot evaluate it, ``shared_with_upstream``).
    Each value set is readable by the entries after it (``state`` is updated)."""
    out = []
    for entry in typed.get(key) or ():
        name = str(entry.get("object_key", ""))
        source = (entry.get("format_string") or {}).get("text_format_source") or {}
        template = str(source.get("inline_string", entry.get("format_string", {}).get("text_format", "")))
        text = format_value(template, wire, state, peer_uri_sans)
        if text is not None:
            state[name] = text
        out.append((name, template, text, str(entry.get("shared_with_upstream", "NONE"))))
    return out


def _set_filter_state(typed: dict[str, Any], key: str, wire: Wire, state: dict[str, str],
                      shared: dict[str, str], notes: list[str], who: str,
                      peer_uri_sans: tuple[str, ...] | None) -> None:
    for name, template, text, sharing in filter_state_entries(typed, key, wire, state, peer_uri_sans):
        if text is None:
            notes.append(f"{who} sets `{name}` from `{template}`, which envoyscope does not evaluate")
            continue
        if sharing in ("ONCE", "TRANSITIVE"):
            shared[name] = text
            notes.append(f"{who} sets `{name}` = `{text}` (from `{template}`), shared with the upstream connection")


def shared_filter_state(chain: dict[str, Any] | None, hcm: dict[str, Any] | None, wire: Wire,
                        http_wire: Wire | None, peer_uri_sans: tuple[str, ...] | None = None
                        ) -> tuple[dict[str, str], list[str]]:
    """The filter state objects a connection's filters share with its upstream connection.

    ``set_filter_state`` network filters run ``on_new_connection`` (on the connection as received); the HTTP
    filter of the same name runs ``on_request_headers`` of the stream (``http_wire``: the request as received).
    ``peer_uri_sans``: the client certificate's URI SANs, when this proxy terminated TLS and asked for one (Istio's
    ``io.istio.peer_principal`` from ``%DOWNSTREAM_PEER_URI_SAN%``).
    Filter state the connection arrived with is readable (``%FILTER_STATE(key:PLAIN)%``); what is shared
    ``TRANSITIVE`` stays shared further."""
    state = dict(wire.filter_state)
    shared: dict[str, str] = {}
    notes: list[str] = []
    from envoyscope.engine.network_filters import typed_config

    for filt in (chain or {}).get("filters") or ():
        typed = typed_config(filt)
        if str(typed.get("@type", "")).endswith("set_filter_state.v3.Config"):
            _set_filter_state(typed, "on_new_connection", wire, state, shared, notes,
                              f"network filter {filt.get('name', 'set_filter_state')}", peer_uri_sans)
    for filt in (hcm or {}).get("http_filters") or ():
        typed = typed_config(filt)
        if str(typed.get("@type", "")).endswith("set_filter_state.v3.Config") and http_wire is not None:
            _set_filter_state(typed, "on_request_headers", http_wire, state, shared, notes,
                              f"HTTP filter {filt.get('name', 'set_filter_state')}", peer_uri_sans)
    return shared, notes


def _passthrough(cluster: dict[str, Any]) -> list[tuple[str, str]]:
    """The cluster's ``internal_upstream`` passthrough_metadata: (kind, filter metadata name)."""
    typed = (cluster.get("transport_socket") or {}).get("typed_config") or {}
    if not str(typed.get("@type", "")).endswith("InternalUpstreamTransport"):
        return []
    out = []
    for item in typed.get("passthrough_metadata") or ():
        kind = next(iter((item.get("kind") or {"host": {}}).keys()), "host")
        out.append((str(kind), str(item.get("name", ""))))
    return out


def passed_metadata(cluster: dict[str, Any], endpoint_raw: dict[str, Any] | None) -> tuple[tuple[str, str, str], ...]:
    """The dynamic metadata the internal connection starts with: each passed-through namespace, flattened."""
    out = []
    for kind, name in _passthrough(cluster):
        source = (endpoint_raw or {}) if kind == "host" else cluster
        values = ((source.get("metadata") or {}).get("filter_metadata") or {}).get(name) or {}
        out += [(name, str(k), str(v)) for k, v in values.items() if isinstance(v, str | int | float)]
    return tuple(out)


def original_dst_from_metadata(cluster: dict[str, Any], wire: Wire) -> tuple[tuple[str, int], str] | None:
    """An ORIGINAL_DST cluster's ``original_dst_lb_config.metadata_key``: the host comes from the connection's
    dynamic metadata at that key and path (Istio: ``envoy.filters.listener.original_dst`` → ``waypoint``, so a
    tunnel for a pod goes to the pod's waypoint instead)."""
    key = ((cluster.get("original_dst_lb_config") or {}).get("metadata_key") or {})
    if not key.get("key"):
        return None
    path = [str(p.get("key", "")) for p in key.get("path") or ()]
    wanted = (str(key["key"]), ".".join(path))
    for namespace, name, value in wire.metadata:
        host = _split(value)
        if (namespace, name) == wanted and host is not None:
            return host, (f"original_dst_lb_config.metadata_key: the connection's metadata "
                                   f"`{namespace}` → `{name}` names {value}, which replaces the original destination")
    return None


def _split(value: str) -> tuple[str, int] | None:
    ip, _, port = value.rpartition(":")
    return (ip.strip("[]"), int(port)) if ip and port.isdigit() else None


def _ip_port(value: str) -> bool:
    import ipaddress

    host = _split(value)
    if host is None:
        return False
    try:
        ipaddress.ip_address(host[0])
    except ValueError:
        return False
    return True


def restored_destination(listener: dict[str, Any], cluster: dict[str, Any], endpoint_raw: dict[str, Any] | None,
                         shared: dict[str, str]) -> tuple[tuple[str, int] | None, str]:
    """Where the internal listener's ``original_dst`` filter says the connection is going, and why."""
    filters = [str(f.get("name", "")) + str((f.get("typed_config") or {}).get("@type", ""))
               for f in listener.get("listener_filters") or ()]
    if not any("original_dst" in f or "OriginalDst" in f for f in filters):
        return None, "it has no original_dst listener filter, so its local address stays the internal address"
    passed = _passthrough(cluster)
    for kind, name in passed:
        if name != ORIGINAL_DST:
            continue
        source = (endpoint_raw or {}) if kind == "host" else cluster
        local = (((source.get("metadata") or {}).get("filter_metadata") or {}).get(ORIGINAL_DST) or {}).get("local")
        if local and _split(str(local)):
            return _split(str(local)), (f"original_dst restores the destination {local} from the dynamic metadata "
                                        f"`{ORIGINAL_DST}.local`, passed through from the {kind}'s metadata by the "
                                        "cluster's internal_upstream transport socket")
    if LOCAL_IP_STATE in shared and _ip_port(shared[LOCAL_IP_STATE]):
        value = shared[LOCAL_IP_STATE]
        return _split(value), (f"original_dst restores the destination {value} from the filter state "
                               f"`{LOCAL_IP_STATE}` shared by the upstream side")
    if LOCAL_IP_STATE in shared:
        return None, (f"`{shared[LOCAL_IP_STATE]}` is not an IP address: Envoy's `{LOCAL_IP_STATE}` object refuses "
                      "it, so original_dst restores nothing and the local address stays the internal address")
    return None, ("original_dst finds neither the `local` metadata nor the filter state "
                  f"`{LOCAL_IP_STATE}`, so the local address stays the internal address")


def handoff(proxy: ConfigDump, cluster: dict[str, Any], endpoint_raw: dict[str, Any] | None, target: str,
            payload: Wire, shared: dict[str, str], notes: list[str]) -> tuple[Wire | None, Step]:
    """The connection an internal listener receives, and the step that hands it over.

    ``payload``: the bytes the upstream connection carries (its transport, HTTP version, request), with the
    destination not yet known."""
    listener = next((r for r in internal_listeners(proxy) if r.name == target), None)
    if listener is None:
        others = tuple(NearMiss(r.name, "another internal listener", r.path) for r in internal_listeners(proxy))
        return None, Step("internal_listener", None, f"the endpoint is the internal address of listener `{target}`, "
                                                     "which this proxy does not have: the upstream connection fails",
                          "", others)
    dst, why = restored_destination(listener.raw, cluster, endpoint_raw, shared)
    wire = payload.with_(dst_ip=dst[0] if dst else f"envoy://{target}", dst_port=dst[1] if dst else 0,
                         filter_state=tuple(shared.items()), metadata=passed_metadata(cluster, endpoint_raw))
    said = f" ({'; '.join(notes)})" if notes else ""
    reason = (f"the endpoint is an envoy_internal_address: the connection goes to internal listener `{target}` in "
              f"the same Envoy, no socket involved; {why}{said}")
    return wire, Step("internal_listener", target, reason, listener.path, raw=listener.raw)


def select_internal_listener(proxy: ConfigDump, name: str, wire: Wire) -> tuple[Resource | None, Step]:
    """The listener step of a hop that starts at an internal listener."""
    listener = next((r for r in internal_listeners(proxy) if r.name == name), None)
    if listener is None:
        return None, Step("listener", None, f"no internal listener `{name}` in this proxy: the connection fails")
    where = (f"original_dst restored no destination: its local address is the internal address {wire.dst_ip}/"
             if wire.dst_ip.startswith("envoy://") else
             f"destination {wire.dst_ip}:{wire.dst_port} as its original_dst filter restored it")
    return listener, Step("listener", name, f"internal listener `{name}` takes the connection ({where})",
                          listener.path, raw=listener.raw)
