"""The lab harness itself: a real Envoy starts, answers its admin port, takes file-based xDS, and stops."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lab.envoy import TYPE_URLS, EnvoyProcess, file_source, xds_file

pytestmark = pytest.mark.envoy


def test_envoy_serves_file_based_cds_in_config_dump(tmp_path: Path) -> None:
    cds = xds_file(tmp_path / "cds.json", [{
        "name": "outbound|80||httpbin.org", "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": "outbound|80||httpbin.org", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.2", "port_value": 9}}}}]}]},
    }], TYPE_URLS["clusters"])
    bootstrap = {"node": {"id": "sidecar~10.0.0.1~app.default~default.svc.cluster.local", "cluster": "app"},
                 "dynamic_resources": {"cds_config": file_source(cds)}}
    with EnvoyProcess("harness", tmp_path, bootstrap) as envoy:
        dump = envoy.get_json("/config_dump?include_eds")
        clusters = envoy.get_json("/clusters?format=json")
    kinds = [c["@type"].rsplit(".", 1)[-1] for c in dump["configs"]]
    assert "ClustersConfigDump" in kinds
    cds_dump = next(c for c in dump["configs"] if c["@type"].endswith("ClustersConfigDump"))
    names = [c["cluster"]["name"] for c in cds_dump["dynamic_active_clusters"]]
    assert names == ["outbound|80||httpbin.org"]
    assert any(s["name"] == "outbound|80||httpbin.org" for s in clusters["cluster_statuses"])
