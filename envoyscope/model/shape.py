"""The shape of every field envoyscope reads, checked once when a dump is parsed.

Envoy writes its protos as JSON, so a field's JSON type never varies: an ``address`` is an object, a
``filter_chains`` a list of objects, a ``domains`` entry a string. A dump edited by hand, truncated by a tool or
produced by something other than Envoy can break that, and every later reader (summaries, the trace engine,
the TUI) would then fail deep inside with a Python error. `shape_problem` walks only the fields those readers use
(a spec per resource kind, below) and names the first one of the wrong type, so `envoyscope.model.parse` can
stop with one `DumpFormatError` naming the JSON path instead.

A spec is a dict (the value is an object; the fields listed, when present and not null, match their own spec),
a one-element list (the value is a list; each item matches the element; ``[None]``: any items), or a leaf
function returning a problem or None. Fields not listed are not looked at: the walk stays linear in what is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Leaf = Callable[[Any], str | None]
Spec = dict[str, Any] | list[Any] | Leaf


def describe(value: Any) -> str:
    """A JSON value's type in words: ``an object``, ``a list``, ``a string``, ``a number``, ``a boolean``, ``null``."""
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def STR(value: Any) -> str | None:  # noqa: N802 (a spec leaf, named like the JSON type it wants)
    return None if isinstance(value, str) else f"expected a string, got {describe(value)}"


def NUMBER(value: Any) -> str | None:  # noqa: N802
    """A number as protobuf JSON writes one: a JSON number, or a decimal string (64-bit integers)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").replace(".", "", 1).isdigit():
        return None
    return f"expected a number, got {describe(value)}"


OBJ: dict[str, Any] = {}
LIST: list[Any] = [None]

METADATA = {"filter_metadata": {"istio": OBJ}}
ADDRESS = {"socket_address": {"address": STR, "port_value": NUMBER}, "pipe": {"path": STR},
           "envoy_internal_address": OBJ}
TYPED: dict[str, Any] = {}  # a filter's typed_config: filled in below (it holds a route config)
FILTER = {"name": STR, "typed_config": TYPED}
TRANSPORT_SOCKET = {"name": STR, "typed_config": {"common_tls_context": OBJ, "sni": STR}}

HEADER_MATCHER = {"name": STR, "string_match": OBJ, "safe_regex_match": OBJ, "range_match": OBJ}
ROUTE_MATCH = {"prefix": STR, "path": STR, "path_separated_prefix": STR, "safe_regex": {"regex": STR},
               "headers": [HEADER_MATCHER], "query_parameters": [{"name": STR, "string_match": OBJ}],
               "runtime_fraction": OBJ, "grpc": OBJ, "tls_context": OBJ, "dynamic_metadata": [OBJ],
               "path_match_policy": OBJ}
WEIGHTED_CLUSTERS = {"clusters": [{"name": STR}]}
ROUTE_ACTION = {"cluster": STR, "cluster_header": STR, "weighted_clusters": WEIGHTED_CLUSTERS,
                "prefix_rewrite": STR, "regex_rewrite": OBJ, "retry_policy": OBJ, "hash_policy": [OBJ],
                "request_mirror_policies": [OBJ]}
ROUTE = {"name": STR, "match": ROUTE_MATCH, "route": ROUTE_ACTION, "redirect": OBJ,
         "direct_response": {"body": OBJ}, "metadata": METADATA, "typed_per_filter_config": OBJ}
VIRTUAL_HOST = {"name": STR, "domains": [STR], "routes": [ROUTE], "virtual_clusters": [OBJ], "metadata": METADATA}
ROUTE_CONFIG = {"name": STR, "virtual_hosts": [VIRTUAL_HOST]}
TYPED.update({"route_config": ROUTE_CONFIG, "rds": {"route_config_name": STR},
              "scoped_routes": OBJ, "weighted_clusters": WEIGHTED_CLUSTERS})

CHAIN_MATCH = {"server_names": [STR], "application_protocols": [STR], "transport_protocol": STR,
               "prefix_ranges": [{"address_prefix": STR}], "source_prefix_ranges": [{"address_prefix": STR}],
               "direct_source_prefix_ranges": [{"address_prefix": STR}], "source_ports": LIST}
FILTER_CHAIN = {"name": STR, "filter_chain_match": CHAIN_MATCH, "filters": [FILTER],
                "transport_socket": TRANSPORT_SOCKET}
LISTENER = {"name": STR, "address": ADDRESS, "additional_addresses": [{"address": ADDRESS}],
            "filter_chains": [FILTER_CHAIN], "default_filter_chain": FILTER_CHAIN,
            "listener_filters": [{"name": STR, "typed_config": OBJ, "filter_disabled": OBJ}],
            "filter_chain_matcher": OBJ, "traffic_direction": STR, "metadata": METADATA}

LB_ENDPOINT = {"endpoint": {"address": ADDRESS, "hostname": STR},
               "health_status": STR, "metadata": METADATA, "load_balancing_weight": NUMBER}
LOAD_ASSIGNMENT = {"cluster_name": STR, "endpoints": [{"locality": OBJ, "lb_endpoints": [LB_ENDPOINT]}]}
CLUSTER = {"name": STR, "type": STR, "eds_cluster_config": {"service_name": STR, "eds_config": OBJ},
           "load_assignment": LOAD_ASSIGNMENT, "transport_socket": TRANSPORT_SOCKET,
           "transport_socket_matches": [{"name": STR, "match": OBJ, "transport_socket": TRANSPORT_SOCKET}],
           "metadata": METADATA, "cluster_type": {"name": STR, "typed_config": OBJ}}
SECRET = {"name": STR, "tls_certificate": {"certificate_chain": OBJ, "private_key": OBJ},
          "validation_context": {"trusted_ca": OBJ}}
SCOPED_ROUTE = {"name": STR, "route_configuration_name": STR, "route_configuration": ROUTE_CONFIG,
                "key": {"fragments": [OBJ]}}
BOOTSTRAP = {"node": {"id": STR, "cluster": STR, "metadata": OBJ, "locality": OBJ,
                      "user_agent_build_version": {"version": OBJ, "metadata": OBJ}},
             "static_resources": OBJ, "dynamic_resources": OBJ, "admin": OBJ}
CLUSTERS_STATUS = {"cluster_statuses": [{"name": STR, "host_statuses": [
    {"address": ADDRESS, "health_status": OBJ, "stats": [{"name": STR, "value": NUMBER}], "locality": OBJ,
     "hostname": STR, "weight": NUMBER, "priority": NUMBER}]}]}

SPECS: dict[str, Spec] = {
    "listener": LISTENER,
    "cluster": CLUSTER,
    "route_config": ROUTE_CONFIG,
    "scoped_route": SCOPED_ROUTE,
    "endpoint": LOAD_ASSIGNMENT,
    "secret": SECRET,
    "ecds": OBJ,
    "bootstrap": BOOTSTRAP,
    "clusters_status": CLUSTERS_STATUS,
}


def shape_problem(value: Any, kind: str) -> tuple[str, str] | None:
    """The first field of ``value`` (a resource of ``kind``) whose JSON type is wrong: (path below it, problem)."""
    if _fast(kind)(value):
        return None
    found = _check(value, SPECS[kind])
    if found is None:  # the compiled check and the walk disagree: trust the walk
        return None
    steps, problem = found
    return "".join(reversed(steps)), problem


def _check(value: Any, spec: Spec) -> tuple[list[str], str] | None:
    """The walk that names the field: run only once the compiled check has found a problem."""
    if spec.__class__ is dict:
        if value.__class__ is not dict:
            return [], f"expected an object, got {describe(value)}"
        for key, sub in spec.items():  # type: ignore[union-attr]
            child = value.get(key)
            if child is not None:
                found = _check(child, sub)
                if found is not None:
                    found[0].append(f".{key}")
                    return found
        return None
    if spec.__class__ is list:
        if value.__class__ is not list:
            return [], f"expected a list, got {describe(value)}"
        item = spec[0]  # type: ignore[index]
        if item is None:
            return None
        for index, child in enumerate(value):
            found = _check(child, item)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
        return None
    problem = spec(value)  # type: ignore[operator]
    return None if problem is None else ([], problem)


# --- the compiled check ----------------------------------------------------------------------------------
# A dump holds tens of thousands of resources: walking the specs with one call per field would cost more than
# the rest of parsing. Each spec is compiled once into straight-line Python (nested ifs and loops, no call
# per field) that only answers whether the value is well shaped.

_COMPILED: dict[str, Callable[[Any], bool]] = {}


def _fast(kind: str) -> Callable[[Any], bool]:
    if kind not in _COMPILED:
        _COMPILED[kind] = _Compiler().compile(SPECS[kind])
    return _COMPILED[kind]


class _Compiler:
    def __init__(self) -> None:
        self.functions: dict[int, str] = {}  # id(spec) -> function name, for specs that contain themselves
        self.sources: list[str] = []
        self.counter = 0
        self.leaves: dict[str, Leaf] = {}

    def compile(self, spec: Spec) -> Callable[[Any], bool]:
        entry = self.function(spec)
        namespace: dict[str, Any] = dict(self.leaves)
        exec("\n\n".join(self.sources), namespace)  # noqa: S102 (code generated here from the specs above)
        return namespace[entry]  # type: ignore[no-any-return]

    def function(self, spec: Spec) -> str:
        if id(spec) in self.functions:
            return self.functions[id(spec)]
        name = f"_check_{len(self.functions)}"
        self.functions[id(spec)] = name
        lines = [f"def {name}(v0):"]
        self.emit(spec, "v0", 1, lines, {id(spec)})
        lines.append("    return True")
        self.sources.append("\n".join(lines))
        return name

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def emit(self, spec: Spec, var: str, depth: int, lines: list[str], stack: set[int]) -> None:
        pad = "    " * depth
        if spec.__class__ is dict:
            lines.append(f"{pad}if {var}.__class__ is not dict: return False")
            for key, sub in spec.items():  # type: ignore[union-attr]
                child = self.var()
                lines.append(f"{pad}{child} = {var}.get({key!r})")
                lines.append(f"{pad}if {child} is not None:")
                self.emit_child(sub, child, depth + 1, lines, stack)
        elif spec.__class__ is list:
            lines.append(f"{pad}if {var}.__class__ is not list: return False")
            item = spec[0]  # type: ignore[index]
            if item is not None:
                child = self.var()
                lines.append(f"{pad}for {child} in {var}:")
                self.emit_child(item, child, depth + 1, lines, stack)
        else:
            leaf = f"_leaf_{spec.__name__}"  # type: ignore[union-attr]
            self.leaves[leaf] = spec  # type: ignore[assignment]
            lines.append(f"{pad}if {leaf}({var}) is not None: return False")

    def emit_child(self, spec: Spec, var: str, depth: int, lines: list[str], stack: set[int]) -> None:
        pad = "    " * depth
        if spec is STR:
            lines.append(f"{pad}if {var}.__class__ is not str: return False")
        elif spec.__class__ is dict and id(spec) in stack:  # a spec inside itself: call its own function
            lines.append(f"{pad}if not {self.function(spec)}({var}): return False")
        elif spec.__class__ is dict and not spec:
            lines.append(f"{pad}if {var}.__class__ is not dict: return False")
        else:
            self.emit(spec, var, depth, lines, stack | {id(spec)} if spec.__class__ is dict else stack)
