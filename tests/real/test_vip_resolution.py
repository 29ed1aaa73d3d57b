"""Destination resolution on real dumps: every service a dump gives its own VIP listener is traced to that VIP.

The expected VIPs are read here straight from the listeners (their address, and the service their HTTP route
configuration or tcp_proxy cluster names); the trace then has to pick that IP without ``--ip`` and the
listener step has to land on that very listener, as Envoy's original-destination hand-off would.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from envoyscope.engine.destination import assume_destination_ip
from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.model.dump import ConfigDump
from envoyscope.model.names import parse_cluster_name
from envoyscope.sources.files import load_file
from tests.conftest import FIXTURES, shared_path

REAL = FIXTURES / "real-dumps"
DUMPS = sorted(str(p.relative_to(REAL)) for p in REAL.rglob("*.json")) if REAL.is_dir() else ["(absent)"]


def _load(name: str) -> ConfigDump:
    return load_file(str(shared_path("real-dumps", *Path(name).parts)))


def vip_services(dump: ConfigDump) -> dict[tuple[str, int], set[str]]:
    """(host, port) → the specific listener addresses whose config names that service."""
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    for listener in dump.active_listeners():
        sock = (listener.raw.get("address") or {}).get("socket_address") or {}
        ip, port = str(sock.get("address", "")), int(sock.get("port_value", 0) or 0)
        if not ip or ip in ("0.0.0.0", "::") or listener.name != f"{ip}_{port}":
            continue
        for chain in listener.raw.get("filter_chains") or ():
            for filt in chain.get("filters") or ():
                typed = filt.get("typed_config") or {}
                rds = str((typed.get("rds") or {}).get("route_config_name", ""))
                host, _, named_port = rds.rpartition(":")
                if host and named_port == str(port):
                    found[(host, port)].add(ip)
                name = parse_cluster_name(str(typed.get("cluster", "")))
                if name.host and name.port == port:
                    found[(name.host, port)].add(ip)
    return found


@pytest.mark.parametrize("name", DUMPS)
def test_every_vip_listener_service_resolves_to_its_vip(name: str) -> None:
    dump = _load(name)
    services = vip_services(dump)
    if dump.identity.proxy_type != "sidecar":
        pytest.skip(f"{name} is a {dump.identity.proxy_type}: a gateway gets connections to its own address")
    if not services:
        pytest.skip(f"{name} has no <ip>_<port> listener naming a service (Istio before per-VIP listeners)")
    for (host, port), ips in sorted(services.items()):
        ip, why = assume_destination_ip(host, port, [dump], dump)
        assert ip in ips, (host, port, ip, why)
        assert "listener" in why and host in why or ip in why
        result = trace(TraceRequest(host, port), [dump])
        assert result.hops[0].listener == f"{ip}_{port}", (host, port, result.hops[0].listener)
        assert result.outcome.kind != "passthrough", (host, port, result.outcome.detail)


def test_the_reported_case() -> None:
    """The bug report: frontend.hr2 on 5000 went to PassthroughCluster; it is the VIP listener's service."""
    dump = _load("deathstarbench-geo-sidecar-1.18/config_dump.json")
    result = trace(TraceRequest("frontend.hr2.svc.cluster.local", 5000), [dump])
    assert result.hops[0].listener == "10.68.128.168_5000"
    assert result.hops[0].cluster == "outbound|5000||frontend.hr2.svc.cluster.local"
    assert "route configuration is `frontend.hr2.svc.cluster.local:5000`" in result.assumptions[0]
    short = trace(TraceRequest("frontend", 5000), [dump])  # the pod is in hr2: Kubernetes DNS expands there first
    assert short.hops[0].cluster == "outbound|5000||frontend.hr2.svc.cluster.local"
