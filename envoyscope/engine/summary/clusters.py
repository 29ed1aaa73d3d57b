"""The clusters summary: ``SERVICE FQDN  PORT  SUBSET  DIRECTION  TYPE  DESTINATION RULE`` as istioctl prints it.

Like ``istioctl proxy-config clusters``: dynamic active clusters then static ones, then (unlike istioctl) the
warming and rejected ones with a STATE column (`envoyscope.engine.summary.states`), sorted by service host,
subset, port and direction. An Istio name (three ``|`` or more) is split into its parts; any other name is
shown whole with ``-`` in the Istio columns. ``-o wide`` adds the TLS the cluster originates: plaintext,
SIMPLE, MUTUAL, ISTIO_MUTUAL, or auto-mTLS when Istio's
``transport_socket_matches`` choose by the endpoint's ``tlsMode`` label. ``istio_config=True`` (``-o wide`` on the
command line) adds ISTIO CONFIG before TLS: every Istio object the cluster's ``istio`` metadata names, by kind
(``ServiceEntry/httpbin.org.default``, ``DestinationRule/…``) but the DestinationRule the DESTINATION RULE column
already names, or what an Istio special cluster is (``passthrough``, ``blackhole``, ``inbound-passthrough``).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.summary._common import (
    describe_management,
    obj,
    parse_subset_key,
    reading,
    seq,
    sort_key_by_subset,
    text,
)
from envoyscope.engine.summary.states import STATE_COLUMN, shows_state, state_cell
from envoyscope.engine.summary.types import Filters, Row, Table
from envoyscope.engine.tls import describe_socket
from envoyscope.model.dump import ConfigDump, Resource
from envoyscope.model.names import istio_configs, special_kind

COLUMNS = ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE")


def matches(name: str, filters: Filters) -> bool:
    """istioctl's ClusterFilter.Verify: every given filter is a substring of the cluster name."""
    if filters.fqdn and filters.fqdn not in name:
        return False
    if filters.direction and filters.direction not in name:
        return False
    if filters.subset and filters.subset not in name:
        return False
    return not (filters.port and f"|{filters.port}|" not in name)


def selected(dump: ConfigDump, filters: Filters) -> list[Resource]:
    """The clusters istioctl would show, in its order."""
    shown = [c for c in dump.clusters if c.state == "dynamic_active"]
    shown += [c for c in dump.clusters if c.state == "static"]
    shown += [c for c in dump.clusters if not c.serving]  # warming and rejected ones: with a STATE
    shown = [c for c in shown if matches(c.name, filters)]
    shown.sort(key=lambda c: sort_key_by_subset(c.name))
    return shown


def cluster_type(raw: dict[str, Any]) -> str:
    """The discovery type; a custom ``cluster_type`` leaves the enum at its default, STATIC, as istioctl shows."""
    return text(raw.get("type")) or "STATIC"


def describe_tls(raw: dict[str, Any]) -> str:
    """The TLS a cluster originates, for the wide view."""
    socket_matches = seq(raw.get("transport_socket_matches"))
    if socket_matches:
        if any(obj(m).get("match") == {"tlsMode": "istio"} for m in socket_matches):
            return "auto-mTLS"
        modes = [_socket_mode(obj(m).get("transport_socket")) for m in socket_matches]
        modes.append(_socket_mode(raw.get("transport_socket")))
        return "by endpoint: " + "|".join(dict.fromkeys(modes))
    return _socket_mode(raw.get("transport_socket"))


def _socket_mode(socket: Any) -> str:
    socket = obj(socket)
    typed = obj(socket.get("typed_config"))
    if text(typed.get("@type")).endswith("InternalUpstreamTransport"):
        return f"internal+{_socket_mode(typed.get('transport_socket'))}"
    return describe_socket(socket or None).mode.removeprefix("envoy.transport_sockets.")


def describe_istio_config(raw: dict[str, Any], name: str, destination_rule: str = "") -> str:
    """The Istio objects behind a cluster (``Kind/name.namespace``, comma separated), or its special role.

    ``destination_rule``: what istioctl's DESTINATION RULE column already shows for the cluster; a DestinationRule
    of that name is not said twice. istioctl shows there whatever object the metadata names first, so a
    ServiceEntry of that name stays: its kind is what that column does not say.
    """
    configs = istio_configs(raw)
    if configs:
        others = [config for config in configs
                  if not (config.kind == "DestinationRule" and str(config) == destination_rule)]
        return ",".join(dict.fromkeys(f"{config.kind}/{config}" for config in others)) or "-"
    return special_kind(name) or "-"


def summarize_clusters(dump: ConfigDump, filters: Filters, *, wide: bool = False, named: bool = False,
                       istio_config: bool = False) -> Table:
    shown = selected(dump, filters)
    state = shows_state(shown)
    columns = ((("NAME",) if named else ()) + COLUMNS + (("ISTIO CONFIG",) if istio_config else ())
               + (("TLS",) if wide else ()) + ((STATE_COLUMN,) if state else ()))
    rows = []
    for cluster in shown:
        with reading(dump.source, cluster):
            raw = cluster.raw
            name = cluster.name
            if name.count("|") >= 3:
                key = parse_subset_key(name)
                cells: tuple[str, ...] = (key.host, str(key.port), key.subset or "-", key.direction)
            else:
                cells = (f"cluster/{name}" if named and name else name, "-", "-", "-")
            destination_rule = describe_management(raw)
            cells += (cluster_type(raw), destination_rule)
            if named:
                cells = (f"cluster/{name}",) + cells
            if istio_config:
                cells += (describe_istio_config(raw, name, destination_rule),)
            if wide:
                cells += (describe_tls(raw),)
            if state:
                cells += (state_cell(cluster),)
        rows.append(Row(cells, ("cluster", name)))
    notes = []
    if not dump.has("clusters"):
        notes.append("no clusters section in this dump")
    return Table("clusters", columns, tuple(rows), tuple(notes))
