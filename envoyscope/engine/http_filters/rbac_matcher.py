"""RBAC's ``matcher`` form: an xDS matcher tree (``xds.type.matcher.v3.Matcher``) whose actions are
``envoy.config.rbac.v3.Action`` (a name and ALLOW / DENY / LOG); Envoy's ``RoleBasedAccessControlMatcherEngineImpl``.

The first matching ``matcher_list`` entry (or the ``matcher_tree`` map entry) gives the action; ``on_no_match``
when nothing matches; no action at all denies. ALLOW and LOG allow, DENY denies, and the action's name is the
effective policy (``rbac_access_denied_matched_policy[NAME]``).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.http_filters.rbac_engine import EngineResult, Facts
from envoyscope.engine.matchers import longest_ip_range, string_match
from envoyscope.engine.steps import NearMiss


def _input_value(spec: dict[str, Any], facts: Facts) -> tuple[str, str | None]:
    """(what the input is, its value: None when Envoy has no data for it)."""
    typed = spec.get("typed_config") or {}
    short = str(typed.get("@type", "")).rsplit(".", 1)[-1]
    req = facts.request
    values: dict[str, str | None] = {
        "DestinationIPInput": facts.dst_ip, "DestinationPortInput": str(facts.dst_port),
        "SourceIPInput": facts.remote_ip or facts.src_ip,  # the stream's remote address: after x-forwarded-for
        "DirectSourceIPInput": facts.direct_remote_ip or facts.src_ip,
        "SourcePortInput": None, "ServerNameInput": facts.sni or None,
        "UriSanInput": ",".join(facts.uri_sans) or None if facts.tls else None,
        "DnsSanInput": ",".join(facts.dns_sans) or None if facts.tls else None,
        "SubjectInput": facts.subject or None if facts.tls else None,
    }
    if short == "HttpRequestHeaderMatchInput":
        name = str(typed.get("header_name", ""))
        return f"header {name}", (req.header(name) if req is not None else None)
    if short == "FilterStateInput":
        key = str(typed.get("key", ""))
        return f"filter state {key}", facts.filter_state.get(key)
    if short in values:
        return short.removesuffix("Input"), values[short]
    return short or "input", None


def _predicate(pred: dict[str, Any], facts: Facts, trail: list[str]) -> bool:
    if "single_predicate" in pred:
        single = pred["single_predicate"] or {}
        what, value = _input_value(single.get("input") or {}, facts)
        if value is None:
            trail.append(f"{what} has no value")
            return False
        matcher = single.get("value_match")
        ok = string_match(matcher, value) if matcher is not None else False
        trail.append(f"{what} `{value}` {'matches' if ok else 'does not match'}")
        return ok
    if "or_matcher" in pred:
        return any(_predicate(p, facts, trail) for p in (pred["or_matcher"] or {}).get("predicate") or ())
    if "and_matcher" in pred:
        return all(_predicate(p, facts, trail) for p in (pred["and_matcher"] or {}).get("predicate") or ())
    if "not_matcher" in pred:
        return not _predicate(pred["not_matcher"] or {}, facts, trail)
    return False


def _on_match(on_match: dict[str, Any] | None, facts: Facts, trail: list[str]) -> dict[str, Any] | None:
    if not on_match:
        return None
    if "matcher" in on_match:
        return _evaluate(on_match["matcher"] or {}, facts, trail)
    action = on_match.get("action") or {}
    return dict(action.get("typed_config") or {})


def _evaluate(matcher: dict[str, Any], facts: Facts, trail: list[str]) -> dict[str, Any] | None:
    if "matcher_list" in matcher:
        for entry in (matcher["matcher_list"] or {}).get("matchers") or ():
            if _predicate(entry.get("predicate") or {}, facts, trail):
                found = _on_match(entry.get("on_match"), facts, trail)
                if found is not None:
                    return found
    elif "matcher_tree" in matcher:
        tree = matcher["matcher_tree"] or {}
        what, value = _input_value(tree.get("input") or {}, facts)
        if value is not None and "exact_match_map" in tree:
            entry = ((tree["exact_match_map"] or {}).get("map") or {}).get(value)
            trail.append(f"{what} `{value}` {'is' if entry else 'is not'} in the exact map")
            found = _on_match(entry, facts, trail) if entry else None
            if found is not None:
                return found
        elif value is not None and "prefix_match_map" in tree:
            table = (tree["prefix_match_map"] or {}).get("map") or {}
            for key in sorted((k for k in table if value.startswith(k)), key=len, reverse=True):
                found = _on_match(table[key], facts, trail)
                if found is not None:
                    return found
        elif value is not None and "custom_match" in tree:
            found = _ip_custom(tree["custom_match"] or {}, value, facts, trail)
            if found is not None:
                return found
    return _on_match(matcher.get("on_no_match"), facts, trail)


def _ip_custom(custom: dict[str, Any], value: str, facts: Facts, trail: list[str]) -> dict[str, Any] | None:
    """``xds.type.matcher.v3.IPMatcher``: the longest range containing the address wins."""
    found = longest_ip_range((custom.get("typed_config") or {}).get("range_matchers"), value)
    best = (found[0], found[1].get("on_match") or {}) if found else None
    trail.append(f"IP {value} {'is' if best else 'is not'} in a range")
    return _on_match(best[1], facts, trail) if best else None


def evaluate_matcher(matcher: dict[str, Any], facts: Facts) -> EngineResult:
    trail: list[str] = []
    action = _evaluate(matcher, facts, trail)
    seen = "; ".join(trail)
    if action is None:
        return EngineResult(False, None, "the matcher tree matches nothing: denied",
                            (NearMiss("matcher", seen),) if seen else ())
    name = str(action.get("name", ""))
    kind = str(action.get("action", "ALLOW"))
    allowed = kind != "DENY"
    return EngineResult(allowed, name or None, f"the matcher tree chooses {kind} action `{name}`"
                        + (f" ({seen})" if seen else ""), log=True if kind == "LOG" else None)
