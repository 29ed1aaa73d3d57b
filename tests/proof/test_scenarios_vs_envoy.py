"""Every request of every sample scenario: envoyscope's trace against what a real Envoy did with it.

Two checks per request: against the decisions recorded in ``scenario.yaml`` when the dumps were captured (fast,
no Envoy needed), and against Envoys started now from the scenario's resources (``-m envoy``). At every proxy
crossed: the listener, the filter chain, the route, the cluster and the upstream host must be the same; when
envoyscope says the request ends in an error (404 NR, 502 block_all, UH…), Envoy must have answered that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from envoyscope.engine.request import TraceRequest, parse_to
from envoyscope.engine.trace import Trace, trace
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/scenario.yaml"))
CASES = [(name, i) for name in SCENARIOS
         for i, _ in enumerate(yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text())["requests"])]


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text()))


def trace_request(folder: Path, args: dict[str, Any]) -> Trace:
    scheme = args.get("scheme", "http")
    host, port = parse_to(args["to"], scheme)
    headers = tuple(tuple(part.strip() for part in h.split(":", 1)) for h in args.get("headers", []))
    request = TraceRequest(host=host, port=port, ip=args.get("ip"), path=args.get("path", "/"),
                           method=args.get("method", "GET"), headers=headers,  # type: ignore[arg-type]
                           scheme=scheme, sni=args.get("sni"), from_proxy=args.get("from"))
    return trace(request, load_sources([str(folder)]))


def compare(scenario: dict[str, Any], result: Trace, envoy: list[dict[str, Any]]) -> list[str]:
    """Differences between envoyscope's hops and Envoy's logged decisions (empty: they agree)."""
    pods = {p["pod"]: p["name"] for p in scenario["proxies"]}
    problems = []
    ours = [{"proxy": pods.get(h.proxy, h.proxy), "listener": h.listener,
             "filter_chain": None if (h.filter_chain or "").isdigit() else h.filter_chain,  # unnamed: Envoy logs -
             "route": None if (h.route or "").startswith("#") else h.route, "cluster": h.cluster,
             "upstream_host": h.endpoint} for h in result.hops]
    if len(ours) != len(envoy):
        problems.append(f"envoyscope crosses {[o['proxy'] for o in ours]}, Envoy {[e['proxy'] for e in envoy]}")
    for mine, theirs in zip(ours, envoy, strict=False):
        for key, value in mine.items():
            if theirs.get(key) != value:
                problems.append(f"{mine['proxy']}: {key} envoyscope={value!r} envoy={theirs.get(key)!r}")
    outcome, last = result.outcome, envoy[-1] if envoy else {}
    if outcome.response_code is not None and last.get("response_code") != outcome.response_code:
        problems.append(f"outcome {outcome.kind}: envoyscope says HTTP {outcome.response_code}, Envoy answered "
                        f"{last.get('response_code')}")
    for flag in filter(None, (outcome.response_flags or "").split(",")):
        if flag not in (last.get("response_flags") or "").split(","):
            problems.append(f"outcome {outcome.kind}: flag {flag} not in Envoy's {last.get('response_flags')}")
    return problems


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_trace_agrees_with_recorded_envoy(name: str, index: int) -> None:
    scenario = load(name)
    request = scenario["requests"][index]
    result = trace_request(SAMPLES / name, request)
    assert not compare(scenario, result, request["envoy"])


def test_every_seed_scenario_is_bundled() -> None:
    assert set(SCENARIOS) >= {"https-passthrough", "tls-origination", "ingress-proxy", "egress-gateway-http",
                              "tcp-mysql", "egress-mtls-subsets", "allow-any", "registry-only", "timeout"}
    assert len(CASES) >= 20


@pytest.mark.envoy
@pytest.mark.parametrize("name", SCENARIOS)
def test_trace_agrees_with_live_envoy(name: str, tmp_path: Path) -> None:
    from tests.lab.runner import ScenarioLab
    from tests.lab.scenarios import by_name

    scenario = load(name)
    problems = []
    with ScenarioLab(by_name(name), tmp_path) as lab:
        for request in scenario["requests"]:
            envoy = lab.send(request)
            result = trace_request(SAMPLES / name, request)
            problems += [f"{request['name']}: {p}" for p in compare(scenario, result, envoy)]
    assert not problems
