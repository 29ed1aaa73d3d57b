"""The egress audit against what real Envoys did, on every sample scenario and every real dump.

The samples' scenario.yaml files record, for each request, the decisions real Envoys logged when the lab replayed
it (listener, virtual host, route, cluster at every proxy). Every audit row for the same host, port and headers
must cross the same proxies with the same decisions. On the real dumps the audit must run clean, and every row
must be exactly what ``envoyscope trace`` says for that destination.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from envoyscope.engine.egress.audit import ProxyAudit, audit
from envoyscope.engine.egress.findings import CODES
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.conftest import FIXTURES, SAMPLES

SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/scenario.yaml"))
REAL = FIXTURES / "real-dumps"
REAL_FOLDERS = sorted(p.name for p in REAL.iterdir() if p.is_dir()) if REAL.is_dir() else ["(absent)"]
TODAY = dt.date(2026, 1, 1)
_audits: dict[str, tuple[list[Any], list[ProxyAudit]]] = {}


def _audit(folder: Path) -> tuple[list[Any], list[ProxyAudit]]:
    if str(folder) not in _audits:
        dumps = load_sources([str(folder)])
        _audits[str(folder)] = dumps, audit(dumps, today=TODAY)
    return _audits[str(folder)]


def _short(proxy: str) -> str:
    return proxy.split(".")[0].rsplit("-", 2)[0]


@pytest.mark.parametrize("name", SCENARIOS)
def test_rows_cross_the_proxies_envoy_crossed(name: str) -> None:
    scenario = yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text())
    dumps, audits = _audit(SAMPLES / name)
    names = {p["name"]: p for p in scenario["proxies"]}
    checked = 0
    for request in scenario["requests"]:
        host, _, port = request["to"].rpartition(":")
        headers = tuple(tuple(x.strip() for x in h.split(":", 1)) for h in request.get("headers", []))
        start = request.get("from") or next(p["name"] for p in scenario["proxies"] if p["role"] == "sidecar")
        for one in audits:
            if _short(one.proxy) != _short(names[start]["pod"]):
                continue
            for row in one.destinations:
                d = row.destination
                if (d.host, str(d.port)) != (host, port) or (headers and d.headers != headers):
                    continue
                if request.get("scheme", "http") != _scheme(d.protocol):
                    continue  # (paths may differ: the audit asks each route's own path)
                envoy = request["envoy"]
                assert len(row.trace.hops) >= len(envoy), (request["name"], row.via)
                for hop, decision in zip(row.trace.hops, envoy, strict=False):
                    assert _short(hop.proxy) == _short(names[decision["proxy"]]["pod"]), request["name"]
                    for key in ("listener", "virtual_host", "route", "cluster"):
                        assert getattr(hop, key) == decision[key], (request["name"], key, getattr(hop, key))
                checked += 1
    if name in ("egress-gateway-http", "egress-mtls-subsets", "tls-origination", "tcp-mysql", "mesh-mtls"):
        assert checked, f"no audit row of {name} matched a replayed request"


def _scheme(protocol: str) -> str:
    return {"http": "http", "https": "https", "tls": "https", "tcp": "tcp"}[protocol]


def _exits(folder: Path) -> dict[tuple[str, int, str], set[str]]:
    _, audits = _audit(folder)
    found: dict[tuple[str, int, str], set[str]] = {}
    for one in audits:
        for row in one.destinations:
            found.setdefault((row.destination.host, row.destination.port, row.destination.protocol), set()).add(
                row.exit)
    return found


def _codes(folder: Path) -> set[str]:
    _, audits = _audit(folder)
    return {f.code for one in audits for f in (*one.findings, *(f for r in one.destinations for f in r.findings))}


@pytest.mark.parametrize(("name", "host", "port", "protocol", "exit_kind"), [
    ("egress-gateway-http", "httpbin.org", 80, "http", "egress_gateway"),
    ("egress-mtls-subsets", "nginx.external.svc.cluster.local", 80, "http", "egress_gateway"),
    ("tls-origination", "www.googleapis.com", 443, "http", "direct"),
    ("tcp-mysql", "mysql.external.example", 3306, "tcp", "direct"),
    ("registry-only", "unknown.example.invalid", 80, "http", "blocked"),
    ("registry-only", "203.0.113.99", 9999, "tcp", "blocked"),
    ("allow-any", "unknown.example.invalid", 443, "tls", "passthrough"),
    ("mesh-mtls", "edition.cnn.com", 80, "http", "egress_gateway"),
])
def test_each_seed_exits_the_way_its_scenario_shows(name: str, host: str, port: int, protocol: str,
                                                   exit_kind: str) -> None:
    assert exit_kind in _exits(SAMPLES / name)[(host, port, protocol)]


@pytest.mark.parametrize(("name", "code"), [
    ("tls-origination", "no_ca_validation"),  # a DestinationRule SIMPLE without caCertificates
    ("allow-any", "allow_any"),
    ("egress-gateway-http", "plaintext_external"),
    ("tcp-mysql", "plaintext_external"),
    ("tls-origination", "double_tls"),  # replayed: Envoy closes the app's own TLS on 0.0.0.0_443 (NR)
    ("sni-mismatch", "sni_mismatch"),  # replayed: the gateway's listener logs NR, no filter chain
])
def test_the_traps_raise_their_finding(name: str, code: str) -> None:
    assert code in _codes(SAMPLES / name)


def test_registry_only_is_not_allow_any() -> None:
    _, audits = _audit(SAMPLES / "registry-only")
    sidecar = next(a for a in audits if a.outbound_policy != "-")
    assert sidecar.outbound_policy == "REGISTRY_ONLY" and "allow_any" not in _codes(SAMPLES / "registry-only")


@pytest.mark.parametrize("name", REAL_FOLDERS)
def test_real_dumps_audit_clean_and_every_row_is_the_trace(name: str) -> None:
    from tests.conftest import shared_path

    folder = shared_path("real-dumps", name)
    dumps, audits = _audit(folder)
    assert audits and all(f.code in CODES for a in audits for f in a.findings)
    for one in audits:
        for row in one.destinations:
            again = trace(row.trace.request, dumps)
            assert again.outcome == row.trace.outcome
            assert [(h.proxy, h.listener, h.route, h.cluster) for h in again.hops] == [
                (h.proxy, h.listener, h.route, h.cluster) for h in row.trace.hops]
    sidecars = [a for a in audits if a.outbound_policy != "-"]
    assert all(a.outbound_policy in ("ALLOW_ANY", "REGISTRY_ONLY") for a in sidecars)
    for one in sidecars:  # the three catch-alls are always asked
        assert {r.destination.port for r in one.destinations if r.destination.catch_all} == {80, 443, 9999}
