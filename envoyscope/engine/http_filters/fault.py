"""``envoy.filters.http.fault``: injected aborts and delays, as Envoy's ``FaultFilter::decodeHeaders`` decides them.

A route's (or virtual host's) ``typed_per_filter_config`` replaces the filter's whole configuration. Then, in
order: ``max_active_faults`` (0 never injects; otherwise envoyscope assumes no other fault is active), the
``upstream_cluster`` the route must lead to, ``downstream_nodes`` (the ``x-envoy-downstream-service-node`` header)
and the ``headers`` matchers. A delay is chosen first (``fixed_delay``, or ``header_delay`` reading
``x-envoy-fault-delay-request``), then an abort (``http_status``, ``grpc_status``, or ``header_abort`` reading
``x-envoy-fault-abort-request`` / ``x-envoy-fault-abort-grpc-request``); each fires when ``random_value %
denominator < numerator`` of its percentage (a ``…-percentage`` header may lower a header fault's numerator, never
raise it). An abort answers with ``fault_filter_abort`` and flag FI (DI,FI after a delay); a gRPC abort answers
HTTP 200 with the gRPC status. A delay (flag DI) is not cut by the route timeout: Envoy starts that timer only when
the router receives the request, after the delay (measured on Envoy 1.40).
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.forwarding import pick_entry
from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict
from envoyscope.engine.matchers import HttpRequest, header_matches
from envoyscope.model.duration import duration_ms

TYPE = "envoy.extensions.filters.http.fault.v3.HTTPFault"
DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}
DETAILS = "fault_filter_abort"


def fraction(percent: Any) -> tuple[int, int]:
    """A ``FractionalPercent`` as (numerator, denominator); a numerator above the denominator means always."""
    percent = percent if isinstance(percent, dict) else {}
    denominator = DENOMINATORS.get(str(percent.get("denominator", "HUNDRED")), 100)
    return min(int(percent.get("numerator", 0) or 0), denominator), denominator


def _header_numerator(ctx: FilterContext, name: str, numerator: int) -> int:
    """``HeaderPercentageProvider``: the header's numerator (first value), never above the configured one."""
    given = ctx.header(name)
    first = given.split(",")[0].strip() if given is not None else ""
    return min(int(first), numerator) if first.isascii() and first.isdigit() else numerator


def _draw(ctx: FilterContext, what: str, numerator: int, denominator: int) -> tuple[bool, str]:
    hit = ctx.random_value % denominator < numerator
    share = f"{numerator}/{denominator}"
    if numerator >= denominator:
        return True, f"{what} at {share} (always)"
    if numerator <= 0:
        return False, f"{what} at {share} (never)"
    word = "falls inside" if hit else "falls outside"
    return hit, f"{what} at {share}: random value {ctx.random_value} {word} it (pass --random-value)"


def _route_cluster(ctx: FilterContext) -> str | None:
    action = (ctx.route or {}).get("route") or {}
    if "cluster" in action:
        return str(action["cluster"])
    if "weighted_clusters" in action:
        entry, _, _ = pick_entry(action["weighted_clusters"], ctx.random_value, ctx.header)
        return str(entry.get("name") or "") or None
    return None


def _conditions(settings: dict[str, Any], ctx: FilterContext) -> str | None:
    """Why the fault does not apply to this request (None: it may)."""
    limit = settings.get("max_active_faults")
    limit = limit.get("value", 0) if isinstance(limit, dict) else limit
    if limit is not None and int(limit) <= 0:
        return "max_active_faults is 0: no fault is ever injected"
    target = str(settings.get("upstream_cluster") or "")
    if target:
        cluster = _route_cluster(ctx)
        if cluster != target:
            return f"it targets upstream_cluster `{target}`, the route leads to {f'`{cluster}`' if cluster else 'none'}"
    nodes = [str(n) for n in settings.get("downstream_nodes") or ()]
    if nodes:
        node = ctx.header("x-envoy-downstream-service-node")
        if node not in nodes:
            shown = f"`{node}`" if node is not None else "absent"
            return f"it targets downstream_nodes {nodes}, header `x-envoy-downstream-service-node` is {shown}"
    request = HttpRequest(ctx.wire.authority, ctx.wire.path, ctx.wire.method, ctx.wire.headers)
    for spec in settings.get("headers") or ():
        ok, why = header_matches(spec, request)
        if not ok:
            return why.replace("the route wants", "the fault wants")
    return None


def delay_of(settings: dict[str, Any], ctx: FilterContext) -> tuple[int | None, str]:
    """``FaultFilter::delayDuration``: the delay in ms (None: no delay) and why."""
    delay = settings.get("delay")
    if not isinstance(delay, dict):
        return None, ""
    numerator, denominator = fraction(delay.get("percentage"))
    if "header_delay" in delay:
        numerator = _header_numerator(ctx, "x-envoy-fault-delay-request-percentage", numerator)
    on, why = _draw(ctx, "delay", numerator, denominator)
    if not on:
        return None, why
    if "header_delay" in delay:
        given = ctx.header("x-envoy-fault-delay-request")
        first = given.split(",")[0].strip() if given is not None else ""
        if not (first.isascii() and first.isdigit()) or int(first) <= 0:
            return None, "header_delay: header `x-envoy-fault-delay-request` " + (
                f"is `{given}`, not a delay in ms" if given is not None else "is absent")
        return int(first), f"{why}, {first} ms from header `x-envoy-fault-delay-request`"
    ms = duration_ms(delay.get("fixed_delay")) or 0
    return (ms, f"{why}, fixed_delay {ms} ms") if ms > 0 else (None, "fixed_delay is 0")


def abort_of(settings: dict[str, Any], ctx: FilterContext) -> tuple[int | None, int | None, str]:
    """``FaultFilter::abortHttpStatus``: (HTTP status, gRPC status, why); both None: no abort."""
    abort = settings.get("abort")
    if not isinstance(abort, dict):
        return None, None, ""
    numerator, denominator = fraction(abort.get("percentage"))
    if "header_abort" in abort:
        numerator = _header_numerator(ctx, "x-envoy-fault-abort-request-percentage", numerator)
    on, why = _draw(ctx, "abort", numerator, denominator)
    if not on:
        return None, None, why
    if "http_status" in abort:
        return int(abort["http_status"]), None, f"{why}, http_status {abort['http_status']}"
    if "grpc_status" in abort:
        return None, int(abort["grpc_status"]), f"{why}, grpc_status {abort['grpc_status']}"
    if "header_abort" in abort:
        http = (ctx.header("x-envoy-fault-abort-request") or "").split(",")[0].strip()
        grpc = (ctx.header("x-envoy-fault-abort-grpc-request") or "").split(",")[0].strip()
        code = int(http) if http.isascii() and http.isdigit() and 200 <= int(http) < 600 else None
        grpc_code = int(grpc) if grpc.isascii() and grpc.isdigit() else None
        if code is None and grpc_code is None:
            return None, None, ("header_abort: neither `x-envoy-fault-abort-request` (an HTTP status 200-599) nor "
                                "`x-envoy-fault-abort-grpc-request` is given")
        source = "x-envoy-fault-abort-request" if code is not None else "x-envoy-fault-abort-grpc-request"
        return code, grpc_code, f"{why}, status {http if code is not None else grpc} from header `{source}`"
    return None, None, "abort names no status"


def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    per_route = ctx.per_filter_config(name)
    settings, where = (per_route, "per-route fault") if per_route is not None else (config, "the filter's fault")
    if not settings.get("abort") and not settings.get("delay"):
        rate = " (response_rate_limit only slows the response)" if settings.get("response_rate_limit") else ""
        return FilterVerdict(name, TYPE, "pass", f"{where} injects no abort or delay{rate}")
    skip = _conditions(settings, ctx)
    if skip is not None:
        return FilterVerdict(name, TYPE, "pass", f"{where} does not apply: {skip}")
    assumptions: list[str] = []
    if settings.get("max_active_faults") is not None:
        assumptions.append("max_active_faults: no other fault assumed active")
    delay_ms, delay_why = delay_of(settings, ctx)
    code, grpc, abort_why = abort_of(settings, ctx)
    partial = [frac for key in ("delay", "abort") if isinstance(settings.get(key), dict)
               for frac in [fraction(settings[key].get("percentage"))] if 0 < frac[0] < frac[1]]
    if len(partial) == 2:
        assumptions.append("Envoy draws the delay and the abort separately; envoyscope uses --random-value for both")
    said = "; ".join(w for w in (delay_why, abort_why) if w)
    if code is not None or grpc is not None:
        flags = "DI,FI" if delay_ms else "FI"
        after = f" after a {delay_ms} ms delay" if delay_ms else ""
        status = code if code is not None else 200
        shown = f"{code}" if code is not None else f"200 with grpc-status {grpc}"
        return FilterVerdict(name, TYPE, "abort", f"{where}: {said}: Envoy answers {shown}{after} ({flags})",
                             policy=where, ends=True, outcome="fault_abort", response_code=status,
                             response_code_details=DETAILS, response_flags=flags, delay_ms=delay_ms,
                             assumptions=tuple(assumptions))
    if delay_ms:
        timeout = ""
        if ctx.route_timeout_ms and delay_ms > ctx.route_timeout_ms:
            timeout = (f"; longer than the route timeout ({ctx.route_timeout_ms} ms), which Envoy starts only when "
                       "the router gets the request, after the delay: the request goes on")
        return FilterVerdict(name, TYPE, "delay", f"{where}: {said}: the request waits {delay_ms} ms (DI){timeout}",
                             policy=where, response_flags="DI", delay_ms=delay_ms, assumptions=tuple(assumptions))
    return FilterVerdict(name, TYPE, "pass", f"{where}: {said}: no fault for this request",
                         assumptions=tuple(assumptions))


EVALUATORS = {TYPE: evaluate}
