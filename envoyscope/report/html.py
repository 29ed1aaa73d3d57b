"""A trace report as one self-contained HTML page: inline CSS, the path as inline SVG, no scripts, prints well."""

from __future__ import annotations

from html import escape
from typing import Any

from envoyscope.report.markdown import captured, certificate_who, downstream_tls_line, source_name, unread_sentence
from envoyscope.report.svg import render_svg

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:72rem;color:#1d2733;line-height:1.45}
h1{font-size:1.4rem}h2{font-size:1.15rem;border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem}
.verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600}
.ok{background:#e6f4ea}.notice{background:#fff4e5}.error{background:#fdecea}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}td,th{border:1px solid #ccd;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f5f8}code,pre{font-family:ui-monospace,monospace;font-size:.85rem}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto}.diagram{overflow-x:auto;border:1px solid #dde;padding:.5rem}
.miss{color:#8a5a00}td{overflow-wrap:anywhere}
@media print{body{margin:0;max-width:none}.diagram{overflow:visible}details>summary{list-style:none}
h2{break-after:avoid}table,pre,svg{break-inside:avoid}}
"""


def _e(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return escape(str(value if value not in (None, "") else "—"))


def _table(headers: list[str], rows: list[list[Any]], classes: list[str | None] | None = None) -> str:
    """A table; ``classes`` gives each row its class (``error``: shown as the red verdict is), or none."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join((f'<tr class="{cls}">' if cls else "<tr>") + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                   for row, cls in zip(rows, classes or [None] * len(rows), strict=True))
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(doc: dict[str, Any]) -> str:
    v = doc["verdict"]
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{_e(doc['title'])}</title><style>{CSS}</style></head><body>",
           f"<h1>{_e(doc['title'])}</h1>", f'<p class="verdict {v["level"]}">{_e(v["text"])}</p>',
           "<h2>Request</h2>",
           _table(["field", "value"], [[k, val] for k, val in doc["request"].items() if val not in (None, [], "")])]
    out += [f"<p><em>assumed:</em> {_e(a)}</p>" for a in doc["assumptions"]]
    out += ["<h2>Path</h2>", f'<div class="diagram">{render_svg(doc["path"])}</div>']
    for hop in doc["hops"]:
        s = hop["summary"]
        r = s["received"]
        out.append(f"<h2>Hop {hop['index']}: {_e(hop['proxy'])} ({_e(hop['proxy_type'])})</h2>")
        out.append(f"<p>Receives {_e(r['destination'])} from {_e(r['source'])}, {_e(r['transport'])}"
                   + (f", SNI {_e(r['sni'])}" if r["sni"] else "")
                   + (f", {_e(r['authority'])} {_e(r['path'])}" if r["authority"] else "") + "</p>")
        keys = ["listener", "filter_chain", "route_config", "virtual_host", "route", "cluster", "endpoint"]
        out.append(_table([k.replace("_", " ") for k in keys], [[s[k] for k in keys]]))
        out.append(_table(["step", "matched", "why"], [[st["kind"], st["matched"], st["reason"]]
                                                        for st in hop["steps"]]))
        changes = [c for st in hop["steps"] for c in st.get("changes") or ()]
        if changes:
            out.append("<p><strong>What the proxy changes in the request (and its response)</strong></p><ul>"
                       + "".join(f'<li class="change">{_e(c)}</li>' for c in changes) + "</ul>")
        misses = [(st["kind"], m) for st in hop["steps"] for m in st["near_misses"]]
        if misses:
            out.append("<p><strong>Near misses</strong></p><ul>" + "".join(
                f'<li class="miss">{_e(kind)}: <code>{_e(m["candidate"])}</code> — {_e(m["reason"])}</li>'
                for kind, m in misses) + "</ul>")
        if s.get("downstream_tls"):
            out.append(f"<p><strong>Downstream TLS</strong>: {_e(downstream_tls_line(s['downstream_tls']))}</p>")
        if s["tls"]:
            t = s["tls"]
            out.append(_table(["upstream TLS", "SNI", "ALPN", "client certificate", "validation"],
                              [[t["mode"], t["sni"], ", ".join(t["alpn"]), t["client_cert"], t["validation"]]]))
        certs = [c for c in hop["certificates"] if "subject" in c]
        if certs:
            out.append(_table(["certificate", "identity", "issuer", "serial", "not after", "validity"],
                              [[c["role"], certificate_who(c), c["issuer"], c["serial"], c["not_after"], c["validity"]]
                               for c in certs], [None if c["ok"] else "error" for c in certs]))
        for ex in hop["excerpts"]:
            out.append(f"<details open><summary>{_e(ex['title'])} <code>{_e(ex['path'])}</code></summary>"
                       f"<pre>{escape(ex['yaml'])}</pre></details>")
    o = doc["outcome"]
    out += ["<h2>Outcome</h2>", f"<p><code>{_e(o['kind'])}</code> — {_e(o['meaning'])}</p><p>{_e(o['detail'])}</p>"]
    by = o.get("decided_by")
    if by:
        rule = f", policy <code>{_e(by['policy'])}</code>" if by.get("policy") else " (no policy matched)"
        out.append(f"<p>Decided by filter <code>{_e(by['filter'])}</code> ({_e(by['type'])}) on {_e(by['proxy'])}"
                   f"{rule}: Envoy logs <code>{_e(by['details'] or '')}</code>.</p>")
    if doc.get("compare"):
        from envoyscope.report.compare_section import html_parts

        out += html_parts(doc["compare"], _e)
    p = doc["provenance"]
    out += ["<h2>Provenance</h2>",
            f"<p>envoyscope {_e(p['envoyscope_version'])}, generated {_e(p['generated_at'])}, command: "
            f"<code>{_e(' '.join(p['command']))}</code></p>",
            _table(["source", "proxy", "type", "Istio", "Envoy", "captured", "sha256"],
                   [[source_name(s), s["proxy"], s["proxy_type"], s["istio_version"], s["envoy_version"],
                     captured(s), s["sha256"]] for s in p["sources"]])]
    if p["unread_proxies"]:
        out.append(f"<p>{_e(unread_sentence(p['unread_proxies']))}</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
