"""The egress audit as a report to attach to a review or an incident: Markdown, HTML or JSON, by the extension.

The JSON report is the same document ``envoyscope egress -o json`` prints, with the command and when it ran; the
Markdown and HTML reports show one table per proxy (host, port, protocol, exit, via, TLS per hop, findings) and
the proxy's own findings under it.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import TYPE_CHECKING, Any

from envoyscope import __version__
from envoyscope.model.certs import scrub_private_keys
from envoyscope.report.write import report_format, write_atomically

if TYPE_CHECKING:
    from pathlib import Path

    from envoyscope.engine.egress.audit import ProxyAudit

HEAD = ("host", "port", "protocol", "exit", "via", "tls", "findings")


def audit_document(audits: list[ProxyAudit], argv: list[str], now: dt.datetime) -> dict[str, Any]:
    return scrub_private_keys({"envoyscope_version": __version__, "command": argv,
                               "generated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "proxies": [a.to_json() for a in audits]})


def _cells(row: dict[str, Any]) -> list[str]:
    return [row["host"], str(row["port"]), row["protocol"], row["exit"], " → ".join(row["via"]),
            "; ".join(row["tls"]), ", ".join(f["code"] for f in row["findings"]) or "—"]


def render_markdown(doc: dict[str, Any]) -> str:
    out = ["# envoyscope egress audit", "", f"`{' '.join(doc['command'])}` · {doc['generated_at']}", ""]
    for proxy in doc["proxies"]:
        out += [f"## {proxy['proxy']}", "", f"Outbound policy: **{proxy['outbound_policy']}**", "",
                "| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(row)) + " |" for row in proxy["destinations"]]
        findings = [*proxy["findings"], *(f for row in proxy["destinations"] for f in row["findings"])]
        if findings:
            out += ["", "**Findings**", ""] + [f"- {f['severity']}: `{f['code']}` — {f['detail']}" for f in findings]
        out.append("")
    return "\n".join(out)


def render_html(doc: dict[str, Any]) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>envoyscope egress audit</title>",
             "<style>body{font-family:sans-serif}td,th{border:1px solid #ccc;padding:2px 6px}"
             "table{border-collapse:collapse}.error{color:#b00}.warning{color:#a60}</style>",
             "<h1>envoyscope egress audit</h1>",
             f"<p><code>{escape(' '.join(doc['command']))}</code> · {escape(doc['generated_at'])}</p>"]
    for proxy in doc["proxies"]:
        parts.append(f"<h2>{escape(proxy['proxy'])}</h2><p>Outbound policy: <b>{escape(proxy['outbound_policy'])}"
                     "</b></p><table><tr>" + "".join(f"<th>{h}</th>" for h in HEAD) + "</tr>")
        for row in proxy["destinations"]:
            parts.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in _cells(row)) + "</tr>")
        parts.append("</table>")
        findings = [*proxy["findings"], *(f for row in proxy["destinations"] for f in row["findings"])]
        if findings:
            parts.append("<ul>" + "".join(f"<li class='{escape(f['severity'])}'>{escape(f['severity'])}: "
                                          f"<code>{escape(f['code'])}</code> — {escape(f['detail'])}</li>"
                                          for f in findings) + "</ul>")
    return "\n".join(parts) + "\n"


def write_audit_report(audits: list[ProxyAudit], path: str, argv: list[str],
                       now: dt.datetime | None = None) -> Path:
    fmt = report_format(path)
    doc = audit_document(audits, argv, now or dt.datetime.now(dt.UTC))
    if fmt == "markdown":
        text = render_markdown(doc)
    elif fmt == "html":
        text = render_html(doc)
    else:
        import orjson

        text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
    return write_atomically(path, text)
