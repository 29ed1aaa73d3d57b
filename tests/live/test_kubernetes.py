"""Kubernetes through the loopback stand-in API server: the real kubernetes client, the real port-forward
WebSocket protocol (v4.channel.k8s.io), and real Envoy admin ports behind it. No live cluster is involved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envoyscope.errors import KubeError
from envoyscope.sources.kube import Kube
from tests.conftest import REPO
from tests.live.fake_apiserver import pod
from tests.live.mesh import GATEWAY, SLEEP, egress_mesh

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-kube")]

@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    plain = pod("default", "plain-nginx-1", ip="10.244.0.50", labels={"app": "nginx"}, containers=["nginx"])
    with egress_mesh(tmp_path_factory.mktemp("kube"), (plain,)) as mesh:
        yield mesh


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=REPO,
                          check=False, timeout=120)


def test_pods_lists_the_envoys(cluster: dict[str, Any]) -> None:
    proc = cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"]))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "TYPE", "READY", "STATUS", "IP", "NODE", "REVISION"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"sleep-7f8d9c6b5d-x2x7k", "istio-egressgateway-5d8c7b8f9-q2w7x", "sleep-pending-2"}
    assert rows["sleep-7f8d9c6b5d-x2x7k"][2:5] == ["sidecar", "2/2", "Running"]
    assert rows["istio-egressgateway-5d8c7b8f9-q2w7x"][2] == "egressgateway"


def test_pod_dump_through_port_forward(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    before = cluster["api"].forwards
    dump = kube.dump(kube.resolve(f"{GATEWAY[0]}/{GATEWAY[1]}"))
    assert dump.identity.pod == GATEWAY[1]
    assert dump.endpoint("outbound|443|v1|nginx.external.svc.cluster.local") is not None
    assert dump.clusters_status is not None
    assert cluster["api"].forwards > before  # it really went through the WebSocket port-forward


def test_every_command_takes_pod(cluster: dict[str, Any]) -> None:
    port = cluster["lab"].bound[("10.244.0.31", 8080)]
    proc = cli("trace", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "default/sleep-7f8d9c6b5d-x2x7k",
               "--pod", "istio-system/istio-egressgateway-5d8c7b8f9-q2w7x", "--to",
               "nginx.external.svc.cluster.local:80", "-H", "want: v2", "--ip", "10.96.30.30",
               "--proxy", f"istio-egressgateway-5d8c7b8f9-q2w7x=127.0.0.1:{port}", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    hops = json.loads(proc.stdout)["hops"]
    assert [h["route"] for h in hops] == ["nginx-via-egress", "nginx-v2"]
    proc = cli("clusters", "--kubeconfig", str(cluster["kubeconfig"]), "-n", "istio-system", "-l",
               "istio=egressgateway", "--fqdn", "nginx")
    assert proc.returncode == 0 and "nginx.external.svc.cluster.local" in proc.stdout, proc.stderr


@pytest.mark.parametrize(("spec", "message"), [
    ("default/plain-nginx-1", "runs no Envoy"),
    ("default/sleep-pending-2", "is Pending, not Running"),
    ("default/nope", "not found (404)"),
])
def test_pod_errors_are_explained(cluster: dict[str, Any], spec: str, message: str) -> None:
    proc = cli("clusters", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", spec)
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and proc.stderr.count("\n") == 1


def test_rbac_refusal_of_port_forward(cluster: dict[str, Any]) -> None:
    cluster["api"].forbid_portforward.add(SLEEP)
    try:
        proc = cli("clusters", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "/".join(SLEEP))
    finally:
        cluster["api"].forbid_portforward.discard(SLEEP)
    assert proc.returncode == 2
    assert "forbidden by RBAC (403)" in proc.stderr and "pods/portforward" in proc.stderr


def test_dropped_transfer_is_retried_once(cluster: dict[str, Any]) -> None:
    cluster["api"].drop_after_bytes = 2000  # the first forwarded stream breaks mid-transfer
    kube = Kube(str(cluster["kubeconfig"]))
    dump = kube.dump(kube.resolve("/".join(GATEWAY)))
    assert dump.identity.pod == GATEWAY[1]


def test_kubeconfig_problems(tmp_path: Path, cluster: dict[str, Any]) -> None:
    with pytest.raises(KubeError, match="not found|no usable"):
        Kube(str(tmp_path / "missing.yaml"))
    with pytest.raises(KubeError, match="context `prod` not found"):
        Kube(str(cluster["kubeconfig"]), context="prod")


def test_pods_takes_the_common_output_flags(cluster: dict[str, Any]) -> None:
    table = cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"])).stdout.splitlines()
    bare = cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"]), "--no-headers").stdout.splitlines()
    assert table[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert [r.split() for r in bare] == [r.split() for r in table[1:]]  # as kubectl's --no-headers: the rows alone
    as_json = json.loads(cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"]), "-o", "json").stdout)
    as_yaml = cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"]), "-o", "yaml").stdout
    import yaml

    assert yaml.safe_load(as_yaml) == as_json
    rows = {p["name"]: p for p in as_json}
    assert [rows[line.split()[1]]["type"] for line in bare] == [line.split()[2] for line in bare]
    assert rows["sleep-7f8d9c6b5d-x2x7k"]["ip"] == "10.244.0.12" and rows["sleep-7f8d9c6b5d-x2x7k"]["admin_port"]
