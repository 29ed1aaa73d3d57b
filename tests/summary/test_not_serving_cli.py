"""Rejected and warming resources in ``listeners``, ``clusters``, ``routes`` and ``all``: a STATE column with
Envoy's words, the state in ``-o json``, a note on stderr — on the DeathStarBench dump, whose inbound listener
Envoy rejected (the real incident), and on small dumps for clusters and routes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.cli import main
from tests.conftest import SAMPLES, shared_path
from tests.summary.builders import ADMIN

LUA = ("Proto constraint validation failed (LuaValidationError.DefaultSourceCode: embedded message failed validation "
       '| caused by field: "specifier", reason: is required): default_source_code { }')


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _deathstarbench() -> str:
    return str(shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json"))


@pytest.mark.parametrize("command", ["listeners", "all"])
def test_the_two_rejected_inbound_listeners_are_shown_with_envoys_text(capsys: pytest.CaptureFixture[str],
                                                                      command: str) -> None:
    code, out, err = _run(capsys, command, _deathstarbench(), "--today", "2024-01-01") if command == "all" else \
        _run(capsys, command, _deathstarbench())
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if "ADDRESSES" in line)
    assert header.split()[-1] == "STATE"
    with_text = [line for line in lines if line.endswith("REJECTED: " + LUA)]
    assert len(with_text) == 2  # two error_state entries, Envoy's words once per listener
    assert all("15006" in line for line in with_text)
    rejected_rows = [line for line in lines if line.endswith(" REJECTED") or line.endswith("REJECTED: " + LUA)]
    assert len(rejected_rows) == 22  # the failed virtualInbound's 11 filter chains, twice
    if command == "all":
        assert all(line.startswith("listener/virtualInbound ") for line in rejected_rows)
    assert f"envoyscope: note: listener virtualInbound was rejected by Envoy: {LUA}\n" in err
    assert err.count("was rejected by Envoy") == 1  # the same note once


def test_json_output_wraps_the_rejected_listeners_with_their_state(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "listeners", _deathstarbench(), "-o", "json", "--port", "15006")
    data = json.loads(out)
    assert code == 0 and len(data) == 2
    assert [(d["name"], d["state"], d["details"]) for d in data] == [("virtualInbound", "rejected", LUA)] * 2
    assert data[0]["last_update_attempt"] and data[0]["listener"]["address"]["socket_address"]["port_value"] == 15006


def test_a_dump_with_only_active_resources_keeps_istioctls_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "listeners", str(SAMPLES / "egress-mtls-subsets" / "sleep.config_dump.json"))
    assert code == 0 and "STATE" not in out and out.startswith("ADDRESSES")


def _small(tmp_path: Path) -> str:
    failed_route = {"name": "8080", "virtual_hosts": [{"name": "v", "domains": ["*"], "routes": []}]}
    doc: dict[str, Any] = {"configs": [
        {"@type": ADMIN + "ClustersConfigDump",
         "dynamic_active_clusters": [{"cluster": {"name": "outbound|80||ok.ns.svc.cluster.local", "type": "EDS"}},
                                     {"error_state": {"failed_configuration": {
                                         "name": "outbound|81||bad.ns.svc.cluster.local", "type": "EDS"},
                                         "details": "bad cluster", "last_update_attempt": "2024-05-01T00:00:00Z"}}],
         "dynamic_warming_clusters": [{"cluster": {"name": "outbound|82||wait.ns.svc.cluster.local", "type": "EDS"}}]},
        {"@type": ADMIN + "RoutesConfigDump", "dynamic_route_configs": [
            {"route_config": {"name": "80", "virtual_hosts": [{"name": "a", "domains": ["*"], "routes": [
                {"match": {"prefix": "/"}, "route": {"cluster": "outbound|80||ok.ns.svc.cluster.local"}}]}]}},
            {"error_state": {"failed_configuration": failed_route, "details": "bad route"}}]},
    ]}
    path = tmp_path / "small.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_clusters_and_routes_show_rejected_and_warming(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dump = _small(tmp_path)
    _, out, err = _run(capsys, "clusters", dump)
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert rows["ok.ns.svc.cluster.local"].endswith(" ACTIVE")
    assert rows["bad.ns.svc.cluster.local"].endswith(" REJECTED: bad cluster")
    assert rows["wait.ns.svc.cluster.local"].endswith(" WARMING")
    assert "envoyscope: note: cluster outbound|81||bad.ns.svc.cluster.local was rejected by Envoy: bad cluster" in err
    _, out, _ = _run(capsys, "routes", dump)
    assert out.splitlines()[0].split()[-1] == "STATE"
    assert [line.split()[0] for line in out.splitlines() if "REJECTED: bad route" in line] == ["8080"]
    _, out, _ = _run(capsys, "clusters", dump, "-o", "json")
    states = {d.get("name"): d.get("state", "active") for d in json.loads(out)}
    assert states == {"outbound|80||ok.ns.svc.cluster.local": "active",
                      "outbound|81||bad.ns.svc.cluster.local": "rejected",
                      "outbound|82||wait.ns.svc.cluster.local": "warming"}
