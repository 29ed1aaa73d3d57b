"""The waypoint of sample_dumps/ambient-waypoint, traced by envoyscope and run in a real Envoy 1.40.

Requests are generated from the captured dump itself: every service VIP and port of main_internal's
filter_chain_matcher with paths made from each chain's routes and the headers they match (and miss), every pod IP
of the direct chains (HTTP and TCP), TCP to the TCP VIP, unknown VIPs and ports. Each goes to Envoy as ztunnel
sends it — mTLS to connect_terminate with a client certificate, ALPN h2, HTTP/2 CONNECT to VIP:port or podIP:port,
the application's bytes in the stream — and Envoy's access logs must agree with envoyscope's trace hop by hop:
connect_terminate (chain, cluster main_internal, internal endpoint), main_internal (chain, route, cluster, the
`connect_originate` internal endpoint), connect_originate (its restored destination = the tunnel's CONNECT
authority, the cluster, the HBONE target IP:15008), and where the trace ends (404 NR, no filter chain).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.hbone import matcher_chains
from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import Trace, trace
from envoyscope.model.dump import ConfigDump
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.lab import ambient
from tests.lab.ambient import Case, WaypointLab
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-ambient")]
FOLDER = SAMPLES / "ambient-waypoint"
MIN_CASES = 100


def _waypoint() -> ConfigDump:
    return next(d for d in load_sources([str(FOLDER)]) if d.listener("main_internal") is not None)


def _paths(routes: list[dict[str, Any]]) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Paths and header sets that hit each route, miss it by a character, by case, or by a header value."""
    paths: list[str] = ["/other-path"]
    headers: list[tuple[tuple[str, str], ...]] = [()]
    for route in routes:
        prefix = str(route["match"].get("prefix", "/"))
        paths += [prefix, prefix.rstrip("/") + "/1", prefix + "x", prefix.upper()]
        for header in route["match"].get("headers") or ():
            value = str(header["string_match"]["exact"])
            headers += [((header["name"], value),), ((header["name"], value.upper()),), ((header["name"], "bob"),)]
    paths += [p + "?q=1" for p in paths]  # the query string is not part of a prefix match
    return [(p, h) for p in dict.fromkeys(paths) for h in dict.fromkeys(headers)]


def generate(dump: ConfigDump) -> list[tuple[Case, TraceRequest]]:
    listener = dump.listener("main_internal")
    assert listener is not None
    chains = {str(c.get("name")): c for c in listener.raw["filter_chains"]}
    found: list[tuple[str, str, str]] = []
    matcher_chains(listener.raw["filter_chain_matcher"], found)
    out: list[tuple[Case, TraceRequest]] = []
    for net, port, name in found:
        vip = net.split("/")[0]
        host = name.split("|")[3]
        authority = f"{vip}:{port}"
        hcm = next((f["typed_config"] for f in chains[name]["filters"] if "route_config" in f["typed_config"]), None)
        if hcm is None:  # a TCP service
            out.append((Case(authority, "tcp"), TraceRequest(host=host, port=int(port), ip=vip, scheme="tcp")))
            out.append((Case(authority, "tls", "/", host), TraceRequest(host=host, port=int(port), ip=vip,
                                                                        scheme="tls")))
            out.append((Case(authority, "http", "/", host), TraceRequest(host=host, port=int(port), ip=vip)))
            continue
        routes = [r for vh in hcm["route_config"]["virtual_hosts"] for r in vh["routes"]]
        out.append((Case(authority, "tls", "/", host),  # the app's own TLS into an HTTP port: the codec fails
                    TraceRequest(host=host, port=int(port), ip=vip, scheme="tls")))
        for path, headers in _paths(routes):
            out.append((Case(authority, "http", path, f"{host}:{port}", headers),
                        TraceRequest(host=host, port=int(port), ip=vip, path=path, headers=headers)))
        wrong = str(int(port) + 1)
        out.append((Case(f"{vip}:{wrong}", "http", "/", host), TraceRequest(host=host, port=int(wrong), ip=vip)))
    pods = sorted({r["address_prefix"] for rm in listener.raw["filter_chain_matcher"]["matcher_tree"]["custom_match"]
                   ["typed_config"]["range_matchers"] for r in rm["ranges"]} - {n.split("/")[0] for n, _, _ in found})
    for pod in pods:
        for port in (9080, 3306):
            out.append((Case(f"{pod}:{port}", "tcp"), TraceRequest(host=pod, port=port, ip=pod, scheme="tcp")))
        out.append((Case(f"{pod}:9443", "tls", "/", "pod.example"),
                    TraceRequest(host=pod, port=9443, ip=pod, scheme="tls", sni="pod.example")))
        for path in ("/", "/reviews/1"):
            out.append((Case(f"{pod}:9080", "http", path, "pod"), TraceRequest(host=pod, port=9080, ip=pod, path=path,
                                                                             headers=(("host", "pod"),))))
    for unknown in ("10.96.0.99", "10.244.9.9", "192.168.0.1"):
        out.append((Case(f"{unknown}:9080", "http", "/", "x"), TraceRequest(host=unknown, port=9080, ip=unknown)))
    return out


def _line(lines: list[dict[str, Any]], listener: str, kind: str) -> dict[str, Any] | None:
    return next((line for line in lines if line["listener"] == listener and line["kind"] == kind), None)


def _clean(value: Any) -> Any:
    return None if value in (None, "-", "", 0) else value


def compare(result: Trace, lines: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    """(decision, Envoy's, envoyscope's) for every decision Envoy's logs show."""
    hops = {hop.listener: hop for hop in result.hops}
    ct, ct_conn = _line(lines, "connect_terminate", "stream"), _line(lines, "connect_terminate", "connection")
    mi, mi_conn = _line(lines, "main_internal", "stream"), _line(lines, "main_internal", "connection")
    co = _line(lines, "connect_originate", "stream")
    first = hops.get("connect_terminate")
    out: list[tuple[str, Any, Any]] = [
        ("connect_terminate chain", _clean((ct_conn or {}).get("chain")), first.filter_chain if first else None),
        ("connect_terminate cluster", _clean((ct or {}).get("cluster")), first.cluster if first else None),
        ("connect_terminate upstream", _clean((ct or {}).get("upstream")), first.endpoint if first else None),
        ("client identity", _clean((ct_conn or {}).get("peer")), ambient.CLIENT_SPIFFE if first and first.downstream_tls
         and not first.downstream_tls.failure else None),
    ]
    second = hops.get("main_internal")
    out += [("main_internal listener", "main_internal" if mi_conn else None, second.listener if second else None),
            ("main_internal destination", _clean((mi_conn or {}).get("local")),
             f"{second.wire.dst_ip}:{second.wire.dst_port}" if second else None),
            ("main_internal chain", _clean((mi_conn or {}).get("chain")), second.filter_chain if second else None),
            ("main_internal route", _clean((mi or {}).get("route")), second.route if second else None),
            ("main_internal cluster", _clean((mi or mi_conn or {}).get("cluster")), second.cluster if second else None),
            ("main_internal upstream", _clean((mi or mi_conn or {}).get("upstream")),
             second.endpoint if second else None)]
    third = hops.get("connect_originate")
    tunnel = next((s.matched for s in third.steps if s.kind == "tunnel"), None) if third else None
    out += [("connect_originate destination = CONNECT authority", _clean((co or {}).get("local")), tunnel),
            ("connect_originate cluster", _clean((co or {}).get("cluster")), third.cluster if third else None),
            ("connect_originate HBONE target", _clean((co or {}).get("upstream")), third.endpoint if third else None)]
    ends = result.outcome
    envoy_end = ("no_filter_chain" if mi_conn and not _clean(mi_conn.get("chain")) else
                 "no_route" if mi and mi.get("flags") == "NR" else "reset" if mi and mi.get("flags") == "DPE"
                 else "hbone" if co else "other")
    ours = {"no_filter_chain": "no_filter_chain", "no_route": "no_route", "reset": "reset"}.get(
        ends.kind, "hbone" if third else "other")
    out.append(("outcome", envoy_end, ours))
    if envoy_end == "no_route":
        out.append(("response code", int(mi["code"]) if mi else None, ends.response_code))
    return out


def _traced(request: TraceRequest, dumps: list[ConfigDump], lines: list[dict[str, Any]]) -> Trace:
    """The trace, with the load balancer's draw set to the endpoint Envoy's round robin picked (the one input
    envoyscope takes as an argument rather than knows)."""
    result = trace(request, dumps)
    mi = _line(lines, "main_internal", "stream") or _line(lines, "main_internal", "connection") or {}
    for value in range(1, 4):
        hop = next((h for h in result.hops if h.listener == "main_internal"), None)
        if hop is None or hop.endpoint == mi.get("upstream"):
            break
        result = trace(TraceRequest(**{**{f: getattr(request, f) for f in TraceRequest.__dataclass_fields__},
                                       "random_value": value}), dumps)
    return result


def test_the_sample_is_what_the_builders_make() -> None:
    dump = _waypoint()
    listeners, clusters, _ = ambient.resources()
    for expected in listeners:
        got = dump.listener(expected["name"])
        assert got is not None
        assert got.raw["filter_chains"] == json.loads(json.dumps(expected["filter_chains"]))
    assert {c["name"] for c in clusters} <= {c.name for c in dump.clusters}
    assert dump.identity.proxy_type == "waypoint"


def test_envoy_agrees_with_every_generated_hbone_request(tmp_path: Path) -> None:
    require_envoy()
    dumps = [_waypoint()]
    cases = generate(dumps[0])
    assert len(cases) >= MIN_CASES
    report, disagree, decisions = [], [], 0
    with WaypointLab(tmp_path) as lab:
        lab.send(Case("10.96.0.30:9080", "http", "/", "warm-up"), "warm-up")
        for index, (case, request) in enumerate(cases):
            lines = lab.send(case, f"case-{index}")
            result = _traced(request, dumps, lines)
            checks = compare(result, lines)
            decisions += len(checks)
            bad = [f"{name}: envoy={e} envoyscope={o}" for name, e, o in checks if e != o]
            report.append(f"{'DISAGREE' if bad else 'agree   '} CONNECT {case.authority} {case.payload} {case.path} "
                          f"{dict(case.headers)} → {result.outcome.kind} {'; '.join(bad)}")
            if bad:
                disagree.append(report[-1])
    print(f"\n{len(cases)} HBONE requests, {decisions} decisions, {len(cases) - len(disagree)} requests agree")
    print("\n".join(report))
    assert disagree == []
