"""``trace --expect``: assertions a runbook or CI makes about a trace, and the findings the traced request hits.

``exit=egress_gateway`` (or direct, passthrough, blocked, or an outcome kind), ``via=PROXY`` (a proxy crossed, by
name or name prefix) and ``outcome=KIND``. A broken expectation names the first step that breaks it: for the exit
and via, the cluster decision of the hop where the path turned elsewhere; for the outcome, the last step.
"""

from __future__ import annotations

from envoyscope.engine.egress.audit import classify, is_egress_gateway, via
from envoyscope.engine.egress.destinations import Destination
from envoyscope.engine.egress.findings import Finding, row_findings, unique_findings
from envoyscope.engine.trace import OUTCOME_KINDS, Hop, Trace
from envoyscope.errors import ArgumentError
from envoyscope.model.dump import ConfigDump

EXITS = ("egress_gateway", "direct", "passthrough", "blocked")
KEYS = ("exit", "via", "outcome")


def parse_expectations(items: list[str]) -> list[tuple[str, str]]:
    """``KEY=VALUE`` pairs, checked: an unknown key or value is an `ArgumentError` (one line, exit 2)."""
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in KEYS or not value:
            raise ArgumentError("--expect", item, f"expected KEY=VALUE with KEY one of {', '.join(KEYS)}")
        if key == "outcome" and value not in OUTCOME_KINDS:
            raise ArgumentError("--expect", item, f"unknown outcome kind (known: {', '.join(OUTCOME_KINDS)})")
        if key == "exit" and value not in EXITS and value not in OUTCOME_KINDS:
            raise ArgumentError("--expect", item, f"unknown exit (one of {', '.join(EXITS)} or an outcome kind)")
        out.append((key, value))
    return out


def _decision(hop: Hop) -> str:
    step = next((s for s in reversed(hop.steps) if s.kind in ("route_action", "cluster", "route")), None)
    what = f"{step.kind} {step.matched}: {step.reason}" if step else "no routing decision"
    return f"hop {hop.proxy}: {what}"


def _first_departure(result: Trace, expected_exit: str) -> Hop:
    """The hop whose decision sent the request elsewhere than the expected exit."""
    if expected_exit == "egress_gateway":
        for hop in result.hops:
            if not is_egress_gateway(hop.proxy):
                return hop  # the first proxy that did not send it to an egress gateway
    return result.hops[-1]


def broken_expectations(result: Trace, expectations: list[tuple[str, str]]) -> list[tuple[str, str | None]]:
    """(``key=value``, None when met, else why not with the step that breaks it) for each expectation."""
    if not result.hops:
        return [(f"{k}={v}", f"the trace has no hop ({result.outcome.kind})") for k, v in expectations]
    out: list[tuple[str, str | None]] = []
    actual_exit, crossed = classify(result), via(result)
    for key, value in expectations:
        label = f"{key}={value}"
        if key == "exit":
            ok = actual_exit == value
            why = None if ok else (f"the request exits {actual_exit} ({result.outcome.kind}); "
                                   f"{_decision(_first_departure(result, value))}")
        elif key == "via":
            ok = any(p == value or p.startswith(value) or p.split(".")[0].startswith(value) for p in crossed)
            why = None if ok else f"it crosses {' → '.join(crossed)}; {_decision(result.hops[-1])}"
        else:
            ok = result.outcome.kind == value
            last = result.hops[-1].steps[-1] if result.hops[-1].steps else None
            why = None if ok else (f"the outcome is {result.outcome.kind}: {result.outcome.detail}"
                                   + (f" (step {last.kind})" if last else ""))
        out.append((label, why))
    return out


def trace_findings(result: Trace, dumps: list[ConfigDump], proxy_ips: dict[str, str] | None = None) -> list[Finding]:
    """The egress findings the traced request itself hits (the same detectors as ``envoyscope egress``)."""
    req = result.request
    dest = Destination(req.host, req.port, req.scheme, "the traced request", ip=req.ip, path=req.path,
                       headers=req.headers, sni=req.sni, client_cert=req.client_cert)
    found = row_findings(dest, classify(result), result, dumps, proxy_ips)
    return [finding for _, finding in unique_findings([("", f) for f in found])]
