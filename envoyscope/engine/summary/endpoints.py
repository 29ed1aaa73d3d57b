"""The endpoints summary, from Envoy's ``/clusters`` when the input has it, else from EDS in the config dump.

From ``/clusters`` (``istioctl proxy-config endpoints``): ``ENDPOINT  STATUS  OUTLIER CHECK  CLUSTER``, sorted
by address, port and cluster. From EDS (istioctl's ``eds`` view and its ``all`` summary): ``NAME  STATUS
LOCALITY  CLUSTER``, cluster by cluster in istioctl's cluster order. ``-o wide`` adds each endpoint's load
balancing WEIGHT and PRIORITY (and LOCALITY for ``/clusters``).

Without EDS or ``/clusters`` the endpoints written in the clusters' own ``load_assignment`` are shown, with a note.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.summary._common import obj, reading, seq, sort_key_by_subset, text
from envoyscope.engine.summary.types import Filters, Row, Table
from envoyscope.model.clusters_status import HostStatus
from envoyscope.model.dump import ConfigDump, Resource

STATUS_COLUMNS = ("ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER")
EDS_COLUMNS = ("NAME", "STATUS", "LOCALITY", "CLUSTER")
HEALTH_STATUSES = ("UNKNOWN", "HEALTHY", "UNHEALTHY", "DRAINING", "TIMEOUT", "DEGRADED")


def endpoint_addresses(lb_endpoint: dict[str, Any]) -> list[str]:
    """``ip:port`` (no brackets, as istioctl), a pipe's path, ``envoy://listener/id``, or ``unknown``."""
    endpoint = obj(lb_endpoint.get("endpoint"))
    addresses = [obj(endpoint.get("address"))]
    addresses += [obj(obj(extra).get("address")) for extra in seq(endpoint.get("additional_addresses"))]
    out = []
    for address in addresses:
        if isinstance(address.get("socket_address"), dict):
            sock = address["socket_address"]
            out.append(f"{text(sock.get('address'))}:{_port(sock)}")
        elif isinstance(address.get("pipe"), dict):
            out.append(text(address["pipe"].get("path")))
        elif isinstance(address.get("envoy_internal_address"), dict) and \
                "server_listener_name" in address["envoy_internal_address"]:
            internal = address["envoy_internal_address"]
            out.append(f"envoy://{text(internal.get('server_listener_name'))}/{text(internal.get('endpoint_id'))}")
        else:
            out.append("unknown")
    return out


def _port(sock: dict[str, Any]) -> int:
    value = sock.get("port_value", 0)
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


def locality_text(locality: Any) -> str:
    """region, region/zone, region/zone/sub_zone (istioctl's LocalityToString)."""
    locality = obj(locality)
    out = text(locality.get("region"))
    if not text(locality.get("zone")):
        return out
    out += "/" + locality["zone"]
    if not text(locality.get("sub_zone")):
        return out
    return out + "/" + locality["sub_zone"]


def health_status(lb_endpoint: dict[str, Any]) -> str:
    """The EDS health status, UNKNOWN when absent (protobuf's default)."""
    status = lb_endpoint.get("health_status", "UNKNOWN")
    if isinstance(status, int) and 0 <= status < len(HEALTH_STATUSES):
        return HEALTH_STATUSES[status]
    return status if isinstance(status, str) else "UNKNOWN"


def _eds_matches(lb_endpoint: dict[str, Any], cluster: str, filters: Filters) -> bool:
    if filters.address:
        wanted = filters.address.casefold()
        addresses = endpoint_addresses(lb_endpoint)
        hosts = [a.rpartition(":")[0] for a in addresses]
        if not any(a.casefold() == wanted for a in addresses + hosts):
            return False
    if filters.port and _port(obj(obj(obj(lb_endpoint.get("endpoint")).get("address")).get("socket_address"))) \
            != filters.port:
        return False
    if filters.cluster and cluster.casefold() != filters.cluster.casefold():
        return False
    return not (filters.status and health_status(lb_endpoint).casefold() != filters.status.casefold())


def _assignments(dump: ConfigDump) -> tuple[list[tuple[str, dict[str, Any], Resource]], str | None]:
    """(cluster name, ClusterLoadAssignment, resource) in istioctl's order, and a note when not from EDS."""
    if dump.endpoints or dump.has("endpoints"):
        found = [e for e in dump.endpoints if e.state == "dynamic"]
        found += [e for e in dump.endpoints if e.state != "dynamic"]
        out = [(text(e.raw.get("cluster_name")) or e.name, e.raw, e) for e in found]
        note = None
    else:
        out = [(c.name, obj(c.raw.get("load_assignment")), c) for c in dump.clusters
               if c.state in ("dynamic_active", "static") and isinstance(c.raw.get("load_assignment"), dict)]
        if dump.has("clusters"):
            note = ("the dump has no EDS section (capture /config_dump?include_eds) and no /clusters: "
                    "only endpoints written in the clusters' load_assignment are shown")
        else:
            note = "no endpoints in this input: no EDS section, no /clusters and no clusters"
    out.sort(key=lambda item: sort_key_by_subset(item[0]))
    return out, note


def summarize_eds(dump: ConfigDump, filters: Filters, *, wide: bool = False, named: bool = False) -> Table:
    columns = EDS_COLUMNS + (("WEIGHT", "PRIORITY") if wide else ())
    rows = []
    assignments, note = _assignments(dump)
    for cluster, assignment, resource in assignments:
        with reading(dump.source, resource):
            for group in seq(assignment.get("endpoints")):
                group = obj(group)
                locality = locality_text(group.get("locality"))
                for lb_endpoint in seq(group.get("lb_endpoints")):
                    lb_endpoint = obj(lb_endpoint)
                    if not _eds_matches(lb_endpoint, cluster, filters):
                        continue
                    address = ",".join(endpoint_addresses(lb_endpoint))
                    cells: tuple[str, ...] = (f"endpoint/{address}" if named else address,
                                              health_status(lb_endpoint), locality, cluster)
                    if wide:
                        weight = lb_endpoint.get("load_balancing_weight", 1)
                        cells += (str(weight.get("value", 1) if isinstance(weight, dict) else weight),
                                  str(group.get("priority", 0)))
                    rows.append(Row(cells, (resource.kind, resource.name)))
    return Table("endpoints", columns, tuple(rows), (note,) if note else ())


def _split_host(host: HostStatus) -> tuple[str, int]:
    """istioctl's address and port of a /clusters host: IPv6 without brackets, ``unix://`` pipes, port 0 if none."""
    address = host.address
    if address.startswith(("unix://", "envoy://")) or address == "?":
        return (address if address != "?" else "unknown"), 0
    head, _, port = address.rpartition(":")
    if not port.isdigit():
        return address, 0
    return head.removeprefix("[").removesuffix("]"), int(port)


def _status_matches(host: HostStatus, address: str, port: int, filters: Filters) -> bool:
    if filters.address and address.casefold() != filters.address.casefold() and \
            host.address.casefold() != filters.address.casefold():
        return False
    if filters.port and port != filters.port:
        return False
    if filters.cluster and host.cluster.casefold() != filters.cluster.casefold():
        return False
    return not (filters.status and host.eds_health.casefold() != filters.status.casefold())


def summarize_status(dump: ConfigDump, filters: Filters, *, wide: bool = False) -> Table:
    status = dump.clusters_status
    assert status is not None
    columns = STATUS_COLUMNS + (("WEIGHT", "PRIORITY", "LOCALITY") if wide else ())
    found = []
    for host in status.hosts:
        address, port = _split_host(host)
        if _status_matches(host, address, port, filters):
            found.append((address, port, host))
    found.sort(key=lambda item: (item[0], item[1], item[2].cluster))
    rows = []
    for address, port, host in found:
        cells: tuple[str, ...] = (f"{address}:{port}" if port else address, host.eds_health,
                                  "FAILED" if host.outlier_failed else "OK", host.cluster)
        if wide:
            cells += (str(host.weight), str(host.priority), host.locality)
        rows.append(Row(cells, ("cluster", host.cluster)))
    return Table("endpoints", columns, tuple(rows))


def summarize_endpoints(dump: ConfigDump, filters: Filters, *, wide: bool = False, named: bool = False,
                        prefer_eds: bool = False) -> Table:
    """From /clusters when the input has it (unless ``prefer_eds`` and EDS is there), else from EDS."""
    has_eds = bool(dump.endpoints) or dump.has("endpoints")
    if dump.clusters_status is not None and not (prefer_eds and has_eds):
        return summarize_status(dump, filters, wide=wide)
    return summarize_eds(dump, filters, wide=wide, named=named)


def endpoint_json(dump: ConfigDump, filters: Filters) -> list[dict[str, Any]]:
    """What ``-o json`` prints: /clusters hosts (when the input has them) or the filtered ClusterLoadAssignments."""
    if dump.clusters_status is not None:
        out = []
        for host in dump.clusters_status.hosts:
            address, port = _split_host(host)
            if _status_matches(host, address, port, filters):
                out.append({"cluster": host.cluster, "address": host.address, "eds_health_status": host.eds_health,
                            "health_flags": list(host.flags), "weight": host.weight, "priority": host.priority,
                            "locality": host.locality, "hostname": host.hostname})
        return out
    assignments, _ = _assignments(dump)
    result = []
    for cluster, assignment, _resource in assignments:
        groups = []
        kept = 0
        for group in seq(assignment.get("endpoints")):
            group = obj(group)
            lb_endpoints = [e for e in seq(group.get("lb_endpoints")) if _eds_matches(obj(e), cluster, filters)]
            kept += len(lb_endpoints)
            groups.append({**group, "lb_endpoints": lb_endpoints})
        if kept:
            result.append({**assignment, "endpoints": groups})
    return result
