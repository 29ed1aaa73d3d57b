"""The listeners summary: ``ADDRESSES  PORT  MATCH  DESTINATION``, one row per filter chain, as istioctl prints it.

Like ``istioctl proxy-config listeners`` (verbose, its default): dynamic active listeners then static ones,
sorted by port, address and type (HTTP, TCP, HTTP+TCP, UNKNOWN); within a listener the chains are ordered by
destination, last first. MATCH renders the filter chain match (SNI, transport, ALPN, destination address and
port), DESTINATION the network filter: ``Route: <rds name>``, ``Inline Route: ...``, ``Cluster: <name>``.
``-o wide`` adds the filter chain's name (its index when it has none, as the trace says it) and, in MATCH, the
cluster each Istio SNI names (``SNI: outbound_.443_.v1_.nginx.ns (outbound|443|v1|nginx.ns)``).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.summary._common import describe_match, obj, reading, seq, string_values, text
from envoyscope.engine.summary.states import STATE_COLUMN, shows_state, state_cell
from envoyscope.engine.summary.types import Filters, Row, Table
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.names import describe_sni

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
BLACKHOLE = "BlackHoleCluster"

COLUMNS = ("ADDRESSES", "PORT", "MATCH", "DESTINATION")

# istioctl's names for the ALPN lists Istio puts in filter chain matches (an exact list match).
_ALPN_NAMES = (
    ("App: HTTP TLS", ("http/1.0", "http/1.1", "h2c", "istio-http/1.0", "istio-http/1.1", "istio-h2")),
    ("App: Istio HTTP Plain", ("istio", "istio-http/1.0", "istio-http/1.1", "istio-h2")),
    ("App: TCP TLS", ("istio-peer-exchange", "istio")),
    ("App: HTTP", ("http/1.0", "http/1.1", "h2c")),
)


def filter_chains(raw: dict[str, Any]) -> list[dict[str, Any]]:
    chains = [obj(chain) for chain in seq(raw.get("filter_chains"))]
    if isinstance(raw.get("default_filter_chain"), dict):
        chains.append(raw["default_filter_chain"])
    return chains


def chain_labels(raw: dict[str, Any]) -> list[str]:
    """Each chain of `filter_chains` as the trace labels it: its name, else its index in ``filter_chains`` (Istio
    ≤ 1.12 names none), and ``default`` for an unnamed default_filter_chain."""
    labels = [text(obj(chain).get("name")) or str(index) for index, chain in enumerate(seq(raw.get("filter_chains")))]
    if isinstance(raw.get("default_filter_chain"), dict):
        labels.append(text(raw["default_filter_chain"].get("name")) or "default")
    return labels


def _is(filt: dict[str, Any], name: str, message: str) -> bool:
    return filt.get("name") == name or text(obj(filt.get("typed_config")).get("@type")).endswith(message)


def _is_hcm(filt: dict[str, Any]) -> bool:
    return _is(filt, HCM, ".HttpConnectionManager")


def _is_tcp_proxy(filt: dict[str, Any]) -> bool:
    return _is(filt, TCP_PROXY, ".TcpProxy")


def _to_blackhole(filt: dict[str, Any]) -> bool:
    """istioctl looks for the word in the filter's serialised config: any string field holding it counts."""
    return any(BLACKHOLE in value for value in string_values(filt.get("typed_config")))


def listener_type(raw: dict[str, Any]) -> str:
    """HTTP, TCP, HTTP+TCP or UNKNOWN, from the network filters of every chain (blackhole TCP proxies aside)."""
    n_http = n_tcp = 0
    for chain in filter_chains(raw):
        for filt in seq(chain.get("filters")):
            filt = obj(filt)
            if _is_hcm(filt):
                n_http += 1
            elif _is_tcp_proxy(filt) and not _to_blackhole(filt):
                n_tcp += 1
    if n_http:
        return "HTTP+TCP" if n_tcp else "HTTP"
    return "TCP" if n_tcp else "UNKNOWN"


def listener_address(raw: dict[str, Any]) -> str:
    address = obj(raw.get("address"))
    if isinstance(address.get("socket_address"), dict):
        return text(address["socket_address"].get("address"))
    if isinstance(address.get("pipe"), dict):
        return text(address["pipe"].get("path"))
    return ""


def additional_addresses(raw: dict[str, Any]) -> list[str]:
    return [text(obj(obj(obj(extra).get("address")).get("socket_address")).get("address"))
            for extra in seq(raw.get("additional_addresses"))]


def listener_port(raw: dict[str, Any]) -> int:
    port = obj(obj(raw.get("address")).get("socket_address")).get("port_value", 0)
    return int(port) if isinstance(port, int | str) and str(port).isdigit() else 0


def matches(raw: dict[str, Any], filters: Filters) -> bool:
    """istioctl's ListenerFilter.Verify: address (any of them, case-insensitive), port, type."""
    if filters.address:
        wanted = filters.address.casefold()
        if not any(a.casefold() == wanted for a in [*additional_addresses(raw), listener_address(raw)]):
            return False
    if filters.port and listener_port(raw) != filters.port:
        return False
    return not (filters.type and listener_type(raw).casefold() != filters.type.casefold())


def describe_chain_match(match: Any, *, decode_sni: bool = False) -> str:
    """A filter chain match in istioctl's words, e.g. ``SNI: a.com; Trans: tls; Addr: 10.0.0.1/32:443``.

    ``decode_sni``: follow each Istio SNI (``outbound_.port_.subset_.host``) with the cluster it names.
    """
    match = obj(match)
    descrs = []
    names = [describe_sni(str(n)) if decode_sni else str(n) for n in seq(match.get("server_names"))]
    if names:
        descrs.append(f"SNI: {','.join(names)}")
    if text(match.get("transport_protocol")):
        descrs.append(f"Trans: {match['transport_protocol']}")
    alpn = tuple(str(p) for p in seq(match.get("application_protocols")))
    if alpn:
        named = [label for label, protocols in _ALPN_NAMES if protocols == alpn]
        descrs.append(named[0] if named else f"App: {','.join(alpn)}")
    port = ""
    if "destination_port" in match:
        port = f":{_wrapped(match['destination_port'])}"
    ranges = seq(match.get("prefix_ranges"))
    if ranges:
        cidrs = [f"{text(obj(r).get('address_prefix'))}/{_wrapped(obj(r).get('prefix_len', 0))}" for r in ranges]
        descrs.append(f"Addr: {','.join(cidrs)}{port}")
    elif port:
        descrs.append(f"Addr: *{port}")
    return "; ".join(descrs) or "ALL"


def _wrapped(value: Any) -> int:
    """A UInt32Value as JSON: a number, or ``{"value": n}`` in some writers."""
    if isinstance(value, dict):
        value = value.get("value", 0)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def describe_destination(filters: list[Any]) -> str:
    """Where a chain sends traffic: istioctl's getFilterType."""
    for filt in filters:
        filt = obj(filt)
        if _is_hcm(filt):
            hcm = obj(filt.get("typed_config"))
            if isinstance(hcm.get("route_config"), dict):
                return describe_route_config(hcm["route_config"])
            rds_name = text(obj(hcm.get("rds")).get("route_config_name"))
            return f"Route: {rds_name}" if rds_name else "HTTP"
        if _is_tcp_proxy(filt) and not _to_blackhole(filt):
            cluster = text(obj(filt.get("typed_config")).get("cluster"))
            return cluster if "Cluster" in cluster else f"Cluster: {cluster}"
    return "Non-HTTP/Non-TCP"


def describe_route_config(route_config: dict[str, Any]) -> str:
    """An inline route configuration: its one catch-all cluster, else ``Inline Route:`` and every match."""
    catch_all = _match_all_cluster(route_config)
    if catch_all:
        return catch_all
    vhosts = []
    for vhost in seq(route_config.get("virtual_hosts")):
        vhost = obj(vhost)
        domains = [str(d) for d in seq(vhost.get("domains"))]
        routes = ", ".join(describe_match(obj(obj(r).get("match"))) for r in seq(vhost.get("routes")))
        vhosts.append(routes if domains == ["*"] else f"{'/'.join(domains)} {routes}")
    return f"Inline Route: {'; '.join(vhosts)}"


def _match_all_cluster(route_config: dict[str, Any]) -> str:
    vhosts = seq(route_config.get("virtual_hosts"))
    if len(vhosts) != 1 or obj(vhosts[0]).get("domains") != ["*"]:
        return ""
    routes = seq(obj(vhosts[0]).get("routes"))
    if len(routes) != 1:
        return ""
    route = obj(routes[0])
    if text(obj(route.get("match")).get("prefix")) != "/":
        return ""
    cluster = obj(route.get("route")).get("cluster")
    if not isinstance(cluster, str) or "route" not in route:
        return ""
    return cluster if "Cluster" in cluster else f"Cluster: {cluster}"


def selected(dump: ConfigDump, filters: Filters) -> list[Resource]:
    shown = [lst for lst in dump.listeners if lst.state == "dynamic_active"]
    shown += [lst for lst in dump.listeners if lst.state == "static"]
    shown += [lst for lst in dump.listeners if not lst.serving]  # rejected, warming, draining: with a STATE
    shown = [lst for lst in shown if matches(lst.raw, filters)]
    shown.sort(key=lambda lst: (listener_port(lst.raw), listener_address(lst.raw), listener_type(lst.raw)))
    return shown


def summarize_listeners(dump: ConfigDump, filters: Filters, *, wide: bool = False, named: bool = False) -> Table:
    shown = selected(dump, filters)
    state = shows_state(shown)
    columns = (("NAME",) if named else ()) + COLUMNS + (("CHAIN",) if wide else ()) + ((STATE_COLUMN,) if state else ())
    rows = []
    for listener in shown:
        with reading(dump.source, listener):
            raw = listener.raw
            addresses = ",".join([listener_address(raw), *additional_addresses(raw)])
            port = str(listener_port(raw))
            chains = [(describe_chain_match(c.get("filter_chain_match"), decode_sni=wide),
                       describe_destination(seq(c.get("filters"))),
                       label) for c, label in zip(filter_chains(raw), chain_labels(raw), strict=True)]
            chains.sort(key=lambda chain: chain[1], reverse=True)
            if not chains and not listener.serving:  # a rejected listener may hold only its name: one row
                chains = [("-", "-", "")]
            for index, (match, destination, chain_name) in enumerate(chains):
                cells: tuple[str, ...] = (addresses, port, match, destination)
                if named:
                    cells = (f"listener/{listener.name}",) + cells
                if wide:
                    cells += (chain_name,)
                if state:  # Envoy's words once per listener, on its first line
                    cells += (state_cell(listener) if index == 0 else state_cell(listener).split(":", 1)[0],)
                rows.append(Row(cells, ("listener", listener.name)))
    notes = []
    if not dump.has("listeners"):
        notes.append("no listeners section in this dump")
    return Table("listeners", columns, tuple(rows), tuple(notes))
