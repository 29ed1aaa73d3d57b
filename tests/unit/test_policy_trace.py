"""Policy in the trace: the filter loop's rules (order, disabled filters, unknown types), RBAC's words (near
misses, authz table), the HCM's remote address, --inbound and --principal, the identity one proxy carries to the
next over Istio mTLS, and every real dump's inbound listeners traced without a crash. Envoy's own answers are
proven in tests/proof/test_rbac_vs_envoy.py and the authz-deny sample."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from envoyscope.cli import main
from envoyscope.engine.http_filters.base import FilterContext
from envoyscope.engine.http_filters.run import downstream_remote_ip, run_http_filters
from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.conftest import FIXTURES, SAMPLES

RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
AUTHZ = SAMPLES / "authz-deny"
HTTPBIN = "httpbin.web.svc.cluster.local:8000"


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _wire(**changes: Any) -> Wire:
    return Wire(dst_ip="10.0.0.2", dst_port=80, src_ip="10.0.0.9", authority="web", path="/x", **changes)


def _rbac(name: str, action: str, policies: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": RBAC, "rules": {"action": action, "policies": policies}, **extra}}


ANY = {"permissions": [{"any": True}], "principals": [{"any": True}]}


def test_filters_run_in_order_and_the_first_denial_ends_them() -> None:
    hcm = {"http_filters": [
        {"name": "mystery", "typed_config": {"@type": "type.googleapis.com/acme.Unknown"}},
        _rbac("deny-all", "DENY", {"z": ANY, "b": ANY}),
        _rbac("never-reached", "ALLOW", {}),
        {"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}
    run = run_http_filters(hcm, FilterContext(wire=_wire()), "hcm")
    assert [v.verdict for v in run.verdicts] == ["not_evaluated", "deny"]
    assert run.verdicts[0].reason == "not evaluated: unknown type acme.Unknown"
    assert run.ending is not None and run.ending.response_code_details == "rbac_access_denied_matched_policy[b]"
    assert [s.kind for s in run.steps] == ["http_filter", "http_filter"]


def test_a_disabled_filter_runs_only_where_a_route_enables_it() -> None:
    hcm = {"http_filters": [{**_rbac("deny", "DENY", {"p": ANY}), "disabled": True}]}
    assert run_http_filters(hcm, FilterContext(wire=_wire()), "h").ending is None
    enabling = {"typed_per_filter_config": {"deny": {
        "@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": False}}}
    assert run_http_filters(hcm, FilterContext(wire=_wire(), route=enabling), "h").ending is not None


def test_a_filter_config_that_cannot_be_read_is_a_step_not_a_crash() -> None:
    hcm = {"http_filters": [{"name": "bad", "typed_config": {"@type": RBAC, "rules": {"policies": "oops"}}},
                            {"name": "old", "config": {}}]}
    run = run_http_filters(hcm, FilterContext(wire=_wire()), "h")
    assert [v.verdict for v in run.verdicts] == ["not_evaluated", "not_evaluated"]


@pytest.mark.parametrize(("hcm", "xff", "expected"), [
    ({}, "", "10.0.0.9"), ({}, "1.2.3.4, 5.6.7.8", "5.6.7.8"), ({"xff_num_trusted_hops": 1}, "1.2.3.4, 5.6.7.8",
                                                                "1.2.3.4"),
    ({"use_remote_address": True}, "1.2.3.4", "10.0.0.9"),
    ({"use_remote_address": True, "xff_num_trusted_hops": 1}, "1.2.3.4", "1.2.3.4"), ({}, "junk", "10.0.0.9")])
def test_the_downstream_remote_address(hcm: dict[str, Any], xff: str, expected: str) -> None:
    wire = _wire(headers=(("x-forwarded-for", xff),) if xff else ())
    assert downstream_remote_ip(hcm, wire) == expected


def test_a_denied_request_names_the_rule_and_the_near_misses() -> None:
    request = TraceRequest(host="httpbin.web.svc.cluster.local", port=8000, ip="10.96.50.51", path="/headers",
                           from_proxy="sleep")
    result = trace(request, load_sources([str(AUTHZ)]))
    assert result.outcome.kind == "denied" and result.outcome.response_code == 403
    assert result.outcome.response_code_details == "rbac_access_denied_matched_policy[none]"
    hop = result.hops[-1]
    assert hop.peer is not None and hop.peer.principal == "spiffe://cluster.local/ns/default/sa/sleep"
    misses = [m.reason for v in hop.http_filters for m in v.near_misses]
    assert ("wants principal exact `spiffe://cluster.local/ns/default/sa/curl`, the request's is "
            "`spiffe://cluster.local/ns/default/sa/sleep`") in misses
    as_json = result.to_json()
    assert as_json["hops"][-1]["http_filters"][1]["verdict"] == "deny"


@pytest.mark.parametrize(("principal", "path", "method", "details"), [
    ("spiffe://cluster.local/ns/default/sa/curl", "/headers", "GET", None),
    ("spiffe://cluster.local/ns/default/sa/sleep", "/headers", "GET", "rbac_access_denied_matched_policy[none]"),
    ("spiffe://cluster.local/ns/default/sa/curl", "/post", "POST",
     "rbac_access_denied_matched_policy[ns[web]-policy[deny-post]-rule[0]]"),
    ("spiffe://cluster.local/ns/default/sa/sleep", "/health", "GET", None),
    (None, "/headers", "GET", None)])
def test_inbound_with_a_principal(principal: str | None, path: str, method: str, details: str | None) -> None:
    argv = ["trace", str(AUTHZ / "httpbin.config_dump.json"), "--inbound", "--to", "httpbin.web:8000",
            "--source-ip", "10.244.0.12", "--path", path, "--method", method, "-o", "json"]
    if principal:
        argv += ["--principal", principal]
    code, out = _cli(*argv)
    result = json.loads(out)
    assert result["outcome"].get("response_code_details") == details, result["outcome"]
    hop = result["hops"][0]
    assert hop["listener"] == "virtualInbound"
    if principal is None:  # plaintext: the inbound has only Istio mTLS chains (STRICT): none takes it
        assert result["outcome"]["kind"] == "no_filter_chain"
    else:
        assert hop["peer_principal"] == principal
        assert result["outcome"]["kind"] == ("denied" if details else "mesh_internal")


def test_authz_table_and_wide() -> None:
    code, out = _cli("authz", str(AUTHZ))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["PROXY", "FILTER", "WHERE", "ACTION", "NAME", "RULES"]
    names = [line.split()[4] for line in lines[1:]]
    assert names == ["ns[web]-policy[deny-post]-rule[0]", "ns[web]-policy[allow-curl]-rule[0]",
                     "ns[web]-policy[allow-health]-rule[0]"]
    code, wide = _cli("authz", str(AUTHZ), "-o", "wide")
    assert "principal exact `spiffe://cluster.local/ns/default/sa/curl`" in wide
    assert "header :method exact `POST`" in wide
    code, as_json = _cli("authz", str(AUTHZ), "-o", "json")
    assert {r["action"] for r in json.loads(as_json)} == {"DENY", "ALLOW"}


def test_authz_says_when_envoy_would_refuse_a_policy(tmp_path: Path) -> None:
    dump = json.loads((AUTHZ / "httpbin.config_dump.json").read_text())
    text = json.dumps(dump).replace('"any": true', '"any_typo": true', 1)
    path = tmp_path / "broken.json"
    path.write_text(text)
    code, out = _cli("authz", str(path))
    assert code == 0 and "Envoy refuses it: Proto constraint validation failed" in out


REAL = sorted((FIXTURES / "real-dumps").glob("*/*.json")) if FIXTURES.is_dir() else []


@pytest.mark.skipif(not REAL, reason="../shared/fixtures/real-dumps is absent")
@pytest.mark.parametrize("path", REAL, ids=[f"{p.parent.name}/{p.name}" for p in REAL])
def test_real_dumps_inbound_traces_evaluate_their_filters(path: Path) -> None:
    """Every inbound HTTP port of a real dump, traced in from another pod (with and without an mTLS identity):
    nothing crashes, and every RBAC filter met is evaluated (these dumps carry none today; any would be)."""
    dumps = load_sources([str(path)])
    dump = dumps[0]
    if not dump.identity.instance_ips:
        pytest.skip("no instance IP: no inbound to trace")
    ports = sorted({int(p[1]) for c in dump.route_configs if len(p := c.name.split("|")) == 4
                    and p[0] == "inbound" and p[1].isdigit()})[:6] or [80]
    traced = 0
    for port in ports:
        for principal in (None, "spiffe://cluster.local/ns/default/sa/sleep"):
            request = TraceRequest(host="svc.ns", port=port, inbound=True, principal=principal,
                                   source_ip="10.244.0.12")
            result = trace(request, dumps)
            traced += 1
            for hop in result.hops:
                for verdict in hop.http_filters + hop.network_filters:
                    if "rbac" in verdict.type.lower():
                        assert verdict.verdict != "not_evaluated", verdict.reason
                    assert verdict.reason
    assert traced


def _filter_table(path: Path) -> dict[str, set[str]]:
    """Every HCM's HTTP filters in one dump, through the trace's filter loop: filter type (or v2-era name) → the
    verdicts met (``unknown type`` for one no module knows)."""
    from envoyscope.engine.http_filters.base import type_name
    from envoyscope.engine.http_filters.registry import evaluator_for
    from envoyscope.engine.http_filters.run import ROUTER_NAMES
    from envoyscope.model.legacy_names import HTTP_FILTER_TYPES, LEGACY_TYPES

    table: dict[str, set[str]] = {}
    known = {**LEGACY_TYPES, **HTTP_FILTER_TYPES}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            filters = node.get("http_filters")
            if isinstance(filters, list) and filters:
                run = run_http_filters(node, FilterContext(wire=_wire()), "hcm")
                for verdict, filt in zip(run.verdicts, filters, strict=False):
                    name = str(filt.get("name", ""))
                    typed = type_name(filt.get("typed_config")) or known.get(name, "") or f"(untyped {name})"
                    unknown = "unknown type" in verdict.reason
                    if evaluator_for(typed) is not None:
                        assert not unknown, (path, name, verdict.reason)
                    table.setdefault(typed, set()).add("unknown type" if unknown else verdict.verdict)
                for filt in filters:  # the router ends the loop: it is met too
                    if isinstance(filt, dict) and filt.get("name") in ROUTER_NAMES:
                        table.setdefault("router", set()).add("router")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(path.read_text()))
    return table


def _dump_files() -> list[Path]:
    from tests.conftest import FIXTURES

    shared = sorted((FIXTURES / "real-dumps").rglob("*.json")) if FIXTURES.is_dir() else []
    return shared + sorted(SAMPLES.glob("*/*config_dump*.json"))


@pytest.mark.parametrize("path", _dump_files(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_http_filter_of_every_dump_gets_a_verdict(path: Path) -> None:
    """Per dump: the HTTP filter types met and their verdicts, through the filter loop (v2-era untyped filters by
    their well-known name). No crash, and `unknown type` only for a type no module knows."""
    table = _filter_table(path)
    print(f"\n{path.parent.name}/{path.name}: " + "; ".join(f"{t}: {','.join(sorted(v))}"
                                                           for t, v in sorted(table.items())))
    known_unknown = [t for t, verdicts in table.items() if "unknown type" in verdicts and not t.startswith("(")]
    from envoyscope.engine.http_filters.registry import evaluator_for

    assert all(evaluator_for(t) is None for t in known_unknown), known_unknown


def test_v2_era_filters_are_evaluated_by_their_names() -> None:
    """Istio 1.5's sidecar names envoy.fault / envoy.cors / envoy.router without a typed config: the loop evaluates
    them as HTTPFault / Cors (no fault configured: pass) instead of "unknown type"."""
    from tests.conftest import shared_path

    table = _filter_table(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json"))
    assert table["envoy.extensions.filters.http.fault.v3.HTTPFault"] == {"pass"}
    assert table["envoy.extensions.filters.http.cors.v3.Cors"] == {"pass"}
    assert not any(t.startswith("(untyped") for t in table), table
    hcm = {"http_filters": [{"name": "envoy.fault", "config": {"abort": {"http_status": 503, "percentage": {
        "numerator": 100}}}}, {"name": "mixer", "config": {"default_destination_service": "a"}},
        {"name": "envoy.router"}]}
    run = run_http_filters(hcm, FilterContext(wire=_wire()), "hcm")
    assert [v.verdict for v in run.verdicts] == ["abort"] and run.ending is not None
    assert run.ending.response_code == 503 and "v2-era" in run.ending.reason
    mixed = run_http_filters({"http_filters": hcm["http_filters"][1:]}, FilterContext(wire=_wire()), "hcm")
    assert [v.verdict for v in mixed.verdicts] == ["assumed"] and "Mixer" in mixed.verdicts[0].reason
