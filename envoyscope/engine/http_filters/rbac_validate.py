"""Which RBAC configs Envoy refuses, in Envoy's words (one line).

Two kinds of refusal, both checked against Envoy 1.40 (``envoy --mode validate``; tests/proof/test_rbac_vs_envoy.py):
the proto constraints (protoc-gen-validate: a permission or principal with no rule, a policy with no permissions
or principals, an empty and/or set, a port above 65535, an empty header name or string matcher, a metadata
matcher without path), which Envoy reports as a chain ``XValidationError.Field: embedded message failed
validation`` / ``caused by …`` (joined here with ``; ``); and what the filter's factory refuses when it builds the
matchers (an RE2 regex that does not compile, a malformed CIDR address, an empty port range, a header rule in the
network filter).
"""

from __future__ import annotations

import ipaddress
from typing import Any

import re2

_EMBEDDED = "embedded message failed validation"


class _Refused(Exception):
    def __init__(self, chain: list[str]) -> None:
        super().__init__("; caused by ".join(chain))
        self.chain = chain


def _wrap(label: str, fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except _Refused as inner:
        raise _Refused([f"{label}: {_EMBEDDED}", *inner.chain]) from None


def _string_matcher(spec: Any, label_prefix: str = "StringMatcherValidationError") -> None:
    if not isinstance(spec, dict) or not any(k in spec for k in ("exact", "prefix", "suffix", "contains",
                                                                  "safe_regex", "custom")):
        raise _Refused(['field: "match_pattern", reason: is required'])
    for key in ("prefix", "suffix", "contains"):
        if key in spec and not str(spec[key]):
            raise _Refused([f"{label_prefix}.{key.capitalize()}: value length must be at least 1 characters"])
    if "safe_regex" in spec:
        _regex(spec["safe_regex"])


def _regex(spec: Any) -> None:
    pattern = str((spec or {}).get("regex", "")) if isinstance(spec, dict) else str(spec or "")
    if not pattern:
        raise _Refused([f"StringMatcherValidationError.SafeRegex: {_EMBEDDED}",
                        "RegexMatcherValidationError.Regex: value length must be at least 1 characters"])
    _compile(pattern)


class _Factory(Exception):
    """A refusal of the filter factory (not a proto constraint): one message, no chain."""


_PHASE = {"factory": False}  # Envoy validates the proto constraints of the whole config before building it


def _factory(message: str) -> None:
    if _PHASE["factory"]:
        raise _Factory(message)


def _compile(pattern: str) -> None:
    if not _PHASE["factory"]:
        return
    options = re2.Options()
    options.log_errors = False  # RE2 would print the error on stderr besides raising it
    try:
        re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else str(exc)
        _factory(detail.decode() if isinstance(detail, bytes) else str(detail))


def _header(spec: Any) -> None:
    spec = spec or {}
    if not str(spec.get("name", "")):
        raise _Refused(["HeaderMatcherValidationError.Name: value length must be at least 1 characters"])
    if "safe_regex_match" in spec:
        _compile(str((spec["safe_regex_match"] or {}).get("regex", "")))
    if "string_match" in spec:
        _wrap("HeaderMatcherValidationError.StringMatch", _string_matcher, spec["string_match"])
    if "range_match" in spec:
        rng = spec["range_match"] or {}
        if int(rng.get("start", 0)) >= int(rng.get("end", 0)):
            _factory(f"range start {rng.get('start', 0)} cannot be greater or equal than range end "
                           f"{rng.get('end', 0)}")


def _cidr(spec: Any) -> None:
    spec = spec or {}
    address = str(spec.get("address_prefix", ""))
    if not address:
        raise _Refused(["CidrRangeValidationError.AddressPrefix: value length must be at least 1 characters"])
    length = spec.get("prefix_len", 0)
    if isinstance(length, dict):
        length = length.get("value", 0)
    if int(length or 0) > 128:
        raise _Refused(["CidrRangeValidationError.PrefixLen: value must be less than or equal to 128"])
    try:
        ipaddress.ip_address(address)
    except ValueError:
        _factory(f"Failed to create CIDR range: malformed IP address: {address}")


def _metadata(spec: Any) -> None:
    spec = spec or {}
    if not str(spec.get("filter", "")):
        raise _Refused(["MetadataMatcherValidationError.Filter: value length must be at least 1 characters"])
    if not spec.get("path"):
        raise _Refused(["MetadataMatcherValidationError.Path: value must contain at least 1 item(s)"])
    if not spec.get("value"):
        raise _Refused(['MetadataMatcherValidationError.Value: value is required'])
    value = spec["value"]
    if "string_match" in value:
        _wrap("MetadataMatcherValidationError.Value", lambda: _wrap("ValueMatcherValidationError.StringMatch",
                                                                    _string_matcher, value["string_match"]))


def _permission(perm: Any, network: bool) -> None:
    perm = perm or {}
    rules = ("and_rules", "or_rules", "any", "header", "url_path", "destination_ip", "destination_port",
             "destination_port_range", "metadata", "not_rule", "requested_server_name", "matcher", "uri_template",
             "sourced_metadata")
    if not any(k in perm for k in rules):
        raise _Refused(['field: "rule", reason: is required'])
    if "and_rules" in perm or "or_rules" in perm:
        key = "and_rules" if "and_rules" in perm else "or_rules"
        label = "PermissionValidationError." + ("AndRules" if key == "and_rules" else "OrRules")
        _wrap(label, _set, (perm[key] or {}).get("rules") or [], "rules", _permission, network)
    elif "not_rule" in perm:
        _wrap("PermissionValidationError.NotRule", _permission, perm["not_rule"], network)
    elif "header" in perm:
        if network:
            _factory(f"Found header({_proto_text(perm['header'])}) rule,not supported by RBAC network filter")
        _wrap("PermissionValidationError.Header", _header, perm["header"])
    elif "destination_ip" in perm:
        _wrap("PermissionValidationError.DestinationIp", _cidr, perm["destination_ip"])
    elif "destination_port" in perm and int(perm["destination_port"] or 0) > 65535:
        raise _Refused(["PermissionValidationError.DestinationPort: value must be less than or equal to 65535"])
    elif "destination_port_range" in perm:
        rng = perm["destination_port_range"] or {}
        if int(rng.get("start", 0)) >= int(rng.get("end", 0)):
            _factory(f"range start {rng.get('start', 0)} cannot be greater or equal than range end "
                           f"{rng.get('end', 0)}")
    elif "requested_server_name" in perm:
        _wrap("PermissionValidationError.RequestedServerName", _string_matcher, perm["requested_server_name"])
    elif "url_path" in perm:
        _wrap("PermissionValidationError.UrlPath", _path, perm["url_path"])
    elif "metadata" in perm:
        _wrap("PermissionValidationError.Metadata", _metadata, perm["metadata"])


def _path(spec: Any) -> None:
    spec = spec or {}
    if "path" not in spec:
        raise _Refused(['field: "rule", reason: is required'])
    _wrap("PathMatcherValidationError.Path", _string_matcher, spec["path"])


def _principal(prin: Any, network: bool) -> None:
    prin = prin or {}
    ids = ("and_ids", "or_ids", "any", "authenticated", "source_ip", "direct_remote_ip", "remote_ip", "header",
           "url_path", "metadata", "filter_state", "not_id", "sourced_metadata", "custom")
    if not any(k in prin for k in ids):
        raise _Refused(['field: "identifier", reason: is required'])
    if "and_ids" in prin or "or_ids" in prin:
        key = "and_ids" if "and_ids" in prin else "or_ids"
        label = "PrincipalValidationError." + ("AndIds" if key == "and_ids" else "OrIds")
        _wrap(label, _set, (prin[key] or {}).get("ids") or [], "ids", _principal, network)
    elif "not_id" in prin:
        _wrap("PrincipalValidationError.NotId", _principal, prin["not_id"], network)
    elif "authenticated" in prin:
        matcher = (prin["authenticated"] or {}).get("principal_name")
        if matcher is not None:
            _wrap("PrincipalValidationError.Authenticated", lambda: _wrap(
                "AuthenticatedValidationError.PrincipalName", _string_matcher, matcher))
    elif "header" in prin:
        if network:
            _factory(f"Found header({_proto_text(prin['header'])}) rule,not supported by RBAC network filter")
        _wrap("PrincipalValidationError.Header", _header, prin["header"])
    elif any(k in prin for k in ("source_ip", "direct_remote_ip", "remote_ip")):
        key = next(k for k in ("source_ip", "direct_remote_ip", "remote_ip") if k in prin)
        _wrap("PrincipalValidationError." + "".join(p.capitalize() for p in key.split("_")), _cidr, prin[key])
    elif "url_path" in prin:
        _wrap("PrincipalValidationError.UrlPath", _path, prin["url_path"])
    elif "metadata" in prin:
        _wrap("PrincipalValidationError.Metadata", _metadata, prin["metadata"])


def _set(items: list[Any], field: str, check: Any, network: bool) -> None:
    if not items:
        raise _Refused([f"SetValidationError.{field.capitalize()}: value must contain at least 1 item(s)"])
    for index, item in enumerate(items):
        _wrap(f"SetValidationError.{field.capitalize()}[{index}]", check, item, network)


def _policy(policy: Any, network: bool) -> None:
    policy = policy or {}
    if not policy.get("permissions"):
        raise _Refused(["PolicyValidationError.Permissions: value must contain at least 1 item(s)"])
    if not policy.get("principals"):
        raise _Refused(["PolicyValidationError.Principals: value must contain at least 1 item(s)"])
    for index, perm in enumerate(policy["permissions"]):
        _wrap(f"PolicyValidationError.Permissions[{index}]", _permission, perm, network)
    for index, prin in enumerate(policy["principals"]):
        _wrap(f"PolicyValidationError.Principals[{index}]", _principal, prin, network)


def _rules(rules: Any, network: bool) -> None:
    rules = rules or {}
    if str(rules.get("action", "ALLOW")) not in ("ALLOW", "DENY", "LOG"):
        _factory(f"unknown enum value: '{rules.get('action')}'")
    for name, policy in sorted((rules.get("policies") or {}).items()):
        _wrap(f"RBACValidationError.Policies[{name}]", _policy, policy, network)


def _proto_text(spec: dict[str, Any]) -> str:
    """A message as protobuf's debug text writes it on one line (``name: "x" present_match: true``)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, dict):
            return "{ " + _proto_text(v) + " }"
        return str(v) if isinstance(v, int | float) else '"' + str(v) + '"'

    return " ".join(f"{k}: {value(v)}" for k, v in (spec or {}).items())


def rbac_problem(config: dict[str, Any], network: bool = False) -> str | None:
    """Why Envoy refuses this RBAC filter config (the HTTP or network filter's ``RBAC``), or None."""
    try:
        for phase in (False, True):
            _PHASE["factory"] = phase
            _check(config, network)
    except _Refused as refused:
        return "Proto constraint validation failed (" + "; caused by ".join(refused.chain) + ")"
    except _Factory as factory:
        return str(factory)
    finally:
        _PHASE["factory"] = False
    return None


def _check(config: dict[str, Any], network: bool) -> None:
    if True:
        for key, label in (("rules", "RBACValidationError.Rules"), ("shadow_rules", "RBACValidationError.ShadowRules")):
            if isinstance(config.get(key), dict):
                _wrap(label, _rules, config[key], network)
