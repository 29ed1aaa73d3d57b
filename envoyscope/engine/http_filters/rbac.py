"""``envoy.filters.http.rbac`` and ``envoy.filters.network.rbac`` (Istio's AuthorizationPolicy), recognised by
their typed config's type whatever the filter's name.

HTTP (``RoleBasedAccessControlFilter::decodeHeaders``): the route's ``RBACPerRoute`` (``typed_per_filter_config``
under the filter's name) replaces the filter's rules and shadow rules; a per-route config without ``rbac`` turns
the filter off for that route. The shadow engine runs first and only writes dynamic metadata
(``<shadow_rules_stat_prefix>shadow_engine_result`` / ``…shadow_effective_policy_id`` under
``envoy.filters.http.rbac``, whatever the filter is called); then the enforced engine: a denial answers 403
``RBAC: access denied`` with ``%RESPONSE_CODE_DETAILS%`` ``rbac_access_denied_matched_policy[POLICY]`` and no
response flag. Network (``onData``): the same engines on the connection; a denial closes it with
``%CONNECTION_TERMINATION_DETAILS%`` ``rbac_access_denied_matched_policy[POLICY]``. Each of these facts was
checked against Envoy 1.40 (tests/proof/test_rbac_vs_envoy.py).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict, type_name, unwrap_per_route
from envoyscope.engine.http_filters.rbac_engine import EngineResult, Facts, evaluate_rules, response_detail
from envoyscope.engine.http_filters.rbac_matcher import evaluate_matcher
from envoyscope.engine.http_filters.rbac_validate import rbac_problem
from envoyscope.engine.matchers import HttpRequest

HTTP_NAMESPACE = "envoy.filters.http.rbac"
NETWORK_NAMESPACE = "envoy.filters.network.rbac"
HTTP_TYPES = ("envoy.extensions.filters.http.rbac.v3.RBAC", "envoy.config.filter.http.rbac.v2.RBAC")
NETWORK_TYPES = ("envoy.extensions.filters.network.rbac.v3.RBAC", "envoy.config.filter.network.rbac.v2.RBAC")
PER_ROUTE = ("envoy.extensions.filters.http.rbac.v3.RBACPerRoute", "envoy.config.filter.http.rbac.v2.RBACPerRoute")


def facts_of(ctx: FilterContext) -> Facts:
    """What RBAC's matchers see, from the filter context."""
    wire = ctx.wire
    request = None
    if ctx.http:
        scheme = "https" if ctx.downstream_tls else "http"
        request = HttpRequest(authority=wire.authority, path=wire.path, method=wire.method,
                              headers=tuple(wire.headers), scheme=scheme)
    peer = ctx.peer
    return Facts(dst_ip=wire.dst_ip, dst_port=wire.dst_port, src_ip=wire.src_ip,
                 direct_remote_ip=ctx.direct_remote_ip or wire.src_ip, remote_ip=ctx.remote_ip or wire.src_ip,
                 sni=ctx.requested_server_name or "", tls=ctx.downstream_tls,
                 uri_sans=peer.uri_sans if peer else (), dns_sans=peer.dns_sans if peer else (),
                 subject=peer.subject if peer else "", request=request, metadata=dict(ctx.dynamic_metadata),
                 route_metadata=dict(ctx.filter_metadata_route), filter_state=dict(wire.filter_state))


def _engine(config: dict[str, Any], shadow: bool, facts: Facts) -> EngineResult | None:
    """The enforced (or shadow) engine's result; None when the config has no such engine.
    ``matcher`` wins over ``rules`` when both are set (Envoy warns and ignores the rules)."""
    matcher_key, rules_key = ("shadow_matcher", "shadow_rules") if shadow else ("matcher", "rules")
    if isinstance(config.get(matcher_key), dict):
        return evaluate_matcher(config[matcher_key], facts)
    if isinstance(config.get(rules_key), dict):
        return evaluate_rules(config[rules_key], facts)
    return None


def _per_route(ctx: FilterContext, name: str) -> tuple[dict[str, Any] | None, str]:
    """The route's RBACPerRoute for this filter (a ``FilterConfig`` wrapper's ``config`` too), and where it is."""
    found = ctx.per_filter_config(name)
    if found is None:
        return None, ""
    if type_name(found) not in PER_ROUTE:
        return None, ""
    level = next(label for label, holder in (("route", ctx.route), ("virtual host", ctx.virtual_host),
                                              ("route configuration", ctx.route_config))
                 if unwrap_per_route(((holder or {}).get("typed_per_filter_config") or {}).get(name)) is not None)
    return dict(found.get("rbac") or {}), f"the {level}'s RBACPerRoute"


def _prefix(key: str, config: dict[str, Any], base: dict[str, Any]) -> str:
    """The metadata keys' prefix: the RBACPerRoute's stat prefix when it sets one, else the filter's (as Envoy
    1.40 writes them)."""
    return str(config.get(key) or base.get(key) or "")


def _summary(config: dict[str, Any]) -> str:
    rules = config.get("rules")
    if isinstance(config.get("matcher"), dict):
        return "a matcher tree"
    if isinstance(rules, dict):
        return f"{rules.get('action', 'ALLOW')}, {len(rules.get('policies') or {})} policies"
    return "no enforced rules"


def _decide(name: str, config: dict[str, Any], ctx: FilterContext, *, http: bool) -> FilterVerdict:
    short = "envoy.extensions.filters.http.rbac.v3.RBAC" if http else "envoy.extensions.filters.network.rbac.v3.RBAC"
    where = ""
    base = config
    if http:
        per_route, where = _per_route(ctx, name)
        if per_route is not None:
            config = per_route
    problem = rbac_problem(config, network=not http)
    if problem:
        return FilterVerdict(name, short, "not_evaluated", f"Envoy rejects this RBAC config: {problem}")
    facts = facts_of(ctx)
    namespace = HTTP_NAMESPACE if http else NETWORK_NAMESPACE
    metadata: dict[str, dict[str, Any]] = {}
    shadow = _engine(config, True, facts)
    shadow_word = None
    if shadow is not None:
        prefix = _prefix("shadow_rules_stat_prefix", config, base)
        shadow_word = "allowed" if shadow.allowed else "denied"
        values: dict[str, Any] = {f"{prefix}shadow_engine_result": shadow_word}
        if shadow.policy:
            values[f"{prefix}shadow_effective_policy_id"] = shadow.policy
        metadata[namespace] = values
    enforced = _engine(config, False, facts)
    via = f" ({where})" if where else ""
    shadow_note = ""
    if shadow is not None:
        shadow_note = f"; shadow rules would have {shadow_word} it" + (
            f" (policy `{shadow.policy}`)" if shadow.policy else "")
    if enforced is None:
        return FilterVerdict(name, short, "pass", f"RBAC `{name}`{via} has no enforced rules: it lets the "
                             f"{'request' if http else 'connection'} through{shadow_note}",
                             shadow=shadow_word, shadow_policy=shadow.policy if shadow else None, metadata=metadata)
    if http:
        prefix = _prefix("rules_stat_prefix", config, base)
        values = metadata.setdefault(namespace, {})
        values[f"{prefix}enforced_engine_result"] = "allowed" if enforced.allowed else "denied"
        if enforced.policy:
            values[f"{prefix}enforced_effective_policy_id"] = enforced.policy
    if enforced.log is not None:
        metadata["envoy.common"] = {"access_log_hint": enforced.log}
    head = f"RBAC `{name}`{via} ({_summary(config)}): {enforced.reason}"
    common = dict(policy=enforced.policy, shadow=shadow_word, shadow_policy=shadow.policy if shadow else None,
                  near_misses=enforced.near_misses, metadata=metadata, assumptions=enforced.assumptions)
    if enforced.allowed:
        return FilterVerdict(name, short, "allow", f"{head}: allowed{shadow_note}", **common)  # type: ignore[arg-type]
    detail = response_detail(enforced.policy)
    if http:
        return FilterVerdict(name, short, "deny", f"{head}: Envoy answers 403 `RBAC: access denied` ({detail})"
                             f"{shadow_note}", ends=True, outcome="denied", response_code=403,
                             response_code_details=detail, response_flags="", **common)  # type: ignore[arg-type]
    return FilterVerdict(name, short, "deny", f"{head}: Envoy closes the connection ({detail}){shadow_note}",
                         ends=True, outcome="denied", connection_termination_details=detail,
                         response_flags="", **common)  # type: ignore[arg-type]


def evaluate_http(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    return _decide(name, config, ctx, http=True)


def evaluate_network(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    return _decide(name, config, ctx, http=False)


def evaluate_istio_authn(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    """Istio's (<= 1.5) ``istio_authn`` filter: with a peer certificate it sets the ``istio_authn`` dynamic
    metadata that Istio's RBAC policies of that time match (``source.principal`` is the SPIFFE identity without
    ``spiffe://``, ``source.namespace`` the namespace in it)."""
    short = "istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig"
    peer = ctx.peer
    if peer is None or not peer.uri_sans:
        return FilterVerdict(name, short, "pass", "istio_authn: no peer certificate, so no source.principal for "
                             "later filters")
    principal = peer.uri_sans[0].removeprefix("spiffe://")
    values: dict[str, Any] = {"source.principal": principal, "source.user": principal}
    parts = principal.split("/")
    if "ns" in parts and parts.index("ns") + 1 < len(parts):
        values["source.namespace"] = parts[parts.index("ns") + 1]
    return FilterVerdict(name, short, "pass", f"istio_authn sets source.principal `{principal}` for later filters",
                         metadata={"istio_authn": values})


EVALUATORS = {
    **{t: evaluate_http for t in HTTP_TYPES},
    "istio.envoy.config.filter.http.authn.v2alpha1.FilterConfig": evaluate_istio_authn,
}
