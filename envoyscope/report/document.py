"""Everything a trace report says, gathered once; `markdown`, `html` and `json_report` only lay it out.

A report stands alone for people who were not at the terminal: a one-line verdict, the request, the path as a
diagram, one section per hop (what matched and why, near misses, TLS with certificates, the config behind each
decision as YAML) and provenance (which dumps, their hashes and capture times, the command that made it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from envoyscope import __version__
from envoyscope.engine.trace import OUTCOME_KINDS, Hop, Trace
from envoyscope.model.captured import capture_moment
from envoyscope.model.certs import data_source_bytes, decode_certificate, redact, rfc3339
from envoyscope.model.dump import ConfigDump

GOOD = {"external", "mesh_internal"}
NOTICE = {"passthrough", "direct_response", "redirect", "endpoints_unknown", "unsupported"}
EXCERPT_STEPS = ("filter_chain", "network_filter", "route", "route_action", "http_filter", "cluster", "endpoint")


def verdict(trace: Trace) -> tuple[str, str]:
    """(level, sentence): level is ok | notice | error."""
    outcome = trace.outcome
    level = "ok" if outcome.kind in GOOD else "notice" if outcome.kind in NOTICE else "error"
    path = " → ".join(hop.proxy for hop in trace.hops) or "no proxy"
    code = f" (HTTP {outcome.response_code})" if outcome.response_code else ""
    flags = f" [{outcome.response_flags}]" if outcome.response_flags else ""
    return level, f"{_request_line(trace)}: {outcome.kind}{code}{flags} via {path} — {outcome.detail}"


def _request_line(trace: Trace) -> str:
    req = trace.request
    if req.is_http:
        return f"{req.method} http://{req.authority}{req.path}"
    sni = f" (SNI {req.server_name})" if req.server_name else ""
    return f"{req.scheme.upper()} {req.host}:{req.port}{sni}"


def _request_fields(trace: Trace) -> dict[str, Any]:
    fields = trace.request.to_json()
    fields["headers"] = [f"{name}: {value}" for name, value in trace.request.headers]
    return fields


def _yaml(value: Any) -> str:
    return str(yaml.safe_dump(redact(value), sort_keys=False, width=100, allow_unicode=True)).rstrip()


def _certificates(hop: Hop, dump: ConfigDump | None, today: dt.date) -> list[dict[str, Any]]:
    """The certificates the hop's upstream TLS presents and trusts, decoded from the dump's secrets, each judged
    today and at capture (`envoyscope.model.captured`): ``ok`` only when valid at both."""
    if hop.tls is None or dump is None:
        return []
    captured = capture_moment(dump)
    out = []
    for role, ref in (("client certificate", hop.tls.client_cert), ("trusted CA", hop.tls.validation)):
        if not ref:
            continue
        name = ref.split(":", 1)[1] if ref.startswith("sds:") else ""
        secret = dump.secret(name) if name else None
        entry: dict[str, Any] = {"role": role, "source": ref}
        if secret is None:
            entry["note"] = "not in the dump" if name else "read from a file by the proxy (not in the dump)"
            out.append(entry)
            continue
        raw = secret.raw
        source = ((raw.get("tls_certificate") or {}).get("certificate_chain")
                  or (raw.get("validation_context") or {}).get("trusted_ca"))
        data = data_source_bytes(source)
        cert = decode_certificate(data) if data else None
        if cert is None:
            entry["note"] = "the secret holds no readable certificate"
        else:
            validity = cert.validity(today, captured.at if captured else None)
            entry.update(subject=cert.subject, identity=cert.identity, issuer=cert.issuer, sans=list(cert.sans),
                         serial=cert.serial, not_before=rfc3339(cert.not_before), not_after=rfc3339(cert.not_after),
                         days_left=validity.days_left, valid=validity.valid,
                         captured_at=rfc3339(captured.at) if captured else None,
                         captured_at_basis=captured.basis if captured else None,
                         days_left_at_capture=validity.days_left_at_capture,
                         valid_at_capture=validity.valid_at_capture, validity=validity.words(), ok=not validity.bad)
        out.append(entry)
    return out


def _hop(index: int, hop: Hop, dump: ConfigDump | None, today: dt.date) -> dict[str, Any]:
    steps = []
    for step in hop.steps:
        steps.append({"kind": step.kind, "matched": step.matched, "reason": step.reason, "path": step.path,
                      "near_misses": [{"candidate": m.candidate, "reason": m.reason} for m in step.near_misses],
                      "changes": list(step.changes)})
    excerpts = [{"title": f"{step.kind.replace('_', ' ')} {step.matched or ''}".strip(), "path": step.path,
                 "yaml": _yaml(step.raw)} for step in hop.steps if step.kind in EXCERPT_STEPS and step.raw]
    return {"index": index, "proxy": hop.proxy, "proxy_type": dump.identity.proxy_type if dump else "",
            "summary": hop.to_json(), "steps": steps, "excerpts": excerpts,
            "certificates": _certificates(hop, dump, today)}


def _utc(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _origin(dump: ConfigDump, mtime: Callable[[Path], float]) -> dict[str, Any]:
    """Where a dump's bytes came from, their sha256 and when they were captured (and how that time is known).

    A bundle member names the bundle and takes the capture time and sha256 its manifest recorded; a source that
    read the bytes itself (admin URL, Kubernetes pod) says so in the dump; a plain file is hashed here, and its
    modification time is the best capture time there is.
    """
    from envoyscope.sources.bundle import bundle_origin

    origin = bundle_origin(dump.source)
    if origin is not None:
        bundle, member, manifest = origin
        recorded: dict[str, Any] = next((entry["files"][member] for entry in manifest.get("proxies") or ()
                         if isinstance(entry, dict) and member in (entry.get("files") or {})), {})
        sha = recorded.get("sha256") or hashlib.sha256(Path(dump.source).read_bytes()).hexdigest()
        stamp = manifest.get("captured_at")
        return {"source": str(bundle), "member": member, "sha256": sha, "captured_at": stamp,
                "captured_at_basis": "bundle_manifest" if stamp else None}
    if dump.sha256 or dump.captured_at:
        return {"source": dump.source, "sha256": dump.sha256 or None, "captured_at": dump.captured_at or None,
                "captured_at_basis": "fetched" if dump.captured_at else None}
    path = Path(dump.source)
    if dump.source != "-" and path.is_file():
        return {"source": dump.source, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                "captured_at": _utc(mtime(path)), "captured_at_basis": "file_mtime"}
    return {"source": dump.source, "sha256": None, "captured_at": None, "captured_at_basis": None}


def _provenance(dumps: list[ConfigDump], crossed: set[str], argv: list[str], now: dt.datetime,
                mtime: Callable[[Path], float]) -> dict[str, Any]:
    """The proxies the trace read (those it crossed, ``crossed`` by name, and those decoded to find its way), each
    with its hash, capture time and last update, and how many others the sources held: a proxy of a folder or
    bundle that the trace never reached was not decoded (`LazyDump`), and the report does not decode it."""
    from envoyscope.sources.lazy import LazyDump

    sources = []
    unread = 0
    for dump in dumps:
        if isinstance(dump, LazyDump) and not dump.loaded and dump.identity.name not in crossed:
            unread += 1
            continue
        stamps = [r.last_updated for kind in ("listener", "cluster", "route_config", "endpoint")
                  for r in dump.of_kind(kind) if r.last_updated]
        ident = dump.identity
        origin = _origin(dump, mtime)
        sources.append({**origin, "proxy": ident.name, "proxy_type": ident.proxy_type,
                        "node_id": ident.node_id, "instance_ips": list(ident.instance_ips),
                        "istio_version": ident.istio_version, "envoy_version": ident.envoy_version,
                        "last_config_update": max(stamps) if stamps else None})
    return {"envoyscope_version": __version__, "command": argv, "generated_at": rfc3339(now), "sources": sources,
            "unread_proxies": unread}


def _file_mtime(path: Path) -> float:
    return path.stat().st_mtime


def build_document(trace: Trace, dumps: list[ConfigDump], argv: list[str], now: dt.datetime,
                   mtime: Callable[[Path], float] | None = None) -> dict[str, Any]:
    """The report's content as plain data (also the body of the JSON report).

    ``mtime`` gives a file's modification time (default: the file system's), so tests can fix it.
    """
    by_name = {d.identity.name: d for d in dumps}
    level, sentence = verdict(trace)
    outcome = trace.outcome
    hops = [_hop(i, hop, by_name.get(hop.proxy), now.date()) for i, hop in enumerate(trace.hops, 1)]
    expired = [f"the {c['role']} `{c['source']}` of {h['proxy']} ({c['validity']})" for h in hops
               for c in h["certificates"] if c.get("valid_at_capture") is False]
    if expired:  # the route was found, but a certificate on the way was not valid when the dump was taken
        level = "notice" if level == "ok" else level
        sentence += "; not valid at capture: " + ", ".join(expired)
    return {
        "title": f"envoyscope trace: {_request_line(trace)}",
        "verdict": {"level": level, "text": sentence},
        "request": _request_fields(trace),
        "request_line": _request_line(trace),
        "assumptions": list(trace.assumptions),
        "path": diagram_path(trace),
        "hops": hops,
        "outcome": {**outcome.to_json(), "meaning": OUTCOME_KINDS.get(outcome.kind, ""),
                    "decided_by": decided_by(trace)},
        "provenance": _provenance(dumps, {hop.proxy for hop in trace.hops}, argv, now, mtime or _file_mtime),
    }


def decided_by(trace: Trace) -> dict[str, Any] | None:
    """The filter that answered the request (an RBAC denial, a JWT rejection, a fault abort), with its rule."""
    for hop in reversed(trace.hops):
        for verdict in (*hop.network_filters, *hop.http_filters):
            if verdict.ends:
                return {"proxy": hop.proxy, "filter": verdict.name, "type": verdict.type, "verdict": verdict.verdict,
                        "policy": verdict.policy, "details": verdict.response_code_details
                        or verdict.connection_termination_details}
    return None


def diagram_path(trace: Trace) -> dict[str, Any]:
    """Nodes (app, each proxy, where it ends) and the edges between them, labelled with the hop's decisions."""
    nodes = [{"id": "app", "label": f"app {trace.hops[0].wire.src_ip}" if trace.hops else "app"}]
    edges = []
    for i, hop in enumerate(trace.hops, 1):
        nodes.append({"id": f"hop{i}", "label": hop.proxy})
        wire = hop.wire
        transport = "TLS" if wire.transport == "tls" else "plaintext"
        edges.append({"from": nodes[-2]["id"], "to": f"hop{i}",
                      "label": f"{wire.dst_ip}:{wire.dst_port} {transport}"})
    outcome = trace.outcome
    last = trace.hops[-1] if trace.hops else None
    end = last.endpoint if last and last.endpoint and outcome.kind in GOOD | {"passthrough"} else outcome.kind
    nodes.append({"id": "dest", "label": end, "level": verdict(trace)[0]})
    if last is not None:
        parts = [p for p in (last.listener, last.route and f"route {last.route}", last.cluster,
                             last.tls.mode if last.tls else None) if p]
        edges.append({"from": f"hop{len(trace.hops)}", "to": "dest", "label": " · ".join(parts)})
    for edge, hop in zip(edges[1:-1], trace.hops[:-1], strict=False):
        parts = [p for p in (hop.listener, hop.route and f"route {hop.route}", hop.cluster,
                             hop.tls.mode if hop.tls else None) if p]
        edge["label"] = " · ".join(parts)
    return {"nodes": nodes, "edges": edges}
