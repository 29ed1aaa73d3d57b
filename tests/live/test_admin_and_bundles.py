"""Live sources against a real Envoy admin port: --admin on every command, clear errors, capture bundles."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from envoyscope.errors import AdminError
from envoyscope.sources.admin import AdminClient, load_admin
from envoyscope.sources.files import load_sources
from tests.conftest import REPO
from tests.lab.envoy import EnvoyProcess, free_port
from tests.lab.runner import ScenarioLab
from tests.lab.scenarios import by_name

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-admin")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The egress-mtls-subsets scenario running: a sidecar and an egress gateway with certificates."""
    with ScenarioLab(by_name("egress-mtls-subsets"), tmp_path_factory.mktemp("live"), direct=True) as running:
        yield running


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=cwd,
                          check=False, timeout=120)


def test_admin_dump_has_eds_and_cluster_health(lab: Any) -> None:
    gateway = lab.envoys["egressgateway"]
    dump = load_admin(gateway.admin_url)
    assert dump.identity.pod == "istio-egressgateway-5d8c7b8f9-q2w7x"
    assert dump.endpoint("outbound|443|v2|nginx.external.svc.cluster.local") is not None
    assert dump.clusters_status is not None and dump.clusters_status.hosts_of(
        "outbound|443|v1|nginx.external.svc.cluster.local")


def test_every_command_takes_admin(lab: Any) -> None:
    sidecar, gateway = lab.envoys["sleep"].admin_url, lab.envoys["egressgateway"].admin_url
    proc = cli("clusters", "--admin", gateway, "--fqdn", "nginx")
    assert proc.returncode == 0, proc.stderr
    assert "outbound" in proc.stdout and "nginx.external.svc.cluster.local" in proc.stdout
    port = lab.bound[("10.244.0.31", 8080)]
    proc = cli("trace", "--admin", sidecar, "--admin", gateway, "--to", "nginx.external.svc.cluster.local:80",
               "-H", "want: v2", "--ip", "10.96.30.30",
               "--proxy", f"istio-egressgateway-5d8c7b8f9-q2w7x=127.0.0.1:{port}", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [h["listener"] for h in data["hops"]] == ["0.0.0.0_80", "0.0.0.0_8080"]
    assert data["hops"][1]["cluster"] == "outbound|443|v2|nginx.external.svc.cluster.local"


def test_refused_is_one_clear_line() -> None:
    port = free_port()
    proc = cli("clusters", "--admin", f"http://127.0.0.1:{port}")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip() == (f"envoyscope: error: http://127.0.0.1:{port}: connection refused or unreachable "
                                   "— is the Envoy admin listening there?")


def _serve_once(answer: bytes) -> int:
    """A loopback server that answers every request with ``answer`` (a web server that is not Envoy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                conn.sendall(answer)

    threading.Thread(target=loop, daemon=True).start()
    return int(server.getsockname()[1])


@pytest.mark.parametrize(("answer", "expected"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "not JSON"),
    (b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found", "HTTP 404"),
    (b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}', "not like Envoy"),
])
def test_not_an_envoy_or_http_error(answer: bytes, expected: str) -> None:
    port = _serve_once(answer)
    with pytest.raises(AdminError, match=expected):
        load_admin(f"http://127.0.0.1:{port}")


def test_size_guard(lab: Any) -> None:
    with AdminClient(lab.envoys["sleep"].admin_url, max_bytes=1000) as client, pytest.raises(AdminError,
                                                                                              match="refusing"):
        client.get("/config_dump?include_eds")


def tar_first_name(bundle: Path) -> str:
    with tarfile.open(bundle) as tar:
        return tar.next().name  # type: ignore[union-attr]


def test_capture_bundle_then_trace_offline(lab: Any, tmp_path: Path) -> None:
    sidecar, gateway = lab.envoys["sleep"].admin_url, lab.envoys["egressgateway"].admin_url
    bundle = tmp_path / "incident.tar.gz"
    proc = cli("capture", "--admin", sidecar, "--admin", gateway, "-o", str(bundle), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(bundle) as tar:
        names = sorted(tar.getnames())
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        for member in tar.getmembers():
            assert b"PRIVATE KEY" not in tar.extractfile(member).read()  # type: ignore[union-attr]
    assert "manifest.json" in names and "sleep-7f8d9c6b5d-x2x7k.config_dump.json" in names
    # the indexed layout: the manifest first, each file its own gzip member, found where the manifest says
    assert manifest["bundle_layout"] == 2 and tar_first_name(bundle) == "manifest.json"
    sidecar_file = manifest["proxies"][0]["files"]["sleep-7f8d9c6b5d-x2x7k.config_dump.json"]
    assert len(sidecar_file["gzip_member"]) == 3
    assert {p["pod"] for p in manifest["proxies"]} == {"sleep-7f8d9c6b5d-x2x7k", "istio-egressgateway-5d8c7b8f9-q2w7x"}
    for proxy in manifest["proxies"]:
        assert set(proxy["files"]) == {f"{proxy['name']}.{k}.json" for k in
                                       ("config_dump", "clusters", "server_info", "certs", "listeners")}
    dumps = load_sources([str(bundle)])
    assert len(dumps) == 2 and all(d.clusters_status is not None for d in dumps)
    port = lab.bound[("10.244.0.31", 8080)]  # the gateway listens on loopback in the lab
    proc = cli("trace", str(bundle), "--to", "nginx.external.svc.cluster.local:80", "-H", "want: v1", "--ip",
               "10.96.30.30", "--proxy", f"istio-egressgateway-5d8c7b8f9-q2w7x=127.0.0.1:{port}", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    hops = json.loads(proc.stdout)["hops"]
    assert [h["route"] for h in hops] == ["nginx-via-egress", "nginx-v1"]


def test_partial_failure_still_writes_the_bundle(lab: Any, tmp_path: Path) -> None:
    bundle = tmp_path / "partial.tar.gz"
    dead = f"http://127.0.0.1:{free_port()}"
    proc = cli("capture", "--admin", lab.envoys["sleep"].admin_url, "--admin", dead, "-o", str(bundle), cwd=tmp_path)
    assert proc.returncode == 1
    assert "failed" in proc.stderr and dead in proc.stderr
    with tarfile.open(bundle) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert [f["error"] for f in manifest["failures"]][0].endswith("is the Envoy admin listening there?")


def test_scrub_removes_private_keys() -> None:
    from envoyscope.sources.bundle import scrub

    body, count = scrub(b'{"k": "-----BEGIN EC PRIVATE KEY-----\\nMHcC\\n-----END EC PRIVATE KEY-----"}')
    assert count == 1 and b"PRIVATE KEY" not in body


def test_admin_harness_envoy_needs_no_scenario(tmp_path: Path) -> None:
    bootstrap = {"node": {"id": "plain-envoy", "cluster": "plain"}}
    with EnvoyProcess("plain", tmp_path, bootstrap) as envoy:
        dump = load_admin(envoy.admin_url)
    assert dump.identity.node_id == "plain-envoy" and dump.identity.proxy_type == "envoy"
