"""Every request of every sample scenario: envoyscope's ``trace -o json`` against what a real Envoy did with it.

Two checks per request: against the decisions recorded in ``scenario.yaml`` when the dumps were captured (fast,
no Envoy needed), and against Envoys started now from the scenario's resources (``-m envoy``). The JSON is the
CLI's own (``envoyscope trace … -o json`` run in-process). At every proxy crossed, hop by hop: the listener, the
filter chain, the virtual host (Envoy has no access-log operator for it: the lab's replay form gives every virtual
host a response header with its name, logged back), the route, the cluster and the upstream host; the upstream
TLS — whether the connection Envoy opened starts with a ClientHello, the SNI and the ALPN list in it, as the lab's
relay read them; on a next proxy that terminates TLS, the SNI it received and that a client certificate was
presented (``%DOWNSTREAM_PEER_URI_SAN%``); and the outcome kind Envoy's last decision implies. When envoyscope
says the request ends in an error (404 NR, 502 block_all, UH…), Envoy must have answered that.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from envoyscope.cli import main as envoyscope_main
from envoyscope.engine.request import TraceRequest, parse_to
from envoyscope.engine.trace import Trace, trace
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES

SCENARIOS = sorted(p.parent.name for p in SAMPLES.glob("*/scenario.yaml"))
CASES = [(name, i) for name in SCENARIOS
         for i, _ in enumerate(yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text())["requests"])]


def load(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((SAMPLES / name / "scenario.yaml").read_text()))


def cli_argv(folder: Path, args: dict[str, Any]) -> list[str]:
    """The ``envoyscope trace`` command line of a scenario request."""
    argv = ["trace", str(folder), "--to", args["to"], "-o", "json"]
    for key in ("ip", "path", "method", "scheme", "sni", "from"):
        if key in args:
            argv += [f"--{key}", str(args[key])]
    for header in args.get("headers", []):
        argv += ["-H", header]
    return argv


def trace_json(folder: Path, args: dict[str, Any]) -> dict[str, Any]:
    """What ``envoyscope trace … -o json`` prints for the request."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = envoyscope_main(cli_argv(folder, args))
    assert code == 0, f"envoyscope {' '.join(cli_argv(folder, args))} exited {code}"
    return dict(json.loads(out.getvalue()))


def trace_request(folder: Path, args: dict[str, Any]) -> Trace:
    scheme = args.get("scheme", "http")
    host, port = parse_to(args["to"], scheme)
    headers = tuple(tuple(part.strip() for part in h.split(":", 1)) for h in args.get("headers", []))
    request = TraceRequest(host=host, port=port, ip=args.get("ip"), path=args.get("path", "/"),
                           method=args.get("method", "GET"), headers=headers,  # type: ignore[arg-type]
                           scheme=scheme, sni=args.get("sni"), from_proxy=args.get("from"))
    return trace(request, load_sources([str(folder)]))


def envoy_outcome(last: dict[str, Any]) -> set[str]:
    """The outcome kinds Envoy's decision at the last proxy allows."""
    flags = set((last.get("response_flags") or "").split(","))
    code, cluster = last.get("response_code"), last.get("cluster")
    if str(last.get("response_code_details") or "").startswith("rbac_access_denied"):
        return {"denied"}  # an RBAC filter answered 403 before the router
    if code is None and last.get("route") is None and cluster is None and "NR" in flags:
        return {"no_filter_chain"}  # the listener's connection log: closed without an HTTP answer
    if "NR" in flags:
        return {"no_route"}
    if "NC" in flags:
        return {"unknown_cluster"}
    if cluster == "BlackHoleCluster" or (cluster is None and last.get("route") == "block_all"):
        return {"blackhole"}
    if "UH" in flags:
        return {"no_healthy_upstream"}
    if cluster == "PassthroughCluster":
        return {"passthrough"}
    if cluster is None and code:
        return {"redirect"} if 300 <= code < 400 else {"direct_response"}
    if (cluster or "").startswith("inbound|"):
        return {"mesh_internal"}  # the inbound cluster hands the request to the pod's app
    if "istio" in ((last.get("upstream_tls") or {}).get("alpn") or ()):
        return {"mesh_internal"}
    return {"external", "mesh_internal"}  # Envoy opened a connection to the endpoint (nothing answers in the lab)


def expected_upstream_tls(hop: dict[str, Any]) -> dict[str, Any]:
    """What envoyscope says the hop's upstream connection starts with: its own TLS, or the app's passed on."""
    tls, received = hop.get("tls") or {"mode": "plaintext"}, hop["received"]
    if tls["mode"] != "plaintext":
        return {"tls": True, "sni": tls["sni"], "alpn": tls["alpn"]}
    if hop["route_config"] is None and received["transport"] == "tls":  # tcp_proxy: the app's bytes as they are
        return {"tls": True, "sni": received["sni"], "alpn": received["alpn"]}
    return {"tls": False, "sni": None, "alpn": []}


def compare(scenario: dict[str, Any], result: dict[str, Any], envoy: list[dict[str, Any]]) -> list[str]:
    """Differences between envoyscope's ``-o json`` hops and Envoy's logged decisions (empty: they agree)."""
    pods = {p["pod"]: p["name"] for p in scenario["proxies"]}
    problems = []
    hops = result["hops"]
    ours = [{"proxy": pods.get(h["proxy"], h["proxy"]), "listener": h["listener"],
             "filter_chain": None if str(h["filter_chain"] or "").isdigit() else h["filter_chain"],  # unnamed: -
             "virtual_host": h["virtual_host"],
             "route": None if str(h["route"] or "").startswith("#") else h["route"], "cluster": h["cluster"],
             "upstream_host": h["endpoint"]} for h in hops]
    if len(ours) != len(envoy):
        problems.append(f"envoyscope crosses {[o['proxy'] for o in ours]}, Envoy {[e['proxy'] for e in envoy]}")
    for index, (mine, theirs) in enumerate(zip(ours, envoy, strict=False)):
        for key, value in mine.items():
            if key == "virtual_host" and "virtual_host" not in theirs:
                continue  # recorded before the replay logged virtual hosts
            if key == "virtual_host" and theirs.get("route") is None:
                continue  # no route matched: Envoy's answer carries no virtual host's headers
            if theirs.get(key) != value:
                problems.append(f"{mine['proxy']}: {key} envoyscope={value!r} envoy={theirs.get(key)!r}")
        seen = theirs.get("upstream_tls")
        if seen is not None:
            wanted = expected_upstream_tls(hops[index])
            for key in ("tls", "sni", "alpn"):
                if seen.get(key) != wanted[key]:
                    problems.append(f"{mine['proxy']}: upstream TLS {key} envoyscope={wanted[key]!r} "
                                    f"envoy sent {seen.get(key)!r}")
        if index + 1 < len(envoy) and envoy[index + 1].get("downstream_tls"):
            received, tls = envoy[index + 1]["downstream_tls"], hops[index].get("tls") or {}
            if received.get("sni") != tls.get("sni"):
                problems.append(f"{mine['proxy']}: SNI envoyscope={tls.get('sni')!r}, the next proxy received "
                                f"{received.get('sni')!r}")
            if bool(received.get("peer_uri_san")) != bool(tls.get("client_cert")):
                problems.append(f"{mine['proxy']}: client certificate envoyscope={tls.get('client_cert')!r}, the "
                                f"next proxy saw peer {received.get('peer_uri_san')!r}")
    outcome, last = result["outcome"], envoy[-1] if envoy else {}
    if envoy and outcome["kind"] not in envoy_outcome(last):
        problems.append(f"outcome envoyscope={outcome['kind']}, Envoy's decision allows {envoy_outcome(last)}")
    if outcome["response_code"] is not None and last.get("response_code") != outcome["response_code"]:
        problems.append(f"outcome {outcome['kind']}: envoyscope says HTTP {outcome['response_code']}, Envoy "
                        f"answered {last.get('response_code')}")
    ours_details = outcome.get("response_code_details")
    if (ours_details or last.get("response_code_details")) and ours_details != last.get("response_code_details"):
        problems.append(f"outcome {outcome['kind']}: envoyscope says {outcome.get('response_code_details')!r}, "
                        f"Envoy logged {last.get('response_code_details')!r}")
    for flag in filter(None, (outcome["response_flags"] or "").split(",")):
        if flag not in (last.get("response_flags") or "").split(","):
            problems.append(f"outcome {outcome['kind']}: flag {flag} not in Envoy's {last.get('response_flags')}")
    return problems


@pytest.mark.parametrize(("name", "index"), CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_trace_agrees_with_recorded_envoy(name: str, index: int) -> None:
    scenario = load(name)
    request = scenario["requests"][index]
    result = trace_json(SAMPLES / name, request)
    assert not compare(scenario, result, request["envoy"])


def test_every_seed_scenario_is_bundled() -> None:
    assert set(SCENARIOS) >= {"https-passthrough", "tls-origination", "ingress-proxy", "egress-gateway-http",
                              "tcp-mysql", "egress-mtls-subsets", "allow-any", "registry-only", "timeout",
                              "mesh-mtls"}
    assert len(CASES) >= 20


@pytest.mark.envoy
@pytest.mark.parametrize("name", SCENARIOS)
def test_trace_agrees_with_live_envoy(name: str, tmp_path: Path) -> None:
    from tests.lab.runner import ScenarioLab
    from tests.lab.scenarios import by_name

    scenario = load(name)
    problems = []
    with ScenarioLab(by_name(name), tmp_path, probe_external=True) as lab:
        for request in scenario["requests"]:
            envoy = lab.send(request)
            assert all("virtual_host" in d for d in envoy)
            result = trace_json(SAMPLES / name, request)
            problems += [f"{request['name']}: {p}" for p in compare(scenario, result, envoy)]
    assert not problems
