"""The bundled sample dumps: what they hold, that they match the scenario builders, and that no key leaked."""

from __future__ import annotations

import json

import pytest

from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.lab.scenarios import all_scenarios

SCENARIOS = all_scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_sample_dumps_hold_what_the_scenario_sends(scenario) -> None:  # type: ignore[no-untyped-def]
    folder = SAMPLES / scenario.name
    dumps = {d.identity.pod: d for d in load_sources([str(folder)])}
    assert len(dumps) == len(scenario.proxies)
    for proxy in scenario.proxies:
        dump = dumps[proxy.pod]
        assert dump.identity.instance_ips == (proxy.ip,)
        assert dump.clusters_status is not None, "the /clusters output is paired with the dump"
        assert {r.state for r in dump.listeners} == {"dynamic_active"}
        assert {lst["name"] for lst in proxy.listeners} == {r.name for r in dump.listeners}
        assert {c["name"] for c in proxy.clusters} <= {r.name for r in dump.clusters}
        assert {r["name"] for r in proxy.routes} == {r.name for r in dump.route_configs}
        for expected in proxy.routes:  # the routes are current: exactly what the builders make today
            assert dump.route_config(expected["name"]).raw["virtual_hosts"] == json.loads(
                json.dumps(expected["virtual_hosts"]))
        if proxy.role == "sidecar":
            assert dump.listener("virtualOutbound") is not None


def test_no_private_key_in_any_sample() -> None:
    for path in SAMPLES.rglob("*.json"):
        text = path.read_text()
        assert "PRIVATE KEY" not in text, path
