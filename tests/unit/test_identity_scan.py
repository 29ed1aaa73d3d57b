"""The identity scan (`envoyscope.sources.scan`) gives exactly the identity a full decode gives.

Every dump of the samples, the test fixtures and ../shared's real dumps, then the layouts that take the scan off
its quick path (minified, keys sorted, camelCase, Envoy <= 1.16's deprecated build version, no extensions, a
node longer than the first read, an ``extensions`` key inside the metadata, gzip): each is scanned and decoded,
and the two identities must be equal.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from envoyscope.sources.files import load_file, parse_bytes
from envoyscope.sources.scan import identity_from_head, identity_of_file
from tests.conftest import FIXTURES, REPO, SAMPLES

REAL = FIXTURES / "real-dumps"
SIDECAR = SAMPLES / "egress-mtls-subsets" / "sleep.config_dump.json"


def dump_files() -> list[Path]:
    roots = [SAMPLES, REPO / "tests" / "fixtures", REAL]
    found = [p for root in roots if root.is_dir() for p in sorted(root.rglob("*"))
             if p.is_file() and p.name.endswith((".json", ".json.gz")) and "clusters" not in p.name]
    return found


@pytest.mark.parametrize("path", dump_files(), ids=lambda p: str(p.relative_to(p.parents[2])))
def test_the_scan_gives_the_identity_a_decode_gives(path: Path) -> None:
    scanned = identity_of_file(str(path))
    try:
        decoded = load_file(str(path)).identity
    except Exception:  # noqa: BLE001 - files that are not dumps (manifests, scenarios) need no identity
        assert scanned is None
        return
    if scanned is None:  # no bootstrap first: the caller decodes such a file
        assert b"BootstrapConfigDump" not in path.read_bytes()[:4096] or not decoded.node_id
        return
    assert scanned == decoded


def real_sidecar() -> dict[str, Any]:
    path = REAL / "deathstarbench-geo-sidecar-1.18" / "config_dump.json"
    doc: dict[str, Any] = orjson.loads((path if path.exists() else SIDECAR).read_bytes())
    return doc


def camel(value: Any, under: str = "") -> Any:
    """camelCase field names, as older istioctl wrote (metadata kept as written: it is a Struct)."""
    if isinstance(value, list):
        return [camel(item) for item in value]
    if not isinstance(value, dict) or under == "metadata":
        return value
    out = {}
    for key, child in value.items():
        head, *rest = key.split("_")
        name = head + "".join(part.title() for part in rest) if not key.startswith("@") else key
        out[name] = camel(child, key)
    return out


def node_of(doc: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = doc["configs"][0]["bootstrap"]["node"]
    return node


def deprecated_build(doc: dict[str, Any]) -> dict[str, Any]:
    node = node_of(doc)
    node.pop("user_agent_build_version", None)
    node["hidden_envoy_deprecated_build_version"] = "0a1b2c3d4e5f/1.16.2/Clean/RELEASE/BoringSSL"
    return doc


def no_extensions(doc: dict[str, Any]) -> dict[str, Any]:
    node_of(doc).pop("extensions", None)
    return doc


def long_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    node_of(doc)["metadata"]["ANNOTATIONS"] = {f"note-{i}": "x" * 200 for i in range(600)}  # 130 kB
    return doc


def extensions_in_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    node_of(doc)["metadata"]["PROXY_CONFIG"] = {"extensions": [{"name": "a"}], "client_features": ["b"]}
    return doc


def labels_after_extensions(doc: dict[str, Any]) -> dict[str, Any]:
    node = node_of(doc)
    metadata = node.pop("metadata")
    node["metadata"] = {**metadata, "LABELS": {"app": "moved", "tlsMode": "istio"}}  # after extensions
    return doc


VARIANTS = {
    "pretty": (lambda d: d, orjson.OPT_INDENT_2),
    "minified": (lambda d: d, 0),
    "sorted": (lambda d: d, orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS),
    "camelCase": (camel, orjson.OPT_INDENT_2),
    "deprecated build_version": (deprecated_build, orjson.OPT_INDENT_2),
    "no extensions": (no_extensions, 0),
    "metadata longer than the first read": (long_metadata, orjson.OPT_INDENT_2),
    "extensions inside metadata": (extensions_in_metadata, orjson.OPT_INDENT_2),
    "metadata after extensions": (labels_after_extensions, orjson.OPT_INDENT_2),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("zipped", [False, True], ids=["json", "gzip"])
def test_every_layout_scans_to_the_decoded_identity(tmp_path: Path, variant: str, zipped: bool) -> None:
    change, option = VARIANTS[variant]
    body = orjson.dumps(change(real_sidecar()), option=option)
    path = tmp_path / ("proxy.json.gz" if zipped else "proxy.json")
    path.write_bytes(gzip.compress(body) if zipped else body)
    scanned = identity_of_file(str(path))
    assert scanned is not None
    assert scanned == load_file(str(path)).identity
    assert scanned.node_id and scanned.pod


def test_a_head_cut_inside_the_node_asks_for_more_or_gives_nothing() -> None:
    body = orjson.dumps(real_sidecar(), option=orjson.OPT_INDENT_2)
    start = body.index(b'"node"')
    assert identity_from_head(body[: start + 200], "cut.json") is None  # the whole file, cut: no identity
    assert identity_from_head(body, "whole.json") == parse_bytes(body, "whole.json").identity
