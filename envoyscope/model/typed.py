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
