"""``envoy.filters.http.header_to_metadata``: request headers copied into dynamic metadata for later filters.

Each request rule looks at one header: present (and not empty) it sets ``on_header_present`` (the rule's
``value``, else the header's value), absent it sets ``on_header_missing``; ``metadata_namespace`` defaults to
the filter's own name ``envoy.filters.http.header_to_metadata``. RBAC's ``metadata`` matchers then see it.
STRING values only; a NUMBER is stored as a number, a value rewrite by regex is not followed.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict

DEFAULT_NAMESPACE = "envoy.filters.http.header_to_metadata"
TYPES = ("envoy.extensions.filters.http.header_to_metadata.v3.Config",
         "envoy.config.filter.http.header_to_metadata.v2.Config")


def _value(pair: dict[str, Any], header: str | None) -> Any:
    value = pair.get("value") if pair.get("value") not in (None, "") else header
    if value is None:
        return None
    if str(pair.get("type", "STRING")) == "NUMBER":
        try:
            return float(value)
        except ValueError:
            return None
    return str(value)


def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    metadata: dict[str, dict[str, Any]] = {}
    changes = []
    for rule in config.get("request_rules") or ():
        header_name = str(rule.get("header", ""))
        if not header_name:
            continue
        header = ctx.header(header_name)
        pair = rule.get("on_header_present") if header else rule.get("on_header_missing")
        if not pair:
            continue
        value = _value(pair, header)
        if value is None:
            continue
        namespace = str(pair.get("metadata_namespace") or DEFAULT_NAMESPACE)
        metadata.setdefault(namespace, {})[str(pair.get("key", ""))] = value
        changes.append(f"metadata {namespace}.{pair.get('key', '')} = {value!r} (header {header_name})")
    short = "envoy.extensions.filters.http.header_to_metadata.v3.Config"
    reason = ("header_to_metadata sets " + "; ".join(changes)) if changes else "header_to_metadata: no rule applies"
    return FilterVerdict(name, short, "pass", reason, metadata=metadata, changes=tuple(changes))


EVALUATORS = {t: evaluate for t in TYPES}
