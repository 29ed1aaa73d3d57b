"""Filters envoyscope lists as a step without deciding with them: each says whether it can answer the request
itself and when, or that it does not change the request.

``local_ratelimit`` answers 429 (``local_rate_limited``, flag RL) once its token bucket is empty, only when
``filter_enabled`` and ``filter_enforced`` are on (both 0% when unset) — measured on Envoy 1.40; the bucket's state
is not in a dump, so envoyscope assumes a token is left. Lua scripts and Wasm plugins other than Istio's own are not
run: envoyscope goes on as if they let the request through unchanged, and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict, type_name
from envoyscope.engine.http_filters.fault import fraction

P = "envoy.extensions.filters.http."
NO_CHANGE = {
    P + "grpc_stats.v3.FilterConfig": "counts gRPC messages for statistics; it does not change the request",
    P + "compressor.v3.Compressor": "compresses responses; it does not change the request",
    P + "decompressor.v3.Decompressor": "decompresses bodies; it does not change the request's headers or route",
    P + "grpc_web.v3.GrpcWeb": "translates gRPC-Web to gRPC; it does not reject a request",
    "stats.PluginConfig": "records Istio's request metrics; it does not change the request",
    "istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig":
        "sets the ALPN Istio uses towards the upstream (istio-http/1.0, istio-http/1.1, istio-h2); it does not change "
        "the request",
    "io.istio.http.peer_metadata.Config":
        "exchanges workload metadata with the peer (x-envoy-peer-metadata headers); it does not reject a request",
}
ISTIO_WASM = ("stats", "metadata_exchange", "istio.")


def _value(config: dict[str, Any]) -> dict[str, Any]:
    """A TypedStruct's fields are under ``value``."""
    inner = config.get("value")
    return inner if isinstance(inner, dict) and "@type" in config and "type_url" in config else config


def no_change(kind: str) -> Callable[[str, dict[str, Any], FilterContext], FilterVerdict]:
    def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
        return FilterVerdict(name, kind, "pass", NO_CHANGE[kind])

    return evaluate


def local_ratelimit(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    kind = P + "local_ratelimit.v3.LocalRateLimit"
    per_route = ctx.per_filter_config(name)
    settings, where = (per_route, "per-route local rate limit") if per_route is not None else (config, "local "
                                                                                               "rate limit")
    for key, word in (("filter_enabled", "enabled"), ("filter_enforced", "enforced")):
        spec = settings.get(key)
        numerator, denominator = fraction((spec or {}).get("default_value") if isinstance(spec, dict) else None)
        if ctx.random_value % denominator >= numerator:
            unset = " (unset: 0%)" if not spec else ""
            return FilterVerdict(name, kind, "pass", f"{where}: {key} {numerator}/{denominator}{unset} is off for "
                                                     f"random value {ctx.random_value}: not {word}, no 429")
    bucket = settings.get("token_bucket")
    if not isinstance(bucket, dict):
        return FilterVerdict(name, kind, "pass", f"{where}: no token_bucket, nothing is limited")
    code = (settings.get("status") or {}).get("code", 429)
    code = {"TooManyRequests": 429, "ServiceUnavailable": 503}.get(str(code), code)
    tokens, fill = bucket.get("max_tokens", 0), bucket.get("tokens_per_fill", 1)
    reason = (f"{where}: answers {code} (`local_rate_limited`, flag RL) when its bucket is empty — max_tokens "
              f"{tokens}, {fill} more every {bucket.get('fill_interval', '?')}")
    if settings.get("descriptors"):
        reason += "; its descriptors (per-route rate_limits) are not evaluated"
    return FilterVerdict(name, kind, "pass", reason, policy=where,
                         assumptions=(f"{where} at {name}: envoyscope assumes a token is left in the bucket",))


def _origin_allowed(policy: dict[str, Any], origin: str) -> bool:
    from envoyscope.engine.matchers import string_match

    return any(string_match(m, origin) for m in policy.get("allow_origin_string_match") or () if isinstance(m, dict))


def cors(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    """A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin is answered by the
    filter: 200, ``cors_response``. Routes that answer by themselves (direct_response, redirect) have no CORS policy
    for the filter to read (both measured on Envoy 1.40)."""
    kind = P + "cors.v3.Cors"
    policy = ctx.per_filter_config(name) or (ctx.route or {}).get("cors") or (ctx.virtual_host or {}).get("cors")
    route = ctx.route or {}
    if not policy or "direct_response" in route or "redirect" in route:
        why = "no CORS policy on this route" if not policy else "the route answers by itself, CORS does not apply"
        return FilterVerdict(name, kind, "pass", f"{why}: it does not change the request")
    origin = ctx.header("origin")
    if ctx.wire.method == "OPTIONS" and origin and ctx.header("access-control-request-method"):
        if _origin_allowed(policy, origin):
            return FilterVerdict(name, kind, "pass", f"a CORS preflight from allowed origin `{origin}`: the CORS "
                                                     "filter answers it itself (200)", policy="CORS policy",
                                 ends=True, outcome="direct_response", response_code=200,
                                 response_code_details="cors_response")
        return FilterVerdict(name, kind, "pass", f"a CORS preflight from `{origin}`, an origin the policy does not "
                                                 "allow: it goes on to the upstream")
    return FilterVerdict(name, kind, "pass", "a CORS policy applies: only the response gets access-control headers")


def health_check(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    from envoyscope.engine.matchers import HttpRequest, header_matches

    kind = P + "health_check.v3.HealthCheck"
    request = HttpRequest(ctx.wire.authority, ctx.wire.path, ctx.wire.method, ctx.wire.headers)
    specs = config.get("headers") or ()
    if not specs or not all(header_matches(spec, request)[0] for spec in specs):
        return FilterVerdict(name, kind, "pass", "not a health check request (its headers do not match)")
    through = config.get("pass_through_mode")
    through = through.get("value") if isinstance(through, dict) else through
    if through:
        return FilterVerdict(name, kind, "pass", "a health check request, passed through (pass_through_mode)")
    return FilterVerdict(name, kind, "assumed", "a health check request: Envoy answers it itself (200 when healthy, "
                                                "503 when failing or draining)",
                         assumptions=("envoyscope goes on as if the health check filter passed the request",))


def custom_code(label: str) -> Callable[[str, dict[str, Any], FilterContext], FilterVerdict]:
    def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
        inner = _value(config)
        plugin = inner.get("config") or {}
        vm = (plugin.get("vm_config") or {}) if isinstance(plugin, dict) else {}
        ident = " ".join(str(x) for x in (name, plugin.get("name", ""), plugin.get("root_id", ""),
                                          vm.get("vm_id", "")) if x)
        kind = type_name(config) or label
        if label == "Wasm" and any(word in ident for word in ISTIO_WASM):
            return FilterVerdict(name, kind, "pass", f"Istio's Wasm plugin ({ident}): telemetry and peer metadata; "
                                                     "it does not reject a request")
        return FilterVerdict(name, kind, "assumed", f"runs {label} code ({ident}): it may change or answer the "
                                                    "request",
                             assumptions=(f"envoyscope does not run the {label} code at {name}: it goes on as if it "
                                          "let the request through unchanged",))

    return evaluate


def mixer(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    """Istio's Mixer client (Istio ≤1.7; no Envoy 1.40 has it): telemetry reports, and a policy check unless the
    default destination service's config says ``disable_check_calls`` — Mixer's answer is not in the dump."""
    kind = "istio.mixer.v1.config.client.HttpClientConfig"
    inner = _value(config)
    services = inner.get("service_configs") or {}
    service = services.get(str(inner.get("default_destination_service", ""))) if isinstance(services, dict) else None
    if isinstance(service, dict) and service.get("disable_check_calls"):
        return FilterVerdict(name, kind, "pass", "Istio's Mixer client: check calls are disabled for the destination "
                                                 "service, it only reports telemetry; it does not reject a request")
    return FilterVerdict(name, kind, "assumed", "Istio's Mixer client: it may ask Mixer's policy check, whose answer "
                                                "(403/UNAVAILABLE on a denial) is not in the dump",
                         assumptions=(f"envoyscope goes on as if Mixer's policy check at {name} allowed the request",))


EVALUATORS: dict[str, Callable[[str, dict[str, Any], FilterContext], FilterVerdict]] = {
    "istio.mixer.v1.config.client.HttpClientConfig": mixer,
    **{kind: no_change(kind) for kind in NO_CHANGE},
    P + "local_ratelimit.v3.LocalRateLimit": local_ratelimit,
    P + "cors.v3.Cors": cors,
    P + "health_check.v3.HealthCheck": health_check,
    P + "lua.v3.Lua": custom_code("Lua"),
    P + "wasm.v3.Wasm": custom_code("Wasm"),
    "envoy.config.filter.http.wasm.v2.Wasm": custom_code("Wasm"),
}
