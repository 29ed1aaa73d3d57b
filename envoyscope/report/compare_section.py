"""The before / after part of a trace report written with ``trace OLD --compare NEW --report FILE``."""

from __future__ import annotations

from typing import Any

from envoyscope.engine.compare import Comparison
from envoyscope.engine.diff.words import sentences

FIELDS = ("proxy", "listener", "filter_chain", "virtual_host", "route", "cluster", "endpoint")


def compare_section(comparison: Comparison, old: str, new: str) -> dict[str, Any]:
    """Plain data: the two outcomes, one row per hop field (before, after, whether it changed), where the traces
    part and the changes that explain it, in words."""
    rows = []
    for index in range(max(len(comparison.old.hops), len(comparison.new.hops))):
        a = comparison.old.hops[index] if index < len(comparison.old.hops) else None
        b = comparison.new.hops[index] if index < len(comparison.new.hops) else None
        for name in FIELDS:
            before, after = (getattr(a, name) if a else None), (getattr(b, name) if b else None)
            rows.append({"hop": index + 1, "field": name, "before": before, "after": after,
                         "changed": before != after})
    o, n = comparison.old.outcome, comparison.new.outcome
    rows.append({"hop": None, "field": "outcome", "before": o.kind, "after": n.kind, "changed": o.kind != n.kind})
    parting = comparison.parting

    def said(step: Any) -> str | None:
        return None if step is None else f"{step.kind} {step.matched}: {step.reason}"

    return {
        "old": old, "new": new, "rows": rows,
        "parting": None if parting is None else {
            "hop": parting.hop, "step": parting.step,
            "before": said(parting.old), "after": said(parting.new)},
        "explained_by": [text for change in (parting.explained_by if parting else ()) for text in sentences(change)],
    }


def markdown_lines(section: dict[str, Any]) -> list[str]:
    out = ["## Before / after", "", f"Before: `{section['old']}` · after: `{section['new']}`", "",
           "| hop | field | before | after |", "|---|---|---|---|"]
    for row in section["rows"]:
        mark = "**" if row["changed"] else ""
        cells = [str(row["hop"] or ""), row["field"], *(f"{mark}{v if v is not None else '—'}{mark}"
                                                        for v in (row["before"], row["after"]))]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    parting = section["parting"]
    if parting is None:
        out += ["", "The two traces make the same decisions at every step."]
    else:
        out += ["", f"They part at hop {parting['hop']}, step {parting['step']}:", "",
                f"- before: {parting['before'] or '(no such step)'}",
                f"- after: {parting['after'] or '(no such step)'}"]
        if section["explained_by"]:
            out += ["", "Explained by:", ""] + [f"- {line}" for line in section["explained_by"]]
    return out + [""]


def html_parts(section: dict[str, Any], escape: Any) -> list[str]:
    parts = ["<h2>Before / after</h2>",
             f"<p>Before: <code>{escape(section['old'])}</code> · after: <code>{escape(section['new'])}</code></p>",
             "<table><tr><th>hop</th><th>field</th><th>before</th><th>after</th></tr>"]
    for row in section["rows"]:
        style = " style='font-weight:bold'" if row["changed"] else ""
        parts.append(f"<tr{style}><td>{row['hop'] or ''}</td><td>{escape(row['field'])}</td>"
                     f"<td>{escape(str(row['before'] or '—'))}</td><td>{escape(str(row['after'] or '—'))}</td></tr>")
    parts.append("</table>")
    parting = section["parting"]
    if parting is not None:
        parts.append(f"<p>They part at hop {parting['hop']}, step {parting['step']}.</p><ul>"
                     f"<li>before: {escape(parting['before'] or '(no such step)')}</li>"
                     f"<li>after: {escape(parting['after'] or '(no such step)')}</li></ul>")
        if section["explained_by"]:
            parts.append("<p>Explained by:</p><ul>" + "".join(f"<li>{escape(x)}</li>" for x in section["explained_by"])
                         + "</ul>")
    return parts
