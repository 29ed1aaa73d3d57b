"""Envoy 1.10–1.16 spellings of fields that v3 renamed or removed, brought to the v3 spelling once.

Envoy 1.14–1.16 converted v2 resources to v3 internally and dumped the v2-only fields under their v3
"shadow" names, ``hidden_envoy_deprecated_<field>``: ``…_use_original_dst`` on Istio's virtual outbound
listener, ``…_tls_context`` on filter chains and clusters, ``…_hosts``, ``…_config`` on filters,
``…_verify_subject_alt_name``, ``…_regex`` on route matches, ``…_request_mirror_policy``. Envoy <= 1.16
read a listener's ``bind_to_port`` from ``deprecated_v1``. v2 resources (Envoy <= 1.13, Istio <= 1.5)
wrote some of the same fields under their v2 names. `upgrade_deprecated` rewrites all of them into what
v3 Envoy writes, so the engine knows one spelling; `envoyscope.model.normalize.upgrade_v2` then handles
the v2 messages themselves (``tls_context`` → ``transport_socket``, ``hosts`` → ``load_assignment``,
``config`` → ``typed_config``).
"""

from __future__ import annotations

from typing import Any

import orjson

HIDDEN = "hidden_envoy_deprecated_"
_MARKERS = (b'"hidden_envoy_deprecated_', b'"hiddenEnvoyDeprecated', b'"deprecated_v1"', b'"deprecatedV1"',
            b'"verify_subject_alt_name"', b'"regex_match"', b'"host_rewrite"', b'"auto_host_rewrite_header"',
            b'"request_mirror_policy"', b'"sni_domains"')
# Fields whose keys are user data (maps, Structs): never renamed.
_OPAQUE = frozenset({"filter_metadata", "typed_filter_metadata", "labels", "fields", "static_layer", "metadata"})
# v2 names of RouteAction fields renamed in v3.
_ROUTE_ACTION_RENAMES = {"host_rewrite": "host_rewrite_literal", "auto_host_rewrite_header": "host_rewrite_header"}
_ROUTE_ACTION_KEYS = frozenset({"cluster", "weighted_clusters", "cluster_header", "cluster_specifier_plugin"})


def has_deprecated(resource: dict[str, Any]) -> bool:
    """Whether the resource may hold a deprecated spelling (a quick scan of its JSON)."""
    try:
        text = orjson.dumps(resource)
    except TypeError:
        return True
    return any(marker in text for marker in _MARKERS)


def upgrade_deprecated(value: Any, parent: str = "") -> Any:
    """A copy of ``value`` (snake_case) with every deprecated spelling in its v3 form; ``parent``: its field name."""
    if isinstance(value, list):
        return [upgrade_deprecated(item, parent) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, child in value.items():
        name = key.removeprefix(HIDDEN)
        if name in out and name != key:
            continue  # both spellings: the v3 one wins
        out[name] = child if name in _OPAQUE else upgrade_deprecated(child, name)
    _fix_fields(out, parent)
    return out


def _fix_fields(out: dict[str, Any], parent: str) -> None:
    """The fields whose v3 form is not a mere rename, in one message (``out``, held under field ``parent``)."""
    v1 = out.get("deprecated_v1")
    if isinstance(v1, dict) and "bind_to_port" in v1 and ("address" in out or "filter_chains" in out):
        out.pop("deprecated_v1")  # Listener.DeprecatedV1: Envoy <= 1.16 read bind_to_port only there
        out.setdefault("bind_to_port", v1["bind_to_port"])
    sans = out.get("verify_subject_alt_name")
    if isinstance(sans, list):
        out.pop("verify_subject_alt_name")
        matchers = [{"exact": str(san)} for san in sans]
        out["match_subject_alt_names"] = [*(out.get("match_subject_alt_names") or []), *matchers]
    if isinstance(out.get("regex_match"), str) and "safe_regex_match" not in out:  # HeaderMatcher
        out["safe_regex_match"] = {"google_re2": {}, "regex": out.pop("regex_match")}
    if parent == "match" and isinstance(out.get("regex"), str) and "safe_regex" not in out:  # RouteMatch
        out["safe_regex"] = {"google_re2": {}, "regex": out.pop("regex")}
    if parent == "route" and _ROUTE_ACTION_KEYS & out.keys():
        for old, new in _ROUTE_ACTION_RENAMES.items():
            if old in out and new not in out:
                out[new] = out.pop(old)
        mirror = out.get("request_mirror_policy")  # v2's one mirror, v3's list of them
        if isinstance(mirror, dict):
            out.pop("request_mirror_policy")
            out["request_mirror_policies"] = [*(out.get("request_mirror_policies") or []), mirror]
    if parent == "filter_chain_match" and isinstance(out.get("sni_domains"), list) and "server_names" not in out:
        out["server_names"] = out.pop("sni_domains")  # Envoy <= 1.7's name for server_names
