"""A dump taken without EDS: the trace keeps the upstream TLS the cluster decides, and goes on to a proxy among
the sources that the cluster's service names, marked as assumed, landing where the full capture lands."""

from __future__ import annotations

import json
from pathlib import Path

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_file, load_sources
from tests.conftest import SAMPLES, shared_path

REQUEST = TraceRequest("httpbin.web.svc.cluster.local", 8000, ip="10.96.50.50", path="/headers", from_proxy="sleep")


def _without_eds(source: Path, target: Path) -> None:
    doc = json.loads(source.read_text())
    doc["configs"] = [c for c in doc["configs"] if not c["@type"].endswith("EndpointsConfigDump")]
    target.write_text(json.dumps(doc))


def test_the_trace_goes_on_to_the_service_proxy_among_the_sources(tmp_path: Path) -> None:
    folder = SAMPLES / "mesh-mtls"
    full = trace(REQUEST, load_sources([str(folder)]))
    _without_eds(folder / "sleep.config_dump.json", tmp_path / "sleep.config_dump.json")
    for name in ("httpbin.config_dump.json", "egressgateway.config_dump.json"):
        (tmp_path / name).write_text((folder / name).read_text())
    partial = trace(REQUEST, load_sources([str(tmp_path)]))
    assert [h.proxy for h in partial.hops] == [h.proxy for h in full.hops]
    for ours, theirs in zip(partial.hops, full.hops, strict=True):
        assert (ours.listener, ours.filter_chain, ours.route, ours.cluster) == (
            theirs.listener, theirs.filter_chain, theirs.route, theirs.cluster)
    assert partial.hops[0].tls is not None and partial.hops[0].tls.mode == "ISTIO_MUTUAL"
    assert partial.outcome.kind == full.outcome.kind == "mesh_internal"
    assumed = [a for a in partial.assumptions if a.startswith("endpoint ")]
    assert assumed and "no endpoints" in assumed[0] and "httpbin" in assumed[0]
    step = [s for s in partial.hops[0].steps if s.kind == "endpoint"][-1]  # after the one saying they are unknown
    assert step.reason.startswith("assumed ")


def test_endpoints_unknown_keeps_the_tls_step() -> None:
    """bookinfo on Istio 1.5, dumped without EDS: reviews' cluster alone says Istio mTLS is used."""
    dump = load_file(str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")))
    result = trace(TraceRequest("reviews.default.svc.cluster.local", 9080), [dump])
    assert result.outcome.kind == "endpoints_unknown"
    hop = result.hops[0]
    tls_steps = [s for s in hop.steps if s.kind == "tls"]
    assert tls_steps, [s.kind for s in hop.steps]
    assert hop.tls is not None or "depends on the endpoint's labels" in tls_steps[0].reason
