"""What a matched route does: forward to a cluster (plain, weighted, from a header), redirect, or answer.

Follows Envoy's ``RouteEntryImplBase`` (``clusterEntry``, ``WeightedClusterEntry`` picking by
``random_value % total_weight``, ``finalizeRequestHeaders`` for rewrites, ``newUri`` for redirects) and reports
what the route also configures: timeout, retries, mirrors, hash policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

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


def _weight(item: dict[str, Any]) -> int:
    weight = item.get("weight", 0)
    if isinstance(weight, dict):
        weight = weight.get("value", 0)
    return int(weight or 0)


def pick_weighted_cluster(clusters: list[dict[str, Any]], total: int | None, random_value: int) -> str:
    """``random_value % total_weight`` walks the cumulative weights; the first cluster past it wins."""
    total = total or sum(_weight(c) for c in clusters)
    if total <= 0:
        return str(clusters[0].get("name", "")) if clusters else ""
    point = random_value % total
    acc = 0
    for item in clusters:
        acc += _weight(item)
        if point < acc:
            return str(item.get("name", ""))
    return str(clusters[-1].get("name", ""))


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
                "cors", "metadata_match", "weighted_clusters"):
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
                 request: HttpRequest) -> ActionResult:
    """What the chosen route does with the request."""
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
    new_path = _rewrite_path(action, match, request)
    new_host, host_note = _rewrite_host(action, request)
    notes = []
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
    suffix = f" ({'; '.join(notes)})" if notes else ""
    common: dict[str, Any] = {"authority": new_host, "path": new_path, "details": details}
    if "cluster" in action:
        cluster = str(action["cluster"])
        return ActionResult("cluster", f"routed to {cluster}", Step("route_action", cluster,
                            f"forward to cluster {cluster}{suffix}", raw=action), cluster=cluster, **common)
    if "weighted_clusters" in action:
        weighted = action["weighted_clusters"]
        clusters = list(weighted.get("clusters") or ())
        total = weighted.get("total_weight")
        if isinstance(total, dict):
            total = total.get("value")
        weights = tuple((str(c.get("name", "")), _weight(c)) for c in clusters)
        chosen = pick_weighted_cluster(clusters, int(total) if total else None, request.random_value)
        all_weights = ", ".join(f"{n} {w}" for n, w in weights)
        reason = (f"weighted clusters ({all_weights}): random value {request.random_value} picks {chosen}{suffix}")
        return ActionResult("cluster", f"routed to {chosen} (weighted)", Step("route_action", chosen, reason,
                            raw=action), cluster=chosen, weights=weights, **common)
    if "cluster_header" in action:
        header = str(action["cluster_header"])
        value = request.header(header)
        if not value:
            return ActionResult("no_route", f"cluster_header `{header}` is absent: Envoy answers 404",
                                Step("route_action", None, f"the cluster comes from header `{header}`, which is "
                                                           "absent", raw=action), code=404, **common)
        return ActionResult("cluster", f"routed to {value} (from header `{header}`)",
                            Step("route_action", value, f"cluster from header `{header}`: {value}{suffix}",
                                 raw=action), cluster=value, **common)
    return ActionResult("unsupported", "the route's cluster comes from a cluster_specifier_plugin or similar, which "
                                       "envoyscope does not follow",
                        Step("route_action", None, "unsupported cluster specifier", raw=action), **common)


def _append_action(entry: dict[str, Any]) -> str:
    if "append_action" in entry:
        return str(entry["append_action"])
    append = entry.get("append", True)
    if isinstance(append, dict):
        append = append.get("value", True)
    return "APPEND_IF_EXISTS_OR_ADD" if append is not False else "OVERWRITE_IF_EXISTS_OR_ADD"


def mutate_headers(headers: list[tuple[str, str]], levels: list[dict[str, Any]], which: str,
                   substitute: Any = None) -> list[tuple[str, str]]:
    """``HeaderParser::evaluateHeaders`` at each level (route, virtual host, route configuration in that order, so
    the least specific writes last): removals, then additions by their ``append_action``.
    ``substitute(value)`` expands command operators such as ``%DOWNSTREAM_REMOTE_ADDRESS%`` (None: left as is)."""
    out = list(headers)
    for level in levels:
        removed = {str(h).lower() for h in level.get(f"{which}_headers_to_remove") or ()}
        out = [(n, v) for n, v in out if n not in removed]
        for entry in level.get(f"{which}_headers_to_add") or ():
            header = entry.get("header") or {}
            name, value = str(header.get("key", "")).lower(), str(header.get("value", ""))
            if substitute is not None:
                value = substitute(value)
            action = _append_action(entry)
            present = any(n == name for n, _ in out)
            if action == "ADD_IF_ABSENT" and present:
                continue
            if action == "OVERWRITE_IF_EXISTS" and not present:
                continue
            if action in ("OVERWRITE_IF_EXISTS_OR_ADD", "OVERWRITE_IF_EXISTS"):
                out = [(n, v) for n, v in out if n != name]
            out.append((name, value))
    return out


def direct_response_headers(route: dict[str, Any], vhost: dict[str, Any],
                            route_config: dict[str, Any]) -> list[tuple[str, str]]:
    """The headers of a direct response: content-length and, with a body, content-type text/plain; then the
    ``response_headers_to_add`` of route, virtual host and route configuration."""
    body = str(((route.get("direct_response") or {}).get("body") or {}).get("inline_string", ""))
    headers = [("content-length", str(len(body.encode())))] if body else []
    if body:
        headers.append(("content-type", "text/plain"))
    return mutate_headers(headers, [route, vhost, route_config], "response")
