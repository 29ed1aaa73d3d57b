"""A trace report as JSON: the trace's own JSON plus the report's reading of it and the provenance.

Schema: docs/report-schema.json (``version`` 1).
"""

from __future__ import annotations

from typing import Any

import orjson

VERSION = 1


def render_json(doc: dict[str, Any], trace_json: dict[str, Any]) -> str:
    body = {"version": VERSION, "verdict": doc["verdict"], "trace": trace_json, "provenance": doc["provenance"],
            "hops": [{"proxy": h["proxy"], "certificates": h["certificates"], "excerpts": h["excerpts"]}
                     for h in doc["hops"]]}
    if doc.get("compare"):
        body["compare"] = doc["compare"]
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n"
