"""A real Envoy before and after: its capture against its admin once its xDS files have changed.

The egress gateway of the egress-mtls-subsets lab is captured (``/config_dump?include_eds``, ``/clusters``), then
its CDS file gets a new connect_timeout and its RDS file the two nginx routes swapped, at a new version. Envoy
reloads; ``envoyscope diff CAPTURE http://admin`` must say exactly those two changes, whatever else Envoy's answer
now writes differently (versions, timestamps, warming, stats).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.lab.envoy import TYPE_URLS, xds_file
from tests.lab.runner import ScenarioLab
from tests.lab.scenarios import by_name

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("live-diff")]
CLUSTER = "outbound|443|v1|nginx.external.svc.cluster.local"


def rewrite(path: Path, type_url: str, change: Any) -> None:
    doc = json.loads(path.read_text())
    resources = [{k: v for k, v in r.items() if k != "@type"} for r in doc["resources"]]
    change(resources)
    xds_file(path, resources, type_url, version="2")


def test_a_capture_against_the_live_envoy_after_an_xds_change(tmp_path: Path) -> None:
    with ScenarioLab(by_name("egress-mtls-subsets"), tmp_path / "lab", direct=True) as lab:
        gateway = lab.envoys["egressgateway"]
        capture = tmp_path / "capture"
        capture.mkdir()
        (capture / "gw.config_dump.json").write_text(gateway.get("/config_dump?include_eds"))
        (capture / "gw.clusters.json").write_text(gateway.get("/clusters?format=json"))
        folder = tmp_path / "lab" / "egressgateway"

        def timeout(clusters: list[dict[str, Any]]) -> None:
            next(c for c in clusters if c["name"] == CLUSTER)["connect_timeout"] = "7s"

        def swap(configs: list[dict[str, Any]]) -> None:
            host = next(v for v in configs[0]["virtual_hosts"] if v["name"].startswith("nginx"))
            host["routes"].reverse()

        rewrite(folder / "cds.json", TYPE_URLS["clusters"], timeout)
        rewrite(next((folder / "rds").glob("http.8080*.json")), TYPE_URLS["routes"], swap)
        gateway.wait_for("/config_dump", lambda text: '"7s"' in text and '"dynamic_warming_clusters"' not in text)
        gateway.wait_for("/config_dump", lambda text: text.index('"nginx-v2"') < text.index('"nginx-v1"'))
        result = subprocess.run([sys.executable, "-m", "envoyscope", "diff", str(capture), gateway.admin_url,
                                 "-o", "json"], capture_output=True, text=True, cwd=REPO, timeout=120, check=False)
    assert result.returncode == 1, result.stderr
    changes = json.loads(result.stdout)["changes"]
    assert [(c["kind"], c["name"], [(f["path"], f["old"], f["new"]) for f in c["fields"]]) for c in changes] == [
        ("route", "http.8080/nginx.external.svc.cluster.local:80/nginx-v2", [("position", 2, 1)]),
        ("cluster", CLUSTER, [("connect_timeout", "1s", "7s")]),
    ]
