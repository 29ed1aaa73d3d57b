"""``envoyscope diff OLD NEW`` as a user runs it: text, ``-o json``, exit codes 0 / 1 / 2, bundles, bad input."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from envoyscope.cli_diff import side_arguments
from tests.conftest import REPO, SAMPLES


def run_cli(*argv: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "envoyscope", "diff", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_same_capture_exits_0() -> None:
    result = run_cli(str(SAMPLES / "mesh-mtls"), str(SAMPLES / "mesh-mtls"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("no changes") == 3
    data = json.loads(run_cli(str(SAMPLES / "mesh-mtls"), str(SAMPLES / "mesh-mtls"), "-o", "json").stdout)
    assert data["changes"] == [] and len(data["proxies"]) == 3


def test_changes_in_words_and_exit_1() -> None:
    result = run_cli(str(SAMPLES / "registry-only"), str(SAMPLES / "allow-any"))
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("proxy sleep-7f8d9c6b5d-x2x7k.default: 4 changes")
    assert "  virtual host `allow_any` of route configuration `80` added" in lines
    assert "  virtual host `block_all` of route configuration `80` removed" in lines
    assert ("  filter chain `virtualOutbound-catchall-tcp` of listener `virtualOutbound` "
            "filters[envoy.filters.network.tcp_proxy].typed_config.cluster "
            "BlackHoleCluster → PassthroughCluster") in lines


def test_json_has_exactly_the_documented_shape() -> None:
    result = run_cli(str(SAMPLES / "egress-gateway-http"), str(SAMPLES / "allow-any"), "-o", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"proxies", "changes"}
    for proxy in data["proxies"]:
        assert set(proxy) == {"old", "new", "changes"}
        for change in proxy["changes"]:
            assert set(change) == {"kind", "name", "change", "fields"}
            assert change["kind"] in {"listener", "filter_chain", "route_config", "virtual_host", "route", "cluster",
                                      "endpoint", "secret", "bootstrap"}
            assert change["change"] in {"added", "removed", "modified"}
            assert all(set(field) == {"path", "old", "new"} for field in change["fields"])
    assert data["changes"] == [c for proxy in data["proxies"] for c in proxy["changes"]]
    # The egress gateway is only in OLD: listed, with nothing to compare.
    assert {"old": "istio-egressgateway-5d8c7b8f9-q2w7x.istio-system", "new": None, "changes": []} in data["proxies"]
    sleep = next(p for p in data["proxies"] if p["new"])
    assert {"kind": "route", "name": "80/httpbin.org:80/default", "change": "added",
            "fields": [{"path": "position", "old": None, "new": 1}]} in sleep["changes"]
    assert {"kind": "cluster", "name": "outbound|80||httpbin.org", "change": "added", "fields": []} in sleep["changes"]


def test_a_proxy_on_one_side_is_said_in_text() -> None:
    result = run_cli(str(SAMPLES / "egress-gateway-http"), str(SAMPLES / "allow-any"))
    assert result.returncode == 1
    assert ("proxy istio-egressgateway-5d8c7b8f9-q2w7x.istio-system: only in OLD "
            f"({SAMPLES / 'egress-gateway-http' / 'egressgateway.config_dump.json'})") in result.stdout


def test_a_bundle_against_its_folder_is_unchanged(tmp_path: Path) -> None:
    from envoyscope.sources.bundle import ProxyCapture, write_bundle

    folder = SAMPLES / "mesh-mtls"
    captures = [ProxyCapture(name, files={kind: (folder / f"{name}.{kind}.json").read_bytes()
                                          for kind in ("config_dump", "clusters")})
                for name in ("sleep", "httpbin", "egressgateway")]
    bundle = tmp_path / "capture.tar.gz"
    write_bundle(bundle, captures, ["test"])
    result = run_cli(str(bundle), str(folder))
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"configs": [')
    cases = [(str(tmp_path / "missing.json"), "no such file"), (str(tmp_path / "broken.json"), "invalid JSON")]
    for source, words in cases:
        result = run_cli(str(SAMPLES / "allow-any"), source)
        assert result.returncode == 2, result.stderr
        assert result.stdout == "" and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr
    result = run_cli(str(SAMPLES / "allow-any"))  # NEW missing: argparse's usage error
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_each_side_can_be_a_live_source() -> None:
    base = argparse.Namespace(admin_timeout=3.0, kubeconfig=None, context=None, namespace="web", admin_port=None)
    admin = side_arguments("http://127.0.0.1:15000", base)
    assert admin.admin == ["http://127.0.0.1:15000"] and admin.sources == [] and admin.pod == []
    pod = side_arguments("pod:default/sleep-7f8d9c6b5d-x2x7k", base)
    assert pod.pod == ["default/sleep-7f8d9c6b5d-x2x7k"] and pod.namespace == "web"
    assert side_arguments("bundle.tar.gz", base).sources == ["bundle.tar.gz"]
