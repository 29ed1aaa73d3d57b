"""The egress-mtls-subsets scenario as a small cluster: real Envoys (sidecar, egress gateway) behind the loopback
stand-in API server, with the pods Kubernetes would list for them. Shared by the Kubernetes and the TUI tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.lab.runner import ScenarioLab
from tests.lab.scenarios import by_name
from tests.live.fake_apiserver import FakeApiServer, pod

SLEEP = ("default", "sleep-7f8d9c6b5d-x2x7k")
GATEWAY = ("istio-system", "istio-egressgateway-5d8c7b8f9-q2w7x")


@contextmanager
def egress_mesh(work: Path, extra_pods: tuple[dict[str, Any], ...] = (), *, tls: bool = False
                ) -> Iterator[dict[str, Any]]:
    """{"lab", "api", "kubeconfig"}: the scenario's Envoys running, the API answering for their pods (over HTTPS
    with ``tls``, its CA in ``api.ca_file``)."""
    tls_dir = work / "apiserver-tls" if tls else None
    if tls_dir is not None:
        tls_dir.mkdir()
    with ScenarioLab(by_name("egress-mtls-subsets"), work, direct=True) as lab, FakeApiServer(tls_dir) as api:
        api.pods = [
            pod(*SLEEP, ip="10.244.0.12", labels={"app": "sleep", "istio.io/rev": "default"},
                containers=["sleep", "istio-proxy"]),
            pod(*GATEWAY, ip="10.244.0.31", labels={"app": "istio-egressgateway", "istio": "egressgateway"},
                containers=["istio-proxy"]),
            *extra_pods,
            pod("default", "sleep-pending-2", ip="", labels={"app": "sleep"}, containers=["sleep", "istio-proxy"],
                phase="Pending"),
        ]
        api.targets = {SLEEP: lab.envoys["sleep"].admin_port, GATEWAY: lab.envoys["egressgateway"].admin_port}
        yield {"lab": lab, "api": api, "kubeconfig": api.kubeconfig(work / "kubeconfig.json")}
