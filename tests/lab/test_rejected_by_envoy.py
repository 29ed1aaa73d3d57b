"""What a real Envoy dumps for resources it rejected, and that envoyscope reads it as it does DeathStarBench's:
a listener whose Lua filter has no source (the real incident) and a cluster Envoy cannot build, pushed by file
xDS; the trace then says so where the request would have used the listener."""

from __future__ import annotations

import json
from typing import Any

import pytest

from envoyscope.engine.listener import select_listener
from envoyscope.engine.request import Wire
from envoyscope.model.parse import parse_document
from tests.lab.envoy import TYPE_URLS, EnvoyProcess, file_source, free_port, xds_file
from tests.lab.test_reading_dumps import http_listener, tcp_listener

LUA = {"name": "envoy.filters.http.lua", "typed_config": {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua", "default_source_code": {}}}


@pytest.fixture(scope="module")
def rejected(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("rejected")
    good_port, bad_port = free_port(), free_port()
    good = tcp_listener("good", good_port, "static-cluster")
    bad = http_listener("bad-lua", bad_port, {"route_config": {"name": "r", "virtual_hosts": []}})
    bad["filter_chains"][0]["filters"][0]["typed_config"]["http_filters"].insert(0, LUA)
    static_cluster = {"name": "static-cluster", "type": "STATIC", "connect_timeout": "1s"}
    bad_cluster = {"name": "bad-cluster", "type": "STATIC", "connect_timeout": "1s", "lb_policy": "CLUSTER_PROVIDED"}
    lds = xds_file(work / "lds.json", [good, bad], TYPE_URLS["listeners"])
    cds = xds_file(work / "cds.json", [bad_cluster], TYPE_URLS["clusters"])
    bootstrap = {"node": {"id": "router~127.0.0.1~rejected-0.lab~lab.svc.cluster.local", "cluster": "rejected"},
                 "static_resources": {"clusters": [static_cluster]},
                 "dynamic_resources": {"lds_config": file_source(lds), "cds_config": file_source(cds)}}
    with EnvoyProcess("rejected", work, bootstrap) as envoy:
        text = envoy.wait_for("/config_dump", lambda t: '"error_state"' in t and '"good"' in t)
    path = work / "dump.json"
    path.write_text(text)
    return {"dump": json.loads(text), "path": path, "bad_port": bad_port}


@pytest.mark.envoy
def test_a_listener_envoy_rejected_is_read_with_envoys_words(rejected: dict[str, Any]) -> None:
    dump = parse_document(rejected["dump"], str(rejected["path"]))
    # Envoy writes two error_state entries for one rejection, the second without a name, as in DeathStarBench's
    held = dump.not_serving("listener")
    assert [(r.name, r.state) for r in held] == [("bad-lua", "rejected")] * 2
    listener = held[0]
    assert "LuaValidationError" in listener.error_details  # the DeathStarBench incident's error, from Envoy 1.40
    assert dump.listener("bad-lua") is None and dump.listener("good") is not None
    assert any(note.startswith("listener bad-lua was rejected by Envoy: ") for note in dump.notes)
    found, step = select_listener(dump, Wire(dst_ip="127.0.0.1", dst_port=rejected["bad_port"], src_ip="127.0.0.9"),
                                  "direct")
    assert found is None and "not in use for this address: `bad-lua`" in step.reason
    assert step.near_misses[0].reason.startswith("listener bad-lua was rejected by Envoy: ")


@pytest.mark.envoy
def test_a_cluster_envoy_rejected_is_absent(rejected: dict[str, Any]) -> None:
    dump = parse_document(rejected["dump"], str(rejected["path"]))
    # Envoy 1.40 logs a rejected cluster but keeps no error_state for it in /config_dump: it is simply absent, and
    # a route to it gets NC (the model reads a cluster error_state when a dump has one: tests/unit/test_not_serving)
    assert [c.name for c in dump.clusters] == ["static-cluster"] and dump.cluster("bad-cluster") is None
