"""HTTP routing: virtual host, then the first route that matches, then its action (Envoy's ``ConfigImpl::route``).

``match_route`` follows ``RouteEntryImplBase::matchRoute`` (runtime fraction, gRPC, headers, query parameters,
TLS context) and then the route's path specifier (prefix, path, safe_regex, path_separated_prefix, URI
template). ``route_action.py`` turns the chosen route into what happens next.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from envoyscope.engine.forwarding import Level, mutate
from envoyscope.engine.matchers import (
    HttpRequest,
    full_match,
    header_matches,
    metadata_matches,
    query_matches,
    regex_of,
    runtime_fraction_matches,
)
from envoyscope.engine.network_filters import hcm_codec
from envoyscope.engine.request import TraceRequest, Wire
from envoyscope.engine.route_action import ActionResult, apply_action
from envoyscope.engine.steps import NearMiss, Step
from envoyscope.engine.uri_template import path_template, template_match
from envoyscope.engine.vhost import find_virtual_host, routing_host


@dataclass(frozen=True, slots=True)
class RouteResult:
    steps: tuple[Step, ...]
    virtual_host: str | None
    route: str | None
    kind: str  # cluster | no_route | direct_response | redirect | reset (HTTP codec error) | unsupported
    detail: str
    code: int | None = None
    cluster: str | None = None
    weights: tuple[tuple[str, int], ...] = ()
    authority: str | None = None
    path: str | None = None
    action: dict[str, Any] = field(default_factory=dict)
    redirect_url: str | None = None
    virtual_cluster: str | None = None
    levels: tuple[Level, ...] = ()  # whose header mutations the forwarded request gets (engine/forwarding.py)
    headers: tuple[tuple[str, str], ...] | None = None  # the forwarded request's other headers (route_request)


def route_label(route: dict[str, Any], index: int) -> str:
    return str(route.get("name") or f"#{index}")


def path_matches(match: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """The route's path specifier; case-insensitive when ``case_sensitive`` is false (path templates excepted:
    Envoy's ``UriTemplateMatcher`` always compares case-sensitively)."""
    sensitive = match.get("case_sensitive", True)
    if isinstance(sensitive, dict):
        sensitive = sensitive.get("value", True)

    def fold(text: str) -> str:
        return text if sensitive else text.lower()

    if "prefix" in match:
        want = str(match["prefix"])
        ok = fold(request.path).startswith(fold(want))
        return ok, f"prefix `{want}`"
    if "path" in match:
        want = str(match["path"])
        return fold(request.path_only) == fold(want), f"path `{want}`"
    if "safe_regex" in match:
        pattern = regex_of(match["safe_regex"])
        return full_match(pattern, request.path_only), f"regex `{pattern}`"
    if "path_separated_prefix" in match:
        want = str(match["path_separated_prefix"])
        path = fold(request.path_only)
        ok = path == fold(want) or path.startswith(fold(want) + "/")
        return ok, f"path_separated_prefix `{want}`"
    if "path_match_policy" in match:
        template = path_template(match)
        ok, _, invalid = template_match(template, request.path_only)
        return ok, f"path template `{template}`" + (f" (Envoy rejects it: {invalid})" if invalid else "")
    if "connect_matcher" in match:
        return request.method == "CONNECT", "CONNECT requests"
    return False, "no path specifier"


def is_grpc_request(request: HttpRequest) -> bool:
    """``Grpc::Common::isGrpcRequestHeaders``: content-type exactly ``application/grpc`` or starting with
    ``application/grpc+`` (``+proto``, ``+json``); ``application/grpc-web`` and parameters (``;charset``) are not
    gRPC. Compared case-sensitively, on the first content-type header."""
    values = request.values("content-type")
    content_type = values[0] if values else ""
    base = "application/grpc"
    return content_type.startswith(base) and (len(content_type) == len(base) or content_type[len(base)] == "+")


def tls_context_matches(tls: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """``RouteEntryImplBase::evaluateTlsContextMatch``: ``presented`` / ``validated`` compare with whether the
    downstream connection is TLS *and* its client presented a certificate / one the listener validated."""
    cert = request.client_cert if request.scheme == "https" else ""
    facts = {"presented": cert in ("presented", "validated", "offered"), "validated": cert in ("validated", "offered")}
    for key in ("presented", "validated"):
        want = tls.get(key)
        if isinstance(want, dict):
            want = want.get("value")
        if want is not None and bool(want) != facts[key]:
            if request.scheme != "https":
                have = "the connection is plaintext, so no client certificate"
            elif not cert:
                have = "the client presented no certificate"
            else:
                have = "the client's certificate was presented but not validated"
            return False, f"tls_context.{key} is {str(bool(want)).lower()}, {have}"
    return True, ""


def match_route(route: dict[str, Any], request: HttpRequest) -> tuple[bool, str, str]:
    """(matched, what matched, why not). The order is ``matchRoute``'s, then the path."""
    match = route.get("match") or {}
    if "runtime_fraction" in match:
        ok, why = runtime_fraction_matches(match["runtime_fraction"], request)
        if not ok:
            return False, "", why
    if "grpc" in match and not is_grpc_request(request):
        shown = request.header("content-type")
        return False, "", ("the route wants a gRPC request (content-type application/grpc or application/grpc+…), "
                           f"content-type is {f'`{shown}`' if shown is not None else 'absent'}")
    for spec in match.get("headers") or ():
        ok, why = header_matches(spec, request)
        if not ok:
            return False, "", why
    for spec in match.get("query_parameters") or ():
        ok, why = query_matches(spec, request)
        if not ok:
            return False, "", why
    tls = match.get("tls_context")
    if tls:
        ok, why = tls_context_matches(tls, request)
        if not ok:
            return False, "", why
    for spec in match.get("dynamic_metadata") or ():
        ok, why = metadata_matches(spec, request)
        if not ok:
            return False, "", why
    ok, what = path_matches(match, request)
    if not ok:
        return False, "", f"{what} does not match `{request.path}`"
    extras = []
    if match.get("headers"):
        extras.append(f"{len(match['headers'])} header matcher(s)")
    if match.get("query_parameters"):
        extras.append(f"{len(match['query_parameters'])} query parameter matcher(s)")
    return True, what + (f" and {', '.join(extras)}" if extras else ""), ""


def find_route(vhost: dict[str, Any], request: HttpRequest) -> tuple[int, dict[str, Any] | None, str, list[NearMiss]]:
    """``VirtualHostImpl::getRouteFromEntries``: the first route whose match holds."""
    misses: list[NearMiss] = []
    for index, route in enumerate(vhost.get("routes") or ()):
        ok, what, why = match_route(route, request)
        if ok:
            return index, route, what, misses
        misses.append(NearMiss(f"route {route_label(route, index)}", why, f"routes[{index}]"))
    return -1, None, "", misses


def _virtual_cluster(vhost: dict[str, Any], request: HttpRequest) -> str | None:
    for vc in vhost.get("virtual_clusters") or ():
        if all(header_matches(h, request)[0] for h in vc.get("headers") or ()):
            return str(vc.get("name", ""))
    return "other" if vhost.get("virtual_clusters") else None


def _require_tls(vhost: dict[str, Any], request: HttpRequest) -> tuple[str, str] | None:
    """``require_tls``: ALL redirects every plaintext request to https, EXTERNAL_ONLY those not marked internal."""
    mode = vhost.get("require_tls", "NONE")
    secure = (request.header("x-forwarded-proto") or request.scheme) == "https"
    internal = request.header("x-envoy-internal") == "true"
    if secure or mode == "NONE" or (mode == "EXTERNAL_ONLY" and internal):
        return None
    url = f"https://{request.authority}{request.path}"
    return url, f"require_tls {mode}: the request is not TLS, so Envoy redirects (301) to {url}"


def route_http(route_config: dict[str, Any], request: HttpRequest, *, hcm: dict[str, Any] | None = None,
               listener_port: int | None = None, path: str = "route_config") -> RouteResult:
    """Route one request through a RouteConfiguration (raw snake_case v3 JSON)."""
    steps: list[Step] = []
    host, notes = routing_host(request.authority, route_config, hcm, listener_port)
    vhost, how, vmisses = find_virtual_host(route_config, host)
    prefix = "; ".join(notes) + "; " if notes else ""
    if vhost is None:
        steps.append(Step("virtual_host", None, prefix + how, path, tuple(vmisses)))
        return RouteResult(tuple(steps), None, None, "no_route",
                           f"no virtual host for Host `{request.authority}`: Envoy answers 404 (NR)", code=404)
    vname = str(vhost.get("name", ""))
    vindex = (route_config.get("virtual_hosts") or []).index(vhost)
    vpath = f"{path}.virtual_hosts[{vindex}]"
    steps.append(Step("virtual_host", vname, prefix + how, vpath, tuple(vmisses), vhost))
    tls_redirect = _require_tls(vhost, request)
    if tls_redirect is not None:
        steps.append(Step("route", None, tls_redirect[1], f"{vpath}.require_tls"))
        return RouteResult(tuple(steps), vname, None, "redirect", tls_redirect[1], code=301,
                           redirect_url=tls_redirect[0])
    index, route, what, rmisses = find_route(vhost, request)
    vcluster = _virtual_cluster(vhost, request)
    if route is None:
        steps.append(Step("route", None, f"none of the {len(vhost.get('routes') or ())} routes of `{vname}` matches "
                                         f"{request.method} {request.path}", f"{vpath}.routes", tuple(rmisses)))
        return RouteResult(tuple(steps), vname, None, "no_route",
                           f"virtual host `{vname}` has no route for {request.path}: Envoy answers 404 (NR)", code=404,
                           virtual_cluster=vcluster)
    label = route_label(route, index)
    steps.append(Step("route", label, f"route {label} is the first that matches: {what}", f"{vpath}.routes[{index}]",
                      tuple(rmisses), route))
    action: ActionResult = apply_action(route, vhost, route_config, request, label)
    if action.step is not None:
        steps.append(action.step)
    return RouteResult(tuple(steps), vname, label, action.kind, action.detail, code=action.code,
                       cluster=action.cluster, weights=action.weights, authority=action.authority, path=action.path,
                       action=action.details, redirect_url=action.redirect_url, virtual_cluster=vcluster,
                       levels=action.levels)


def request_from_wire(wire: Wire, request: TraceRequest) -> HttpRequest:
    scheme = "https" if wire.transport == "tls" else "http"
    headers = tuple((n.lower(), v) for n, v in wire.headers)
    if not any(n == "x-forwarded-proto" for n, _ in headers):
        headers = (*headers, ("x-forwarded-proto", scheme))
    return HttpRequest(authority=wire.authority, path=wire.path, method=wire.method, headers=headers, scheme=scheme,
                       random_value=request.random_value, runtime=dict(request.runtime),
                       client_cert=wire.client_cert if wire.transport == "tls" else "")


def route_request(route_config: dict[str, Any], wire: Wire, request: TraceRequest, hcm: dict[str, Any] | None,
                  listener_port: int) -> RouteResult:
    """What the HTTP connection manager's router does with the request on ``wire``.

    On a plaintext connection the HCM's codec must speak what the client sends (HTTP/1.1 or h2c prior
    knowledge); when it cannot, the result is ``reset`` (Envoy's DPE) with an HTTP code when Envoy answers one."""
    if wire.transport != "tls" and wire.http is not None:
        protocol, why = hcm_codec(hcm, wire.http)
        if protocol is None:
            step = Step("network_filter", None, why, "http_connection_manager.codec_type")
            return RouteResult((step,), None, None, "reset", why, code=400 if wire.http == "h2c" else None)
    routed = route_http(route_config, request_from_wire(wire, request), hcm=hcm, listener_port=listener_port,
                        path=f"route_config[{route_config.get('name', '')}]")
    if routed.kind != "cluster" or not routed.levels:
        return routed
    headers = mutate(list(wire.headers), routed.levels, "request")[0]
    return replace(routed, headers=tuple(headers))
