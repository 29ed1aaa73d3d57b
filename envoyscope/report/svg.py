"""The path of a trace as an SVG drawn by envoyscope itself: boxes top to bottom, labelled arrows between them.

Vertical, so that long Istio names fit the page and the report prints on paper without scrolling.
"""

from __future__ import annotations

from html import escape
from typing import Any

BOX_H, STEP, CHAR_W, PAD, LEFT = 36, 96, 7.3, 14, 20
FILL = {"ok": "#e6f4ea", "notice": "#fff4e5", "error": "#fdecea"}


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.replace("·", " · ").split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*lines, line] if line else lines


def render_svg(path: dict[str, Any]) -> str:
    nodes = path["nodes"]
    box_w = min(max((max(len(n["label"]) for n in nodes) + 2) * CHAR_W + 2 * PAD, 160), 560)
    width, height = 980, len(nodes) * STEP - (STEP - BOX_H) + 20
    center = LEFT + box_w / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="path" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="request path">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
             'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#444"/></marker></defs>']
    ys = [10 + i * STEP for i in range(len(nodes))]
    for node, y in zip(nodes, ys, strict=True):
        fill = FILL.get(node.get("level", ""), "#eef2f7")
        parts.append(f'<rect x="{LEFT}" y="{y}" width="{box_w:.0f}" height="{BOX_H}" rx="8" fill="{fill}" '
                     'stroke="#345" stroke-width="1.5"/>')
        label = node["label"] if len(node["label"]) * CHAR_W < box_w - 2 * PAD else node["label"][:68] + "…"
        parts.append(f'<text x="{center:.0f}" y="{y + BOX_H / 2 + 4:.0f}" text-anchor="middle" '
                     f'font-family="monospace" font-size="12">{escape(label)}</text>')
    index = {n["id"]: i for i, n in enumerate(nodes)}
    for edge in path["edges"]:
        a, b = index[edge["from"]], index[edge["to"]]
        y1, y2 = ys[a] + BOX_H, ys[b]
        parts.append(f'<line x1="{center:.0f}" y1="{y1}" x2="{center:.0f}" y2="{y2 - 2}" stroke="#444" '
                     'stroke-width="1.5" marker-end="url(#arrow)"/>')
        lines = _wrap(edge["label"], 100)[:3]
        top = (y1 + y2) / 2 - (len(lines) - 1) * 7 + 4
        for i, line in enumerate(lines):
            parts.append(f'<text x="{center + 14:.0f}" y="{top + i * 14:.0f}" font-family="sans-serif" '
                         f'font-size="11" fill="#333">{escape(line)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
