"""The pieces of an internal listener hand-off, table-driven: where the destination comes from (passed metadata
before shared filter state, neither without original_dst), which filter state crosses, and ORIGINAL_DST's
metadata_key and port override. Their agreement with Envoy is in tests/proof/test_internal_listeners_vs_envoy.py
and tests/proof/test_ambient_*."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.engine.cluster import find_endpoints
from envoyscope.engine.internal_listener import (
    LOCAL_IP_STATE,
    ORIGINAL_DST,
    internal_from_shown,
    original_dst_from_metadata,
    passed_metadata,
    restored_destination,
    shared_filter_state,
)
from envoyscope.engine.request import Wire
from envoyscope.model.dump import ConfigDump
from envoyscope.model.identity import Identity

ODST_FILTER = {"name": ORIGINAL_DST, "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst"}}


def cluster(kind: str | None, local: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": "c"}
    if kind:
        out["transport_socket"] = {"name": "internal_upstream", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.internal_upstream.v3."
                     "InternalUpstreamTransport", "passthrough_metadata": [{"kind": {kind: {}}, "name": ORIGINAL_DST}]}}
    if local and kind == "cluster":
        out["metadata"] = {"filter_metadata": {ORIGINAL_DST: {"local": local}}}
    return out


def host(local: str | None, **more: str) -> dict[str, Any]:
    return {"metadata": {"filter_metadata": {ORIGINAL_DST: {"local": local, **more}}}} if local else {}


@pytest.mark.parametrize(("filters", "cluster_", "endpoint", "shared", "expected", "source"), [
    ([ODST_FILTER], cluster("host"), host("10.0.0.5:80"), {}, ("10.0.0.5", 80), "host's metadata"),
    ([ODST_FILTER], cluster("cluster", "10.0.0.6:81"), {}, {}, ("10.0.0.6", 81), "cluster's metadata"),
    # metadata wins over the filter state
    ([ODST_FILTER], cluster("host"), host("10.0.0.5:80"), {LOCAL_IP_STATE: "10.9.9.9:1"}, ("10.0.0.5", 80),
     "metadata"),
    # metadata not passed through (no internal_upstream, or another kind): the filter state
    ([ODST_FILTER], cluster(None), host("10.0.0.5:80"), {LOCAL_IP_STATE: "10.9.9.9:1"}, ("10.9.9.9", 1),
     "filter state"),
    ([ODST_FILTER], cluster("cluster"), host("10.0.0.5:80"), {}, None, "neither"),
    ([], cluster("host"), host("10.0.0.5:80"), {LOCAL_IP_STATE: "10.9.9.9:1"}, None, "no original_dst"),
])
def test_where_the_internal_listener_gets_its_destination(filters: list[dict[str, Any]], cluster_: dict[str, Any],
                                                          endpoint: dict[str, Any], shared: dict[str, str],
                                                          expected: tuple[str, int] | None, source: str) -> None:
    dst, why = restored_destination({"listener_filters": filters}, cluster_, endpoint, shared)
    assert dst == expected
    assert source.split()[0] in why or source in why


def test_filter_state_set_from_the_connect_and_carried_on() -> None:
    sfs = "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config"
    net = "type.googleapis.com/envoy.extensions.filters.network.set_filter_state.v3.Config"

    def entry(key: str, fmt: str, shared: str = "ONCE") -> dict[str, Any]:
        return {"object_key": key, "format_string": {"text_format_source": {"inline_string": fmt}},
                "shared_with_upstream": shared}

    hcm = {"http_filters": [{"name": "connect_authority", "typed_config": {"@type": sfs, "on_request_headers": [
        entry(LOCAL_IP_STATE, "%REQ(:AUTHORITY)%"), entry("mine", "%REQ(:AUTHORITY)%", "NONE"),
        entry("peer", "%DOWNSTREAM_PEER_URI_SAN%")]}}]}
    wire = Wire(dst_ip="10.0.0.40", dst_port=15008, src_ip="10.0.0.9", method="CONNECT", authority="10.96.0.1:80")
    shared, notes = shared_filter_state(None, hcm, wire, wire)
    assert shared == {LOCAL_IP_STATE: "10.96.0.1:80"}  # NONE is not shared; the peer SAN is not evaluated
    assert any("does not evaluate" in n and "peer" in n for n in notes)
    # a network filter re-sharing what the connection arrived with (Istio's direct chains)
    chain = {"filters": [{"name": "connect_authority", "typed_config": {"@type": net, "on_new_connection": [
        entry(LOCAL_IP_STATE, f"%FILTER_STATE({LOCAL_IP_STATE}:PLAIN)%")]}}]}
    inner = Wire(dst_ip="10.96.0.1", dst_port=80, src_ip="10.0.0.9", filter_state=((LOCAL_IP_STATE, "10.96.0.1:80"),))
    assert shared_filter_state(chain, None, inner, None)[0] == {LOCAL_IP_STATE: "10.96.0.1:80"}


def test_original_dst_metadata_key_and_port_override() -> None:
    raw = {"name": "co", "type": "ORIGINAL_DST", "original_dst_lb_config": {
        "upstream_port_override": 15008, "metadata_key": {"key": ORIGINAL_DST, "path": [{"key": "waypoint"}]}}}
    passed = passed_metadata(cluster("host"), host("10.0.0.5:80", waypoint="10.0.0.40:15008"))
    assert (ORIGINAL_DST, "waypoint", "10.0.0.40:15008") in passed
    wire = Wire(dst_ip="10.0.0.5", dst_port=80, src_ip="x", metadata=passed)
    found = original_dst_from_metadata(raw, wire)
    assert found is not None and found[0] == ("10.0.0.40", 15008)
    assert original_dst_from_metadata(raw, Wire(dst_ip="10.0.0.5", dst_port=80, src_ip="x")) is None
    dump = ConfigDump(source="t", identity=Identity())
    [endpoint], why = find_endpoints(dump, raw, "clusters[co]", ("10.0.0.5", 80))
    assert (endpoint.ip, endpoint.port) == ("10.0.0.5", 15008) and "upstream_port_override" in why


@pytest.mark.parametrize(("shown", "expected"), [
    ("envoy://connect_originate/10.0.0.5:80", ("connect_originate", "10.0.0.5:80")),
    ("envoy://main_internal/", ("main_internal", "")),
    ("10.0.0.5:80", None),
])
def test_internal_addresses_as_shown(shown: str, expected: tuple[str, str] | None) -> None:
    assert internal_from_shown(shown) == expected
