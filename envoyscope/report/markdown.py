"""A trace report in Markdown that renders on GitHub and GitLab: Mermaid diagram, excerpts in <details>."""

from __future__ import annotations

from typing import Any

ICON = {"ok": "✅", "notice": "⚠️", "error": "❌"}
BASIS = {"bundle_manifest": "bundle manifest", "file_mtime": "file modification time", "fetched": "fetched"}


def downstream_tls_line(down: dict[str, Any]) -> str:
    """The listener side of a hop's TLS in one line: certificate, client certificate, ALPN, failure."""
    cert = down["certificate"]
    parts = [f"certificate {cert['source']}" + (f" ({cert['subject']})" if cert and cert["subject"] else "")
             if cert else "no certificate"]
    if down["require_client_certificate"]:
        parts.append(f"client certificate required (CA {down['trusted_ca'] or 'none'})")
    elif down["trusted_ca"]:
        parts.append(f"client certificate optional (CA {down['trusted_ca']})")
    if down["trusted_sans"]:
        parts.append("trusted SANs " + ", ".join(down["trusted_sans"]))
    parts.append(f"ALPN {down['negotiated_alpn']}" if down["negotiated_alpn"] else "no ALPN")
    if down["failure"]:
        parts.append(f"handshake fails: {down['failure']}")
    return ", ".join(parts)


def source_name(src: dict[str, Any]) -> str:
    """A source as people read it: the file, or the bundle and the file inside it."""
    return f"{src['source']} › {src['member']}" if src.get("member") else str(src["source"])


def certificate_who(cert: dict[str, Any]) -> str:
    """Whom a certificate names: its subject, and its SPIFFE ID when that is its identity (Istio's workload
    certificates have an empty subject)."""
    if cert["identity"] == cert["subject"]:
        return str(cert["subject"]) or "-"
    return f"{cert['identity']} (" + (f"subject {cert['subject']})" if cert["subject"] else "empty subject)")


def unread_sentence(count: int) -> str:
    """What the provenance says of the proxies the trace did not read."""
    others = "1 other proxy" if count == 1 else f"{count} other proxies"
    return (f"{others} of the sources {'was' if count == 1 else 'were'} not read: the trace did not reach "
            f"{'it' if count == 1 else 'them'}.")


def captured(src: dict[str, Any]) -> str:
    """The capture time and how it is known: ``2026-11-01T12:00:00Z (bundle manifest)``."""
    if not src["captured_at"]:
        return ""
    basis = BASIS.get(src.get("captured_at_basis") or "")
    return f"{src['captured_at']} ({basis})" if basis else str(src["captured_at"])


def _cell(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value if value not in (None, "") else "—").replace("|", "\\|").replace("\n", " ")


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def mermaid(path: dict[str, Any]) -> str:
    lines = ["flowchart LR"]
    for node in path["nodes"]:
        lines.append(f'  {node["id"]}["{_mermaid_text(node["label"])}"]')
    for edge in path["edges"]:
        lines.append(f'  {edge["from"]} -->|"{_mermaid_text(edge["label"])}"| {edge["to"]}')
    return "\n".join(lines)


def render_markdown(doc: dict[str, Any]) -> str:
    out = [f"# {doc['title']}", "", f"**{ICON[doc['verdict']['level']]} {doc['verdict']['text']}**", ""]
    out += ["## Request", "", "| field | value |", "|---|---|"]
    out += [f"| {key} | {_cell(value)} |" for key, value in doc["request"].items() if value not in (None, [], "")]
    for assumption in doc["assumptions"]:
        out.append(f"\n> assumed: {assumption}")
    out += ["", "## Path", "", "```mermaid", mermaid(doc["path"]), "```", ""]
    for hop in doc["hops"]:
        s = hop["summary"]
        out += [f"## Hop {hop['index']}: {hop['proxy']} ({hop['proxy_type']})", "",
                f"Receives {s['received']['destination']} from {s['received']['source']}, "
                f"{s['received']['transport']}" + (f", SNI {s['received']['sni']}" if s["received"]["sni"] else "")
                + (f", {s['received']['authority']} {s['received']['path']}" if s["received"]["authority"] else ""),
                "", "| listener | filter chain | route config | virtual host | route | cluster | endpoint |",
                "|---|---|---|---|---|---|---|",
                "| " + " | ".join(_cell(s[k]) for k in ("listener", "filter_chain", "route_config", "virtual_host",
                                                      "route", "cluster", "endpoint")) + " |", "",
                "| step | matched | why |", "|---|---|---|"]
        out += [f"| {step['kind']} | {_cell(step['matched'])} | {_cell(step['reason'])} |" for step in hop["steps"]]
        changes = [c for step in hop["steps"] for c in step.get("changes") or ()]
        if changes:
            out += ["", "**What the proxy changes in the request (and its response)**", ""]
            out += [f"- {_cell(c)}" for c in changes]
        misses = [(step["kind"], m) for step in hop["steps"] for m in step["near_misses"]]
        if misses:
            out += ["", "**Near misses**", ""]
            out += [f"- {kind}: `{m['candidate']}` — {m['reason']}" for kind, m in misses]
        down = s.get("downstream_tls")
        if down:
            out += ["", "**Downstream TLS**: " + downstream_tls_line(down)]
        tls = s["tls"]
        if tls:
            out += ["", f"**Upstream TLS**: {tls['mode']}" + (f", SNI `{tls['sni']}`" if tls["sni"] else "")
                    + (f", ALPN {', '.join(tls['alpn'])}" if tls["alpn"] else "")
                    + (f", client certificate {tls['client_cert']}" if tls["client_cert"] else "")
                    + (f", validation {tls['validation']}" if tls["validation"] else "")]
        for cert in hop["certificates"]:
            if "subject" in cert:
                mark = "" if cert["ok"] else "⚠️ "
                out.append(f"- {mark}{cert['role']}: {certificate_who(cert)}, issuer {cert['issuer']}, serial "
                           f"{cert['serial']}, valid {cert['not_before']} → {cert['not_after']} ({cert['validity']})")
            else:
                out.append(f"- {cert['role']}: {cert['source']} — {cert['note']}")
        for excerpt in hop["excerpts"]:
            out += ["", f"<details><summary>{excerpt['title']} <code>{excerpt['path']}</code></summary>", "",
                    "```yaml", excerpt["yaml"], "```", "", "</details>"]
        out.append("")
    outcome = doc["outcome"]
    out += ["## Outcome", "", f"`{outcome['kind']}` — {outcome['meaning']}", "", outcome["detail"], ""]
    by = outcome.get("decided_by")
    if by:
        rule = f", policy `{by['policy']}`" if by.get("policy") else " (no policy matched)"
        out += [f"Decided by filter `{by['filter']}` ({by['type']}) on {by['proxy']}{rule}: Envoy logs "
                f"`{by['details']}`.", ""]
    if doc.get("compare"):
        from envoyscope.report.compare_section import markdown_lines

        out += markdown_lines(doc["compare"])
    prov = doc["provenance"]
    out += ["## Provenance", "", f"envoyscope {prov['envoyscope_version']}, generated {prov['generated_at']}, "
            f"command: `{' '.join(prov['command'])}`", "",
            "| source | proxy | type | Istio | Envoy | captured | sha256 |", "|---|---|---|---|---|---|---|"]
    out += [f"| {_cell(source_name(src))} | {_cell(src['proxy'])} | {_cell(src['proxy_type'])} | "
            f"{_cell(src['istio_version'])} | {_cell(src['envoy_version'])} | {_cell(captured(src))} | "
            f"{_cell(src['sha256'])} |" for src in prov["sources"]]
    if prov["unread_proxies"]:
        out += ["", unread_sentence(prov["unread_proxies"])]
    return "\n".join(out) + "\n"
