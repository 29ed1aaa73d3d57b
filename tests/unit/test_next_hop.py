"""Next hop: which proxy given in SOURCE an endpoint is (instance IP, pod or service DNS name, ``--proxy``), the
inbound hand-off to the app, and the loop guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import proxy_by_hostname, trace
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import Identity
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES

T = "type.googleapis.com/"


def _ident(pod: str, namespace: str, ip: str, **labels: str) -> ConfigDump:
    return ConfigDump(source=f"{pod}.json", identity=Identity(
        node_id=f"router~{ip}~{pod}.{namespace}~{namespace}.svc.cluster.local", proxy_type="gateway", pod=pod,
        namespace=namespace, instance_ips=(ip,), labels=tuple(labels.items())))


GW = _ident("istio-egressgateway-5d8c7b8f9-q2w7x", "istio-system", "10.244.0.31", app="istio-egressgateway")
WEB = _ident("web-0", "shop", "10.244.0.50", app="web")


@pytest.mark.parametrize(("host", "expected"), [
    ("10-244-0-31.istio-system.pod.cluster.local", GW),            # a pod's own DNS name: its IP
    ("10-244-0-31.default.pod.cluster.local", None),               # same IP, another namespace: not that pod
    ("istio-egressgateway.istio-system.svc.cluster.local", GW),    # a service selecting the pod (app label)
    ("istio-egressgateway.istio-system.svc", GW),
    ("istio-egressgateway.default.svc.cluster.local", None),       # the namespace must match
    ("web-0.web-headless.shop.svc.cluster.local", WEB),            # a headless service's pod name
    ("web-1.web-headless.shop.svc.cluster.local", None),
    ("web.shop.svc.cluster.local", WEB),
    ("httpbin.org", None),                                         # not a cluster name at all
])
def test_proxy_by_hostname(host: str, expected: ConfigDump | None) -> None:
    found, why = proxy_by_hostname([GW, WEB], host)
    assert found is expected
    assert bool(why) == (expected is not None)


def test_three_hops_through_a_pod_dns_name_with_mtls() -> None:
    """sleep → egress gateway (a STRICT_DNS endpoint naming the gateway pod) → httpbin's sidecar (15006)."""
    dumps = load_sources([str(SAMPLES / "mesh-mtls")])
    result = trace(TraceRequest(host="legacy.example.com", port=80, ip="10.96.70.70", from_proxy="sleep"), dumps)
    assert [h.proxy.split("-")[0] for h in result.hops] == ["sleep", "istio", "httpbin"]
    first, second, third = result.hops
    assert first.endpoint == "10-244-0-31.istio-system.pod.cluster.local:8443"
    assert second.wire.dst_ip == "10.244.0.31" and second.wire.transport == "tls"
    assert second.wire.sni == "legacy.example.com" and first.tls and first.tls.mode == "ISTIO_MUTUAL"
    assert third.listener == "virtualInbound" and third.filter_chain == "0.0.0.0_80"
    assert second.tls and second.tls.sni == "outbound_.8000_._.httpbin.web.svc.cluster.local"
    assert result.outcome.kind == "mesh_internal" and "application" in result.outcome.detail


def test_without_the_gateway_dump_the_dns_endpoint_leaves() -> None:
    dumps = [d for d in load_sources([str(SAMPLES / "mesh-mtls")]) if "egressgateway" not in d.identity.pod]
    result = trace(TraceRequest(host="legacy.example.com", port=80, ip="10.96.70.70", from_proxy="sleep"), dumps)
    assert len(result.hops) == 1 and result.outcome.kind == "mesh_internal"  # ISTIO_MUTUAL: inside the mesh


def test_proxy_flag_names_a_hostname_endpoint() -> None:
    """``--proxy NAME=HOST`` works for DNS endpoints too: the gateway's httpbin.org endpoint named as the gateway."""
    dumps = load_sources([str(SAMPLES / "egress-gateway-http")])
    plain = trace(TraceRequest(host="httpbin.org", port=80, ip="10.96.20.20", path="/headers"), dumps)
    assert len(plain.hops) == 2 and plain.outcome.kind == "external"
    looped = trace(TraceRequest(host="httpbin.org", port=80, ip="10.96.20.20", path="/headers"), dumps,
                   proxy_ips={"istio-egressgateway-5d8c7b8f9-q2w7x": "httpbin.org"})
    assert len(looped.hops) == 3 and looped.hops[2].proxy == looped.hops[1].proxy
    assert looped.outcome.kind == "no_listener"  # the gateway has nothing on port 80


def _loop_dump(tmp_path: Path) -> Path:
    listener = {"name": "0.0.0.0_8080", "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                    "@type": T + "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", "stat_prefix": "self",
                    "cluster": "self"}}]}]}
    cluster = {"name": "self", "type": "STATIC", "load_assignment": {"cluster_name": "self", "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": "10.0.0.5",
                                                                         "port_value": 8080}}}}]}]}}
    dump: dict[str, Any] = {"configs": [
        {"@type": T + "envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": {
            "id": "router~10.0.0.5~gw-1.ns~ns.svc.cluster.local", "metadata": {"INSTANCE_IPS": "10.0.0.5"}}}},
        {"@type": T + "envoy.admin.v3.ListenersConfigDump", "static_listeners": [{"listener": listener}]},
        {"@type": T + "envoy.admin.v3.ClustersConfigDump", "static_clusters": [{"cluster": cluster}]}]}
    path = tmp_path / "gw.config_dump.json"
    path.write_text(json.dumps(dump))
    return path


def test_loop_when_a_proxy_sends_the_connection_back_to_itself(tmp_path: Path) -> None:
    dumps = load_sources([str(_loop_dump(tmp_path))])
    result = trace(TraceRequest(host="10.0.0.5", port=8080, ip="10.0.0.5", scheme="tcp"), dumps)
    assert result.outcome.kind == "loop"
    assert len(result.hops) == 1 and result.hops[0].endpoint == "10.0.0.5:8080"
