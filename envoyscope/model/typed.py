"""Typed decoding of one resource or one ``Any``, with protobuf (upb) and the xds-protos modules.

Summaries and the engine read raw JSON; typed decoding is for the detail views and checks that need the real
message (defaults, enum names, validation of a shape). It is done one value at a time and only when asked: the
module for a type is imported on first use. Types no package knows (Istio's metadata exchange, peer metadata,
stats/wasm configs) come back as the JSON the dump holds, marked as such; ``TypedStruct`` wrappers are unwrapped
first. Nothing here is ever fatal, and no protobuf object leaves this module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

TYPED_STRUCTS = ("udpa.type.v1.TypedStruct", "xds.type.v3.TypedStruct")
# Our own generated modules (protos/, `make protos`), by the package of the messages they define.
LOCAL_MODULES = {"istio.envoy.config.filter.http.alpn.v2alpha1": "envoyscope.model._protos.istio_alpn_pb2"}


@dataclass(frozen=True, slots=True)
class TypedView:
    """What a typed value is: its type, whether a proto package knows it, and its fields as JSON."""

    type_name: str
    known: bool
    value: dict[str, Any]
    note: str = ""


def type_name(type_url: str) -> str:
    return type_url.rsplit("/", 1)[-1]


@lru_cache(maxsize=512)
def _message_class(name: str) -> Any:
    """The generated class of a full message name, importing only its package's modules; None if unknown."""
    from google.protobuf import descriptor_pool, message_factory

    pool = descriptor_pool.Default()
    package = name.rsplit(".", 1)[0]
    try:
        descriptor = pool.FindMessageTypeByName(name)
    except KeyError:
        descriptor = None
    if descriptor is None:
        for module in _candidate_modules(package):
            try:
                importlib.import_module(module)
            except Exception:  # noqa: BLE001 (a broken or missing module only means "unknown")
                continue
        try:
            descriptor = pool.FindMessageTypeByName(name)
        except KeyError:
            return None
    return message_factory.GetMessageClass(descriptor)


def _candidate_modules(package: str) -> list[str]:
    if package in LOCAL_MODULES:
        return [LOCAL_MODULES[package]]
    try:
        pkg = importlib.import_module(package)
    except Exception:  # noqa: BLE001
        return []
    return [f"{package}.{m.name}" for m in pkgutil.iter_modules(getattr(pkg, "__path__", [])) if
            m.name.endswith("_pb2")]


def decode(value: dict[str, Any], type_url: str | None = None) -> TypedView:
    """Decode ``value`` (JSON of a message, ``@type`` inside or given) into a checked, snake_case dict."""
    url = type_url or str(value.get("@type", ""))
    name = type_name(url)
    body = {k: v for k, v in value.items() if k != "@type"}
    if name in TYPED_STRUCTS:
        inner_url = str(body.get("type_url", ""))
        inner: dict[str, Any] = body["value"] if isinstance(body.get("value"), dict) else {}
        view = decode(dict(inner), inner_url)
        return TypedView(view.type_name, view.known, view.value, f"wrapped in {name}; {view.note}".rstrip("; "))
    cls = _message_class(name) if name else None
    if cls is None:
        return TypedView(name, False, body, "unknown type: shown as written in the dump")
    from google.protobuf import json_format

    unknown: list[str] = []
    prepared = _prepare(body, unknown)
    try:
        message = json_format.ParseDict(prepared, cls(), ignore_unknown_fields=False)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        return TypedView(name, False, body, f"does not decode as {name} ({str(exc)[:160]}): shown as written")
    decoded = _restore(json_format.MessageToDict(message, preserving_proto_field_name=True))
    note = (f"{len(unknown)} nested extension type(s) no package knows, kept as written: "
            f"{', '.join(sorted(set(unknown)))}") if unknown else ""
    return TypedView(name, True, decoded, note)


_STRUCT = "type.googleapis.com/google.protobuf.Struct"
_MARK = "__envoyscope_unknown_type__"


def unknown_extensions(node: Any, path: str = "") -> list[tuple[str, str, dict[str, Any]]]:
    """Every typed value inside ``node`` whose type no package knows: (JSON path, type name, the value as written).

    A ``TypedStruct`` counts by the type it wraps; a known type's own fields are searched further down.
    """
    found: list[tuple[str, str, dict[str, Any]]] = []
    if isinstance(node, list):
        for index, item in enumerate(node):
            found += unknown_extensions(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        url = node.get("@type")
        if isinstance(url, str):
            name = type_name(url)
            inner = type_name(str(node.get("type_url", ""))) if name in TYPED_STRUCTS else name
            if inner in TYPED_STRUCTS or _message_class(inner) is None:
                return [(path or ".", inner, node)]
        for key, value in node.items():
            if key != "@type":
                found += unknown_extensions(value, f"{path}.{key}")
    return found


def _prepare(node: Any, unknown: list[str]) -> Any:
    """Import the module of every nested ``Any`` type; wrap the unknown ones in a Struct so the rest decodes."""
    if isinstance(node, list):
        return [_prepare(v, unknown) for v in node]
    if not isinstance(node, dict):
        return node
    url = node.get("@type")
    if isinstance(url, str):
        inner_name = type_name(url)
        if inner_name in TYPED_STRUCTS or _message_class(inner_name) is None:
            unknown.append(inner_name)
            return {"@type": _STRUCT, "value": {_MARK: url, **{k: v for k, v in node.items() if k != "@type"}}}
    return {k: _prepare(v, unknown) for k, v in node.items()}


def _restore(node: Any) -> Any:
    if isinstance(node, list):
        return [_restore(v) for v in node]
    if not isinstance(node, dict):
        return node
    if node.get("@type") == _STRUCT and isinstance(node.get("value"), dict) and _MARK in node["value"]:
        value = dict(node["value"])
        return {"@type": value.pop(_MARK), **value}
    return {k: _restore(v) for k, v in node.items()}


def alpn_override(filter_config: dict[str, Any], upstream_protocol: str = "HTTP11") -> tuple[str, ...] | None:
    """The ALPN Istio's ``istio.alpn`` filter offers upstream for a protocol (HTTP10, HTTP11, HTTP2)."""
    view = decode(filter_config)
    if not view.known:
        return None
    for entry in view.value.get("alpn_override") or ():
        if entry.get("upstream_protocol", "HTTP10") == upstream_protocol:
            return tuple(entry.get("alpn_override") or ())
    return None


# The message each kind of resource is, for `type_problem`.
RESOURCE_TYPES = {
    "listener": "envoy.config.listener.v3.Listener",
    "cluster": "envoy.config.cluster.v3.Cluster",
    "route_config": "envoy.config.route.v3.RouteConfiguration",
    "scoped_route": "envoy.config.route.v3.ScopedRouteConfiguration",
    "endpoint": "envoy.config.endpoint.v3.ClusterLoadAssignment",
    "secret": "envoy.extensions.transport_sockets.tls.v3.Secret",
}


def type_problem(raw: dict[str, Any], kind: str) -> tuple[str, str] | None:
    """The first field of ``raw`` whose JSON type is not what its proto field takes: (path below it, problem).

    Walks the JSON beside the message descriptors (``Any`` by its ``@type``): an object where the field is a
    message or a map, a list where it is repeated, a string, number, boolean or enum name where it is a scalar.
    Fields this protobuf build does not know are skipped (a newer Envoy may write some), so only data of the
    wrong shape counts. Costly (the whole resource): for error paths, not for every resource of a dump.
    """
    cls = _message_class(RESOURCE_TYPES[kind]) if kind in RESOURCE_TYPES else None
    if cls is None:
        return None
    found = _message_problem(raw, cls.DESCRIPTOR)
    if found is None:
        return None
    steps, problem = found
    return "".join(reversed(steps)), problem


_STRING_MESSAGES = frozenset({"google.protobuf.Duration", "google.protobuf.Timestamp", "google.protobuf.FieldMask"})
_WRAPPERS = frozenset(f"google.protobuf.{n}Value" for n in
                      ("Double", "Float", "Int64", "UInt64", "Int32", "UInt32", "Bool", "String", "Bytes"))


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _message_problem(value: Any, descriptor: Any) -> tuple[list[str], str] | None:
    full = descriptor.full_name
    if full == "google.protobuf.Value":
        return None
    if full == "google.protobuf.ListValue":
        return None if isinstance(value, list) else ([], f"expected a list, got {_json_type(value)}")
    if full in _STRING_MESSAGES:
        return None if isinstance(value, str) else ([], f"expected a string ({full}), got {_json_type(value)}")
    if full in _WRAPPERS:
        inner = value.get("value") if isinstance(value, dict) else value  # some writers keep {"value": …}
        return None if inner is None else _scalar_problem(inner, descriptor.fields_by_name["value"])
    if not isinstance(value, dict):
        return [], f"expected an object, got {_json_type(value)}"
    if full == "google.protobuf.Struct":
        return None
    if full == "google.protobuf.Any":
        url = value.get("@type")
        if not isinstance(url, str):
            return ([".@type"], "expected a type URL string") if "@type" in value else None
        cls = _message_class(type_name(url))
        if cls is None:
            return None  # a type no package knows: nothing to hold it against
        if cls.DESCRIPTOR.full_name in _STRING_MESSAGES | _WRAPPERS | {"google.protobuf.Struct"}:
            found = _message_problem(value.get("value"), cls.DESCRIPTOR) if "value" in value else None
            if found is not None:
                found[0].append(".value")
            return found
        return _message_problem({k: v for k, v in value.items() if k != "@type"}, cls.DESCRIPTOR)
    for key, child in value.items():
        field = descriptor.fields_by_name.get(key) or descriptor.fields_by_camelcase_name.get(key)
        if field is None or child is None:
            continue
        found = _field_problem(child, field)
        if found is not None:
            found[0].append(f".{key}")
            return found
    return None


def _field_problem(value: Any, field: Any) -> tuple[list[str], str] | None:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        if not isinstance(value, dict):
            return [], f"expected an object (a map), got {_json_type(value)}"
        value_field = message.fields_by_name["value"]
        for key, child in value.items():
            found = None if child is None else _single_problem(child, value_field)
            if found is not None:
                found[0].append(f".{key}")
                return found
        return None
    if field.is_repeated:
        if not isinstance(value, list):
            return [], f"expected a list, got {_json_type(value)}"
        for index, child in enumerate(value):
            found = None if child is None else _single_problem(child, field)
            if found is not None:
                found[0].append(f"[{index}]")
                return found
        return None
    return _single_problem(value, field)


def _single_problem(value: Any, field: Any) -> tuple[list[str], str] | None:
    if field.message_type is not None:
        return _message_problem(value, field.message_type)
    return _scalar_problem(value, field)


def _scalar_problem(value: Any, field: Any) -> tuple[list[str], str] | None:
    from google.protobuf.descriptor import FieldDescriptor as F

    kind = field.type
    if kind in (F.TYPE_STRING, F.TYPE_BYTES):
        ok = isinstance(value, str)
        wanted = "a string"
    elif kind == F.TYPE_BOOL:
        ok = isinstance(value, bool)
        wanted = "a boolean"
    elif kind == F.TYPE_ENUM:
        ok = isinstance(value, str | int) and not isinstance(value, bool)
        wanted = "an enum name"
    else:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)) or isinstance(value, str)
        if ok and isinstance(value, str):
            try:
                float(value)
            except ValueError:
                ok = value in ("NaN", "Infinity", "-Infinity")
        wanted = "a number"
    return None if ok else ([], f"expected {wanted}, got {_json_type(value)}")


def malformed_resource(dumps: Any) -> Any:
    """The first resource of these dumps that does not decode as its message, as a `DumpFormatError`, else None.

    For the boundary of a command that met a Python error while reading resources: if some resource has the wrong
    shape, that is the user's input and this says where; if none has, the error is envoyscope's own bug.
    """
    from envoyscope.errors import DumpFormatError

    for dump in dumps:
        for kind in ("listener", "route_config", "scoped_route", "cluster", "endpoint", "secret"):
            for resource in dump.of_kind(kind):
                found = type_problem(resource.raw, kind)
                if found is not None:
                    where, problem = found
                    return DumpFormatError(f"this {kind.replace('_', ' ')} has an unexpected shape: {problem}",
                                           source=dump.source, json_path=f"{resource.path}{where}")
    return None
