"""A gateway's Service port, read from Kubernetes: the stand-in API server answers for the gateway's Service, the
real kubernetes client lists it, and a trace to the Service port starting at the gateway arrives on the listener of
the targetPort — saying so as an assumption. The lab's gateway Envoy binds its listener `0.0.0.0_8080` on a loopback
port (``lab.bound``), so its Service maps port 8000 (which no virtual host name of the dump says) to that port."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from envoyscope.sources.kube import EnvoyPod, Kube, envoy_pod, service_ports
from tests.conftest import REPO
from tests.live.fake_apiserver import pod, service
from tests.live.mesh import GATEWAY, egress_mesh

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-kube")]

GATEWAY_LABELS = {"app": "istio-egressgateway", "istio": "egressgateway"}
TO = "nginx.external.svc.cluster.local:8000"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with egress_mesh(tmp_path_factory.mktemp("kube-svc")) as mesh:
        bound = mesh["lab"].bound[("10.244.0.31", 8080)]
        mesh["api"].services = [
            service("istio-system", "istio-egressgateway", GATEWAY_LABELS, [(8000, bound), (15443, "tls")]),
            service("istio-system", "other", {"app": "other"}, [(8000, 9999)]),  # selects another pod: not read
            service("default", "elsewhere", GATEWAY_LABELS, [(8000, 7777)]),  # another namespace: not listed
        ]
        yield mesh


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=REPO,
                          check=False, timeout=120)


def trace_json(cluster: dict[str, Any]) -> dict[str, Any]:
    proc = cli("trace", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "/".join(GATEWAY), "--to", TO,
               "--ip", "127.0.0.1", "-H", "host: nginx.external.svc.cluster.local", "-H", "want: v2",
               "-o", "json")
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_the_services_selecting_the_pod_are_read(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    dump = kube.dump(kube.resolve("/".join(GATEWAY)))
    bound = cluster["lab"].bound[("10.244.0.31", 8080)]
    assert {(p.service, p.port, p.target_port) for p in dump.service_ports} == {
        ("istio-system/istio-egressgateway", 8000, bound)}  # `tls` names no container port of the pod: left out


def test_a_trace_to_the_service_port_arrives_on_the_target_port(cluster: dict[str, Any]) -> None:
    bound = cluster["lab"].bound[("10.244.0.31", 8080)]
    result = trace_json(cluster)
    hop = result["hops"][0]
    assert hop["listener"] == "0.0.0.0_8080" and hop["received"]["destination"] == f"127.0.0.1:{bound}"
    assert hop["virtual_host"] and hop["route"]  # the listener's routes take the request on
    said = [a for a in result["assumptions"] if a.startswith(f"Service port 8000 → targetPort {bound}")]
    assert said and "istio-system/istio-egressgateway (read from Kubernetes)" in said[0]


def test_without_the_right_to_list_services_the_trace_says_why(cluster: dict[str, Any]) -> None:
    cluster["api"].forbid_services = True
    try:
        proc = cli("trace", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "/".join(GATEWAY), "--to", TO,
                   "--ip", "127.0.0.1", "-o", "json")
    finally:
        cluster["api"].forbid_services = False
    assert proc.returncode == 0, proc.stderr
    assert "the pod's Services could not be read" in proc.stderr and "forbidden by RBAC (403)" in proc.stderr
    result = json.loads(proc.stdout)
    assert result["outcome"]["kind"] == "no_listener"  # the dump's virtual hosts say :80, not :8000
    assert not any("targetPort" in a for a in result["assumptions"])


def test_a_named_target_port_is_the_containers_port() -> None:
    raw = pod("istio-system", "gw-1", ip="10.0.0.9", labels=GATEWAY_LABELS, containers=["istio-proxy"])
    raw["spec"]["containers"][0]["ports"] = [{"name": "http2", "containerPort": 8080}]
    gateway = envoy_pod(raw)
    assert isinstance(gateway, EnvoyPod)
    found = service_ports([service("istio-system", "gw", {"istio": "egressgateway"}, [(80, "http2"), (81, "nope"),
                                                                                    (82, "8082")])], gateway)
    assert [(p.port, p.target_port) for p in found] == [(80, 8080), (82, 8082)]
