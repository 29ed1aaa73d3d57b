"""What a filter chain's network filters do with the connection.

Envoy runs a chain's network filters in order; the last one is terminal. envoyscope follows the terminal
``tcp_proxy`` (``TcpProxy::Filter::onNewConnection``: its cluster, or one of its ``weighted_clusters``, or the
cluster ``sni_cluster`` puts in the filter state) and ``http_connection_manager`` (routes from RDS, inline, or
scoped). Any other filter is reported by name, not guessed at: rbac, ext_authz and the like may reject a
connection envoyscope still follows, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from envoyscope.engine.not_serving import not_serving_misses, why_not_serving
from envoyscope.engine.steps import Step
from envoyscope.model.dump import ConfigDump

TCP_PROXY = "TcpProxy"
HCM = "HttpConnectionManager"


@dataclass(frozen=True, slots=True)
class NetworkAction:
    kind: str  # tcp_proxy | http | other
    step: Step
    clusters: tuple[tuple[str, int], ...] = ()  # tcp_proxy: (cluster, weight); weight 0 when not weighted
    terminates_tls: bool = False
    route_config_name: str | None = None
    route_config: dict[str, Any] | None = None
    hcm: dict[str, Any] | None = None
    notes: tuple[str, ...] = field(default=())


def typed_config(filt: dict[str, Any]) -> dict[str, Any]:
    """A filter's typed_config, unwrapping ``TypedStruct`` (udpa/xds) into its value with the inner type."""
    typed = filt.get("typed_config") or filt.get("config") or {}
    type_url = str(typed.get("@type", ""))
    if type_url.endswith("TypedStruct") and isinstance(typed.get("value"), dict):
        return {"@type": typed.get("type_url", ""), **typed["value"]}
    return typed


def filter_kind(filt: dict[str, Any]) -> str:
    """The short type of a filter (``TcpProxy``, ``HttpConnectionManager``, …), else its name."""
    type_url = str(typed_config(filt).get("@type", ""))
    return type_url.rsplit(".", 1)[-1] if type_url else str(filt.get("name", "?"))


def terminates_tls(chain: dict[str, Any]) -> bool:
    """Whether the chain's transport socket is TLS (it decrypts what arrives)."""
    socket = chain.get("transport_socket") or {}
    return "tls" in str(socket.get("name", "")).lower() or "DownstreamTlsContext" in str(
        (socket.get("typed_config") or {}).get("@type", ""))


def _weighted(typed: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    weighted = typed.get("weighted_clusters") or {}
    out = []
    for item in weighted.get("clusters") or ():
        weight = item.get("weight", 0)
        if isinstance(weight, dict):
            weight = weight.get("value", 0)
        out.append((str(item.get("name", "")), int(weight or 0)))
    return tuple(out)


def pick_weighted(clusters: tuple[tuple[str, int], ...], random_value: int) -> str:
    """One cluster of a weighted list as Envoy picks it: ``random_value % total_weight`` walks the weights."""
    if len(clusters) == 1 or not clusters:
        return clusters[0][0] if clusters else ""
    total = sum(w for _, w in clusters)
    if total <= 0:
        return clusters[0][0]
    point = random_value % total
    acc = 0
    for name, weight in clusters:
        acc += weight
        if point < acc:
            return name
    return clusters[-1][0]


def network_action(chain: dict[str, Any], proxy: ConfigDump, path: str, sni: str | None = None) -> NetworkAction:
    """Follow the chain's network filters to the terminal one."""
    notes = []
    filters = chain.get("filters") or ()
    sni_cluster = False
    tls = terminates_tls(chain)
    for index, filt in enumerate(filters):
        kind = filter_kind(filt)
        fpath = f"{path}.filters[{index}]"
        typed = typed_config(filt)
        if kind == "SniCluster" or "sni_cluster" in str(filt.get("name", "")):
            sni_cluster = True
            notes.append("sni_cluster sets the upstream cluster to the SNI")
            continue
        if kind == TCP_PROXY:
            clusters = _weighted(typed) or ((str(typed.get("cluster", "")), 0),)
            if sni_cluster and sni:
                clusters = ((sni, 0),)
            names = ", ".join(f"{n} ({w})" if w else n for n, w in clusters)
            reason = f"tcp_proxy (stat prefix {typed.get('stat_prefix', '?')}) sends the connection to {names}"
            if sni_cluster:
                reason = f"sni_cluster names the cluster after the SNI `{sni}`; " + reason
            return NetworkAction("tcp_proxy", Step("network_filter", "tcp_proxy", _with(reason, notes), fpath,
                                                   raw=typed), clusters, tls, notes=tuple(notes))
        if kind == HCM:
            return _hcm(typed, proxy, fpath, tls, notes)
        if index < len(filters) - 1:
            continue  # a filter before the terminal one is a step of its own (engine/http_filters/run.py)
        return NetworkAction("other", Step("network_filter", str(filt.get("name") or kind),
                                           f"terminal network filter {filt.get('name') or kind} is not one envoyscope "
                                           "follows (tcp_proxy, http_connection_manager)", fpath, raw=typed),
                             terminates_tls=tls, notes=tuple(notes))
    return NetworkAction("other", Step("network_filter", None, "the filter chain has no network filters", path),
                         terminates_tls=tls)


def _with(reason: str, notes: list[str]) -> str:
    return reason + (f" ({'; '.join(notes)})" if notes else "")


def _hcm(typed: dict[str, Any], proxy: ConfigDump, path: str, tls: bool, notes: list[str]) -> NetworkAction:
    rds = typed.get("rds") or {}
    if rds:
        name = str(rds.get("route_config_name", ""))
        resource = proxy.route_config(name)
        held = proxy.not_serving("route_config", name) if resource is None else ()
        where = "is in the dump" if resource is not None else (
            f"is in the dump but not in use: it {why_not_serving(held[0])}" if held else "is NOT in the dump")
        reason = f"http_connection_manager takes routes from RDS `{name}`, which {where}"
        misses = not_serving_misses(held, "Envoy has no route configuration of that name: 404 (NR)")
        return NetworkAction("http", Step("network_filter", "http_connection_manager", _with(reason, notes), path,
                                          misses, raw=typed), terminates_tls=tls, route_config_name=name,
                             route_config=resource.raw if resource else None, hcm=typed, notes=tuple(notes))
    if isinstance(typed.get("route_config"), dict):
        config = typed["route_config"]
        name = str(config.get("name", "")) or "(inline)"
        reason = f"http_connection_manager has its route configuration `{name}` inline"
        return NetworkAction("http", Step("network_filter", "http_connection_manager", _with(reason, notes), path,
                                          raw=typed), terminates_tls=tls, route_config_name=name,
                             route_config=config, hcm=typed, notes=tuple(notes))
    if typed.get("scoped_routes"):
        return NetworkAction("other", Step("network_filter", "http_connection_manager",
                                           "http_connection_manager uses scoped_routes, which envoyscope does not "
                                           "follow yet", path, raw=typed), terminates_tls=tls, hcm=typed)
    return NetworkAction("other", Step("network_filter", "http_connection_manager",
                                       "http_connection_manager has neither rds nor route_config", path, raw=typed),
                         terminates_tls=tls, hcm=typed)


def hcm_codec(hcm: dict[str, Any] | None, http: str | None) -> tuple[str | None, str]:
    """The HTTP codec the connection manager runs on a plaintext connection (``HttpConnectionManagerConfig::
    createCodec``): ``codec_type`` AUTO (the default) picks HTTP/2 when the bytes open with the HTTP/2 preface
    (``ConnectionManagerUtility::autoCreateCodec``), else HTTP/1.1; HTTP1 and HTTP2 take only their own protocol.
    Returns (``HTTP/1.1`` | ``HTTP/2``, why), or (None, why) when the codec fails on what the client sends."""
    codec = str((hcm or {}).get("codec_type", "AUTO"))
    sent = "HTTP/2" if http == "h2c" else "HTTP/1.1"
    shown = "HTTP/2 with prior knowledge (h2c)" if http == "h2c" else "HTTP/1.1"
    if codec == "HTTP1" and sent == "HTTP/2":
        return None, ("codec_type HTTP1 cannot parse the HTTP/2 preface of an h2c client: Envoy answers 400 "
                      "(DPE, downstream protocol error)")
    if codec == "HTTP2" and sent == "HTTP/1.1":
        return None, ("codec_type HTTP2 expects the HTTP/2 preface but the client speaks HTTP/1.1: Envoy closes "
                      "the connection (DPE, downstream protocol error)")
    if codec == "HTTP3":
        return None, "codec_type HTTP3 is QUIC (UDP): a TCP client's request never reaches it"
    if codec == "AUTO":
        return sent, f"codec_type AUTO detects {shown}"
    return sent, f"codec_type {codec} speaks {shown}"
