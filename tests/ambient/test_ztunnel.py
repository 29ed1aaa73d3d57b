"""A ztunnel's config: reading both forms of its dump, istioctl's tables, ztunnel's decision as a trace hop, and
the live paths (an admin port answering /config_dump as ztunnel's does, capture bundles).

ztunnel's decisions are read from its config, never proven here: no ztunnel binary runs on this machine. What is
checked is that envoyscope reads the dump as ztunnel writes it and applies the rules its docs describe.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.engine.ztunnel import ztunnel_outbound
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_sources
from tests.conftest import REPO, SAMPLES
from tests.lab.ambient import LEGACY_IP, SLEEP_IP, WAYPOINT_IP, WAYPOINT_VIP, ztunnel_config

FOLDER = SAMPLES / "ambient-waypoint"
ZTUNNEL = FOLDER / "ztunnel.config_dump.json"


def keyed(doc: dict[str, Any]) -> dict[str, Any]:
    """The older form of the same dump: workloads and services as objects keyed by network/IP."""
    out = dict(doc)
    out["workloads"] = {f"/{w['workloadIps'][0]}": w for w in doc["workloads"]}
    out["services"] = {s["vips"][0]: s for s in doc["services"]}
    return out


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=REPO,
                          check=False, timeout=120)


def test_the_sample_is_what_the_lab_writes() -> None:
    assert json.loads(ZTUNNEL.read_text()) == json.loads(json.dumps(ztunnel_config()))


@pytest.mark.parametrize("form", ["list", "keyed"])
def test_both_forms_of_the_dump_read_the_same(form: str) -> None:
    doc = ztunnel_config() if form == "list" else keyed(ztunnel_config())
    zt = parse_document(doc, "zt.json").ztunnel
    assert zt is not None
    reviews = zt.service_by_host("reviews.default")
    assert reviews is not None and reviews.vips == ("10.96.0.20",) and reviews.ports == ((9080, 9080),)
    assert reviews.waypoint is not None and reviews.waypoint.address == WAYPOINT_VIP
    assert zt.gateway(reviews.waypoint) == (WAYPOINT_IP, "waypoint.default")
    sleep = zt.workload_by_ip(SLEEP_IP)
    assert sleep is not None and sleep.identity == "spiffe://cluster.local/ns/default/sa/sleep"
    assert [p.name for p in zt.policies] == ["allow-via-waypoint"]


@pytest.mark.parametrize(("dst", "port", "via", "target", "authority"), [
    ("10.96.0.20", 9080, "hbone_waypoint", (WAYPOINT_IP, 15008), "10.96.0.20:9080"),  # service behind the waypoint
    ("10.96.0.70", 80, "hbone", (SLEEP_IP, 15008), f"{SLEEP_IP}:8080"),  # no waypoint: the pod, target port 8080
    ("10.96.0.80", 80, "tcp", (LEGACY_IP, 80), None),  # a pod outside the mesh: plain TCP
    (SLEEP_IP, 8080, "hbone", (SLEEP_IP, 15008), f"{SLEEP_IP}:8080"),  # a pod IP directly
    ("10.96.0.70", 81, "passthrough", ("10.96.0.70", 81), None),  # a port the service does not have
    ("203.0.113.9", 443, "passthrough", ("203.0.113.9", 443), None),  # outside the mesh
])
def test_ztunnel_sends_each_destination_where_its_config_says(dst: str, port: int, via: str,
                                                               target: tuple[str, int], authority: str | None) -> None:
    zt = parse_document(ztunnel_config(), "zt.json").ztunnel
    assert zt is not None
    decision = ztunnel_outbound(zt, dst, port)
    assert (decision.via, (decision.target_ip, decision.target_port), decision.authority) == (via, target, authority)
    assert all("not checked against a running ztunnel" in s.reason for s in decision.steps if s.matched is None or
               s is decision.steps[-1])


def test_a_trace_starts_with_ztunnels_decision_then_the_waypoint() -> None:
    dumps = load_sources([str(FOLDER)])
    result = trace(TraceRequest(host="reviews.default", port=9080, path="/reviews/1",
                                headers=(("end-user", "jason"),), source_ip=SLEEP_IP, from_proxy="waypoint"), dumps)
    assert [h.listener for h in result.hops] == [None, "connect_terminate", "main_internal", "connect_originate"]
    assert result.hops[0].proxy == "ztunnel" and result.hops[0].endpoint == f"{WAYPOINT_IP}:15008"
    assert result.hops[2].cluster == "inbound-vip|9080|v2|reviews.default.svc.cluster.local"
    assert result.hops[3].endpoint == "10.244.1.12:15008"
    assert any("not checked against a running ztunnel" in a for a in result.assumptions)
    assert any("VIP of service reviews.default.svc.cluster.local" in a for a in result.assumptions)


def test_a_service_without_a_waypoint_never_reaches_the_waypoint() -> None:
    result = trace(TraceRequest(host="sleep.default", port=80, from_proxy="waypoint"), load_sources([str(FOLDER)]))
    [hop] = result.hops
    assert hop.proxy == "ztunnel"
    assert result.outcome.kind == "mesh_internal"
    assert f"{SLEEP_IP}:15008" in result.outcome.detail and f"CONNECT {SLEEP_IP}:8080" in result.outcome.detail


def test_the_cli_prints_istioctls_tables() -> None:
    proc = cli("ztunnel", str(FOLDER), "--kind", "service")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "SERVICE", "NAME", "SERVICE", "VIP", "WAYPOINT"]
    cells = {line.split()[1]: line.split() for line in lines[1:]}
    assert cells["reviews"] == ["default", "reviews", "10.96.0.20", "waypoint"]
    assert cells["sleep"][3] == "None"
    proc = cli("ztunnel", str(ZTUNNEL), "--kind", "workload", "-o", "wide", "--address", LEGACY_IP)
    assert proc.stdout.split("\n")[1].split() == ["default", "legacy-6f7d8c9b5d-q2w7x", LEGACY_IP, "ambient-worker",
                                                  "None", "TCP"]


def test_bad_ztunnel_input_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "zt.json"
    bad.write_text(json.dumps({"workloads": [], "services": "nope"}))
    proc = cli("ztunnel", str(bad))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "services" in proc.stderr and str(bad) in proc.stderr
    proc = cli("ztunnel", str(FOLDER / "waypoint.config_dump.json"))
    assert proc.returncode == 2 and "no ztunnel config" in proc.stderr


class _Ztunnel(http.server.BaseHTTPRequestHandler):
    """ztunnel's admin port as far as envoyscope uses it: /config_dump, and 404 for Envoy's other paths."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] == "/config_dump":
            body = json.dumps(ztunnel_config()).encode()
            self.send_response(200)
        else:
            body = b"not found"
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def ztunnel_admin() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ztunnel)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_live_ztunnel_admin_and_a_bundle_of_it(ztunnel_admin: str, tmp_path: Path) -> None:
    proc = cli("ztunnel", "--admin", ztunnel_admin, "--kind", "policy")
    assert proc.returncode == 0, proc.stderr
    assert "allow-via-waypoint" in proc.stdout
    bundle = tmp_path / "mesh.tar.gz"
    proc = cli("capture", "--admin", ztunnel_admin, "-o", str(bundle))
    assert proc.returncode == 0, proc.stderr + proc.stdout
    [dump] = load_sources([str(bundle)])
    assert dump.ztunnel is not None and dump.identity.proxy_type == "ztunnel"
    proc = cli("ztunnel", str(bundle), "--kind", "service")
    assert proc.returncode == 0 and "reviews" in proc.stdout


def test_the_json_report_of_a_trace_through_ztunnel_and_the_waypoint_follows_the_schema(tmp_path: Path) -> None:
    import jsonschema

    out = tmp_path / "report.json"
    proc = cli("trace", str(FOLDER), "--from", "waypoint", "--to", "reviews.default:9080", "--report", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    jsonschema.validate(doc, json.loads((REPO / "docs" / "report-schema.json").read_text()))


def test_the_ambient_sample_opens_in_the_tui_on_every_tab() -> None:
    from tests.tui.test_every_dump import check_every_tab

    check_every_tab(str(FOLDER))


ZTUNNEL_POD = ("istio-system", "ztunnel-x7k2p")


def test_a_ztunnel_pod_through_the_kubernetes_api(ztunnel_admin: str, tmp_path: Path) -> None:
    """`--pod` on a ztunnel pod: the port-forward of the loopback stand-in API server reaches its admin port."""
    from tests.live.fake_apiserver import FakeApiServer, pod

    port = int(ztunnel_admin.rsplit(":", 1)[1])
    with FakeApiServer() as api:
        api.pods = [pod(*ZTUNNEL_POD, ip="10.244.0.9", node="ambient-worker", containers=["istio-proxy"],
                        labels={"app": "ztunnel", "sidecar.istio.io/inject": "false"})]
        api.targets = {ZTUNNEL_POD: port}
        kubeconfig = str(api.kubeconfig(tmp_path / "kubeconfig.json"))
        listed = cli("pods", "-A", "--kubeconfig", kubeconfig)
        shown = cli("ztunnel", "--kubeconfig", kubeconfig, "--pod", "/".join(ZTUNNEL_POD), "--kind", "service")
        bundle = tmp_path / "zt.tar.gz"
        captured = cli("capture", "--kubeconfig", kubeconfig, "--pod", "/".join(ZTUNNEL_POD), "-o", str(bundle))
    assert listed.returncode == 0, listed.stderr
    assert next(line for line in listed.stdout.splitlines() if ZTUNNEL_POD[1] in line).split()[2] == "ztunnel"
    assert shown.returncode == 0, shown.stderr
    assert "reviews      10.96.0.20  waypoint" in shown.stdout
    assert captured.returncode == 0, captured.stderr + captured.stdout
    [dump] = load_sources([str(bundle)])
    assert dump.ztunnel is not None and len(dump.ztunnel.workloads) == len(ztunnel_config()["workloads"])
