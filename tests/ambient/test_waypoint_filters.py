"""set_filter_state (HTTP and network) as trace steps, the HBONE client's identity as filter state at
main_internal, and the HCM's path normalization (their Envoy proofs: tests/proof/test_ambient_policy_vs_envoy.py)."""

from __future__ import annotations

import pytest

from envoyscope.engine.http_filters.base import FilterContext, Peer
from envoyscope.engine.http_filters.set_filter_state import HTTP_TYPE, NETWORK_TYPE, evaluate
from envoyscope.engine.path_normalization import normalize_request_path, remove_dot_segments
from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES

PRODUCTPAGE = "spiffe://cluster.local/ns/default/sa/productpage"


def _entry(key: str, fmt: str, shared: str = "ONCE") -> dict[str, object]:
    return {"object_key": key, "format_string": {"text_format_source": {"inline_string": fmt}},
            "shared_with_upstream": shared}


def test_http_set_filter_state_says_what_it_sets() -> None:
    wire = Wire(dst_ip="10.0.0.1", dst_port=15008, src_ip="10.0.0.9", authority="10.96.0.50:9080", method="CONNECT")
    config = {"@type": HTTP_TYPE, "on_request_headers": [
        _entry("envoy.filters.listener.original_dst.local_ip", "%REQ(:AUTHORITY)%"),
        _entry("io.istio.peer_principal", "%DOWNSTREAM_PEER_URI_SAN%"),
        _entry("io.istio.local_principal", "%DOWNSTREAM_LOCAL_URI_SAN%")]}
    verdict = evaluate("connect_authority", config, FilterContext(wire=wire, peer=Peer(uri_sans=(PRODUCTPAGE,))))
    assert verdict.verdict == "pass" and not verdict.ends
    assert "original_dst.local_ip = '10.96.0.50:9080'" in verdict.changes[0]
    assert PRODUCTPAGE in verdict.changes[1] and "shared with the upstream connection (ONCE)" in verdict.changes[1]
    assert "io.istio.local_principal" in verdict.reason and "not evaluated" in verdict.reason
    without_cert = evaluate("connect_authority", config, FilterContext(wire=wire))
    assert len(without_cert.changes) == 1  # no client certificate known: the principal is not claimed


def test_network_set_filter_state_reads_the_state_the_connection_arrived_with() -> None:
    key = "envoy.filters.listener.original_dst.local_ip"
    wire = Wire(dst_ip="10.244.1.11", dst_port=3306, src_ip="10.0.0.9", filter_state=((key, "10.244.1.11:3306"),))
    config = {"@type": NETWORK_TYPE, "on_new_connection": [_entry(key, f"%FILTER_STATE({key}:PLAIN)%")]}
    verdict = evaluate("connect_authority", config, FilterContext(wire=wire, http=False))
    assert verdict.reason.startswith("set_filter_state (on_new_connection) sets")
    assert "'10.244.1.11:3306'" in verdict.changes[0]
    empty = evaluate("connect_authority", config, FilterContext(wire=wire.with_(filter_state=()), http=False))
    assert empty.changes == () and "not evaluated" in empty.reason


def test_the_direct_tcp_chain_shows_connect_authority_as_a_step() -> None:
    dumps = load_sources([str(SAMPLES / "ambient-waypoint" / "waypoint.config_dump.json")])
    result = trace(TraceRequest(host="10.244.1.11", port=3306, ip="10.244.1.11", scheme="tcp"), dumps)
    hop = next(h for h in result.hops if h.listener == "main_internal")
    step = next(s for s in hop.steps if s.kind == "network_filter" and s.matched == "connect_authority")
    assert "not evaluated" not in step.reason and "original_dst.local_ip" in step.reason


@pytest.mark.parametrize(("principal", "kind"), [(PRODUCTPAGE, "mesh_internal"),
                                                  ("spiffe://cluster.local/ns/x/sa/y", "denied"), (None, "denied")])
def test_the_waypoint_policy_sees_the_hbone_identity_as_filter_state(principal: str | None, kind: str) -> None:
    dumps = load_sources([str(SAMPLES / "ambient-waypoint-policy")])
    result = trace(TraceRequest(host="details.default.svc.cluster.local", port=9080, ip="10.96.0.50",
                                path="/details/1", principal=principal), dumps)
    assert result.outcome.kind == kind
    hop = next(h for h in result.hops if h.listener == "main_internal")
    assert hop.wire.transport != "tls"  # the internal connection itself has no TLS: `authenticated` cannot match


@pytest.mark.parametrize(("path", "expected"), [
    ("/a/./b", "/a/b"), ("/a/x/../b", "/a/b"), ("/../a", "/a"), ("/a/..", "/"), ("/a/.", "/a/"), ("/a//b", "/a//b"),
    ("/", "/"), ("/a/b/", "/a/b/")])
def test_remove_dot_segments(path: str, expected: str) -> None:
    assert remove_dot_segments(path) == expected


def test_normalization_only_where_configured() -> None:
    assert normalize_request_path({}, "/a/../b") == ("/a/../b", None)
    path, step = normalize_request_path({"normalize_path": True, "merge_slashes": True}, "/a//x/../b?q=/../")
    assert path == "/a/b?q=/../" and step is not None
    _same, caveat = normalize_request_path({"normalize_path": True}, "/a/%2e%2e/b")
    assert caveat is not None and "does not follow" in caveat.reason


def test_a_filter_state_input_chooses_the_chain_when_no_ip_range_matches() -> None:
    from envoyscope.engine.filter_chain_matcher import evaluate_matcher
    from envoyscope.engine.listener_filters import Detected

    t = "type.googleapis.com/"
    matcher = {"matcher_tree": {"input": {"name": "ip", "typed_config": {
        "@type": t + "envoy.extensions.matching.common_inputs.network.v3.DestinationIPInput"}}, "custom_match": {
        "name": "ip", "typed_config": {"@type": t + "xds.type.matcher.v3.IPMatcher", "range_matchers": []}}},
        "on_no_match": {"matcher": {"matcher_tree": {"input": {"name": "a", "typed_config": {
            "@type": t + "envoy.extensions.matching.common_inputs.network.v3.FilterStateInput",
            "key": "io.istio.connect_authority"}}, "exact_match_map": {"map": {"api.example.com:80": {"action": {
                "name": "c", "typed_config": {"@type": t + "google.protobuf.StringValue", "value": "chain-a"}}}}}}}}}

    def det(state: tuple[tuple[str, str], ...]) -> Detected:
        return Detected("envoy://main_internal", 0, "10.0.0.1", 1, "raw_buffer", "", (), filter_state=state)

    assert evaluate_matcher(matcher, det((("io.istio.connect_authority", "api.example.com:80"),)))[0] == "chain-a"
    assert evaluate_matcher(matcher, det((("io.istio.connect_authority", "api.example.com:81"),)))[0] is None
    assert evaluate_matcher(matcher, det(()))[0] is None


def test_original_dst_refuses_a_name() -> None:
    from envoyscope.engine.internal_listener import LOCAL_IP_STATE, restored_destination

    listener = {"listener_filters": [{"name": "envoy.filters.listener.original_dst"}]}
    dst, why = restored_destination(listener, {}, None, {LOCAL_IP_STATE: "api.example.com:80"})
    assert dst is None and "not an IP address" in why
    assert restored_destination(listener, {}, None, {LOCAL_IP_STATE: "10.96.0.50:9080"})[0] == ("10.96.0.50", 9080)


def test_a_host_without_a_vip_is_traced_by_name() -> None:
    dumps = load_sources([str(SAMPLES / "ambient-waypoint-policy")])
    result = trace(TraceRequest(host="api.example.com", port=80, path="/x"), dumps)
    first = result.hops[0]
    assert first.wire.authority == "api.example.com:80"
    hop = next(h for h in result.hops if h.listener == "main_internal")
    assert hop.filter_chain == "inbound-vip|80|http|api.example.com" and hop.wire.dst_ip == "envoy://main_internal"
    missed = trace(TraceRequest(host="api.example.com", port=81), dumps)
    assert missed.outcome.kind == "no_filter_chain"
