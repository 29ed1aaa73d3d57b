"""The detectors that need a particular config, each shown on a sample changed just enough to trip it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from envoyscope.engine.egress.audit import audit
from envoyscope.engine.egress.findings import proxy_findings
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import load_file, load_sources
from tests.conftest import SAMPLES


def _renamed(dump: ConfigDump, pod: str) -> ConfigDump:
    return dataclasses.replace(dump, identity=dataclasses.replace(dump.identity, pod=pod))


def _codes(findings: Any) -> set[str]:
    return {f.code for f in findings}


def test_bypasses_egress_gateway_when_another_proxy_goes_through_it() -> None:
    through = load_sources([str(SAMPLES / "egress-gateway-http")])  # sleep → egress gateway → httpbin.org
    direct = _renamed(load_file(str(SAMPLES / "allow-any" / "sleep.config_dump.json")), "other-7f8d9c6b5d-abcde")
    audits = audit([*through, direct])
    other = next(a for a in audits if a.proxy.startswith("other-"))
    row = next(r for r in other.destinations if r.destination.host == "httpbin.org")
    assert row.exit == "direct" and "bypasses_egress_gateway" in _codes(row.findings)
    via = next(a for a in audits if a.proxy.startswith("sleep-"))
    assert all("bypasses_egress_gateway" not in _codes(r.findings) for r in via.destinations)


def test_certificates_are_judged_at_capture_time() -> None:
    dump = load_file(str(SAMPLES / "mesh-mtls" / "egressgateway.config_dump.json"))
    assert "certificate_expired" not in _codes(proxy_findings(dump))
    later = dataclasses.replace(dump, captured_at="2035-01-01T00:00:00Z")  # captured long after the certificates
    expired = [f for f in proxy_findings(later) if f.code == "certificate_expired"]
    assert expired and "before the capture (2035-01-01)" in expired[0].detail


T = "type.googleapis.com/"


def _eds_dump(priorities: list[int], outlier: bool) -> ConfigDump:
    cluster: dict[str, Any] = {"name": "outbound|80||db.example.com", "type": "EDS",
                               "eds_cluster_config": {"eds_config": {"ads": {}}}}
    if outlier:
        cluster["outlier_detection"] = {"consecutive_5xx": 5}
    groups = [{"priority": p, "lb_endpoints": [{"endpoint": {"address": {"socket_address": {
        "address": f"10.0.{p}.1", "port_value": 80}}}}]} for p in priorities]
    return parse_document({"configs": [
        {"@type": T + "envoy.admin.v3.ClustersConfigDump", "dynamic_active_clusters": [{"cluster": cluster}]},
        {"@type": T + "envoy.admin.v3.EndpointsConfigDump", "dynamic_endpoint_configs": [{"endpoint_config": {
            "cluster_name": "outbound|80||db.example.com", "endpoints": groups}}]}]}, "test")


def test_failover_without_outlier_detection() -> None:
    assert "failover_without_outlier_detection" in _codes(proxy_findings(_eds_dump([0, 1], outlier=False)))
    assert "failover_without_outlier_detection" not in _codes(proxy_findings(_eds_dump([0, 1], outlier=True)))
    assert "failover_without_outlier_detection" not in _codes(proxy_findings(_eds_dump([0], outlier=False)))
    assert "eds_without_endpoints" in _codes(proxy_findings(_eds_dump([], outlier=False)))


def test_a_gateway_chain_whose_sni_its_routes_do_not_serve(tmp_path: Path) -> None:
    source = SAMPLES / "sni-mismatch" / "egressgateway.config_dump.json"
    assert "sni_mismatch" not in _codes(proxy_findings(load_file(str(source))))
    doc = json.loads(source.read_text())
    for config in doc["configs"]:
        for entry in config.get("dynamic_route_configs", []):
            for vhost in entry["route_config"]["virtual_hosts"]:
                vhost["domains"] = ["other.example.com"]
    path = tmp_path / "egressgateway.config_dump.json"
    path.write_text(json.dumps(doc))
    found = [f for f in proxy_findings(load_file(str(path))) if f.code == "sni_mismatch"]
    assert found and "edition.cnn.com" in found[0].detail and "other.example.com" in found[0].detail


def test_capture_date_falls_back_to_today_only_without_any_stamp() -> None:
    from envoyscope.engine.egress.findings import capture_date

    assert capture_date(_eds_dump([0], outlier=False), dt.date(2030, 1, 2)) == dt.date(2030, 1, 2)
