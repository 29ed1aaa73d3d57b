"""Semantic changes of every kind, hidden among noise of every kind: each change found, nothing spurious.

The NEW side is the OLD dump with the changes of `mutations` made, then rewritten by `noise.noisy` (versions and
timestamps bumped, keys, resources, virtual hosts, domains, filter chains and endpoints reordered, defaults
written out, TypedStruct, v2 type URLs, camelCase). Its /clusters has a host turned unhealthy and is reordered.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from envoyscope.engine.diff import Change, diff_dumps, diff_json
from envoyscope.engine.diff.changes import ProxyDiff
from envoyscope.engine.diff.words import sentences
from envoyscope.model.dump import ConfigDump
from envoyscope.model.parse import parse_document
from envoyscope.sources.files import merge_status
from tests.conftest import SAMPLES, shared_path
from tests.diff import mutations as m
from tests.diff.noise import noisy, reorder

Doc = dict[str, Any]


def load(doc: Doc, status: Doc | None, source: str) -> ConfigDump:
    dump = parse_document(doc, source)
    return merge_status(dump, parse_document(status, source)) if status is not None else dump


def mutate(doc: Doc, status: Doc | None) -> tuple[list[m.Expect], str]:
    """Every kind of change the dump allows; the expectations, and a private key the output must never hold."""
    expected: list[m.Expect | None] = [m.bootstrap(doc), m.listener_modified(doc), m.listener_added(doc),
                                       m.filter_chain_modified(doc), m.route_config_modified(doc),
                                       m.virtual_host_modified(doc)]
    swapped = m.routes_swapped(doc)
    expected += swapped
    skip_host = swapped[0].names[0].rsplit("/", 1)[0] if swapped else ""
    expected.append(m.route_timeout(doc, skip_host))
    modified = m.cluster_modified(doc)
    eds = m.eds_weight(doc)
    unhealthy = m.host_unhealthy(status, set(eds.names) if eds else set()) if status is not None else None
    keep = set(modified.names) | set(eds.names if eds else ()) | set(unhealthy.names if unhealthy else ())
    expected += [modified, eds, unhealthy, m.cluster_removed(doc, keep)]
    secret, key = m.certificate_renewed(doc)
    expected.append(secret)
    return [e for e in expected if e is not None], key


def check(changes: list[Change], expected: list[m.Expect]) -> None:
    unmatched = list(changes)
    for want in expected:
        found = [c for c in unmatched if c.kind == want.kind and c.name in want.names and c.change == want.change]
        assert found, f"not found: {want}\nchanges: {[(c.kind, c.name, c.change) for c in changes]}"
        change = found[0]
        paths = {f.path for f in change.fields}
        assert want.paths <= paths, f"{want}: fields {paths}"
        unmatched.remove(change)
    assert unmatched == [], f"spurious: {[(c.kind, c.name, [f.path for f in c.fields]) for c in unmatched]}"


CASES = [
    ("sample egress-mtls-subsets", lambda: SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json"),
    ("sample mesh-mtls sleep", lambda: SAMPLES / "mesh-mtls" / "sleep.config_dump.json"),
    ("real deathstarbench 1.18", lambda: shared_path("real-dumps", "deathstarbench-geo-sidecar-1.18",
                                                     "config_dump.json")),
    ("real bookinfo ingress 1.5", lambda: shared_path("real-dumps", "bookinfo-1.5", "ingressgateway_config_dump.json")),
    ("real multiparty ingress 1.22", lambda: shared_path("real-dumps", "multiparty-lb-1.22",
                                                         "ingressgateway_config_dump.json")),
]


def status_file(path: Path) -> Path | None:
    candidate = path.with_name(path.name.replace(".config_dump.json", ".clusters.json"))
    return candidate if candidate != path and candidate.exists() else None


@pytest.mark.parametrize("where", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_every_change_found_among_noise_and_nothing_else(where: Any) -> None:
    path: Path = where()
    doc = orjson.loads(path.read_bytes())
    status_path = status_file(path)
    status = orjson.loads(status_path.read_bytes()) if status_path else None
    new_doc, new_status = copy.deepcopy(doc), copy.deepcopy(status)
    expected, key = mutate(new_doc, new_status)
    kinds = {e.kind for e in expected}
    assert {"bootstrap", "listener", "filter_chain", "route_config", "virtual_host", "route", "cluster"} <= kinds
    old = load(doc, status, str(path))
    new = load(noisy(new_doc), reorder(new_status) if new_status else None, "new")
    changes = diff_dumps(old, new)
    check(changes, expected)
    # Nothing secret in any output: the new private key is in the NEW dump, in clear.
    output = orjson.dumps(diff_json([ProxyDiff(old, new, tuple(changes))])).decode()
    text = "\n".join(line for change in changes for line in sentences(change))
    if key:
        body = key.splitlines()[1]
        assert body not in output and body not in text and "PRIVATE KEY" not in output


def test_the_sample_with_everything_reports_each_kind() -> None:
    """egress-mtls-subsets has EDS, /clusters, a named route pair and a file certificate: all nine kinds."""
    path = SAMPLES / "egress-mtls-subsets" / "egressgateway.config_dump.json"
    doc = orjson.loads(path.read_bytes())
    status = orjson.loads(path.with_name("egressgateway.clusters.json").read_bytes())
    new_doc, new_status = copy.deepcopy(doc), copy.deepcopy(status)
    expected, _ = mutate(new_doc, new_status)
    assert {e.kind for e in expected} == {"bootstrap", "listener", "filter_chain", "route_config", "virtual_host",
                                          "route", "cluster", "endpoint", "secret"}
    changes = diff_dumps(load(doc, status, "old"), load(noisy(new_doc), reorder(new_status), "new"))
    by_kind = {(c.kind, c.name): c for c in changes}
    moved = [c for c in changes if c.kind == "route" and c.field("position")]
    assert len(moved) == 1 and {moved[0].field("position").old, moved[0].field("position").new} == {1, 2}  # type: ignore[union-attr]
    cluster = next(c for c in changes if c.kind == "cluster" and c.change == "modified")
    timeout = cluster.field("connect_timeout")
    assert timeout is not None and timeout.new in ("10s", "11s") and timeout.old != timeout.new
    secret = next(c for c in changes if c.kind == "secret")
    assert secret.field("tls_certificate.certificate_chain.subject").new == "CN=renewed.example.com"  # type: ignore[union-attr]
    unhealthy = [c for c in changes if c.kind == "endpoint" and any(f.path.startswith("hosts[") for f in c.fields)]
    assert [f.new for f in unhealthy[0].fields if f.path.endswith(".health")] == ["failed_outlier_check"]
    assert ("route_config", "http.8080") in by_kind
