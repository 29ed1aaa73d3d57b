"""What a matched route does: forward to a cluster (plain, weighted, from a header), redirect, or answer.

Follows Envoy's ``RouteEntryImplBase`` (``clusterEntry``, ``WeightedClusterEntry`` picking by
``random_value % total_weight``, ``finalizeRequestHeaders`` for rewrites, ``newUri`` for redirects) and reports
what the route also configures: timeout, retries, mirrors, hash policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, cast

from envoyscope.engine.forwarding import (
    Level,
    entry_label,
    entry_name,
    entry_notes,
    header_levels,
    mutate,
    pick_entry,
    response_changes,
    weight,
)
from envoyscope.engine.matchers import HttpRequest, regex_of
from envoyscope.engine.steps import Step
from envoyscope.engine.vhost import split_port

REDIRECT_CODES = {"MOVED_PERMANENTLY": 301, "FOUND": 302, "SEE_OTHER": 303, "TEMPORARY_REDIRECT": 307,
                  "PERMANENT_REDIRECT": 308}


@dataclass(frozen=True, slots=True)
class ActionResult:
    kind: str
    detail: str
    step: Step | None = None
    code: int | None = None
    cluster: str | None = None
    weights: tuple[tuple[str, int], ...] = ()
    authority: str | None = None
    path: str | None = None
    redirect_url: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    levels: tuple[Level, ...] = ()  # whose header mutations the forwarded request gets, in Envoy's order


def _rewrite_path(action: dict[str, Any], match: dict[str, Any], request: HttpRequest) -> str | None:
    """``prefix_rewrite`` / ``regex_rewrite`` / template rewrite; None when the path is left alone."""
    path = request.path
    if "path_rewrite_policy" in action:  # envoy.path.rewrite.uri_template: variables of the match's path template
        from envoyscope.engine.uri_template import path_template, rewrite_path

        rewrite = str((action["path_rewrite_policy"].get("typed_config") or {}).get("path_template_rewrite", ""))
        return rewrite_path(path_template(match), rewrite, path)
    if "prefix_rewrite" in action:
        matched = str(match.get("prefix", match.get("path", match.get("path_separated_prefix", ""))))
        if "path" in match:
            return str(action["prefix_rewrite"]) + path[len(request.path_only):]
        if matched and (path.startswith(matched) or path.lower().startswith(matched.lower())):
            return str(action["prefix_rewrite"]) + path[len(matched):]
        return path
    if "regex_rewrite" in action:
        import re2

        spec = action["regex_rewrite"]
        pattern = regex_of(spec.get("pattern"))
        substitution = str(spec.get("substitution", ""))  # \1 groups read the same in Envoy and re2.sub
        query = path[len(request.path_only):]
        try:
            return str(re2.sub(pattern, substitution, request.path_only)) + query
        except re2.error:
            return path
    return None


def _rewrite_host(action: dict[str, Any], request: HttpRequest) -> tuple[str | None, str]:
    if "host_rewrite_literal" in action:
        return str(action["host_rewrite_literal"]), f"host_rewrite_literal `{action['host_rewrite_literal']}`"
    if "host_rewrite_header" in action:
        value = request.header(str(action["host_rewrite_header"]))
        if value:
            return value, f"Host taken from header `{action['host_rewrite_header']}`"
        return None, ""
    if "host_rewrite_path_regex" in action:
        import re2

        spec = action["host_rewrite_path_regex"]
        try:
            return str(re2.sub(regex_of(spec.get("pattern")), str(spec.get("substitution", "")),
                               request.path_only)), "host_rewrite_path_regex"
        except re2.error:
            return None, ""
    auto = action.get("auto_host_rewrite")
    if isinstance(auto, dict):
        auto = auto.get("value")
    if auto:
        return None, "auto_host_rewrite: the Host becomes the upstream host's name (DNS clusters)"
    return None, ""


def _details(action: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"timeout": action.get("timeout", "15s (default)")}
    for key in ("retry_policy", "request_mirror_policies", "hash_policy", "idle_timeout", "max_stream_duration",
                "prefix_rewrite", "regex_rewrite", "path_rewrite_policy", "host_rewrite_literal", "auto_host_rewrite",
                "cors", "metadata_match", "weighted_clusters", "upgrade_configs"):
        # metadata_match (also a weighted entry's): the subset load balancer's criteria (engine/subset.py)
        if key in action:
            out[key] = action[key]
    return out


def _policy_notes(action: dict[str, Any], vhost: dict[str, Any]) -> list[str]:
    """Retries (the route's ``retry_policy``, else the virtual host's; ``num_retries`` defaults to 1), request
    mirrors (with their runtime fraction) and the hash policy the load balancer hashes on."""
    notes = []
    retry, where = (action.get("retry_policy"), "") if action.get("retry_policy") else (
        vhost.get("retry_policy"), " (the virtual host's retry_policy)")
    if retry:
        count = retry.get("num_retries", 1)
        count = count.get("value", 1) if isinstance(count, dict) else count
        per_try = f", {retry['per_try_timeout']} per try" if retry.get("per_try_timeout") else ""
        notes.append(f"retries up to {count} time(s) on {retry.get('retry_on') or '(no retry_on: never)'}"
                     f"{per_try}{where}")
    for mirror in action.get("request_mirror_policies") or ():
        fraction = (mirror.get("runtime_fraction") or {}).get("default_value")
        share = ""
        if fraction:
            share = f" ({fraction.get('numerator', 0)}/{fraction.get('denominator', 'HUNDRED').lower()} of requests)"
        notes.append(f"mirrored to {mirror.get('cluster') or mirror.get('cluster_header')}{share}")
    hashes = []
    for policy in action.get("hash_policy") or ():
        for kind, key in (("header", "header_name"), ("cookie", "name"), ("query_parameter", "name"),
                          ("filter_state", "key")):
            if kind in policy:
                hashes.append(f"{kind.replace('_', ' ')} `{(policy[kind] or {}).get(key, '')}`")
        if "connection_properties" in policy:
            hashes.append("source IP")
        if policy.get("terminal") and hashes:
            hashes[-1] += " (terminal: later policies are skipped once it yields a hash)"
    if hashes:
        notes.append(f"consistent hashing on {' then '.join(hashes)}")
    return notes


def _redirect(redirect: dict[str, Any], match: dict[str, Any], request: HttpRequest) -> tuple[str, int]:
    """``RouteEntryImplBase::newUri``: the Location of a redirect."""
    scheme = request.header("x-forwarded-proto") or request.scheme
    if redirect.get("https_redirect"):
        scheme = "https"
    elif redirect.get("scheme_redirect"):
        scheme = str(redirect["scheme_redirect"])
    host, port = split_port(request.authority)
    if redirect.get("host_redirect"):
        host, port = split_port(str(redirect["host_redirect"]))
    if redirect.get("port_redirect"):
        port = str(redirect["port_redirect"])
    elif redirect.get("https_redirect") or redirect.get("scheme_redirect"):
        port = "" if port in ("80", "443") else port
    if port in (("80" if scheme == "http" else ""), ("443" if scheme == "https" else "")):
        port = ""
    path = request.path
    if "path_redirect" in redirect:
        new = str(redirect["path_redirect"])
        keep_query = not redirect.get("strip_query") and "?" not in new
        path = new + (("?" + request.query) if keep_query and request.query else "")
    elif "prefix_rewrite" in redirect:
        prefix = str(match.get("prefix", match.get("path", "")))
        path = str(redirect["prefix_rewrite"]) + request.path[len(prefix):]
    elif "regex_rewrite" in redirect:
        import re2

        spec = redirect["regex_rewrite"]
        with contextlib.suppress(re2.error):
            path = str(re2.sub(regex_of(spec.get("pattern")), str(spec.get("substitution", "")), request.path_only))
        if request.query:
            path += "?" + request.query
    if redirect.get("strip_query") and "?" in path:
        path = path.split("?", 1)[0]
    code = REDIRECT_CODES.get(str(redirect.get("response_code", "MOVED_PERMANENTLY")), 301)
    return f"{scheme}://{host}{':' + port if port else ''}{path}", code


def apply_action(route: dict[str, Any], vhost: dict[str, Any], route_config: dict[str, Any],
                 request: HttpRequest, label: str = "") -> ActionResult:
    """What the chosen route does with the request (``label``: the route as the trace names it, e.g. ``#0``)."""
    match = route.get("match") or {}
    if "redirect" in route:
        url, code = _redirect(route["redirect"], match, request)
        return ActionResult("redirect", f"the route redirects ({code}) to {url}",
                            Step("route_action", "redirect", f"redirect {code} to {url}", raw=route["redirect"]),
                            code=code, redirect_url=url)
    if "direct_response" in route:
        response = route["direct_response"]
        status = int(response.get("status", 200))
        body = (response.get("body") or {}).get("inline_string")
        shown = f" with body {body[:60]!r}" if body else ""
        return ActionResult("direct_response", f"the route answers HTTP {status} itself{shown}",
                            Step("route_action", "direct_response", f"direct_response {status}{shown}",
                                 raw=response), code=status)
    action = route.get("route")
    if not isinstance(action, dict):
        kind = next((k for k in ("filter_action", "non_forwarding_action") if k in route), "no action")
        return ActionResult("unsupported", f"the route has {kind}, which envoyscope does not follow")
    details = _details(action)
    weighted = action.get("weighted_clusters") if "cluster" not in action else None
    entry: dict[str, Any] | None = None
    pick, weights = "", cast("tuple[tuple[str, int], ...]", ())
    if isinstance(weighted, dict):
        entry, drawn, source = pick_entry(weighted, request.random_value, request.header)
        weights = tuple((entry_name(c), weight(c)) for c in weighted.get("clusters") or () if isinstance(c, dict))
        listed = ", ".join(f"{n} {w}" for n, w in weights)
        pick = f"weighted clusters ({listed}): {source} {drawn} picks {entry_name(entry)}"
    new_path = _rewrite_path(action, match, request)
    new_host, host_note = _rewrite_host(action, request)
    notes = [pick] if pick else []
    if entry and entry.get("host_rewrite_literal"):
        literal = str(entry["host_rewrite_literal"])
        if new_host is None:  # auto_host_rewrite, if set, still replaces it once a DNS cluster's host is picked
            then = f"; then {host_note}" if host_note else ""
            new_host, host_note = literal, f"the {entry_label(entry)}'s host_rewrite_literal{then}"
        else:
            host_note += f", over the {entry_label(entry)}'s host_rewrite_literal `{literal}`"
    if new_path is not None and new_path != request.path:
        notes.append(f"path rewritten to `{new_path}`")
    if new_host is not None:
        notes.append(f"Host rewritten to `{new_host}` ({host_note})")
    elif host_note:
        notes.append(host_note)
    timeout = action.get("timeout")
    if timeout in ("0s", "0.000s"):
        notes.append("no route timeout (0s)")
    elif timeout:
        notes.append(f"timeout {timeout}")
    notes.extend(_policy_notes(action, vhost))
    notes.extend(entry_notes(entry or {}))
    levels = header_levels(entry, route, vhost, route_config, label or str(route.get("name") or "(unnamed)"))
    changes = tuple(c.text() for c in mutate(list(request.headers), levels, "request")[1] + response_changes(levels))
    suffix = f" ({'; '.join(notes)})" if notes else ""
    common: dict[str, Any] = {"authority": new_host, "path": new_path, "details": details, "levels": levels}
    if entry is not None:
        header = str(entry.get("cluster_header") or "")
        chosen = str(entry.get("name") or "") or request.header(header) or ""
        reason = pick + (f" (cluster from header `{header}`: {chosen or 'absent'})" if header else "")
        reason += f" ({'; '.join(notes[1:])})" if notes[1:] else ""
        if not chosen:
            reason += ": no cluster name, Envoy answers 503 (NC)"
        return ActionResult("cluster", f"routed to {chosen or '(no cluster)'} (weighted)",
                            Step("route_action", chosen or None, reason, raw=action, changes=changes),
                            cluster=chosen, weights=weights, **common)
    if "cluster" in action:
        cluster = str(action["cluster"])
        return ActionResult("cluster", f"routed to {cluster}", Step("route_action", cluster,
                            f"forward to cluster {cluster}{suffix}", raw=action, changes=changes), cluster=cluster,
                            **common)
    if "cluster_header" in action:
        header = str(action["cluster_header"])
        value = request.header(header)
        if not value:
            return ActionResult("no_route", f"cluster_header `{header}` is absent: Envoy answers 404",
                                Step("route_action", None, f"the cluster comes from header `{header}`, which is "
                                                           "absent", raw=action), code=404, **common)
        return ActionResult("cluster", f"routed to {value} (from header `{header}`)",
                            Step("route_action", value, f"cluster from header `{header}`: {value}{suffix}",
                                 raw=action, changes=changes), cluster=value, **common)
    return ActionResult("unsupported", "the route's cluster comes from a cluster_specifier_plugin or similar, which "
                                       "envoyscope does not follow",
                        Step("route_action", None, "unsupported cluster specifier", raw=action), **common)


def mutate_headers(headers: list[tuple[str, str]], levels: list[dict[str, Any]], which: str,
                   substitute: Any = None) -> list[tuple[str, str]]:
    """``HeaderParser::evaluateHeaders`` at each level in the order given (route, virtual host, route configuration:
    the least specific writes last); `forwarding.mutate` also says which level did what."""
    return mutate(headers, tuple(("", level) for level in levels), which, substitute)[0]


def direct_response_headers(route: dict[str, Any], vhost: dict[str, Any],
                            route_config: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers of a direct response: content-length and, with a body, content-type text/plain; then the
    ``response_headers_to_add`` of route, virtual host and route configuration."""
    body = str(((route.get("direct_response") or {}).get("body") or {}).get("inline_string", ""))
    headers = [("content-length", str(len(body.encode())))] if body else []
    if body:
        headers.append(("content-type", "text/plain"))
    return mutate_headers(headers, [route, vhost, route_config], "response")
