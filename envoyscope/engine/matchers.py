"""Envoy's request matchers: strings, headers, query parameters, runtime fractions.

Each returns whether it matched and, when it did not, one sentence saying why — the near miss a trace shows.
Semantics follow Envoy's ``Matchers::StringMatcherImpl``, ``HeaderUtility::matchHeaders`` and
``ConfigUtility::matchQueryParams``; regexes are RE2 (``google-re2``), as in Envoy.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

import re2

_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """An HTTP request as the router sees it: pseudo-headers plus the other headers (names lower-case)."""

    authority: str
    path: str
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "http"
    random_value: int = 0
    runtime: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # dynamic metadata by filter namespace
    client_cert: str = ""  # the downstream TLS client's certificate: "" (none or plaintext) | presented | validated

    def values(self, name: str) -> list[str]:
        name = name.lower()
        pseudo = {":authority": self.authority, "host": self.authority, ":path": self.path,
                  ":method": self.method, ":scheme": self.scheme}
        if name in pseudo:
            return [pseudo[name]]
        return [v for n, v in self.headers if n.lower() == name]

    def header(self, name: str) -> str | None:
        """All values of a header joined with commas, as ``getAllOfHeaderAsString``; None when absent."""
        found = self.values(name)
        return ",".join(found) if found else None

    @property
    def path_only(self) -> str:
        """The path without query string or fragment (``PathUtil::removeQueryAndFragment``)."""
        for sep in ("?", "#"):
            idx = self.path.find(sep)
            if idx >= 0:
                return self.path[:idx]
        return self.path

    @property
    def query(self) -> str:
        idx = self.path.find("?")
        if idx < 0:
            return ""
        return self.path[idx + 1:].split("#", 1)[0]


def regex_of(spec: Any) -> str:
    """The pattern of a ``RegexMatcher`` (or a bare string from old configs)."""
    if isinstance(spec, dict):
        return str(spec.get("regex", ""))
    return str(spec or "")


def full_match(pattern: str, value: str) -> bool:
    try:
        return re2.fullmatch(pattern, value) is not None
    except re2.error:
        return False


def string_match(matcher: dict[str, Any], value: str) -> bool:
    """``StringMatcher``: exact, prefix, suffix, contains, safe_regex; ``ignore_case`` except for regexes."""
    ignore = bool(matcher.get("ignore_case"))
    subject = value.lower() if ignore else value
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in matcher:
            want = str(matcher[key])
            want = want.lower() if ignore else want
            if key == "exact":
                return subject == want
            if key == "prefix":
                return subject.startswith(want)
            if key == "suffix":
                return subject.endswith(want)
            return want in subject
    if "safe_regex" in matcher:
        return full_match(regex_of(matcher["safe_regex"]), value)
    return False


def describe_string_match(matcher: dict[str, Any]) -> str:
    for key in ("exact", "prefix", "suffix", "contains"):
        if key in matcher:
            return f"{key} `{matcher[key]}`" + (" (ignoring case)" if matcher.get("ignore_case") else "")
    if "safe_regex" in matcher:
        return f"regex `{regex_of(matcher['safe_regex'])}`"
    return "(empty matcher)"


def _header_kind(spec: dict[str, Any]) -> tuple[str, Any]:
    for key in ("exact_match", "safe_regex_match", "range_match", "present_match", "prefix_match", "suffix_match",
                "contains_match", "string_match"):
        if key in spec:
            return key, spec[key]
    return "present_match", True  # no specifier: Envoy matches on presence


def header_matches(spec: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """One ``HeaderMatcher`` against the request (``HeaderUtility::matchHeaders``)."""
    name = str(spec.get("name", ""))
    invert = bool(spec.get("invert_match"))
    treat_missing = bool(spec.get("treat_missing_header_as_empty"))
    kind, want = _header_kind(spec)
    value = request.header(name)
    if value is None and not treat_missing:
        ok = bool(want) and invert or not want and not invert if kind == "present_match" else False
        return ok, "" if ok else f"header `{name}` is absent"
    subject = value if value is not None else ""
    if kind == "exact_match":
        ok, wants = subject == str(want), f"exactly `{want}`"
    elif kind == "safe_regex_match":
        ok, wants = full_match(regex_of(want), subject), f"regex `{regex_of(want)}`"
    elif kind == "range_match":
        start, end = int(want.get("start", 0)), int(want.get("end", 0))
        try:
            number = int(subject)
            ok = start <= number < end and subject.strip() == subject
        except ValueError:
            ok = False
        wants = f"an integer in [{start}, {end})"
    elif kind == "present_match":
        ok, wants = bool(want), "absent" if not want else "present"
    elif kind == "prefix_match":
        ok, wants = subject.startswith(str(want)), f"prefix `{want}`"
    elif kind == "suffix_match":
        ok, wants = subject.endswith(str(want)), f"suffix `{want}`"
    elif kind == "contains_match":
        ok, wants = str(want) in subject, f"to contain `{want}`"
    elif kind == "string_match":
        ok, wants = string_match(want, subject), describe_string_match(want)
    ok = ok != invert
    if ok:
        return True, ""
    shown = f"`{subject}`" if value is not None else "absent (treated as empty)"
    return False, f"header `{name}` is {shown}, the route wants {'NOT ' if invert else ''}{wants}"


def parse_query(query: str) -> dict[str, str]:
    """The first value of each query parameter, decoded (``Utility::QueryParamsMulti`` + first value)."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        params.setdefault(unquote_plus(name), unquote_plus(value))
    return params


def query_matches(spec: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """One ``QueryParameterMatcher``."""
    name = str(spec.get("name", ""))
    params = parse_query(request.query)
    if "present_match" in spec:
        ok = (name in params) == bool(spec["present_match"])
        return ok, "" if ok else f"query parameter `{name}` is {'absent' if name not in params else 'present'}"
    if name not in params:
        return False, f"query parameter `{name}` is absent"
    matcher = spec.get("string_match") or {}
    if not matcher:
        return True, ""
    ok = string_match(matcher, params[name])
    return ok, "" if ok else (f"query parameter `{name}` is `{params[name]}`, the route wants "
                              f"{describe_string_match(matcher)}")


def runtime_fraction_matches(spec: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """``runtime_fraction``: enabled when ``random_value % denominator < numerator`` (runtime may override)."""
    default = spec.get("default_value") or {}
    numerator = int(default.get("numerator", 0))
    denominator = _DENOMINATORS.get(str(default.get("denominator", "HUNDRED")), 100)
    key = spec.get("runtime_key")
    if key and key in request.runtime:
        override = request.runtime[key]
        if override is True:  # the key is switched fully on (router_check_tool's `runtime` input)
            return True, ""
        numerator = int(override) if not isinstance(override, dict) else int(override.get("numerator", numerator))
    ok = request.random_value % denominator < numerator
    return ok, "" if ok else (f"runtime fraction {numerator}/{denominator}: random value {request.random_value} "
                              f"falls outside it (pass --random-value)")


def value_matches(matcher: dict[str, Any], value: Any) -> bool:
    """``ValueMatcher`` over a metadata value (None when the path leads nowhere)."""
    if "present_match" in matcher:
        return (value is not None) == bool(matcher["present_match"])
    if value is None:
        return "null_match" in matcher
    if "string_match" in matcher:
        return isinstance(value, str) and string_match(matcher["string_match"], value)
    if "bool_match" in matcher:
        return isinstance(value, bool) and value == bool(matcher["bool_match"])
    if "double_match" in matcher:
        spec = matcher["double_match"]
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if "exact" in spec:
            return float(value) == float(spec["exact"])
        rng = spec.get("range") or {}
        return float(rng.get("start", float("-inf"))) <= float(value) < float(rng.get("end", float("inf")))
    if "or_match" in matcher:
        return any(value_matches(m, value) for m in matcher["or_match"].get("value_matchers") or ())
    if "list_match" in matcher:
        inner = matcher["list_match"].get("one_of") or {}
        return isinstance(value, list) and any(value_matches(inner, v) for v in value)
    return False


def metadata_matches(spec: dict[str, Any], request: HttpRequest) -> tuple[bool, str]:
    """``MetadataMatcher`` on the request's dynamic metadata (``filter`` namespace, then ``path`` keys)."""
    value: Any = request.metadata.get(str(spec.get("filter", "")))
    for segment in spec.get("path") or ():
        value = value.get(str(segment.get("key"))) if isinstance(value, dict) else None
    ok = value_matches(spec.get("value") or {}, value) != bool(spec.get("invert"))
    where = ".".join([str(spec.get("filter", ""))] + [str(p.get("key")) for p in spec.get("path") or ()])
    return ok, "" if ok else f"dynamic metadata `{where}` is {value!r}"


def longest_ip_range(range_matchers: Any, value: str) -> tuple[int, dict[str, Any]] | None:
    """``xds.type.matcher.v3.IPMatcher``'s ``range_matchers``: the entry whose range holding ``value`` is the longest
    prefix, with that prefix length; None when no range holds it (or ``value`` is not an address)."""
    try:
        addr = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return None
    best: tuple[int, dict[str, Any]] | None = None
    for entry in range_matchers or ():
        for cidr in entry.get("ranges") or ():
            try:
                net = ipaddress.ip_network(f"{cidr.get('address_prefix')}/{int(cidr.get('prefix_len', 0) or 0)}",
                                           strict=False)
            except ValueError:
                continue
            if addr.version == net.version and addr in net and (best is None or net.prefixlen > best[0]):
                best = (net.prefixlen, entry)
    return best
