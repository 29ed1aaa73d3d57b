"""One spelling for every way of writing the same config, so that equal means "Envoy does the same".

`canonical(value)` returns a copy of a (normalised) resource in which the noise is gone:

- field names in snake_case (camelCase that `envoyscope.model.normalize` left, e.g. in TypedStruct values);
  map keys and ``google.protobuf.Struct`` contents (metadata, labels) are data and kept as written;
- v2 type URLs as their v3 ones; ``TypedStruct`` and ``google.protobuf.*Value`` wrappers unwrapped to what they
  carry; ``{"value": x}`` written for a wrapper field as ``x``;
- proto3 defaults left out: ``0``, ``false``, ``""``, ``null``, ``[]``, ``{}`` for a map field, and the zero
  value of the enums listed in `ENUM_DEFAULTS` (an empty *message*, e.g. ``"ads": {}``, is kept: its presence
  is what it says);
- durations in one form (``"5.000s"`` → ``"5s"``), 64-bit integers written as strings as numbers (not in
  name fields: a route configuration named ``80`` stays a string);
- lists whose order Envoy ignores (domains, server names, prefix ranges, virtual hosts, header matchers…) sorted;
- certificates (``certificate_chain``, ``trusted_ca``) as what they say: serial, subject, issuer, SANs, validity;
- ``version_info`` and ``last_updated`` dropped; private keys, passwords and other secrets as ``[redacted]``.

Two canonical forms compare equal with ``==`` exactly when the configs differ only by noise.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from envoyscope.model.certs import data_source_bytes, decode_certificate, rfc3339
from envoyscope.model.normalize import snake, v3_type_url

NOISE = frozenset({"version_info", "last_updated"})
# Struct or map fields: their keys are data (never renamed), and an empty one is the same as none.
OPAQUE = frozenset({"filter_metadata", "typed_filter_metadata", "labels", "fields", "static_layer", "json_format"})
MAP_FIELDS = OPAQUE | frozenset({"typed_per_filter_config", "metadata", "typed_extension_protocol_options",
                                 "extension_protocol_options", "per_filter_config", "request_headers_to_add_map"})
# Lists Envoy reads as sets: any element matches, the order is never looked at.
SET_LISTS = frozenset({"domains", "server_names", "prefix_ranges", "source_prefix_ranges",
                       "direct_source_prefix_ranges", "application_protocols", "source_ports",
                       "match_subject_alt_names", "subject_alt_names", "verify_subject_alt_name",
                       "verify_certificate_spki", "verify_certificate_hash", "virtual_hosts", "ecds_filters",
                       "headers", "query_parameters", "retriable_status_codes"})
# The zero value (the default) of enum fields: written out, it says the same as left out.
ENUM_DEFAULTS = {
    "lb_policy": "ROUND_ROBIN",
    "dns_lookup_family": "AUTO",
    "codec_type": "AUTO",
    "protocol": "TCP",
    "transport_api_version": "AUTO",
    "resource_api_version": "AUTO",
    "forward_client_cert_details": "SANITIZE",
    "traffic_direction": "UNSPECIFIED",
    "tls_minimum_protocol_version": "TLS_AUTO",
    "tls_maximum_protocol_version": "TLS_AUTO",
    "health_status": "UNKNOWN",
    "priority": "DEFAULT",
    "server_header_transformation": "OVERWRITE",
    "path_with_escaped_slashes_action": "IMPLEMENTATION_SPECIFIC_DEFAULT",
    "headers_with_underscores_action": "ALLOW",
    "trust_chain_verification": "VERIFY_TRUST_CHAIN",
    "internal_redirect_action": "PASS_THROUGH_INTERNAL_REDIRECT",
    "cluster_not_found_response_code": "SERVICE_UNAVAILABLE",
    "api_type": "DEPRECATED_AND_UNAVAILABLE_DO_NOT_USE",
}
# Fields whose JSON (lowerCamel) name does not turn back into the proto name by inserting underscores.
IRREGULAR = {"trace_id128bit": "trace_id_128bit", "accept_http10": "accept_http_10",
             "default_host_for_http10": "default_host_for_http_10"}
_WRAPPERS = frozenset({"DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
                       "BoolValue", "StringValue", "BytesValue"})
_DURATION = re.compile(r"^(-?)(\d+)(?:\.(\d{1,9}))?s$")
_INT = re.compile(r"^-?\d{1,19}$")
_SECRET_KEYS = frozenset({"private_key", "password", "pkcs12", "session_ticket_keys", "hmac_secret",
                          "client_secret", "token_secret"})
REDACTED = "[redacted]"
# DataSources holding certificates: compared by what the certificate says, not by its bytes.
CERT_FIELDS = frozenset({"certificate_chain", "trusted_ca"})


def duration(text: str) -> str | None:
    """``"5.000s"`` → ``"5s"``, ``"0.250s"`` → ``"0.25s"``; None when ``text`` is not a JSON Duration."""
    match = _DURATION.match(text)
    if not match:
        return None
    sign, seconds, fraction = match.groups()
    fraction = (fraction or "").rstrip("0")
    return f"{sign}{int(seconds)}{'.' + fraction if fraction else ''}s"


def _is_name(field: str) -> bool:
    """A field holding a name (a route configuration named ``80``): never read as a number."""
    return field in ("name", "cluster", "stat_prefix") or field.endswith("_name")


def _scalar(value: Any, field: str = "") -> Any:
    if isinstance(value, str):
        if value.endswith("s"):
            found = duration(value)
            if found is not None:
                return found
        elif _INT.match(value) and not (len(value) > 1 and value.lstrip("-").startswith("0")) and not _is_name(field):
            return int(value)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def is_default(key: str, value: Any) -> bool:
    """Whether a canonical value says nothing more than leaving the field out."""
    if value is None or value is False or value == "" or value == []:
        return True
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return True
    if value == {}:
        return key in MAP_FIELDS
    return ENUM_DEFAULTS.get(key) == value


def sort_key(value: Any) -> bytes:
    """An order for the elements of a set-like list: by name when they have one, else by their JSON."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"].encode()
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _unwrap(value: dict[str, Any]) -> Any:
    """What a TypedStruct or a google.protobuf wrapper carries, or ``value`` itself."""
    type_url = value.get("@type")
    if isinstance(type_url, str):
        message = type_url.rsplit(".", 1)[-1]
        if message == "TypedStruct":
            inner = value.get("value")
            url = value.get("type_url") or value.get("typeUrl") or ""
            return {"@type": url, **inner} if isinstance(inner, dict) else value
        if message in _WRAPPERS and "value" in value:
            return value["value"]
    elif len(value) == 1 and "value" in value and not isinstance(value["value"], dict | list):
        return value["value"]
    return value


def canonical(value: Any, key: str = "") -> Any:
    """The noise-free form of ``value`` (``key``: the field it is the value of, which decides list order)."""
    if isinstance(value, dict):
        value = _unwrap(value)
        if not isinstance(value, dict):
            return _scalar(value, key)
        out: dict[str, Any] = {}
        for name, child in value.items():
            field = snake(name)
            field = IRREGULAR.get(field, field)
            if field in NOISE:
                continue
            if field in _SECRET_KEYS or (field == "secret" and key == "generic_secret"):
                out[field] = REDACTED
                continue
            if field == "@type" and isinstance(child, str):
                out[field] = v3_type_url(child)
                continue
            if field in CERT_FIELDS and isinstance(child, dict) and data_source_bytes(child) is not None:
                out[field] = certificate(child)
                continue
            if field in OPAQUE or (field == "metadata" and not _is_metadata_message(child)):
                result = child
            else:
                result = canonical(child, field)
            if not is_default(field, result):
                out[field] = result
        return out
    if isinstance(value, list):
        items = [canonical(item, key) for item in value]
        if key in SET_LISTS:
            items.sort(key=sort_key)
        return items
    return _scalar(value, key)


def _is_metadata_message(value: Any) -> bool:
    """A Metadata message (``filter_metadata`` …) rather than a Struct (a node's metadata)."""
    return isinstance(value, dict) and any(snake(k) in ("filter_metadata", "typed_filter_metadata") for k in value)


def fingerprint(value: Any) -> bytes:
    """Bytes equal for equal canonical values (to pair and hash them)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def certificate(source: dict[str, Any]) -> dict[str, Any]:
    """What a certificate DataSource says (serial, subject, issuer, SANs, validity), never its bytes."""
    import hashlib

    data = data_source_bytes(source) or b""
    info = decode_certificate(data)
    if info is None:
        return {"sha256": hashlib.sha256(data).hexdigest()}
    return {"serial": info.serial, "subject": info.subject, "issuer": info.issuer, "sans": list(info.sans),
            "not_before": rfc3339(info.not_before), "not_after": rfc3339(info.not_after)}
