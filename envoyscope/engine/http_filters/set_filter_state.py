"""``set_filter_state``, the HTTP filter (``on_request_headers``) and the network filter (``on_new_connection``):
named filter state objects set from format strings, for later filters and — when ``shared_with_upstream`` is
``ONCE`` or ``TRANSITIVE`` — for the upstream connection (an internal listener reads them there).

Istio's waypoint sets, on ``connect_terminate``'s CONNECT stream, the destination (``original_dst.local_ip`` from
the CONNECT authority), the client's address, and the client's identity ``io.istio.peer_principal`` from
``%DOWNSTREAM_PEER_URI_SAN%`` — the HBONE client certificate, which the internal listener's connection no longer
has (its RBAC matches ``filter_state`` there, not ``authenticated``). The filter never answers a request itself.
"""

from __future__ import annotations

from typing import Any

from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict
from envoyscope.engine.internal_listener import filter_state_entries

HTTP_TYPE = "envoy.extensions.filters.http.set_filter_state.v3.Config"
NETWORK_TYPE = "envoy.extensions.filters.network.set_filter_state.v3.Config"


def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    hook, kind = ("on_request_headers", HTTP_TYPE) if ctx.http else ("on_new_connection", NETWORK_TYPE)
    state = dict(ctx.wire.filter_state)
    peer = ctx.peer.uri_sans if ctx.peer is not None else None
    entries = filter_state_entries(config, hook, ctx.wire, state, peer)
    changes, unknown = [], []
    for key, template, value, sharing in entries:
        if value is None:
            unknown.append(f"`{key}` from `{template}` (not evaluated by envoyscope)")
            continue
        shared = f", shared with the upstream connection ({sharing})" if sharing in ("ONCE", "TRANSITIVE") else ""
        changes.append(f"filter state {key} = {value!r} (from {template}){shared}")
    known = [key for key, _t, value, _s in entries if value is not None]
    reason = f"set_filter_state ({hook}) sets " + (", ".join(f"`{k}`" for k in known) if known else "nothing")
    if unknown:
        reason += "; also " + "; ".join(unknown)
    return FilterVerdict(name, kind, "pass", reason, changes=tuple(changes))


EVALUATORS = {HTTP_TYPE: evaluate, NETWORK_TYPE: evaluate}
