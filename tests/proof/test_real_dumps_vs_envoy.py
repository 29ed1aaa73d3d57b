"""Real dumps from other projects, replayed in Envoy 1.40 with requests made from their own names.

For every dump in ../shared/fixtures/real-dumps (and the istioctl fixtures that have listeners): one local Envoy
loaded with the dump's replay form (`envoyscope.verify`), and every request `envoyscope.verify.generate` makes from
the dump's listeners, virtual hosts, routes and SNI chains traced by envoyscope and sent to Envoy. Agreement is
required on the listener, filter chain, virtual host, route, cluster and outcome of every request, except the
cases in KNOWN_DISAGREEMENTS (engine gaps written up in the findings, reported here but not failed on). Dumps
Envoy cannot load are listed with the reason, and that list is checked too. Run with ``-rA -s`` to see the
summary: every request, its verdict, and the counts per dump.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from envoyscope.verify.check import HopCheck, ReplayPool, Verification, cannot_replay_reason, verify, verify_inbound
from envoyscope.verify.generate import as_flags, inbound_cases, requests_for
from envoyscope.verify.replay import Replay
from tests.conftest import shared_path
from tests.lab.envoy import require_envoy

pytestmark = [pytest.mark.envoy, pytest.mark.xdist_group("proof-real-dumps")]

REPLAYED = (
    "real-dumps/deathstarbench-geo-sidecar-1.18/config_dump.json",
    "real-dumps/multiparty-lb-1.22/sidecar_config_dump.json",
    "real-dumps/multiparty-lb-1.22/ingressgateway_config_dump.json",
    "real-dumps/jewertow-egressgateway-1.12/egress.json",
    "real-dumps/openshift-sm-1.20/hello-openshift-config-dump.json",
    "real-dumps/openshift-sm-1.20/ingresspod-config-dump.json",
    "istioctl/proxyconfig/testdata/config_dump.json",
    # Istio 1.5 / Envoy 1.13 (v2): loads once its config-less filters get their default v3 types
    "real-dumps/bookinfo-1.5/productpage-config-dump.json",
    "real-dumps/bookinfo-1.5/ingressgateway_config_dump.json",
    "real-dumps/bookinfo-1.5/egressgateway_config_dump.json",
)
UNLOADABLE = {
    "istioctl/describe/testdata/http_config.json": "the dump holds no listeners (a partial dump)",
    "istioctl/describe/testdata/tls_config.json": "the dump holds no listeners (a partial dump)",
}
# (dump, verify flags) → the finding, for a case where envoyscope is known to disagree with Envoy: reported, not
# failed on. Empty: the three gaps replaying found (client certificates required, untrusted client certificates,
# plaintext into a chain whose transport socket is TLS) are modelled by the downstream TLS step.
KNOWN_DISAGREEMENTS: dict[tuple[str, str], str] = {}
MIN_REQUESTS = 300
RESULTS: dict[str, tuple[int, int, int]] = {}  # dump → (requests, agree, known disagreements)


def unloadable_reason(relative: str) -> str | None:
    """Why Envoy 1.40 cannot replay the dump (None: it replays every listener)."""
    [dump] = load_sources([str(shared_path(*relative.split("/")))])
    reason = cannot_replay_reason(dump)
    if reason is not None:
        return reason
    with Replay(dump) as replay:
        assert replay.form is not None
        rejected = {n: r for n, r in replay.rejected.items() if n in {lst.name for lst in dump.listeners} or
                    n.startswith("envoyscope-unnamed-listener")}
    if not rejected:
        return None
    return "; ".join(f"{n}: {r}" for n, r in sorted(rejected.items()))


def test_the_unloadable_dumps_are_the_expected_ones() -> None:
    require_envoy()
    found = {relative: unloadable_reason(relative) for relative in (*REPLAYED, *UNLOADABLE)}
    print("\ndumps Envoy 1.40 cannot replay:")
    for relative, reason in sorted(found.items()):
        if reason:
            print(f"  {relative}: cannot replay: {reason}")
    assert {k: v for k, v in found.items() if v} == UNLOADABLE


def _line(flags: str, verdict: Verification | HopCheck) -> str:
    parts = []
    hops = verdict.hops if isinstance(verdict, Verification) else [verdict]
    for hop in hops:
        if hop.cannot:
            parts.append(f"cannot replay: {hop.cannot}")
            continue
        shown = [f"{c.name}={c.envoy or '-'}" if c.agree else f"{c.name}: envoy={c.envoy or '-'} "
                 f"envoyscope={c.envoyscope or '-'}" for c in hop.checks]
        parts.append(" ".join(shown))
    mark = "agree   " if verdict.agree else "DISAGREE"
    return f"  {mark} {flags} | {' || '.join(parts)}"


@pytest.mark.parametrize("relative", REPLAYED)
def test_envoy_agrees_on_every_generated_request(relative: str) -> None:
    require_envoy()
    path: Path = shared_path(*relative.split("/"))
    dumps = load_sources([str(path)])
    requests = requests_for(dumps[0])
    inbound = inbound_cases(dumps[0])
    lines, disagree, known = [], [], 0
    with ReplayPool() as pool:
        verdicts: list[tuple[str, Any]] = []
        for request in requests:
            verdicts.append((as_flags(request), verify(trace(request, dumps), dumps, pool)))
        for label, wire, request, payload_http in inbound:
            verdicts.append((label, verify_inbound(dumps[0], wire, request, payload_http, pool)))
        for flags, verdict in verdicts:
            lines.append(_line(flags, verdict))
            if not verdict.agree:
                if (relative, flags) in KNOWN_DISAGREEMENTS:
                    known += 1
                    lines[-1] += f"  [known: {KNOWN_DISAGREEMENTS[(relative, flags)]}]"
                else:
                    disagree.append(lines[-1])
    total = len(verdicts)
    agree = total - len(disagree) - known
    RESULTS[relative] = (total, agree, known)
    print(f"\n{relative}: {total} requests ({len(inbound)} of them inbound), {agree} agree, {known} known "
          f"disagreements, {len(disagree)} new disagreements")
    print("\n".join(lines))
    assert total >= 5
    assert disagree == []


def test_at_least_300_requests_were_checked() -> None:
    if set(RESULTS) != set(REPLAYED):
        pytest.skip("runs after every dump's test, in the same session")
    total = sum(n for n, _, _ in RESULTS.values())
    print(f"\n{'dump':70} requests agree known-disagreements")
    for relative, (n, agree, known) in RESULTS.items():
        print(f"{relative:70} {n:8} {agree:5} {known:5}")
    print(f"{'total':70} {total:8} {sum(a for _, a, _ in RESULTS.values()):5}")
    assert total >= MIN_REQUESTS
