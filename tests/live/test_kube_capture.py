"""Capture bundles from pods, deploy/NAME, the pod's own admin port, --context and the port-forward's footprint,
through the loopback stand-in API server (tests/live/fake_apiserver.py) in front of real Envoys."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from envoyscope import __version__
from envoyscope.sources.kube import Kube
from tests.conftest import REPO
from tests.lab import istio as I  # noqa: N812
from tests.lab.envoy import EnvoyProcess, free_port
from tests.lab.runner import ScenarioLab
from tests.lab.scenarios import by_name
from tests.live.fake_apiserver import FakeApiServer, deployment, pod

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-kube-capture")]

SLEEP = ("default", "sleep-7f8d9c6b5d-x2x7k")
SLEEP_V2 = ("default", "sleep-v2-6c9d8f7b4-h5j6k")
EGRESS = ("istio-system", "istio-egressgateway-5d8c7b8f9-q2w7x")
INGRESS = ("istio-system", "istio-ingressgateway-6b7c8d9f5-k4m2p")  # no Envoy behind it: unreachable
WEB_GW = ("shop", "web-gateway-istio-7c9d8b6f5-m3n4p")  # a Gateway-API gateway
WAYPOINT = ("shop", "waypoint-5f6d7c8b9-w2x4z")
WEB = ("shop", "web-f8d9c7b6d-q2w7x")  # deployments `web` and `web-admin`: names share a prefix, and
WEB_ADMIN = ("shop", "web-admin-6d5c4b9f8-zx9vw")  # web-admin's pod sorts first


def _owned(deploy: str, template_hash: str) -> dict[str, Any]:
    return {"replica_set": f"{deploy}-{template_hash}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    work = tmp_path_factory.mktemp("kube-capture")
    v2_node = I.node("sidecar", "10.244.0.13", SLEEP_V2[1], "default", {"app": "sleep-v2"})
    gw_node = I.node("router", "10.244.0.40", WEB_GW[1], "shop", {"gateway.networking.k8s.io/gateway-name": "web"})
    with (ScenarioLab(by_name("egress-mtls-subsets"), work, direct=True) as lab, FakeApiServer() as api,
          EnvoyProcess("sleep-v2", work / "v2", {"node": v2_node}) as v2,
          EnvoyProcess("web-gateway", work / "gw", {"node": gw_node}) as web_gw):
        api.pods = [
            pod(*SLEEP, ip="10.244.0.12", ips=["10.244.0.12", "fd00:10:244::c"], node="node-1",
                labels={"app": "sleep", "pod-template-hash": "7f8d9c6b5d", "istio.io/rev": "default"},
                containers=["sleep", "istio-proxy"], **_owned("sleep", "7f8d9c6b5d")),
            pod(*SLEEP_V2, ip="10.244.0.13", node="node-3",
                labels={"app": "sleep-v2", "pod-template-hash": "6c9d8f7b4"}, containers=["sleep", "istio-proxy"],
                annotations={"proxy.istio.io/config": "proxyAdminPort: 15999\nholdApplicationUntilProxyStarts: true\n",
                             "sidecar.istio.io/status": json.dumps({"revision": "canary", "containers": ["x"]})},
                **_owned("sleep-v2", "6c9d8f7b4")),
            pod(*EGRESS, ip="10.244.0.31", node="node-2", containers=["istio-proxy"],
                labels={"app": "istio-egressgateway", "istio": "egressgateway", "istio.io/rev": "1-24-0"}),
            pod(*INGRESS, ip="10.244.0.30", node="node-2", containers=["istio-proxy"],
                labels={"app": "istio-ingressgateway", "istio": "ingressgateway"}),
            pod(*WEB_GW, ip="10.244.0.40", node="node-1", containers=["istio-proxy"],
                labels={"gateway.networking.k8s.io/gateway-name": "web", "istio.io/gateway-name": "web",
                        "gateway.istio.io/managed": "istio.io-gateway-controller"}),
            pod(*WAYPOINT, ip="10.244.0.41", node="node-1", containers=["istio-proxy"],
                labels={"gateway.networking.k8s.io/gateway-name": "waypoint",
                        "gateway.networking.k8s.io/gateway-class-name": "istio-waypoint"}),
            pod(*WEB, ip="10.244.1.5", labels={"app": "web", "pod-template-hash": "f8d9c7b6d"},
                containers=["web", "istio-proxy"], **_owned("web", "f8d9c7b6d")),
            pod(*WEB_ADMIN, ip="10.244.1.6", labels={"app": "web-admin", "pod-template-hash": "6d5c4b9f8"},
                containers=["web", "istio-proxy"], **_owned("web-admin", "6d5c4b9f8")),
            pod("default", "plain-nginx-1", ip="10.244.0.50", labels={"app": "nginx"}, containers=["nginx"]),
        ]
        api.deployments = [deployment("default", "sleep", {"app": "sleep"}),
                           deployment("default", "sleep-v2", {"app": "sleep-v2"}),
                           deployment("shop", "web", {"app": "web"}),
                           deployment("shop", "web-admin", {"app": "web-admin"})]
        api.targets = {SLEEP: lab.envoys["sleep"].admin_port, SLEEP_V2: {15999: v2.admin_port},
                       EGRESS: lab.envoys["egressgateway"].admin_port, WEB_GW: {15000: web_gw.admin_port}}
        yield {"lab": lab, "api": api, "kubeconfig": api.kubeconfig(work / "kubeconfig.json"), "work": work}


def cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120, env={**os.environ, **(env or {})})


def test_pods_columns(cluster: dict[str, Any]) -> None:
    proc = cli("pods", "-A", "--kubeconfig", str(cluster["kubeconfig"]))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[1]: line.split() for line in proc.stdout.splitlines()[1:]}
    #                 TYPE             READY  STATUS     IP             NODE      REVISION
    assert rows[SLEEP[1]][2:] == ["sidecar", "2/2", "Running", "10.244.0.12", "node-1", "default"]
    assert rows[SLEEP_V2[1]][2:] == ["sidecar", "2/2", "Running", "10.244.0.13", "node-3", "canary"]
    assert rows[EGRESS[1]][2:] == ["egressgateway", "1/1", "Running", "10.244.0.31", "node-2", "1-24-0"]
    assert rows[INGRESS[1]][2:] == ["ingressgateway", "1/1", "Running", "10.244.0.30", "node-2", "default"]
    assert rows[WEB_GW[1]][2] == "gateway" and rows[WAYPOINT[1]][2] == "waypoint"
    assert "plain-nginx-1" not in rows


def test_deploy_name_picks_its_own_pods(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    assert kube.resolve("deploy/web", "shop").name == WEB[1]  # not web-admin-…, which also starts with `web-`
    assert kube.resolve("shop/deploy/web-admin").name == WEB_ADMIN[1]
    assert kube.resolve("deployment/sleep").name == SLEEP[1]
    assert [p.name for p in kube.deployment_pods("sleep-v2", "default")] == [SLEEP_V2[1]]
    proc = cli("clusters", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "deploy/nope")
    assert proc.returncode == 2 and "deployment default/nope: not found (404)" in proc.stderr


def test_admin_port_comes_from_the_pod(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    v2 = kube.resolve("/".join(SLEEP_V2))
    assert v2.admin_port == 15999 and kube.resolve("/".join(SLEEP)).admin_port == 15000
    dump = kube.dump(v2)
    assert dump.identity.pod == SLEEP_V2[1]
    assert cluster["api"].requested[-1] == (*SLEEP_V2, 15999)


def test_admin_port_option_overrides(cluster: dict[str, Any]) -> None:
    api, kubeconfig = cluster["api"], str(cluster["kubeconfig"])
    api.targets[WEB] = {15123: cluster["lab"].envoys["sleep"].admin_port}  # only 15123 answers in this pod
    try:
        wrong = cli("clusters", "--kubeconfig", kubeconfig, "--pod", "shop/deploy/web")
        right = cli("clusters", "--kubeconfig", kubeconfig, "--pod", "shop/deploy/web", "--admin-port", "15123")
    finally:
        del api.targets[WEB]
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "15000" in wrong.stderr, wrong.stderr
    assert right.returncode == 0, right.stderr
    assert "istio-egressgateway.istio-system.svc.cluster.local" in right.stdout
    assert (*WEB, 15123) in api.requested


def test_context_chosen_from_a_kubeconfig_with_two(cluster: dict[str, Any], tmp_path: Path) -> None:
    dead = free_port()  # the current context points at a loopback port where nothing listens
    kubeconfig = cluster["api"].kubeconfig(tmp_path / "two.json", context="lab", others={"broken": dead})
    assert json.loads(kubeconfig.read_text())["current-context"] == "broken"
    default = cli("pods", "-A", "--kubeconfig", str(kubeconfig))
    chosen = cli("pods", "-A", "--kubeconfig", str(kubeconfig), "--context", "lab")
    assert default.returncode == 2 and "cannot reach the API server" in default.stderr
    assert chosen.returncode == 0, chosen.stderr
    assert SLEEP[1] in chosen.stdout
    listed = cli("listeners", "--kubeconfig", str(kubeconfig), "--context", "lab", "--pod", "/".join(EGRESS))
    assert listed.returncode == 0 and "Route: http.8080" in listed.stdout, listed.stderr


def _listening_inodes() -> set[str]:
    """Inodes of the TCP sockets in LISTEN state (0A) that this process holds, from /proc/net/tcp{,6}."""
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if fields[3] == "0A":
                    listening.add(fields[9])
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[8:-1])
    return listening & mine


def test_port_forward_leaves_no_port_listening(cluster: dict[str, Any]) -> None:
    kube = Kube(str(cluster["kubeconfig"]))
    target = kube.resolve("/".join(EGRESS))
    before = _listening_inodes()
    assert before  # the stand-in API server listens in this process: the count sees it
    during: list[set[str]] = []
    forwards = cluster["api"].forwards
    with kube.client(target) as admin:
        body = admin.get("/config_dump?include_eds", progress=lambda _: during.append(_listening_inodes())).body
        listeners = admin.listeners()
    after = _listening_inodes()
    assert len(body) > 10_000 and cluster["api"].forwards > forwards
    assert {item["name"] for item in listeners} >= {"0.0.0.0_8080"}  # /listeners through the port-forward
    assert during and all(now == before for now in during)
    assert after == before


def test_capture_pods_and_gateways(cluster: dict[str, Any], tmp_path: Path) -> None:
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    bundle = tmp_path / "incident.tar.gz"
    proc = cli("capture", "--kubeconfig", str(cluster["kubeconfig"]), "--pod", "/".join(SLEEP),
               "--pod", "deploy/sleep-v2", "--all-gateways", "-o", str(bundle), cwd=tmp_path,
               env={"FORCE_COLOR": "1", "COLUMNS": "160"})
    assert proc.returncode == 1, proc.stderr  # one of five pods is unreachable
    assert "━" in proc.stderr and "capturing pod " in proc.stderr and "/25" in proc.stderr  # the progress bar
    failed = [line for line in proc.stderr.splitlines() if "failed" in line and INGRESS[1] in line]
    assert len(failed) == 1 and "nothing answers on port 15000 in the pod" in failed[0]
    assert "unable to forward port 15000" in failed[0]
    assert "(5 proxies, 1 failed)" in proc.stderr
    with tarfile.open(bundle) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    manifest = json.loads(files.pop("manifest.json"))
    assert manifest["envoyscope_version"] == __version__
    proxies = {p["name"]: p for p in manifest["proxies"]}
    assert set(proxies) == {SLEEP[1], SLEEP_V2[1], EGRESS[1], INGRESS[1], WEB_GW[1]}  # the waypoint is no gateway
    assert [(f["proxy"], f["source"]) for f in manifest["failures"]] == [(INGRESS[1], "pod " + "/".join(INGRESS))]
    assert proxies[INGRESS[1]]["files"] == {} and "unable to forward port 15000" in proxies[INGRESS[1]]["error"]
    sleep = proxies[SLEEP[1]]
    assert sleep["labels"] == {"app": "sleep", "pod-template-hash": "7f8d9c6b5d", "istio.io/rev": "default"}
    assert sleep["ips"] == ["10.244.0.12", "fd00:10:244::c"] and sleep["instance_ips"] == ["10.244.0.12"]
    assert sleep["kubernetes"]["node"] == "node-1" and sleep["proxy_type"] == "sidecar"
    assert sleep["server"]["state"] == "LIVE" and sleep["envoy_version"].startswith("1.")
    assert proxies[SLEEP_V2[1]]["admin_port"] == 15999 and proxies[SLEEP_V2[1]]["kubernetes"]["revision"] == "canary"
    assert proxies[WEB_GW[1]]["kubernetes"]["kind"] == "gateway" and proxies[WEB_GW[1]]["proxy_type"] == "gateway"
    assert "no cluster" in proxies[SLEEP_V2[1]]["rewritten"]["clusters"] and "rewritten" not in sleep
    captured = dt.datetime.fromisoformat(sleep["captured_at"])
    assert started <= captured <= dt.datetime.now(dt.UTC)
    listed = {}
    for proxy in proxies.values():
        listed.update(proxy["files"])
    assert set(listed) == set(files) and len(files) == 4 * 5
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest() and entry["bytes"] == len(files[name])
    port = cluster["lab"].bound[("10.244.0.31", 8080)]
    traced = cli("trace", str(bundle), "--from", SLEEP[1], "--to", "nginx.external.svc.cluster.local:80",
                 "-H", "want: v2", "--ip", "10.96.30.30", "--proxy", f"{EGRESS[1]}=127.0.0.1:{port}", "-o", "json")
    assert traced.returncode == 0, traced.stderr
    hops = json.loads(traced.stdout)["hops"]
    assert [h["route"] for h in hops] == ["nginx-via-egress", "nginx-v2"]


def test_capture_by_selector_and_namespace(cluster: dict[str, Any], tmp_path: Path) -> None:
    bundle = tmp_path / "selected.tar.gz"
    proc = cli("capture", "--kubeconfig", str(cluster["kubeconfig"]), "-n", "default", "-l", "app=sleep",
               "-o", str(bundle), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(bundle) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert [p["name"] for p in manifest["proxies"]] == [SLEEP[1]] and manifest["failures"] == []


def test_capture_needs_a_proxy(tmp_path: Path) -> None:
    proc = cli("capture", "-o", str(tmp_path / "x.tar.gz"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "nothing to capture" in proc.stderr
