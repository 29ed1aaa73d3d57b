"""Helpers every summary shares: Istio's subset keys, the config behind a resource, route matches, shape errors.

Summaries read the raw (snake_case, v3) JSON of the dump, never protobuf: they must stay linear and cheap on a
dump of 9,000 clusters.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from envoyscope.errors import DumpFormatError
from envoyscope.model.dump import Resource

Json = dict[str, Any]


class SubsetKey(NamedTuple):
    """``direction|port|subset|host`` as istioctl splits it (port 0 when it is not a number)."""

    direction: str
    subset: str
    host: str
    port: int


def _atoi(text: str) -> int:
    """A decimal integer, or 0 (what Go's strconv.Atoi leaves behind on failure)."""
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.isascii() or not body.isdigit():
        return 0
    return int(text)


def parse_subset_key(name: str) -> SubsetKey:
    """Split ``outbound|80|v1|reviews.default.svc.cluster.local`` (or its ``outbound_.80_.v1_.`` SNI form)."""
    sep = "_." if name.startswith(("outbound_.", "inbound_.")) else "|"
    direction, found, rest = name.partition(sep)
    if not found:
        return SubsetKey("", "", "", 0)
    port_text, found, rest = rest.partition(sep)
    if not found:
        return SubsetKey(direction, "", "", 0)
    port = _atoi(port_text)
    subset, found, rest = rest.partition(sep)
    if not found:
        return SubsetKey(direction, "", "", port)
    if sep in rest:
        return SubsetKey(direction, subset, "", port)
    return SubsetKey(direction, subset, rest, port)


def sort_key_by_subset(name: str) -> tuple[str, str, int, str]:
    """How istioctl orders clusters and endpoints: host, then subset, then port, then direction."""
    if name.count("|") >= 3:
        key = parse_subset_key(name)
        return key.host, key.subset, key.port, key.direction
    return name, "", 0, ""


def obj(value: Any) -> Json:
    """A JSON object, or an empty one for anything else (absent fields read as defaults, as in protobuf)."""
    return value if isinstance(value, dict) else {}


def seq(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def describe_management(resource: Json) -> str:
    """The Istio config behind a resource as istioctl prints it: ``name.namespace``, ``<unknown>`` or empty."""
    istio = obj(obj(obj(resource.get("metadata")).get("filter_metadata")).get("istio"))
    if "config" not in istio:
        return ""
    path = text(istio["config"])
    if path.startswith("/apis/networking.istio.io/"):
        pieces = path.split("/")
        return f"{pieces[7]}.{pieces[5]}" if len(pieces) == 8 else ""
    return "<unknown>"


def describe_match(match: Json) -> str:
    """A route's path match in istioctl's words: ``/api*``, ``PathPrefix:/get``, ``/exact``, ``regex ^/x``."""
    conds = []
    if text(match.get("prefix")):
        conds.append(f"{match['prefix']}*")
    if text(match.get("path_separated_prefix")):
        conds.append(f"PathPrefix:{match['path_separated_prefix']}")
    if text(match.get("path")):
        conds.append(match["path"])
    if isinstance(match.get("safe_regex"), dict):
        conds.append(f"regex {text(match['safe_regex'].get('regex'))}")
    return " ".join(conds)


def describe_match_wide(match: Json) -> str:
    """The path match and, beyond istioctl, every header and query parameter condition: ``/* [x-user=alice]``."""
    conds = [_describe_string_condition(text(h.get("name")), h) for h in map(obj, seq(match.get("headers")))]
    conds += [_describe_string_condition("?" + text(q.get("name")), q)
              for q in map(obj, seq(match.get("query_parameters")))]
    if isinstance(match.get("grpc"), dict):
        conds.append("grpc")
    path = describe_match(match)
    return f"{path} [{', '.join(conds)}]" if conds else path


def _describe_string_condition(name: str, matcher: Json) -> str:
    invert = "!" if matcher.get("invert_match") else ""
    string_match = obj(matcher.get("string_match"))
    for key, op in (("exact_match", "="), ("prefix_match", "^="), ("suffix_match", "$="), ("contains_match", "*=")):
        if key in matcher:
            return f"{invert}{name}{op}{matcher[key]}"
    for key, op in (("exact", "="), ("prefix", "^="), ("suffix", "$="), ("contains", "*=")):
        if key in string_match:
            return f"{invert}{name}{op}{string_match[key]}"
    regex = obj(matcher.get("safe_regex_match") or string_match.get("safe_regex")).get("regex")
    if isinstance(regex, str):
        return f"{invert}{name}~={regex}"
    if "present_match" in matcher or matcher.get("present_match") is not None:
        return f"{invert}{name}" if matcher.get("present_match", True) else f"!{name}"
    if isinstance(matcher.get("range_match"), dict):
        lo, hi = matcher["range_match"].get("start", ""), matcher["range_match"].get("end", "")
        return f"{invert}{name} in [{lo},{hi})"
    return f"{invert}{name}"


def string_values(value: Any) -> Iterator[str]:
    """Every string inside a JSON value (what a search of the serialised protobuf bytes would find)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


@contextmanager
def reading(dump_source: str, resource: Resource) -> Iterator[None]:
    """Turn a resource of an unexpected shape into one DumpFormatError naming the file and JSON path."""
    try:
        yield
    except (AttributeError, TypeError, KeyError, ValueError, IndexError) as exc:
        raise DumpFormatError(f"this {resource.kind.replace('_', ' ')} has an unexpected shape ({_plain(exc)})",
                              source=dump_source, json_path=resource.path) from exc


def _plain(exc: Exception) -> str:
    message = str(exc)
    if isinstance(exc, AttributeError) and "has no attribute" in message:
        kind = message.split("'")[1] if message.count("'") >= 2 else "value"
        kinds = {"str": "a string", "list": "a list", "int": "a number", "float": "a number",
                 "bool": "a boolean", "NoneType": "null"}
        return f"found {kinds.get(kind, kind)} where an object belongs"
    return message or type(exc).__name__
