"""``ext_authz`` (HTTP and network): the answer comes from an authorization service, so it cannot be decided
offline. The verdict is ``assumed``: it names the service Envoy asks and what it sends, and envoyscope goes on as if
the service allowed the request. As measured on Envoy 1.40: a denial is the service's status (403 by default) with
flag UAEX and details ``ext_authz_denied``; an unreachable service is ``status_on_error`` (403) with UAEX and
``ext_authz_error``, unless ``failure_mode_allow`` lets the request through.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict
from envoyscope.engine.http_filters.fault import fraction

HTTP_TYPE = "envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
NETWORK_TYPE = "envoy.extensions.filters.network.ext_authz.v3.ExtAuthz"


def service_of(config: dict[str, Any]) -> str:
    """Which service Envoy calls: a gRPC service's cluster or target, or an HTTP service's cluster and URI."""
    grpc = config.get("grpc_service") or {}
    if grpc.get("envoy_grpc"):
        return f"gRPC service on cluster `{grpc['envoy_grpc'].get('cluster_name', '')}`"
    if grpc.get("google_grpc"):
        return f"gRPC service `{grpc['google_grpc'].get('target_uri', '')}` (google_grpc)"
    http = config.get("http_service") or {}
    uri = http.get("server_uri") or {}
    if uri:
        prefix = f", path prefix `{http['path_prefix']}`" if http.get("path_prefix") else ""
        return f"HTTP service `{uri.get('uri', '')}` on cluster `{uri.get('cluster', '')}`{prefix}"
    return "an authorization service the config does not name"


def where_of(config: dict[str, Any]) -> str:
    """The service in a few words, for the assumption: its cluster, or its gRPC target."""
    grpc = config.get("grpc_service") or {}
    cluster = ((grpc.get("envoy_grpc") or {}).get("cluster_name")
               or (((config.get("http_service") or {}).get("server_uri")) or {}).get("cluster"))
    if cluster:
        return f"cluster `{cluster}`"
    target = (grpc.get("google_grpc") or {}).get("target_uri")
    return f"`{target}`" if target else "an unnamed service"


def _patterns(matcher: Any) -> list[str]:
    from envoyscope.engine.matchers import describe_string_match

    return [describe_string_match(p) for p in (matcher or {}).get("patterns") or () if isinstance(p, dict)]


def sends(config: dict[str, Any]) -> str:
    """What the check request carries: headers (all, or the allowed ones) and the body when buffered."""
    parts = []
    allowed = _patterns(config.get("allowed_headers")) or _patterns(
        ((config.get("http_service") or {}).get("authorization_request") or {}).get("allowed_headers"))
    if allowed:
        parts.append("the headers " + ", ".join(allowed) + (" (and Host, Method, Path, Content-Length, "
                                                            "Authorization)" if config.get("http_service") else ""))
    else:
        parts.append("the request's headers")
    body = config.get("with_request_body")
    if isinstance(body, dict):
        parts.append(f"up to {body.get('max_request_bytes', 0)} bytes of body")
    if config.get("include_peer_certificate"):
        parts.append("the client certificate")
    return " and ".join(parts)


def _on_error(config: dict[str, Any]) -> str:
    if config.get("failure_mode_allow"):
        return "if it cannot be reached, failure_mode_allow lets the request through"
    status = ((config.get("status_on_error") or {}).get("code")) or 403
    code = {"Forbidden": 403, "ServiceUnavailable": 503}.get(str(status), status)
    return f"if it cannot be reached, Envoy answers {code} (UAEX, `ext_authz_error`)"


def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    per_route = ctx.per_filter_config(name) or {}
    if per_route.get("disabled"):
        return FilterVerdict(name, HTTP_TYPE, "pass", "disabled on this route (per-route ExtAuthzPerRoute)")
    enabled = config.get("filter_enabled")
    if isinstance(enabled, dict):
        numerator, denominator = fraction(enabled.get("default_value"))
        if ctx.random_value % denominator >= numerator:
            deny = " (deny_at_disable is set: Envoy denies instead; not evaluated)" if config.get("deny_at_disable") \
                else ""
            return FilterVerdict(name, HTTP_TYPE, "pass", f"filter_enabled {numerator}/{denominator}: off for "
                                                          f"random value {ctx.random_value}, no check{deny}")
    service = service_of(config)
    check = per_route.get("check_settings") or {}
    extra = ""
    if check.get("context_extensions"):
        extra = f", with context extensions {dict(check['context_extensions'])}"
    if check.get("disable_request_body_buffering"):
        extra += ", without the body (per-route)"
    reason = (f"asks the {service}, sending {sends(config)}{extra}; a denial there is answered with its status "
              f"(403 by default) and flag UAEX (`ext_authz_denied`); {_on_error(config)}")
    where = where_of(config)
    return FilterVerdict(name, HTTP_TYPE, "assumed", reason, policy=service,
                         assumptions=(f"ext_authz at {where} decides; envoyscope goes on as if it allowed",))


def evaluate_network(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    service = service_of(config)
    fail = ("failure_mode_allow lets it through if the service cannot be reached" if config.get("failure_mode_allow")
            else "an unreachable service closes it too")
    reason = (f"asks the {service} about the connection (addresses, SNI, client certificate); a denial closes the "
              f"connection; {fail}")
    where = where_of(config)
    return FilterVerdict(name, NETWORK_TYPE, "assumed", reason, policy=service,
                         assumptions=(f"ext_authz at {where} decides; envoyscope goes on as if it allowed",))


EVALUATORS = {HTTP_TYPE: evaluate, NETWORK_TYPE: evaluate_network}
