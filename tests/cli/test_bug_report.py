"""``istioctl bug-report`` archives as a SOURCE (issue 16), built here in istio's layout from real dumps.

The layout (istio tools/bug-report: pkg/archive, pkg/common): one root folder ``bug-report/``; per proxy
``proxies/<namespace>/<pod>/`` with a file per admin path it fetched — ``config_dump`` in older releases,
``config_dump?include_eds`` in later ones, ``clusters`` (text), ``certs``, ``server_info``, ``stats/prometheus`` —
beside the proxy's log; and ``istio/``, ``cluster/``, ``analyze/``, ``versions`` that envoyscope leaves alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "fixtures" / "real-dumps"
DSB = REAL / "deathstarbench-geo-sidecar-1.18" / "config_dump.json"
BOOKINFO = REAL / "bookinfo-1.5"
pytestmark = pytest.mark.skipif(not DSB.exists(), reason="../shared/fixtures/real-dumps is absent")

# Envoy's /clusters text for two clusters of the DeathStarBench sidecar: profile's endpoint failing active health
# checks, frontend's healthy (the form of the lab's real Envoy answers, tests/lab/test_reading_dumps.py).
CLUSTERS_TEXT = """outbound|8081||profile.hr2.svc.cluster.local::observability_name::profile
outbound|8081||profile.hr2.svc.cluster.local::default_priority::max_connections::4294967295
outbound|8081||profile.hr2.svc.cluster.local::172.16.188.22:8081::cx_active::0
outbound|8081||profile.hr2.svc.cluster.local::172.16.188.22:8081::health_flags::/failed_active_hc
outbound|8081||profile.hr2.svc.cluster.local::172.16.188.22:8081::weight::1
outbound|5000||frontend.hr2.svc.cluster.local::172.16.188.33:5000::health_flags::healthy
outbound|5000||frontend.hr2.svc.cluster.local::172.16.188.33:5000::weight::1
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "envoyscope", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, check=False)


def bug_report(tmp_path: Path) -> Path:
    """An unpacked archive: a 1.18 sidecar (config_dump?include_eds + clusters), a 1.5 ingress gateway
    (config_dump), a pod whose admin answers are missing (log only), and the control plane's folders."""
    root = tmp_path / "bug-report"
    geo = root / "proxies" / "hr2" / "geo-5c54dcd5bd-z5ghf"
    gateway = root / "proxies" / "istio-system" / "istio-ingressgateway-6f9df9b8-2jv6f"
    partial = root / "proxies" / "default" / "ratings-v1-6c9f8d7b4-qwert"
    istiod = root / "istio" / "istio-system" / "istiod-1"
    for folder in (geo, gateway, partial, geo / "stats", istiod, root / "cluster"):
        folder.mkdir(parents=True)
    (geo / "config_dump?include_eds").write_bytes(DSB.read_bytes())
    (geo / "clusters").write_text(CLUSTERS_TEXT)
    (geo / "server_info").write_text('{"version": "x/1.26.4/Clean/RELEASE/BoringSSL", "state": "LIVE"}')
    (geo / "stats" / "prometheus").write_text("envoy_server_live 1\n")
    (geo / "istio-proxy.log").write_text("2023-09-01T10:00:00Z info Envoy proxy is ready\n")
    (gateway / "config_dump").write_bytes((BOOKINFO / "ingressgateway_config_dump.json").read_bytes())
    (partial / "istio-proxy.log").write_text("2023-09-01T10:00:00Z warn timed out\n")
    (istiod / "discovery.log").write_text("info ads\n")
    (root / "cluster" / "k8s-resources").write_text("apiVersion: v1\nkind: List\n")
    (root / "versions").write_text("CLI version: 1.18.2\n")
    return root


def archive(folder: Path, target: Path) -> Path:
    with tarfile.open(target, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file():  # as istio's archive.Create: regular files only, paths below the archived folder
                tar.add(path, arcname=str(path.relative_to(folder.parent)))
    return target


@pytest.mark.parametrize("packed", [True, False])
def test_every_proxy_of_a_bug_report_with_its_pod_identity(tmp_path: Path, packed: bool) -> None:
    root = bug_report(tmp_path)
    source = archive(root, tmp_path / "bug-report.tar.gz") if packed else root
    result = run("bootstrap", str(source))
    assert result.returncode == 0, result.stderr
    headers = [line for line in result.stdout.splitlines() if line.startswith("== ")]
    assert len(headers) == 2, result.stdout
    geo = next(h for h in headers if "geo-5c54dcd5bd-z5ghf.hr2" in h)  # namespace and pod, as the archive says
    gateway = next(h for h in headers if ".istio-system" in h)
    assert "sidecar" in geo and "1.18.2" in geo and "gateway istio-ingressgateway-" in gateway and "1.5.4" in gateway
    assert "ratings-v1-6c9f8d7b4-qwert: bug-report pod folder without config_dump (no admin answers): left out" \
        in result.stderr
    assert "Traceback" not in result.stderr


def test_a_pods_clusters_output_is_paired_with_its_config_dump(tmp_path: Path) -> None:
    archive(bug_report(tmp_path), tmp_path / "bug-report.tar.gz")
    result = run("endpoints", str(tmp_path / "bug-report.tar.gz"), "--cluster",
                 "outbound|8081||profile.hr2.svc.cluster.local", "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    geo = next(v for k, v in data.items() if k.startswith("geo-"))
    assert "172.16.188.22" in json.dumps(geo) and "failed_active_hc" in json.dumps(geo).lower().replace("/", "")


def test_a_trace_through_a_bug_report(tmp_path: Path) -> None:
    archive(bug_report(tmp_path), tmp_path / "bug-report.tar.gz")
    result = run("trace", str(tmp_path / "bug-report.tar.gz"), "--from", "geo", "--to",
                 "profile.hr2.svc.cluster.local:8081", "-o", "json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["hops"][0]["proxy"] == "geo-5c54dcd5bd-z5ghf.hr2"
    assert out["outcome"]["kind"] == "no_healthy_upstream"  # the /clusters health from the archive, not EDS alone


def test_an_archive_of_neither_layout_is_one_clear_line(tmp_path: Path) -> None:
    folder = tmp_path / "something"
    (folder / "logs").mkdir(parents=True)
    (folder / "logs" / "a.log").write_text("x\n")
    result = run("clusters", str(archive(folder, tmp_path / "other.tar.gz")))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "bug-report" in result.stderr and "bundle" in result.stderr


def test_a_bug_report_without_any_config_dump_says_so(tmp_path: Path) -> None:
    root = tmp_path / "bug-report"
    (root / "proxies" / "default" / "ratings-v1-6c9f8d7b4-qwert").mkdir(parents=True)
    (root / "proxies" / "default" / "ratings-v1-6c9f8d7b4-qwert" / "istio-proxy.log").write_text("x\n")
    result = run("clusters", str(archive(root, tmp_path / "bug-report.tar.gz")))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "no proxy config_dump" in result.stderr and "ratings-v1" in result.stderr
