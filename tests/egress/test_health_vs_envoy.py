"""Health findings from a real Envoy's own ``/clusters``: outlier detection really ejects the hosts first.

One Envoy routes HTTP to ``outbound|80||flaky.example.com`` (two hosts on closed loopback ports, outlier detection
ejecting after 2 consecutive failures) and to a cluster with 4 hosts of which the test makes 3 fail, under a panic
threshold of 50%. After the requests, Envoy's ``/clusters`` flags the hosts ``failed_outlier_check``; ``envoyscope
check --admin URL`` must report ``all_hosts_ejected`` for the first and ``panic_mode`` for the second — read live
from the admin port, and again from the capture bundle ``envoyscope capture`` writes of it.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_bad_input import run_cli
from tests.conftest import REPO
from tests.lab import istio as I  # noqa: N812
from tests.lab.envoy import EnvoyProcess, free_port

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("health")]
T = "type.googleapis.com/"


class Answering:
    """An HTTP upstream that answers 200 to everything, on loopback."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while conn.recv(65536):
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")


def _cluster(name: str, ports: list[int]) -> dict[str, Any]:
    return {"name": name, "type": "STATIC", "connect_timeout": "0.25s",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
                {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": p}}}}
                for p in ports]}]},
            "outlier_detection": {"consecutive_5xx": 2, "consecutive_gateway_failure": 2, "interval": "0.2s",
                                  "base_ejection_time": "300s", "max_ejection_percent": 100},
            "common_lb_config": {"healthy_panic_threshold": {"value": 50}}}


def _bootstrap(port: int, answering: int) -> dict[str, Any]:
    flaky, mixed = I.cluster_name(80, "flaky.example.com"), I.cluster_name(80, "mixed.example.com")
    routes = [{"name": "flaky", "match": {"prefix": "/flaky"}, "route": {"cluster": flaky}},
              {"name": "mixed", "match": {"prefix": "/mixed"}, "route": {"cluster": mixed}}]
    hcm = {"@type": T + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "http", "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": T + "envoy.extensions.filters.http.router.v3.Router"}}],
           "route_config": {"name": "80", "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": routes}]}}
    listener = {"name": "0.0.0.0_80", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                "typed_config": hcm}]}]}
    closed = [free_port() for _ in range(5)]
    return {"node": I.node("sidecar", "10.244.0.12", "sleep-7f8d9c6b5d-x2x7k", "default", {"app": "sleep"}),
            "static_resources": {"listeners": [listener], "clusters": [
                _cluster(flaky, closed[:2]), _cluster(mixed, [answering, *closed[2:]])]}}


def _get(port: int, path: str) -> None:
    with contextlib.suppress(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()  # noqa: S310


def test_ejected_and_panicking_clusters_are_found_from_envoys_own_clusters(tmp_path: Path) -> None:
    answering = Answering()
    port = free_port()
    with EnvoyProcess("health", tmp_path, _bootstrap(port, answering.port)) as envoy:
        for _ in range(12):
            _get(port, "/flaky")
            _get(port, "/mixed")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = json.loads(envoy.get("/clusters?format=json"))
            flags = [h.get("health_status", {}) for c in status["cluster_statuses"] for h in c.get("host_statuses", [])
                     if "flaky" in c["name"]]
            if flags and all(f.get("failed_outlier_check") for f in flags):
                break
            _get(port, "/flaky")
            time.sleep(0.1)
        live = run_cli(REPO, "check", "--admin", envoy.admin_url, "-o", "json", "--ignore", "allow_any")
        bundle = tmp_path / "capture.tar.gz"
        captured = run_cli(REPO, "capture", "--admin", envoy.admin_url, "-o", str(bundle))
    answering.server.close()
    assert live.returncode == 1, live.stderr
    assert captured.returncode == 0, captured.stderr
    offline = run_cli(REPO, "check", str(bundle), "-o", "json", "--ignore", "allow_any")
    for result in (live, offline):
        findings = [f for p in json.loads(result.stdout)["proxies"] for f in p["findings"]]
        codes = {(f["code"], f["detail"].split("`")[1]) for f in findings if "`" in f["detail"]}
        assert ("all_hosts_ejected", I.cluster_name(80, "flaky.example.com")) in codes, findings
        assert ("panic_mode", I.cluster_name(80, "mixed.example.com")) in codes, findings
