"""Envoy's RBAC engine (``Filters::Common::RBAC``), shared by the HTTP and the network RBAC filter.

``RoleBasedAccessControlEngineImpl``: the policies are a map that Envoy keeps sorted by name (a ``std::map``), so
they are tried in byte order of their names and the first whose permissions *and* principals match is the
effective policy. ALLOW allows when one matched, DENY allows when none did, LOG always allows. The ``matcher``
form (``RoleBasedAccessControlMatcherEngineImpl``) walks an xDS matcher tree whose actions are named ALLOW /
DENY / LOG actions; no match denies.

Facts the matchers read (``Facts``) are those of Envoy's ``Network::Connection`` and ``StreamInfo``: the local
(destination) address, the connection's peer (``source_ip``), the direct peer (``direct_remote_ip``), the
downstream remote address the HCM derived from ``x-forwarded-for`` (``remote_ip``), the requested server name, the
TLS peer's URI / DNS SANs and subject, the request headers (HTTP only) and the dynamic metadata.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from envoyscope.engine.matchers import (
    HttpRequest,
    describe_string_match,
    header_matches,
    metadata_matches,
    string_match,
)
from envoyscope.engine.steps import NearMiss

ACTIONS = ("ALLOW", "DENY", "LOG")


@dataclass(frozen=True, slots=True)
class Facts:
    """What RBAC's matchers see of one connection (and, for HTTP, its request)."""

    dst_ip: str
    dst_port: int
    src_ip: str
    direct_remote_ip: str = ""
    remote_ip: str = ""
    sni: str = ""
    tls: bool = False
    uri_sans: tuple[str, ...] = ()
    dns_sans: tuple[str, ...] = ()
    subject: str = ""
    request: HttpRequest | None = None  # None: a network filter (no headers)
    metadata: dict[str, Any] = field(default_factory=dict)
    route_metadata: dict[str, Any] = field(default_factory=dict)
    filter_state: dict[str, str] = field(default_factory=dict)

    @property
    def principal(self) -> str:
        return (self.uri_sans or self.dns_sans or (self.subject,))[0]


@dataclass(frozen=True, slots=True)
class EngineResult:
    """One engine's decision: allowed or not, the effective policy (None: none matched), why, near misses."""

    allowed: bool
    policy: str | None
    reason: str
    near_misses: tuple[NearMiss, ...] = ()
    log: bool | None = None  # LOG rules: whether a policy matched (Envoy's envoy.common access_log_hint)
    assumptions: tuple[str, ...] = ()


def _empty_request() -> HttpRequest:
    return HttpRequest(authority="", path="", method="")


def _flag(value: Any) -> bool:
    if isinstance(value, dict):
        value = value.get("value", False)
    return bool(value)


def _cidr(spec: dict[str, Any]) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    length = spec.get("prefix_len", 0)
    if isinstance(length, dict):
        length = length.get("value", 0)
    try:
        address = ipaddress.ip_address(str(spec.get("address_prefix", "")))
        return ipaddress.ip_network(f"{address}/{int(length or 0)}", strict=False)
    except ValueError:
        return None


def _in_range(spec: dict[str, Any], ip: str) -> bool:
    net = _cidr(spec)
    try:
        addr = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return False
    if net is None:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None and net.version == 4:
        return False  # Envoy compares families: a v4-mapped v6 peer is not in a v4 range
    return addr.version == net.version and addr in net


def _cidr_text(spec: dict[str, Any]) -> str:
    length = spec.get("prefix_len", 0)
    if isinstance(length, dict):
        length = length.get("value", 0)
    return f"{spec.get('address_prefix', '')}/{int(length or 0)}"


def _path_matcher(spec: dict[str, Any]) -> dict[str, Any]:
    """``PathMatcher``: its ``path`` StringMatcher."""
    return dict(spec.get("path") or {})


# --- permissions ---------------------------------------------------------------------------------------------

def match_permission(perm: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    """(matched, why not) for one ``Permission``."""
    req = facts.request or _empty_request()
    if "any" in perm:
        return (True, "") if _flag(perm["any"]) else (False, "`any: false` never matches")
    if "and_rules" in perm:
        for rule in (perm["and_rules"] or {}).get("rules") or ():
            ok, why = match_permission(rule, facts)
            if not ok:
                return False, why
        return True, ""
    if "or_rules" in perm:
        whys = []
        for rule in (perm["or_rules"] or {}).get("rules") or ():
            ok, why = match_permission(rule, facts)
            if ok:
                return True, ""
            whys.append(why)
        return False, " and ".join(whys) if whys else "an empty or_rules matches nothing"
    if "not_rule" in perm:
        ok, _ = match_permission(perm["not_rule"] or {}, facts)
        return (not ok), "" if not ok else f"wants NOT ({describe_permission(perm['not_rule'] or {})}), which holds"
    if "header" in perm:
        return _header(perm["header"], req)
    if "url_path" in perm:
        return _url_path(perm["url_path"], facts)
    if "destination_ip" in perm:
        spec = perm["destination_ip"] or {}
        ok = _in_range(spec, facts.dst_ip)
        return ok, "" if ok else f"wants destination IP in {_cidr_text(spec)}, the connection's is {facts.dst_ip}"
    if "destination_port" in perm:
        want = int(perm["destination_port"] or 0)
        ok = facts.dst_port == want
        return ok, "" if ok else f"wants destination port {want}, the connection's is {facts.dst_port}"
    if "destination_port_range" in perm:
        rng = perm["destination_port_range"] or {}
        start, end = int(rng.get("start", 0)), int(rng.get("end", 0))
        ok = start <= facts.dst_port < end
        return ok, "" if ok else f"wants destination port in [{start}, {end}), the connection's is {facts.dst_port}"
    if "requested_server_name" in perm:
        spec = perm["requested_server_name"] or {}
        ok = string_match(spec, facts.sni)
        return ok, "" if ok else (f"wants requested server name {describe_string_match(spec)}, the connection's is "
                                  f"{f'`{facts.sni}`' if facts.sni else 'empty (no SNI)'}")
    if "metadata" in perm:
        return _metadata(perm["metadata"] or {}, facts, "DYNAMIC")
    if "sourced_metadata" in perm:
        spec = perm["sourced_metadata"] or {}
        return _metadata(spec.get("metadata_matcher") or {}, facts, str(spec.get("metadata_source", "DYNAMIC")))
    if "uri_template" in perm:
        return _uri_template(perm["uri_template"] or {}, facts)
    if "matcher" in perm:
        kind = str(((perm["matcher"] or {}).get("typed_config") or {}).get("@type", "")).rsplit("/", 1)[-1]
        return False, f"extension matcher {kind or '?'} is not evaluated by envoyscope (taken as not matching)"
    return False, "a permission with no rule"


def _header(spec: dict[str, Any], req: HttpRequest) -> tuple[bool, str]:
    ok, why = header_matches(spec, req)
    return ok, why.replace("the route wants", "the policy wants")


def _url_path(spec: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    matcher = _path_matcher(spec)
    if facts.request is None:
        return False, "url_path: a connection has no path"
    path = facts.request.path_only
    ok = string_match(matcher, path)
    return ok, "" if ok else f"wants path {describe_string_match(matcher)}, the request's is `{path}`"


def _uri_template(spec: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    from envoyscope.engine.uri_template import template_match

    template = str((spec.get("typed_config") or {}).get("path_template", ""))
    if facts.request is None:
        return False, "uri_template: a connection has no path"
    ok, _, invalid = template_match(template, facts.request.path_only)
    if invalid:
        return False, f"path template `{template}` is one Envoy rejects ({invalid})"
    return ok, "" if ok else f"wants path template `{template}`, the request's path is `{facts.request.path_only}`"


def _metadata(spec: dict[str, Any], facts: Facts, source: str) -> tuple[bool, str]:
    metadata = facts.route_metadata if source == "ROUTE" else facts.metadata
    req = HttpRequest(authority="", path="", metadata=metadata)
    ok, why = metadata_matches(spec, req)
    if ok:
        return True, ""
    where = "route metadata" if source == "ROUTE" else "dynamic metadata"
    return False, why.replace("dynamic metadata", where) + f", the policy wants {_describe_value(spec)}"


# --- principals ----------------------------------------------------------------------------------------------

def match_principal(prin: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    """(matched, why not) for one ``Principal``."""
    req = facts.request or _empty_request()
    if "any" in prin:
        return (True, "") if _flag(prin["any"]) else (False, "`any: false` never matches")
    if "and_ids" in prin:
        for one in (prin["and_ids"] or {}).get("ids") or ():
            ok, why = match_principal(one, facts)
            if not ok:
                return False, why
        return True, ""
    if "or_ids" in prin:
        whys = []
        for one in (prin["or_ids"] or {}).get("ids") or ():
            ok, why = match_principal(one, facts)
            if ok:
                return True, ""
            whys.append(why)
        return False, " and ".join(whys) if whys else "an empty or_ids matches nothing"
    if "not_id" in prin:
        ok, _ = match_principal(prin["not_id"] or {}, facts)
        return (not ok), "" if not ok else f"wants NOT ({describe_principal(prin['not_id'] or {})}), which holds"
    if "authenticated" in prin:
        return _authenticated(prin["authenticated"] or {}, facts)
    for key, ip, what in (("source_ip", facts.src_ip, "the connection's source IP"),
                          ("direct_remote_ip", facts.direct_remote_ip or facts.src_ip, "the direct remote IP"),
                          ("remote_ip", facts.remote_ip or facts.src_ip, "the remote IP (after x-forwarded-for)")):
        if key in prin:
            spec = prin[key] or {}
            ok = _in_range(spec, ip)
            return ok, "" if ok else f"wants {key} in {_cidr_text(spec)}, {what} is {ip}"
    if "header" in prin:
        return _header(prin["header"], req)
    if "url_path" in prin:
        return _url_path(prin["url_path"], facts)
    if "metadata" in prin:
        return _metadata(prin["metadata"] or {}, facts, "DYNAMIC")
    if "sourced_metadata" in prin:
        spec = prin["sourced_metadata"] or {}
        return _metadata(spec.get("metadata_matcher") or {}, facts, str(spec.get("metadata_source", "DYNAMIC")))
    if "filter_state" in prin:
        spec = prin["filter_state"] or {}
        key = str(spec.get("key", ""))
        value = facts.filter_state.get(key)
        if value is None:
            return False, (f"filter state `{key}` is not set on this connection (or set from what envoyscope "
                           "cannot evaluate)")
        ok = string_match(spec.get("string_match") or {}, value)
        return ok, "" if ok else f"filter state `{key}` is `{value}`"
    if "custom" in prin:
        kind = str(((prin["custom"] or {}).get("typed_config") or {}).get("@type", "")).rsplit("/", 1)[-1]
        return False, f"custom principal {kind or '?'} is not evaluated by envoyscope (taken as not matching)"
    return False, "a principal with no identifier"


def _authenticated(spec: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    """``AuthenticatedMatcher``: a TLS connection; with ``principal_name``, any URI SAN, then any DNS SAN, then the
    subject of the peer certificate must match (checked against Envoy 1.40)."""
    if not facts.tls:
        return False, "wants an authenticated (TLS) peer, the connection is plaintext"
    matcher = spec.get("principal_name")
    if not matcher:
        return True, ""
    for candidate in (*facts.uri_sans, *facts.dns_sans, facts.subject):
        if string_match(matcher, candidate):
            return True, ""
    have = facts.principal if (facts.uri_sans or facts.dns_sans or facts.subject) else ""
    shown = f"`{have}`" if have else "none (no client certificate)"
    return False, f"wants principal {describe_string_match(matcher)}, the request's is {shown}"


# --- policies ------------------------------------------------------------------------------------------------

def sorted_policies(rules: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Policies in Envoy's order: a ``std::map`` by name (byte order of the UTF-8 names)."""
    policies = rules.get("policies") or {}
    return sorted(((str(k), v or {}) for k, v in policies.items()), key=lambda kv: kv[0].encode())


def match_policy(policy: dict[str, Any], facts: Facts) -> tuple[bool, str]:
    """A policy matches when one of its permissions and one of its principals match (``PolicyMatcher``)."""
    permissions = policy.get("permissions") or ()
    principals = policy.get("principals") or ()
    whys = []
    for perm in permissions:
        ok, why = match_permission(perm, facts)
        if ok:
            break
        whys.append(why)
    else:
        return False, " and ".join(dict.fromkeys(whys)) if whys else "it has no permissions"
    whys = []
    for prin in principals:
        ok, why = match_principal(prin, facts)
        if ok:
            break
        whys.append(why)
    else:
        return False, " and ".join(dict.fromkeys(whys)) if whys else "it has no principals"
    return True, ""


def evaluate_rules(rules: dict[str, Any], facts: Facts) -> EngineResult:
    """``RoleBasedAccessControlEngineImpl::handleAction``."""
    action = str(rules.get("action", "ALLOW"))
    misses: list[NearMiss] = []
    matched = None
    assumptions: list[str] = []
    for name, policy in sorted_policies(rules):
        ok, why = match_policy(policy, facts)
        if ok and (policy.get("condition") or policy.get("checked_condition")):
            assumptions.append(f"policy `{name}` has a CEL condition envoyscope does not evaluate: assumed to hold")
        if ok:
            matched = name
            break
        misses.append(NearMiss(f"policy `{name}`", why, f"policies[{name}]"))
    count = len(rules.get("policies") or {})
    if action == "LOG":
        what = f"LOG policy `{matched}` matches (the request is logged)" if matched else "no LOG policy matches"
        return EngineResult(True, matched, f"{what}; LOG never denies", tuple(misses), log=matched is not None,
                            assumptions=tuple(assumptions))
    if action == "DENY":
        if matched:
            return EngineResult(False, matched, f"DENY policy `{matched}` matches", (), assumptions=tuple(assumptions))
        return EngineResult(True, None, f"none of the {count} DENY policies matches", tuple(misses))
    if matched:
        return EngineResult(True, matched, f"ALLOW policy `{matched}` matches", (), assumptions=tuple(assumptions))
    what = f"none of the {count} ALLOW policies matches" if count else "the ALLOW rules have no policies"
    return EngineResult(False, None, what, tuple(misses))


def response_detail(policy: str | None) -> str:
    """``RBAC::responseDetail``: whitespace in the policy name becomes ``_``; no policy is ``none``."""
    name = policy or "none"
    return "rbac_access_denied_matched_policy[" + "".join("_" if c in " \t\f\v\n\r" else c for c in name) + "]"


# --- words ---------------------------------------------------------------------------------------------------

def _describe_value(spec: dict[str, Any]) -> str:
    value = spec.get("value") or {}
    if "string_match" in value:
        return describe_string_match(value["string_match"])
    if "present_match" in value:
        return "it present" if value["present_match"] else "it absent"
    if "bool_match" in value:
        return f"`{str(value['bool_match']).lower()}`"
    if "list_match" in value:
        inner = (value["list_match"] or {}).get("one_of") or {}
        return "a list with one value " + (describe_string_match(inner["string_match"])
                                           if "string_match" in inner else "matching")
    return "a value"


def _describe_metadata(spec: dict[str, Any]) -> str:
    where = ".".join([str(spec.get("filter", ""))] + [str(p.get("key")) for p in spec.get("path") or ()])
    return f"{'NOT ' if spec.get('invert') else ''}metadata {where} {_describe_value(spec)}"


def _describe_header(spec: dict[str, Any]) -> str:
    name = str(spec.get("name", ""))
    invert = "NOT " if spec.get("invert_match") else ""
    for key, words in (("exact_match", "exactly"), ("prefix_match", "prefix"), ("suffix_match", "suffix"),
                       ("contains_match", "containing")):
        if key in spec:
            return f"{invert}{name} {words} `{spec[key]}`"
    if "safe_regex_match" in spec:
        return f"{invert}{name} regex `{(spec['safe_regex_match'] or {}).get('regex', '')}`"
    if "string_match" in spec:
        return f"{invert}{name} {describe_string_match(spec['string_match'])}"
    if "range_match" in spec:
        rng = spec["range_match"] or {}
        return f"{invert}{name} in [{rng.get('start', 0)}, {rng.get('end', 0)})"
    if "present_match" in spec:
        return f"{invert}{name} {'present' if spec['present_match'] else 'absent'}"
    return f"{invert}{name} present"


def _joined(items: list[str], word: str) -> str:
    return items[0] if len(items) == 1 else f" {word} ".join(f"({i})" for i in items)


def describe_permission(perm: dict[str, Any]) -> str:
    if "any" in perm:
        return "any request" if _flag(perm["any"]) else "nothing"
    if "and_rules" in perm:
        return _joined([describe_permission(r) for r in (perm["and_rules"] or {}).get("rules") or ()], "and")
    if "or_rules" in perm:
        return _joined([describe_permission(r) for r in (perm["or_rules"] or {}).get("rules") or ()], "or")
    if "not_rule" in perm:
        return f"NOT ({describe_permission(perm['not_rule'] or {})})"
    if "header" in perm:
        return "header " + _describe_header(perm["header"] or {})
    if "url_path" in perm:
        return f"path {describe_string_match(_path_matcher(perm['url_path'] or {}))}"
    if "destination_ip" in perm:
        return f"destination IP {_cidr_text(perm['destination_ip'] or {})}"
    if "destination_port" in perm:
        return f"destination port {perm['destination_port']}"
    if "destination_port_range" in perm:
        rng = perm["destination_port_range"] or {}
        return f"destination port in [{rng.get('start', 0)}, {rng.get('end', 0)})"
    if "requested_server_name" in perm:
        return f"SNI {describe_string_match(perm['requested_server_name'] or {})}"
    if "metadata" in perm:
        return _describe_metadata(perm["metadata"] or {})
    if "sourced_metadata" in perm:
        spec = perm["sourced_metadata"] or {}
        return _describe_metadata(spec.get("metadata_matcher") or {})
    if "uri_template" in perm:
        return f"path template `{((perm['uri_template'] or {}).get('typed_config') or {}).get('path_template', '')}`"
    if "matcher" in perm:
        return "extension matcher " + str(((perm["matcher"] or {}).get("typed_config") or {}).get("@type", "?"))
    return "(empty permission)"


def describe_principal(prin: dict[str, Any]) -> str:
    if "any" in prin:
        return "anyone" if _flag(prin["any"]) else "no one"
    if "and_ids" in prin:
        return _joined([describe_principal(p) for p in (prin["and_ids"] or {}).get("ids") or ()], "and")
    if "or_ids" in prin:
        return _joined([describe_principal(p) for p in (prin["or_ids"] or {}).get("ids") or ()], "or")
    if "not_id" in prin:
        return f"NOT ({describe_principal(prin['not_id'] or {})})"
    if "authenticated" in prin:
        matcher = (prin["authenticated"] or {}).get("principal_name")
        return f"principal {describe_string_match(matcher)}" if matcher else "any authenticated (TLS) peer"
    for key in ("source_ip", "direct_remote_ip", "remote_ip"):
        if key in prin:
            return f"{key} {_cidr_text(prin[key] or {})}"
    if "header" in prin:
        return "header " + _describe_header(prin["header"] or {})
    if "url_path" in prin:
        return f"path {describe_string_match(_path_matcher(prin['url_path'] or {}))}"
    if "metadata" in prin:
        return _describe_metadata(prin["metadata"] or {})
    if "sourced_metadata" in prin:
        return _describe_metadata((prin["sourced_metadata"] or {}).get("metadata_matcher") or {})
    if "filter_state" in prin:
        return f"filter state {(prin['filter_state'] or {}).get('key', '')}"
    if "custom" in prin:
        return "custom " + str(((prin["custom"] or {}).get("typed_config") or {}).get("@type", "?"))
    return "(empty principal)"
