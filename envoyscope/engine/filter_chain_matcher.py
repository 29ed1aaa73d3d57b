"""A listener's ``filter_chain_matcher``: the generic xDS matcher tree that names the filter chain.

Envoy's ``Matcher::MatchTree`` over network inputs (``envoy.extensions.matching.common_inputs.network.v3``):
``matcher_tree`` with ``exact_match_map``, ``prefix_match_map`` (longest prefix) or an IP ``custom_match``
(``xds.type.matcher.v3.IPMatcher``, longest range), ``matcher_list`` (first predicate that holds), and
``on_no_match``. An action names a chain (``google.protobuf.StringValue``). ``FilterStateInput`` reads a filter
state object the connection carries (an internal listener's: what the upstream side shared, e.g. Istio's
``io.istio.connect_authority``).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.listener_filters import Detected
from envoyscope.engine.matchers import longest_ip_range

_INPUTS = {
    "DestinationIPInput": lambda d: d.dst_ip,
    "DestinationPortInput": lambda d: str(d.dst_port),
    "SourceIPInput": lambda d: d.src_ip,
    "DirectSourceIPInput": lambda d: d.src_ip,
    "SourcePortInput": lambda d: str(d.src_port),
    "SourceTypeInput": lambda d: "local" if d.src_ip == d.dst_ip or d.src_ip.startswith("127.") else "",
    "ServerNameInput": lambda d: d.server_name,
    "TransportProtocolInput": lambda d: d.transport_protocol,
    "ApplicationProtocolInput": lambda d: ",".join(f"'{p}'" for p in d.application_protocols),
}


def _input(spec: dict[str, Any], det: Detected) -> tuple[str, str]:
    type_url = str((spec.get("typed_config") or {}).get("@type", ""))
    short = type_url.rsplit(".", 1)[-1]
    if short == "FilterStateInput":  # a filter state object's string form; absent: no value, nothing matches
        key = str((spec.get("typed_config") or {}).get("key", ""))
        return f"FilterState `{key}`", dict(det.filter_state).get(key, "")
    getter = _INPUTS.get(short)
    if getter is None:
        return short or str(spec.get("name", "input")), ""
    return short.removesuffix("Input"), str(getter(det))


def _action(on_match: dict[str, Any] | None, det: Detected, trail: list[str]) -> str | None:
    if not on_match:
        return None
    if "matcher" in on_match:
        return _evaluate(on_match["matcher"], det, trail)
    action = on_match.get("action") or {}
    typed = action.get("typed_config") or {}
    value = typed.get("value", action.get("name"))
    return None if value is None else str(value)


def _string_match(matcher: dict[str, Any], value: str) -> bool:
    ignore = bool(matcher.get("ignore_case"))
    v = value.lower() if ignore else value
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in matcher:
            want = str(matcher[key]).lower() if ignore else str(matcher[key])
            return {"exact": v == want, "prefix": v.startswith(want), "suffix": v.endswith(want),
                    "contains": want in v}[key]
    if "safe_regex" in matcher:
        import re2

        return re2.fullmatch(matcher["safe_regex"].get("regex", ""), value) is not None
    return False


def _predicate(pred: dict[str, Any], det: Detected, trail: list[str]) -> bool:
    if "single_predicate" in pred:
        single = pred["single_predicate"]
        name, value = _input(single.get("input") or {}, det)
        ok = _string_match(single.get("value_match") or {}, value)
        trail.append(f"{name} `{value}` {'matches' if ok else 'does not match'}")
        return ok
    if "or_matcher" in pred:
        return any(_predicate(p, det, trail) for p in pred["or_matcher"].get("predicate") or ())
    if "and_matcher" in pred:
        return all(_predicate(p, det, trail) for p in pred["and_matcher"].get("predicate") or ())
    if "not_matcher" in pred:
        return not _predicate(pred["not_matcher"], det, trail)
    return False


def _ip_range_match(custom: dict[str, Any], value: str, det: Detected, trail: list[str]) -> tuple[bool, str | None]:
    best = longest_ip_range(custom.get("range_matchers"), value)
    if best is None:
        return False, None
    trail.append(f"IP range /{best[0]} contains {value}")
    return True, _action(best[1].get("on_match"), det, trail)


def _evaluate(matcher: dict[str, Any], det: Detected, trail: list[str]) -> str | None:
    tree = matcher.get("matcher_tree")
    if tree:
        name, value = _input(tree.get("input") or {}, det)
        if "exact_match_map" in tree:
            table = (tree["exact_match_map"] or {}).get("map") or {}
            if value in table:
                trail.append(f"{name} `{value}` is in exact_match_map")
                return _action(table[value], det, trail)
            trail.append(f"{name} `{value}` is not in exact_match_map")
        elif "prefix_match_map" in tree:
            table = (tree["prefix_match_map"] or {}).get("map") or {}
            keys = sorted((k for k in table if value.startswith(k)), key=len, reverse=True)
            if keys:
                trail.append(f"{name} `{value}` has prefix `{keys[0]}`")
                return _action(table[keys[0]], det, trail)
            trail.append(f"{name} `{value}` has no prefix in prefix_match_map")
        elif "custom_match" in tree:
            custom = (tree["custom_match"] or {}).get("typed_config") or {}
            ok, result = _ip_range_match(custom, value, det, trail)
            if ok:
                return result
            trail.append(f"{name} `{value}` is in no IP range")
    elif matcher.get("matcher_list"):
        for entry in matcher["matcher_list"].get("matchers") or ():
            if _predicate(entry.get("predicate") or {}, det, trail):
                return _action(entry.get("on_match"), det, trail)
    if matcher.get("on_no_match"):
        trail.append("on_no_match")
        return _action(matcher["on_no_match"], det, trail)
    return None


def evaluate_matcher(matcher: dict[str, Any], det: Detected) -> tuple[str | None, str]:
    """The chain name the matcher picks (None: no match) and the path it took, as a sentence."""
    trail: list[str] = []
    name = _evaluate(matcher, det, trail)
    why = ", then ".join(trail) or "no input matched"
    return name, (f"{why} → chain `{name}`" if name is not None else f"{why} → no chain")
