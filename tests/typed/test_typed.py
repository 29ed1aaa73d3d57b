"""Typed decoding: every resource of the real dumps decodes or is kept as written, never fatal; istio.alpn decodes."""

from __future__ import annotations

import collections
import filecmp
from pathlib import Path

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


def test_generated_modules_are_current(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("protos_build", REPO / "protos" / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for fresh in module.build(tmp_path):
        committed = REPO / "envoyscope" / "model" / "_protos" / fresh.name
        assert committed.exists(), f"{committed.name} is not committed: run make protos"
        assert filecmp.cmp(fresh, committed, shallow=False), f"{committed.name} is stale: run make protos"
