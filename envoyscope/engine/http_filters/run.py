"""The filter loop: the HCM's ``http_filters`` in order before the router, and a chain's network filters before
``tcp_proxy`` / the HCM, each one trace step (``http_filter`` / ``network_filter``) via the registry.

Envoy runs the decoder filters whether or not a route matched (the router, last, answers 404 or the route's direct
response only after them): an RBAC denial's 403 wins over a later "no route" 404 (checked against Envoy 1.40). A
filter ``disabled`` in the HCM runs only where the most specific ``typed_per_filter_config`` naming it enables it (a
``FilterConfig`` with ``disabled: false``, or any other per-route config); a ``FilterConfig`` ``disabled: true``
skips it. Every evaluator reads its per-route config through ``FilterContext.per_filter_config``, which unwraps a
``FilterConfig``'s ``config`` the same way for all. Each verdict's dynamic metadata is merged key by key into
what the next filters see, as Envoy's ``setDynamicMetadata`` does. A verdict that ends the request stops the loop.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, replace
from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict, type_name
from envoyscope.engine.http_filters.registry import evaluator_for
from envoyscope.engine.request import Wire
from envoyscope.engine.steps import Step
from envoyscope.model.legacy_names import HTTP_FILTER_TYPES, LEGACY_TYPES

ROUTER_TYPES = ("envoy.extensions.filters.http.router.v3.Router", "envoy.config.filter.http.router.v2.Router")
ROUTER_NAMES = ("envoy.router", "envoy.filters.http.router", "router")


@dataclass(frozen=True, slots=True)
class FilterRun:
    """What the filters did: one verdict and one step each, the verdict that ended it (if one did), the dynamic
    metadata they left, and what envoyscope assumed."""

    verdicts: tuple[FilterVerdict, ...] = ()
    steps: tuple[Step, ...] = ()
    ending: FilterVerdict | None = None
    metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    assumptions: tuple[str, ...] = ()


def unwrap(filt: dict[str, Any]) -> dict[str, Any]:
    """A filter's typed config, a ``TypedStruct`` unwrapped into its value with the inner ``@type``."""
    typed = filt.get("typed_config") or filt.get("config") or {}
    if not isinstance(typed, dict):
        return {}
    if str(typed.get("@type", "")).endswith("TypedStruct") and isinstance(typed.get("value"), dict):
        return {"@type": typed.get("type_url", ""), **typed["value"]}
    return typed


def _is_router(filt: dict[str, Any]) -> bool:
    typed = filt.get("typed_config") or {}
    name = type_name(typed) if isinstance(typed, dict) else ""
    return name in ROUTER_TYPES or (not name and str(filt.get("name", "")) in ROUTER_NAMES)


def _evaluate(filt: dict[str, Any], ctx: FilterContext, kind: str) -> FilterVerdict:
    name = str(filt.get("name", "") or "(unnamed)")
    raw = filt.get("typed_config")
    if raw is None and "config_discovery" in filt:
        return FilterVerdict(name, "", "not_evaluated", f"not evaluated: `{name}`'s config comes from ECDS "
                             "(config_discovery), which envoyscope does not follow")
    tname = type_name(raw) if isinstance(raw, dict) else ""
    config = unwrap(filt)
    legacy = ""
    if not tname:  # a v2-era filter, named without a typed config: Envoy chose it by its well-known name
        tname = LEGACY_TYPES.get(name) or HTTP_FILTER_TYPES.get(name, "")
        if not tname:
            return FilterVerdict(name, "", "not_evaluated", f"not evaluated: unknown type (`{name}` has no typed "
                                 "config, and its name is not a well-known v2-era filter)")
        config = {**config, "@type": "type.googleapis.com/" + tname}
        legacy = f" (`{name}`: a v2-era filter without a typed config, read as {tname})"
    evaluator = evaluator_for(tname)
    if evaluator is None:
        return FilterVerdict(name, tname, "not_evaluated", f"not evaluated: unknown type {tname}{legacy}")
    try:
        verdict = evaluator(name, config, ctx)
        return replace(verdict, reason=verdict.reason + legacy) if legacy else verdict
    except Exception as exc:  # noqa: BLE001 - a filter config envoyscope cannot read must not end the trace
        return FilterVerdict(name, tname, "not_evaluated", f"not evaluated: {tname} could not be read ({exc!r})")


def _merge(metadata: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {ns: dict(values) for ns, values in metadata.items()}
    for ns, values in more.items():
        out.setdefault(ns, {}).update(values)
    return out


def _loop(filters: list[dict[str, Any]], ctx: FilterContext, path: str, kind: str, *,
          http: bool) -> FilterRun:
    verdicts: list[FilterVerdict] = []
    steps: list[Step] = []
    assumptions: list[str] = []
    metadata = dict(ctx.dynamic_metadata)
    for index, filt in enumerate(filters):
        if not isinstance(filt, dict):
            continue
        if http and _is_router(filt):
            break
        name = str(filt.get("name", "") or "(unnamed)")
        fpath = f"{path}[{index}]"
        by_route = ctx.filter_disabled(name) if http else None
        disabled = bool(filt.get("disabled")) if by_route is None else by_route
        if disabled:
            why = ("the route's FilterConfig disables it" if by_route
                   else "it is disabled by default and no route enables it")
            verdict = FilterVerdict(name, type_name(filt.get("typed_config") or {}), "pass",
                                    f"`{name}` does not run: {why}")
        else:
            verdict = _evaluate(filt, replace(ctx, dynamic_metadata=metadata), kind)
        verdicts.append(verdict)
        steps.append(replace(verdict.step(kind, fpath), raw=unwrap(filt)))  # the config, for reports' excerpts
        assumptions.extend(verdict.assumptions)
        metadata = _merge(metadata, verdict.metadata)
        if verdict.ends:
            return FilterRun(tuple(verdicts), tuple(steps), verdict, metadata, tuple(assumptions))
    return FilterRun(tuple(verdicts), tuple(steps), None, metadata, tuple(assumptions))


def run_http_filters(hcm: dict[str, Any], ctx: FilterContext, path: str) -> FilterRun:
    """The HCM's ``http_filters`` before the router, in order."""
    return _loop(list(hcm.get("http_filters") or ()), ctx, f"{path}.http_filters", "http_filter", http=True)


def run_network_filters(filters: list[dict[str, Any]], ctx: FilterContext, path: str) -> FilterRun:
    """A chain's network filters before its terminal one (tcp_proxy, the HCM), in order."""
    return _loop(filters, replace(ctx, http=False), f"{path}.filters", "network_filter", http=False)


def downstream_remote_ip(hcm: dict[str, Any] | None, wire: Wire) -> str:
    """The HCM's downstream remote address (``ConnectionManagerUtility::mutateRequestHeaders``): with
    ``use_remote_address`` the connection's peer (or, with ``xff_num_trusted_hops`` N > 0, the N-th address from the
    right of ``x-forwarded-for``); without it the last ``x-forwarded-for`` address past the trusted hops, else the
    peer. An entry that is not an IP address falls back to the peer."""
    hcm = hcm or {}
    use_remote = hcm.get("use_remote_address")
    if isinstance(use_remote, dict):
        use_remote = use_remote.get("value")
    hops = int(hcm.get("xff_num_trusted_hops", 0) or 0)
    xff = ",".join(v for n, v in wire.headers if n == "x-forwarded-for")
    if use_remote and hops == 0:
        return wire.src_ip
    skip = hops - 1 if use_remote else hops
    entries = [e.strip() for e in xff.split(",")] if xff else []
    if not entries or skip >= len(entries):
        return wire.src_ip
    candidate = entries[len(entries) - 1 - skip]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return wire.src_ip

