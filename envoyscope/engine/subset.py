"""The subset load balancer: which hosts of a cluster a route's ``metadata_match`` may reach.

Envoy: ``SubsetLoadBalancer`` (source/extensions/load_balancing_policies/subset/subset_lb.cc). A cluster with
``lb_subset_config`` groups its hosts into subsets, one per ``subset_selectors`` entry and per combination of
values the hosts have under that selector's keys (``envoy.lb`` endpoint metadata). ``chooseHost`` looks up the
subset named by the route's ``metadata_match`` (``filter_metadata["envoy.lb"]``): it must have exactly the
criteria's keys, and hosts with those values. When there is none, or the route has no ``metadata_match``, the
selector's ``fallback_policy`` (for criteria with that selector's keys), else the cluster's ``fallback_policy``
decides: ``NO_FALLBACK`` (the default: no host, 503 UH), ``ANY_ENDPOINT`` (every host) or ``DEFAULT_SUBSET`` (the
hosts matching ``default_subset``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from envoyscope.engine.cluster import Endpoint

LB_FILTER = "envoy.lb"


@dataclass(frozen=True, slots=True)
class SubsetChoice:
    hosts: list[Endpoint]
    reason: str


def metadata_match_criteria(metadata_match: dict[str, Any] | None) -> dict[str, Any]:
    """A route's ``metadata_match`` criteria: the ``envoy.lb`` filter metadata, the only one Envoy reads here."""
    return dict(((metadata_match or {}).get("filter_metadata") or {}).get(LB_FILTER) or {})


def route_metadata_match(action: dict[str, Any], cluster: str) -> dict[str, Any] | None:
    """The criteria a route sends to ``cluster``: the route action's ``metadata_match``, and when the cluster is a
    weighted entry, that entry's merged over it — the entry's value wins for a key both name, as in Envoy's
    ``MetadataMatchCriteriaImpl::mergeMatchCriteria`` (``WeightedClusterEntry``)."""
    route = metadata_match_criteria(action.get("metadata_match"))
    entries = (action.get("weighted_clusters") or {}).get("clusters") or ()
    entry = next((e for e in entries if e.get("name") == cluster), None)
    if entry is None or not entry.get("metadata_match"):
        return action.get("metadata_match")
    merged = {**route, **metadata_match_criteria(entry.get("metadata_match"))}
    return {"filter_metadata": {LB_FILTER: merged}}


def host_metadata(endpoint: Endpoint) -> dict[str, Any]:
    raw = endpoint.raw or {}
    return dict(((raw.get("metadata") or {}).get("filter_metadata") or {}).get(LB_FILTER) or {})


def _has(endpoint: Endpoint, wanted: dict[str, Any]) -> bool:
    meta = host_metadata(endpoint)
    return all(key in meta and meta[key] == value for key, value in wanted.items())


def _describe(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(values.items())) + "}" if values else "{}"


def _fallback(policy: str, config: dict[str, Any], endpoints: list[Endpoint], why: str) -> SubsetChoice:
    if policy == "ANY_ENDPOINT":
        return SubsetChoice(list(endpoints), f"{why}; fallback_policy ANY_ENDPOINT: any host of the cluster")
    if policy == "DEFAULT_SUBSET":
        default = dict(config.get("default_subset") or {})
        hosts = [ep for ep in endpoints if _has(ep, default)]
        return SubsetChoice(hosts, f"{why}; fallback_policy DEFAULT_SUBSET: the hosts with {_describe(default)} "
                                   f"({len(hosts)})")
    return SubsetChoice([], f"{why}; fallback_policy NO_FALLBACK: no host (Envoy answers 503 UH)")


def choose_subset(config: dict[str, Any], endpoints: list[Endpoint], metadata_match: dict[str, Any] | None
                  ) -> SubsetChoice:
    """SubsetLoadBalancer::chooseHost, down to the hosts the cluster's load balancer then picks from."""
    criteria = metadata_match_criteria(metadata_match)
    cluster_policy = str(config.get("fallback_policy") or "NO_FALLBACK")
    if not criteria:
        return _fallback(cluster_policy, config, endpoints, "the route has no metadata_match")
    keys = set(criteria)
    selector = next((s for s in config.get("subset_selectors") or () if set(s.get("keys") or ()) == keys), None)
    if selector is not None:
        hosts = [ep for ep in endpoints if _has(ep, criteria)]
        if hosts:
            return SubsetChoice(hosts, f"metadata_match {_describe(criteria)} selects the subset of "
                                       f"{len(hosts)} host(s) with those envoy.lb values")
        why = f"no host has metadata_match {_describe(criteria)}"
        selector_policy = str(selector.get("fallback_policy") or "NOT_DEFINED")
        if selector_policy == "KEYS_SUBSET":
            subset = {k: v for k, v in criteria.items() if k in set(selector.get("fallback_keys_subset") or ())}
            hosts = [ep for ep in endpoints if _has(ep, subset)] if subset else []
            if hosts:
                return SubsetChoice(hosts, f"{why}; the selector's KEYS_SUBSET fallback: the {len(hosts)} host(s) "
                                           f"with {_describe(subset)}")
        if selector_policy not in ("NOT_DEFINED", "KEYS_SUBSET"):
            return _fallback(selector_policy, config, endpoints, f"{why} (the selector's own policy)")
        return _fallback(cluster_policy, config, endpoints, why)
    why = f"no subset_selectors entry has exactly the keys {sorted(keys)} of metadata_match {_describe(criteria)}"
    return _fallback(cluster_policy, config, endpoints, why)
