"""AuthorizationPolicies at a waypoint (sample_dumps/ambient-waypoint-policy), traced by envoyscope and run in a
real Envoy 1.40.

The HBONE client's identity reaches main_internal's RBAC only as filter state: connect_terminate's
``set_filter_state`` copies ``%DOWNSTREAM_PEER_URI_SAN%`` (the client certificate ztunnel presented) into
``io.istio.peer_principal``, shared ONCE with the internal connection; that connection itself has no TLS, so an
``authenticated`` principal (the sidecar form) matches nobody there. Each request goes to Envoy with one of two
client certificates (productpage's, the ingress gateway's) and the trace is given the same ``--principal``; the
response code and ``%RESPONSE_CODE_DETAILS%`` at main_internal must equal the trace's, and so must whether the
request got past the filters to the route's cluster.

The second scenario's host without a VIP (``api.example.com:80``): the CONNECT authority is a name, which Envoy's
``original_dst.local_ip`` object refuses, so main_internal's local address stays ``envoy://main_internal/`` and its
``on_no_match`` chooses the chain by the filter state ``io.istio.connect_authority``; names not in that map find no
filter chain.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import Trace, trace
from envoyscope.model.dump import ConfigDump
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.lab import ambient
from tests.lab.ambient import Case, WaypointLab
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-ambient")]
FOLDER = SAMPLES / "ambient-waypoint-policy"
CLIENTS = {"client": ambient.CLIENT_SPIFFE, "gateway": ambient.GATEWAY_SPIFFE}
SERVICES = {"details.default.svc.cluster.local": "10.96.0.50", "ratings.default.svc.cluster.local": "10.96.0.30",
            "reviews.default.svc.cluster.local": "10.96.0.20"}
PATHS = ("/", "/details", "/details/1", "/details/admin", "/details/admin/x", "/details/ADMIN", "/details/administer",
         "/details/./admin", "/details//admin", "/details/x/../admin", "/x/../details/admin", "/details/admin/..",
         "/reviews/1", "/ratings/admin")


def _waypoint() -> ConfigDump:
    return next(d for d in load_sources([str(FOLDER)]) if d.listener("main_internal") is not None)


def generate() -> list[tuple[Case, str, TraceRequest]]:
    out = []
    for host, vip in SERVICES.items():
        for path in PATHS:
            for client, spiffe in CLIENTS.items():
                out.append((Case(f"{vip}:9080", "http", path, f"{host}:9080"), client,
                            TraceRequest(host=host, port=9080, ip=vip, path=path, principal=spiffe,
                                         headers=(("host", f"{host}:9080"),))))
    return out


def _line(lines: list[dict[str, Any]], listener: str, kind: str) -> dict[str, Any] | None:
    return next((line for line in lines if line["listener"] == listener and line["kind"] == kind), None)


def compare(result: Trace, lines: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    mi = _line(lines, "main_internal", "stream") or {}
    co = _line(lines, "connect_originate", "stream")
    envoy_end = ("denied" if mi.get("code") == 403 else "no_route" if mi.get("flags") == "NR" else
                 "upstream" if co is not None else "other")
    kind = result.outcome.kind
    ours = kind if kind in ("denied", "no_route") else "upstream" if any(
        h.listener == "connect_originate" for h in result.hops) else "other"
    out: list[tuple[str, Any, Any]] = [
        ("main_internal route", mi.get("route") or None, next((h.route for h in result.hops
                                                               if h.listener == "main_internal"), None)),
        ("outcome", envoy_end, ours),
        ("response code", mi.get("code") if envoy_end != "upstream" else None,
         result.outcome.response_code if ours != "upstream" else None),
    ]
    if envoy_end == "denied" or ours == "denied":
        out.append(("%RESPONSE_CODE_DETAILS%", mi.get("details"), result.outcome.response_code_details))
    return out


def test_the_sample_is_what_the_builders_make() -> None:
    dump = _waypoint()
    listeners, _, _ = ambient.resources(policy=True)
    got = dump.listener("main_internal")
    assert got is not None
    expected = next(lst for lst in listeners if lst["name"] == "main_internal")
    assert [c["name"] for c in got.raw["filter_chains"]] == [c["name"] for c in expected["filter_chains"]]
    assert "io.istio.peer_principal" in str(got.raw)


def test_envoy_agrees_on_waypoint_policies(tmp_path: Path) -> None:
    require_envoy()
    dumps = [_waypoint()]
    cases = generate()
    report, disagree, outcomes = [], [], set()
    with WaypointLab(tmp_path, policy=True) as lab:
        lab.send(Case("10.96.0.20:9080", "http", "/", "warm-up"), "warm-up")
        for index, (case, client, request) in enumerate(cases):
            lines = lab.send(case, f"case-{index}", client)
            result = trace(request, dumps)
            checks = compare(result, lines)
            outcomes.add((result.outcome.kind, result.outcome.response_code_details))
            bad = [f"{name}: envoy={e} envoyscope={o}" for name, e, o in checks if e != o]
            report.append(f"{'DISAGREE' if bad else 'agree   '} {client:8} CONNECT {case.authority} {case.path} → "
                          f"{result.outcome.kind} {result.outcome.response_code_details or ''} {'; '.join(bad)}")
            if bad:
                disagree.append(report[-1])
    print(f"\n{len(cases)} HBONE requests through waypoint policies, {len(cases) - len(disagree)} agree")
    print("\n".join(report))
    assert disagree == []
    details = {d for _k, d in outcomes if d}
    assert any("details-deny-admin" in d for d in details)  # the DENY on a path
    assert any(d == "rbac_access_denied_matched_policy[none]" for d in details)  # ALLOW not matched
    assert any(kind != "denied" for kind, _ in outcomes)


HOSTNAME_CASES = [("api.example.com:80", "/x"), ("api.example.com:80", "/"), ("api.example.com:81", "/"),
                  ("API.EXAMPLE.COM:80", "/"), ("other.example.com:80", "/"),
                  ("api.example.com.:80", "/")]


def test_envoy_agrees_on_the_hostname_fallback(tmp_path: Path) -> None:
    require_envoy()
    dumps = [_waypoint()]
    disagree, report = [], []
    with WaypointLab(tmp_path, policy=True) as lab:
        lab.send(Case("10.96.0.20:9080", "http", "/", "warm-up"), "warm-up")
        for index, (authority, path) in enumerate(HOSTNAME_CASES):
            host, _, port = authority.rpartition(":")
            lines = lab.send(Case(authority, "http", path, host), f"host-{index}")
            result = trace(TraceRequest(host=host, port=int(port), path=path), dumps)
            mi_conn = _line(lines, "main_internal", "connection") or {}
            mi = _line(lines, "main_internal", "stream") or {}
            hop = next((h for h in result.hops if h.listener == "main_internal"), None)
            connect = next((h for h in result.hops if h.listener == "connect_terminate"), None)
            checks = [
                ("CONNECT authority", _line(lines, "connect_terminate", "stream")["authority"],
                 connect.wire.authority if connect else None),
                ("main_internal local address", mi_conn.get("local"),
                 f"{hop.wire.dst_ip}/" if hop and hop.wire.dst_ip.startswith("envoy://") else
                 f"{hop.wire.dst_ip}:{hop.wire.dst_port}" if hop else None),
                ("main_internal chain", mi_conn.get("chain"), hop.filter_chain if hop else None),
                ("main_internal cluster", mi.get("cluster"), hop.cluster if hop else None),
                ("main_internal upstream", mi.get("upstream"), hop.endpoint if hop else None),
                ("no filter chain", mi_conn.get("details") == "filter_chain_not_found",
                 result.outcome.kind == "no_filter_chain"),
            ]
            bad = [f"{name}: envoy={e} envoyscope={o}" for name, e, o in checks if e != o]
            report.append(f"{'DISAGREE' if bad else 'agree   '} CONNECT {authority} {path} → {result.outcome.kind} "
                          f"{'; '.join(bad)}")
            if bad:
                disagree.append(report[-1])
    print("\n" + "\n".join(report))
    assert disagree == []
