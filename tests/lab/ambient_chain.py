"""An ingress gateway in front of the waypoint, both real Envoys: the gateway's own HBONE goes into the waypoint.

The gateway (replay form: 0.0.0.0_8080 on a free loopback port, pod IPs renamed 127.244.x.y as for the waypoint)
routes to ``outbound|port||host`` clusters whose internal endpoints carry the waypoint in their metadata; its
``connect_originate`` opens mTLS + HTTP/2 CONNECT to the waypoint at ``127.244.0.40:15008`` (the waypoint's pod IP
10.244.0.40 in the replay form), where the waypoint's connect_terminate listens. ``send`` sends a plain HTTP/1.1
request to the gateway and returns both Envoys' log lines, tagged with their proxy.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path
from typing import Any

from tests.lab.ambient import (
    WAYPOINT_IP,
    WaypointLab,
    _back,
    _replay,
    bootstrap,
    gateway_resources,
    instrument,
    loaded,
    make_certs,
)
from tests.lab.envoy import EnvoyProcess, free_port, read_json_lines


class GatewayChain:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.certs = make_certs()
        self.waypoint = WaypointLab(workdir / "waypoint", certs=self.certs,
                                    bind=(WAYPOINT_IP.replace("10.244.", "127.244."), 15008))
        self.log = workdir / "gateway.jsonl"
        self.port = free_port()
        self.envoy: EnvoyProcess | None = None

    def __enter__(self) -> GatewayChain:
        self.waypoint.__enter__()
        listeners, clusters, assignments = (_replay(r) for r in gateway_resources())
        instrument(listeners, self.log, "gateway")
        for cluster in clusters:  # one request per internal connection, so each tunnel closes (and logs) at once
            if cluster["name"].startswith("outbound|"):
                options = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
                cluster["typed_extension_protocol_options"] = {options: {
                    "@type": f"type.googleapis.com/{options}",
                    "common_http_protocol_options": {"max_requests_per_connection": 1},
                    "explicit_http_config": {"http_protocol_options": {}}}}
        listeners[0]["address"]["socket_address"].update(address="127.0.0.1", port_value=self.port)
        self.envoy = EnvoyProcess("gateway", self.workdir / "gateway", bootstrap(
            self.workdir / "gateway" / "xds", listeners, clusters, assignments, self.certs, "gateway")).start()
        self.envoy.wait_for("/config_dump", loaded(listeners), timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.envoy is not None:
            self.envoy.stop()
        self.waypoint.__exit__()

    def send(self, path: str, headers: tuple[tuple[str, str], ...], label: str) -> list[dict[str, Any]]:
        before = {log: len(read_json_lines(log)) for log in (self.log, self.waypoint.log)}
        lines = [f"GET {path} HTTP/1.1", "Host: bookinfo.example.com", f"x-case: {label}", "Connection: close",
                 *(f"{n}: {v}" for n, v in headers)]
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                while sock.recv(65536):
                    pass
        deadline = time.monotonic() + 6
        found: list[dict[str, Any]] = []
        while time.monotonic() < deadline:  # done: the gateway's connection, and its tunnel when it opened one
            found = [line for log in (self.log, self.waypoint.log) for line in read_json_lines(log)[before[log]:]]
            tunnelled = any(str(line.get("upstream") or "").startswith("envoy://") for line in found
                            if line["proxy"] == "gateway")
            if any(line["proxy"] == "gateway" and line["listener"] == "0.0.0.0_8080" and line["kind"] == "connection"
                   for line in found) and (not tunnelled or any(
                       line["proxy"] == "gateway" and line["listener"] == "connect_originate" for line in found)):
                time.sleep(0.15)
                found = [line for log in (self.log, self.waypoint.log) for line in read_json_lines(log)[before[log]:]]
                break
            time.sleep(0.02)
        return [{k: _back(v) for k, v in line.items()} for line in found]
