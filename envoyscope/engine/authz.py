"""A proxy's authorization policies, read from its RBAC filters' typed configs: ``envoyscope authz``.

Every HTTP RBAC filter of every HCM and every network RBAC filter before tcp_proxy / the HCM, and the
RBACPerRoute configs of route configurations; the same filter config repeated on many filter chains (as Istio
writes it on every inbound chain) is listed once, with where it is. Policies are listed in Envoy's order (by
name); shadow rules are listed as such. A config Envoy refuses is one row saying why, in Envoy's words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from envoyscope.engine.http_filters.base import type_name
from envoyscope.engine.http_filters.rbac import HTTP_TYPES, NETWORK_TYPES, PER_ROUTE
from envoyscope.engine.http_filters.rbac_engine import describe_permission, describe_principal, sorted_policies
from envoyscope.engine.http_filters.rbac_validate import rbac_problem
from envoyscope.engine.http_filters.run import unwrap
from envoyscope.model.dump import ConfigDump


@dataclass(frozen=True, slots=True)
class PolicyRow:
    proxy: str
    filter: str  # the filter's name (or ``route RNAME`` for a per-route config)
    where: str  # the listeners / chains holding it
    layer: str  # http | network | route
    action: str  # ALLOW | DENY | LOG | shadow ALLOW … | matcher | invalid
    name: str
    rules: str
    principals: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "filter": self.filter, "where": self.where, "layer": self.layer,
                "action": self.action, "name": self.name, "rules": self.rules, "principals": list(self.principals),
                "permissions": list(self.permissions)}


def _rows_of(proxy: str, filter_name: str, where: str, layer: str, config: dict[str, Any]) -> list[PolicyRow]:
    problem = rbac_problem(config, network=layer == "network")
    if problem:
        return [PolicyRow(proxy, filter_name, where, layer, "invalid", "-", f"Envoy refuses it: {problem}")]
    rows: list[PolicyRow] = []
    for key, prefix in (("rules", ""), ("shadow_rules", "shadow ")):
        rules = config.get(key)
        if not isinstance(rules, dict):
            continue
        action = prefix + str(rules.get("action", "ALLOW"))
        policies = sorted_policies(rules)
        if not policies:
            rows.append(PolicyRow(proxy, filter_name, where, layer, action, "(no policies)",
                                  "denies everything" if action == "ALLOW" else "matches nothing"))
        for name, policy in policies:
            perms, prins = policy.get("permissions") or [], policy.get("principals") or []
            rows.append(PolicyRow(proxy, filter_name, where, layer, action, name,
                                  f"{len(perms)} permission{'s' * (len(perms) != 1)}, {len(prins)} principal"
                                  f"{'s' * (len(prins) != 1)}" + (", a CEL condition" if policy.get("condition")
                                                                   else ""),
                                  tuple(describe_principal(p) for p in prins),
                                  tuple(describe_permission(p) for p in perms)))
    for key, prefix in (("matcher", ""), ("shadow_matcher", "shadow ")):
        if isinstance(config.get(key), dict):
            rows.append(PolicyRow(proxy, filter_name, where, layer, prefix + "matcher", "(matcher tree)",
                                  "actions chosen by an xDS matcher tree"))
    if not rows:
        rows.append(PolicyRow(proxy, filter_name, where, layer, "-", "(no rules)", "allows everything"))
    return rows


def policy_rows(dump: ConfigDump) -> list[PolicyRow]:
    proxy = dump.identity.name
    found: dict[tuple[str, str, str], list[str]] = {}
    configs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for listener in dump.active_listeners():
        chains = list(listener.raw.get("filter_chains") or ())
        if listener.raw.get("default_filter_chain"):
            chains.append(listener.raw["default_filter_chain"])
        for index, chain in enumerate(chains):
            label = f"{listener.name}/{chain.get('name') or index}"
            for filt in chain.get("filters") or ():
                tname = type_name(filt.get("typed_config") or {})
                if tname in NETWORK_TYPES:
                    _note(found, configs, ("network", str(filt.get("name", "")), label), unwrap(filt))
                typed = unwrap(filt)
                for hfilt in typed.get("http_filters") or () if isinstance(typed, dict) else ():
                    if type_name(hfilt.get("typed_config") or {}) in HTTP_TYPES:
                        _note(found, configs, ("http", str(hfilt.get("name", "")), label), unwrap(hfilt))
    for config in dump.route_configs:
        for vhost in config.raw.get("virtual_hosts") or ():
            for route in vhost.get("routes") or ():
                for fname, per in (route.get("typed_per_filter_config") or {}).items():
                    inner = per.get("config", per) if isinstance(per, dict) else {}
                    if type_name(inner) in PER_ROUTE:
                        label = f"route {config.name}/{vhost.get('name', '')}/{route.get('name', '')}"
                        _note(found, configs, ("route", fname, label), dict(inner.get("rbac") or {}))
    rows: list[PolicyRow] = []
    for key, places in found.items():
        layer, name, blob = key
        where = places[0] if len(places) == 1 else f"{places[0]} and {len(places) - 1} more"
        rows += _rows_of(proxy, name if layer != "route" else f"{name} (per route)", where, layer, configs[key])
    return rows


def _note(found: dict[tuple[str, str, str], list[str]], configs: dict[tuple[str, str, str], dict[str, Any]],
          where: tuple[str, str, str], config: dict[str, Any]) -> None:
    layer, name, label = where
    key = (layer, name, json.dumps(config, sort_keys=True))
    configs[key] = config
    found.setdefault(key, []).append(label)
