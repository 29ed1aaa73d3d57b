"""Envoy judges a trace that starts at a gateway: the real multiparty-lb ingress gateway (Istio 1.22) replayed in Envoy
1.40 (`envoyscope.verify`), every hop of envoyscope's trace sent to it with the connection envoyscope says the hop
receives.

- ``--to app1.mplb.com:80``: envoyscope takes the Service port's targetPort (8080) from the virtual host names; Envoy's
  listener on 8080 takes the connection, and its virtual host, route and cluster are envoyscope's. The same request
  to the pod's own address on port 80 is refused by Envoy as by envoyscope (no listener).
- the client's address: with filter chains for the pod network (``source_prefix_ranges``) and for local connections
  (``source_type``), Envoy picks the chain envoyscope picks for the outside address, a pod's, and the gateway's own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from envoyscope.engine.trace import trace
from envoyscope.engine.validate import checked_request
from envoyscope.sources.files import load_sources
from envoyscope.verify.check import ReplayPool, verify
from tests.cli.test_gateway_entry import GATEWAY_IP, ingress, with_source_chains
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-gateway-entry")]


def _checks(verdict: object) -> list[str]:
    return [f"{c.name}: envoy={c.envoy} envoyscope={c.envoyscope}" for h in verdict.hops  # type: ignore[attr-defined]
            for c in h.checks if not c.agree] + [h.cannot for h in verdict.hops if h.cannot]  # type: ignore[attr-defined]


def test_envoys_listener_on_the_target_port_takes_the_service_port() -> None:
    require_envoy()
    dumps = load_sources([str(ingress().parent)])
    with ReplayPool() as pool:
        mapped = trace(checked_request(to="app1.mplb.com:80", scheme=None, from_proxy="ingress"), dumps)
        assert mapped.hops[0].listener == "0.0.0.0_8080" and mapped.hops[0].wire.dst_port == 8080
        verdict = verify(mapped, dumps, pool)
        assert verdict.agree, _checks(verdict)
        first = verdict.hops[0]
        assert first.decision is not None and first.decision.listener == "0.0.0.0_8080"
        assert first.decision.virtual_host == "app1.mplb.com:80"
        direct = trace(checked_request(to="app1.mplb.com:80", scheme=None, from_proxy="ingress", dst_ip=GATEWAY_IP),
                       dumps)
        assert direct.outcome.kind == "no_listener"
        verdict = verify(direct, dumps, pool)
        assert verdict.agree, _checks(verdict)
        assert verdict.hops[0].decision is not None and verdict.hops[0].decision.listener is None


@pytest.mark.parametrize(("source_ip", "chain"), [(None, "0"), ("172.24.1.5", "pod-network"),
                                                  (GATEWAY_IP, "local")])
def test_envoy_picks_the_filter_chain_of_the_clients_address(tmp_path: Path, source_ip: str | None,
                                                              chain: str) -> None:
    require_envoy()
    dumps = load_sources([str(with_source_chains(ingress(), tmp_path / "ingress.json"))])
    request = checked_request(to="app1.mplb.com:80", scheme=None, source_ip=source_ip)
    result = trace(request, dumps)
    assert result.hops[0].filter_chain == chain
    with ReplayPool() as pool:
        verdict = verify(result, dumps, pool)
    assert verdict.hops[0].agree, _checks(verdict)
    assert verdict.hops[0].decision is not None and verdict.hops[0].decision.filter_chain == chain
