"""Endpoints of each cluster, by address: added, removed, health, weight, priority, locality, metadata.

Two views, each compared only when both dumps hold it (a dump taken without ``?include_eds`` knows no EDS
endpoints; that is not their removal):

- EDS (``ClusterLoadAssignment``, and the ``load_assignment`` of static and DNS clusters): fields
  ``endpoints[ADDRESS].health_status|weight|priority|locality|metadata|hostname``, and the assignment's own
  fields (``policy…``);
- ``/clusters`` (what Envoy thinks of each host now): ``hosts[ADDRESS].health|weight|priority|locality``, where
  health is ``healthy`` or Envoy's failure flags (``failed_outlier_check``, ``failed_active_hc``…).

The order of localities and of endpoints never matters; an endpoint is one ``Change`` per cluster.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.diff.canonical import canonical
from envoyscope.engine.diff.changes import ADDED, MODIFIED, REMOVED, Change, FieldChange
from envoyscope.engine.diff.values import diff_values, field_change
from envoyscope.model.clusters_status import ClustersStatus, HostStatus
from envoyscope.model.dump import ConfigDump

Doc = dict[str, Any]


def address_of(address: Doc) -> str:
    sock = address.get("socket_address")
    if isinstance(sock, dict):
        host = str(sock.get("address", ""))
        port = sock.get("port_value", sock.get("named_port", ""))
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(address.get("pipe"), dict):
        return f"unix://{address['pipe'].get('path', '')}"
    internal = address.get("envoy_internal_address")
    if isinstance(internal, dict):
        return f"envoy://{internal.get('server_listener_name', '')}/{internal.get('endpoint_id', '')}"
    return "?"


def locality_of(locality: Any) -> str:
    if not isinstance(locality, dict):
        return ""
    return "/".join(str(locality.get(key, "")) for key in ("region", "zone", "sub_zone")).rstrip("/")


def _number(value: Any, default: int) -> Any:
    if value is None or value.__class__ is int:
        return value or default
    return canonical(value) or default


def assignment_hosts(assignment: Doc) -> dict[str, Doc]:
    """Every endpoint of a ClusterLoadAssignment by address, with what Envoy does with it (defaults filled in,
    values in canonical form: read from the raw JSON, so that 9,000 assignments need no canonical walk)."""
    hosts: dict[str, Doc] = {}
    for group in assignment.get("endpoints") or ():
        priority = _number(group.get("priority"), 0)
        locality = locality_of(group.get("locality"))
        for lb in group.get("lb_endpoints") or ():
            endpoint = lb.get("endpoint") or {}
            address = address_of(endpoint.get("address") or {})
            facts = {"health_status": lb.get("health_status") or "UNKNOWN",
                     "weight": _number(lb.get("load_balancing_weight"), 1),
                     "priority": priority, "locality": locality}
            for key, value in (("metadata", lb.get("metadata")), ("hostname", endpoint.get("hostname"))):
                if value:
                    facts[key] = value
            hosts[address] = facts
    return hosts


def assignments(dump: ConfigDump) -> dict[str, Doc]:
    """Raw assignments by cluster name: EDS ones (when the dump holds them) and clusters' load_assignment."""
    found: dict[str, Doc] = {}
    for cluster in dump.clusters:
        assignment = cluster.raw.get("load_assignment")
        if isinstance(assignment, dict):
            found.setdefault(cluster.name, assignment)
    for resource in dump.endpoints:
        found.setdefault(resource.name, resource.raw)
    return found


def cluster_names(dump: ConfigDump) -> set[str]:
    names = set()
    for cluster in dump.clusters:
        names.add(cluster.name)
        service = (cluster.raw.get("eds_cluster_config") or {}).get("service_name")
        if service:
            names.add(str(service))
    return names


def _hosts_fields(prefix: str, old: dict[str, Doc], new: dict[str, Doc]) -> list[FieldChange]:
    fields: list[FieldChange] = []
    for address in sorted(old.keys() | new.keys()):
        before, after = old.get(address), new.get(address)
        if before is None or after is None:
            fields.append(field_change(f"{prefix}[{address}]", before, after))
        else:
            fields.extend(diff_values(before, after, f"{prefix}[{address}]"))
    return fields


def _rest(assignment: Doc) -> Doc:
    """An assignment but its endpoints (its policy…)."""
    return {k: v for k, v in assignment.items() if k not in ("endpoints", "cluster_name", "@type")}


def eds_changes(old: ConfigDump, new: ConfigDump) -> list[Change]:
    both_eds = old.has("endpoints") and new.has("endpoints")
    old_all, new_all = assignments(old), assignments(new)
    old_clusters, new_clusters = cluster_names(old), cluster_names(new)
    found: list[Change] = []
    for name in sorted(old_all.keys() | new_all.keys()):
        before, after = old_all.get(name), new_all.get(name)
        if before is not None and after is not None and before == after:
            continue
        if not both_eds and (before is None or after is None):
            continue  # one side was dumped without ?include_eds
        if (old.has("clusters") and name not in old_clusters) or (new.has("clusters") and name not in new_clusters):
            continue  # the cluster itself was added or removed: its change says it
        if before is None or after is None:
            found.append(Change("endpoint", name, ADDED if before is None else REMOVED))
            continue
        old_rest, new_rest = _rest(before), _rest(after)
        old_hosts, new_hosts = assignment_hosts(before), assignment_hosts(after)
        if old_rest == new_rest and old_hosts == new_hosts:
            continue  # the same endpoints, in another order
        fields = diff_values(canonical(old_rest), canonical(new_rest))
        fields += _hosts_fields("endpoints", old_hosts, new_hosts)
        if fields:
            found.append(Change("endpoint", name, MODIFIED, tuple(fields)))
    return found


def host_facts(host: HostStatus) -> Doc:
    return {"health": "/".join(host.flags) or "healthy",
            "weight": host.weight, "priority": host.priority, "locality": host.locality}


def status_hosts(status: ClustersStatus) -> dict[str, dict[str, Doc]]:
    found: dict[str, dict[str, Doc]] = {name: {} for name in status.cluster_names}
    for host in status.hosts:
        found.setdefault(host.cluster, {})[host.address] = host_facts(host)
    return found


def status_changes(old: ConfigDump, new: ConfigDump) -> list[Change]:
    """What ``/clusters`` says of each host, for the clusters both sides' ``/clusters`` list."""
    if old.clusters_status is None or new.clusters_status is None:
        return []
    old_hosts, new_hosts = status_hosts(old.clusters_status), status_hosts(new.clusters_status)
    found = []
    for name in sorted(old_hosts.keys() & new_hosts.keys()):
        fields = _hosts_fields("hosts", old_hosts[name], new_hosts[name])
        if fields:
            found.append(Change("endpoint", name, MODIFIED, tuple(fields)))
    return found


def endpoint_changes(old: ConfigDump, new: ConfigDump) -> list[Change]:
    """EDS and ``/clusters`` changes, one `Change` per cluster (both views' fields together)."""
    merged: dict[str, list[Change]] = {}
    for change in eds_changes(old, new) + status_changes(old, new):
        merged.setdefault(change.name, []).append(change)
    found = []
    for name in sorted(merged):
        group = merged[name]
        if len(group) == 1:
            found.append(group[0])
        else:
            kinds = {c.change for c in group}
            what = MODIFIED if kinds == {MODIFIED} else next(c.change for c in group if c.change != MODIFIED)
            found.append(Change("endpoint", name, what, tuple(f for c in group for f in c.fields)))
    return found
