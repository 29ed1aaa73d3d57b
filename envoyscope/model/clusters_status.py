"""What Envoy's ``/clusters`` says about every host: health, weight, locality, priority, outlier state.

Read from the JSON form (``/clusters?format=json``, snake_case or camelCase) or the text form
(``cluster::ip:port::health_flags::healthy`` lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Health flags of Envoy's text form, and the JSON health_status fields they correspond to.
_FLAG_FIELDS = {
    "failed_active_hc": "failed_active_health_check",
    "failed_outlier_check": "failed_outlier_check",
    "failed_eds_health": "eds_health_status",
    "degraded_active_hc": "failed_active_degraded_check",
    "degraded_eds_health": "eds_health_status",
    "pending_dynamic_removal": "pending_dynamic_removal",
    "pending_active_hc": "pending_active_hc",
    "excluded_via_immediate_hc_fail": "excluded_via_immediate_hc_fail",
    "active_hc_timeout": "active_hc_timeout",
    "eds_status_draining": "eds_health_status",
}
# What the text form's EDS flags say the EDS health status is (the JSON form gives it as eds_health_status).
_EDS_BY_FLAG = (("eds_status_draining", "DRAINING"), ("failed_eds_health", "UNHEALTHY"),
                ("degraded_eds_health", "DEGRADED"))


@dataclass(frozen=True, slots=True)
class HostStatus:
    cluster: str
    address: str  # ip:port, or a pipe path / internal address as Envoy names it
    eds_health: str = "HEALTHY"  # HEALTHY | UNHEALTHY | DRAINING | TIMEOUT | DEGRADED | UNKNOWN
    flags: tuple[str, ...] = ()  # Envoy's health flags (failed_outlier_check, failed_active_hc, eds_status_draining…)
    weight: int = 1
    priority: int = 0
    locality: str = ""  # region/zone/sub_zone
    hostname: str = ""
    stats: tuple[tuple[str, int], ...] = ()

    @property
    def healthy(self) -> bool:
        """Whether Envoy would send traffic here: no failure flag and EDS does not say otherwise."""
        bad = {"failed_active_hc", "failed_outlier_check", "failed_eds_health", "pending_dynamic_removal",
               "eds_status_draining"}
        return not (bad & set(self.flags)) and self.eds_health in ("HEALTHY", "UNKNOWN", "DEGRADED")

    @property
    def outlier_failed(self) -> bool:
        return "failed_outlier_check" in self.flags

    def stat(self, name: str) -> int | None:
        return dict(self.stats).get(name)


@dataclass(frozen=True, slots=True)
class ClustersStatus:
    hosts: tuple[HostStatus, ...]
    added_via_api: tuple[tuple[str, bool], ...] = ()
    source_format: str = "json"  # json | text

    @property
    def cluster_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.added_via_api)

    def hosts_of(self, cluster: str) -> tuple[HostStatus, ...]:
        return tuple(host for host in self.hosts if host.cluster == cluster)


def _address(address: dict[str, Any]) -> str:
    if "socket_address" in address:
        sock = address["socket_address"]
        host = sock.get("address", "")
        port = sock.get("port_value", sock.get("named_port", ""))
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if "pipe" in address:
        return f"unix://{address['pipe'].get('path', '')}"
    if "envoy_internal_address" in address:
        internal = address["envoy_internal_address"]
        return f"envoy://{internal.get('server_listener_name', '')}/{internal.get('endpoint_id', '')}"
    return "?"


def _locality(locality: dict[str, Any] | None) -> str:
    if not locality:
        return ""
    return "/".join(str(locality.get(key, "")) for key in ("region", "zone", "sub_zone")).rstrip("/")


def _flags(health: dict[str, Any]) -> tuple[str, ...]:
    flags = [flag for flag, key in _FLAG_FIELDS.items() if key != "eds_health_status" and health.get(key)]
    eds = health.get("eds_health_status", "HEALTHY")
    if eds == "DRAINING":  # Envoy's text form says eds_status_draining, not failed_eds_health
        flags.append("eds_status_draining")
    elif eds in ("UNHEALTHY", "TIMEOUT"):
        flags.append("failed_eds_health")
    elif eds == "DEGRADED":
        flags.append("degraded_eds_health")
    return tuple(flags)


def clusters_status_from_json(doc: dict[str, Any]) -> ClustersStatus:
    """``/clusters?format=json`` (already normalised to snake_case)."""
    hosts: list[HostStatus] = []
    added: list[tuple[str, bool]] = []
    for status in doc.get("cluster_statuses") or ():
        name = str(status.get("name", ""))
        added.append((name, bool(status.get("added_via_api", False))))
        for host in status.get("host_statuses") or ():
            health = host.get("health_status") or {}
            stats = tuple(
                (str(stat.get("name", "")), int(stat.get("value", 0) or 0)) for stat in host.get("stats") or ()
            )
            hosts.append(
                HostStatus(
                    cluster=name,
                    address=_address(host.get("address") or {}),
                    eds_health=str(health.get("eds_health_status", "HEALTHY")),
                    flags=_flags(health),
                    weight=int(host.get("weight", 1) or 1),
                    priority=int(host.get("priority", 0) or 0),
                    locality=_locality(host.get("locality")),
                    hostname=str(host.get("hostname", "")),
                    stats=stats,
                )
            )
    return ClustersStatus(hosts=tuple(hosts), added_via_api=tuple(added), source_format="json")


def looks_like_clusters_text(text: str) -> bool:
    first = text.lstrip().split("\n", 1)[0]
    return first.count("::") >= 2


def _is_address(value: str) -> bool:
    """``ip:port``, ``[v6]:port``, ``hostname:port`` or a pipe/socket path — not a circuit breaker priority name."""
    if value.startswith(("/", "@", "[")):
        return True
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit())


def clusters_status_from_text(text: str) -> ClustersStatus:
    """Envoy's plain ``/clusters``: ``name::ip:port::key::value`` per host fact, ``name::key::value`` per cluster."""
    facts: dict[tuple[str, str], dict[str, str]] = {}
    order: list[tuple[str, str]] = []
    added: dict[str, bool] = {}
    for line in text.splitlines():
        parts = line.strip().split("::")
        if len(parts) == 3:
            if parts[1] == "added_via_api":
                added[parts[0]] = parts[2] == "true"
            else:
                added.setdefault(parts[0], False)
            continue
        if len(parts) < 4:
            continue
        name, address, key, value = parts[0], parts[1], parts[2], "::".join(parts[3:])
        added.setdefault(name, False)
        if not _is_address(address):
            continue  # per-cluster facts: `name::default_priority::max_connections::1024`, outlier settings
        if (name, address) not in facts:
            facts[(name, address)] = {}
            order.append((name, address))
        facts[(name, address)][key] = value
    hosts = []
    for name, address in order:
        fact = facts[(name, address)]
        flags = tuple(flag for flag in fact.get("health_flags", "healthy").split("/") if flag and flag != "healthy")
        eds = next((status for flag, status in _EDS_BY_FLAG if flag in flags), "HEALTHY")
        locality = "/".join(fact.get(key, "") for key in ("region", "zone", "sub_zone")).rstrip("/")
        known = {"health_flags", "weight", "priority", "region", "zone", "sub_zone", "canary", "success_rate",
                 "local_origin_success_rate", "hostname"}
        stats = tuple((key, int(val)) for key, val in fact.items() if key not in known and val.lstrip("-").isdigit())
        hosts.append(
            HostStatus(
                cluster=name,
                address=address,
                eds_health=eds,
                flags=flags,
                weight=int(fact.get("weight", "1") or 1),
                priority=int(fact.get("priority", "0") or 0),
                locality=locality,
                hostname=fact.get("hostname", ""),
                stats=stats,
            )
        )
    return ClustersStatus(hosts=tuple(hosts), added_via_api=tuple(added.items()), source_format="text")
