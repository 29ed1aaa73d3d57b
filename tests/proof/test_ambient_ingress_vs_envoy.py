"""An ingress gateway in front of the waypoint (sample_dumps/ambient-waypoint), both running in Envoy 1.40: the
gateway's own HBONE (its connect_originate, to the waypoint named in the endpoint's metadata) goes into the
waypoint's connect_terminate, and envoyscope's trace ``--from ingressgateway`` must agree with both Envoys' access
logs at every listener: the gateway's route, cluster and internal endpoint, its connect_originate (restored
destination = CONNECT authority, HBONE target), the waypoint's connect_terminate (the authority it received and the
gateway's SPIFFE identity as the client), main_internal (chain, route, cluster, endpoint) and the waypoint's own
connect_originate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import Hop, Trace, trace
from envoyscope.model.dump import ConfigDump
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.lab.ambient import GATEWAY_SPIFFE
from tests.lab.ambient_chain import GatewayChain
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-ambient")]
PATHS = ("/reviews", "/reviews/1", "/ratings", "/ratings/x", "/details", "/details/1", "/productpage", "/nope", "/",
         "/REVIEWS")
HEADERS: tuple[tuple[tuple[str, str], ...], ...] = ((), (("end-user", "jason"),), (("end-user", "bob"),))


def _dumps() -> list[ConfigDump]:
    return [d for d in load_sources([str(SAMPLES / "ambient-waypoint")]) if d.ztunnel is None]


def _line(lines: list[dict[str, Any]], proxy: str, listener: str, kind: str) -> dict[str, Any]:
    return next((x for x in lines if (x["proxy"], x["listener"], x["kind"]) == (proxy, listener, kind)), {})


def _clean(value: Any) -> Any:
    return None if value in (None, "-", "", 0) else value


def _hop(result: Trace, proxy: str, listener: str) -> Hop | None:
    return next((h for h in result.hops if h.proxy.startswith(proxy) and h.listener == listener), None)


def compare(result: Trace, lines: list[dict[str, Any]]) -> list[tuple[str, Any, Any]]:
    out: list[tuple[str, Any, Any]] = []
    gateway, gw_tunnel = _hop(result, "istio-ingressgateway", "0.0.0.0_8080"), _hop(result, "istio-ingress",
                                                                                      "connect_originate")
    line = _line(lines, "gateway", "0.0.0.0_8080", "stream")
    out += [("gateway route", _clean(line.get("route")), gateway.route if gateway else None),
            ("gateway cluster", _clean(line.get("cluster")), gateway.cluster if gateway else None),
            ("gateway endpoint", _clean(line.get("upstream")), gateway.endpoint if gateway else None)]
    line = _line(lines, "gateway", "connect_originate", "stream")
    tunnel = next((s.matched for s in gw_tunnel.steps if s.kind == "tunnel"), None) if gw_tunnel else None
    out += [("gateway tunnel authority", _clean(line.get("local")), tunnel),
            ("gateway HBONE target", _clean(line.get("upstream")), gw_tunnel.endpoint if gw_tunnel else None)]
    terminate = _hop(result, "waypoint", "connect_terminate")
    line = _line(lines, "waypoint", "connect_terminate", "stream")
    out += [("waypoint CONNECT authority", _clean(line.get("authority")),
             terminate.wire.authority if terminate else None),
            ("waypoint client identity", _clean(line.get("peer")),
             GATEWAY_SPIFFE if terminate and terminate.wire.client_cert == "validated" else None),
            ("waypoint connect_terminate cluster", _clean(line.get("cluster")),
             terminate.cluster if terminate else None)]
    inner = _hop(result, "waypoint", "main_internal")
    line = _line(lines, "waypoint", "main_internal", "stream")
    out += [(f"main_internal {name}", _clean(line.get(key)), getattr(inner, attr) if inner else None)
            for name, key, attr in (("chain", "chain", "filter_chain"), ("route", "route", "route"),
                                    ("cluster", "cluster", "cluster"), ("endpoint", "upstream", "endpoint"))]
    last = _hop(result, "waypoint", "connect_originate")
    line = _line(lines, "waypoint", "connect_originate", "stream")
    out.append(("waypoint HBONE target", _clean(line.get("upstream")), last.endpoint if last else None))
    code = _clean(_line(lines, "gateway", "0.0.0.0_8080", "stream").get("code"))
    if code == 404:
        out.append(("gateway 404", 404, result.outcome.response_code))
    return out


def _traced(request: TraceRequest, dumps: list[ConfigDump], lines: list[dict[str, Any]]) -> Trace:
    """The trace with the load balancer's draw set to what Envoy's round robin picked at main_internal."""
    result = trace(request, dumps)
    wanted = _line(lines, "waypoint", "main_internal", "stream").get("upstream")
    for value in range(1, 4):
        hop = _hop(result, "waypoint", "main_internal")
        if hop is None or hop.endpoint == wanted:
            break
        result = trace(TraceRequest(**{**{f: getattr(request, f) for f in TraceRequest.__dataclass_fields__},
                                       "random_value": value}), dumps)
    return result


def test_envoy_agrees_from_the_gateway_through_the_waypoint(tmp_path: Path) -> None:
    require_envoy()
    dumps = _dumps()
    report, disagree, decisions, through = [], [], 0, 0
    with GatewayChain(tmp_path) as lab:
        for index, (path, headers) in enumerate((p, h) for p in PATHS for h in HEADERS):
            lines = lab.send(path, headers, f"case-{index}")
            request = TraceRequest(host="bookinfo.example.com", port=8080, path=path, headers=headers,
                                   from_proxy="ingressgateway")
            result = _traced(request, dumps, lines)
            checks = compare(result, lines)
            decisions += len(checks)
            through += any(h.proxy.startswith("waypoint") for h in result.hops)
            bad = [f"{name}: envoy={e} envoyscope={o}" for name, e, o in checks if e != o]
            crossed = " → ".join(f"{h.proxy.split('-')[0]}:{h.listener}" for h in result.hops)
            report.append(f"{'DISAGREE' if bad else 'agree   '} GET {path} {dict(headers)} → {crossed} "
                          f"{'; '.join(bad)}")
            if bad:
                disagree.append(report[-1])
    print(f"\n{len(PATHS) * len(HEADERS)} requests through the gateway ({through} into the waypoint), "
          f"{decisions} decisions")
    print("\n".join(report))
    assert through >= 20
    assert disagree == []
