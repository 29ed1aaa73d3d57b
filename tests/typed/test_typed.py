"""Typed decoding: every resource of the real dumps decodes or is kept as written, never fatal; istio.alpn decodes."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest

from envoyscope.model.typed import alpn_override, decode
from envoyscope.sources.files import load_file
from tests.conftest import REPO, SAMPLES, shared_path

ALPN = {"@type": "type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig",
        "alpn_override": [{"alpn_override": ["istio-http/1.0", "istio", "http/1.0"]},
                          {"upstream_protocol": "HTTP11", "alpn_override": ["istio-http/1.1", "istio", "http/1.1"]},
                          {"upstream_protocol": "HTTP2", "alpn_override": ["istio-h2", "istio", "h2"]}]}


def test_istio_alpn_decodes_with_the_generated_module() -> None:
    view = decode(ALPN)
    assert view.known and view.type_name.endswith("alpn.v2alpha1.FilterConfig")
    assert alpn_override(ALPN, "HTTP11") == ("istio-http/1.1", "istio", "http/1.1")
    assert alpn_override(ALPN, "HTTP10") == ("istio-http/1.0", "istio", "http/1.0")


def test_unknown_types_are_kept_as_written() -> None:
    view = decode({"@type": "type.googleapis.com/stats.PluginConfig", "disable_host_header_fallback": True})
    assert not view.known and view.value == {"disable_host_header_fallback": True}
    assert "shown as written" in view.note


def test_typed_struct_is_unwrapped() -> None:
    wrapped = {"@type": "type.googleapis.com/udpa.type.v1.TypedStruct",
               "type_url": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
               "value": {"suppress_envoy_headers": True}}
    view = decode(wrapped)
    assert view.known and view.value == {"suppress_envoy_headers": True} and "TypedStruct" in view.note


def test_a_wrong_shape_is_reported_not_raised() -> None:
    view = decode({"@type": "type.googleapis.com/envoy.config.cluster.v3.Cluster", "connect_timeout": "soon"})
    assert not view.known and "does not decode" in view.note


def _census(paths: list[Path]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for path in paths:
        dump = load_file(str(path))
        for kind in ("listener", "cluster", "route_config", "endpoint", "secret"):
            for resource in dump.of_kind(kind):
                url = {"listener": "envoy.config.listener.v3.Listener", "cluster": "envoy.config.cluster.v3.Cluster",
                       "route_config": "envoy.config.route.v3.RouteConfiguration",
                       "endpoint": "envoy.config.endpoint.v3.ClusterLoadAssignment",
                       "secret": "envoy.extensions.transport_sockets.tls.v3.Secret"}[kind]
                view = decode(resource.raw, url)
                counts["decoded" if view.known else "kept as written"] += 1
    return counts


def test_every_resource_of_the_sample_dumps_decodes() -> None:
    counts = _census(sorted(SAMPLES.glob("*/*.config_dump.json")))
    assert counts["decoded"] > 100 and counts["kept as written"] == 0, counts


def test_real_dumps_decode_or_are_kept_never_fatal() -> None:
    folder = shared_path("real-dumps")
    counts = _census(sorted(folder.glob("*/*.json")))
    print(f"real dumps: {counts['decoded']} resources decoded, {counts['kept as written']} kept as written")
    assert counts["decoded"] > 900  # the rest: v2-only fields of Istio 1.5 (bookinfo-1.5), kept as written


# protoc writes its own version twice: in a comment and in the runtime check it asks for. grpcio-tools (protoc) is
# not pinned, so a newer one may differ there only; what the module defines must not.
_PROTOC_VERSION = re.compile(r"^# Protobuf Python Version: .*$|"
                             r"(?<=ValidateProtobufRuntimeVersion\(\n    _runtime_version\.Domain\.PUBLIC,\n)"
                             r"    \d+,\n    \d+,\n    \d+,\n    '[^']*',\n", re.M)


def without_protoc_version(source: str) -> str:
    return _PROTOC_VERSION.sub("<protoc version>", source)


def test_generated_modules_are_current(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("protos_build", REPO / "protos" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fresh in module.build(tmp_path):
        committed = REPO / "envoyscope" / "model" / "_protos" / fresh.name
        assert committed.exists(), f"{committed.name} is not committed: run make protos"
        assert without_protoc_version(fresh.read_text()) == without_protoc_version(committed.read_text()), \
            f"{committed.name} is stale: run make protos"


@pytest.mark.parametrize("version", [("7", "35", "1", ""), ("8", "0", "12", "-rc1")])
def test_protoc_version_alone_does_not_make_a_module_stale(version: tuple[str, str, str, str]) -> None:
    committed = (REPO / "envoyscope" / "model" / "_protos" / "istio_alpn_pb2.py").read_text()
    major, minor, patch, suffix = version
    other = re.sub(r"^# Protobuf Python Version: .*$", f"# Protobuf Python Version: {major}.{minor}.{patch}{suffix}",
                   committed, flags=re.M)
    other = re.sub(r"(Domain\.PUBLIC,\n)    \d+,\n    \d+,\n    \d+,\n    '[^']*',",
                   rf"\g<1>    {major},\n    {minor},\n    {patch},\n    '{suffix}',", other)
    assert without_protoc_version(other) == without_protoc_version(committed)
    assert without_protoc_version(committed).count("<protoc version>") == 2  # both places are masked
    changed = committed.replace("HTTP2", "HTTP3")  # a change in what the module defines still counts
    assert without_protoc_version(changed) != without_protoc_version(committed)
