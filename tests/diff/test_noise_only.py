"""Every real dump and every sample, diffed against a rewrite of itself that only adds noise: no change.

Each kind of noise on its own, then all of them at once; the rewrite must really differ from the original in
the parsed resources (else the test would prove nothing), and the diff must find nothing.
"""

from __future__ import annotations

import copy
from pathlib import Path

import orjson
import pytest

from envoyscope.engine.diff import diff_dumps
from envoyscope.model.parse import parse_document
from tests.conftest import FIXTURES, SAMPLES, shared_path
from tests.diff import noise

SAMPLE_DUMPS = sorted(SAMPLES.glob("*/*.config_dump.json"))
REAL_DUMPS = sorted((FIXTURES / "real-dumps").glob("*/*.json")) if FIXTURES.is_dir() else []
STEPS = {
    "versions": noise.bump_versions,
    "order": noise.reorder,
    "defaults": noise.write_defaults,
    "typed_struct": noise.typed_struct,
    "v2": noise.v2_types,
    "camel_case": noise.camel_case,
    "all": noise.noisy,
}


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("step", sorted(STEPS))
@pytest.mark.parametrize("path", SAMPLE_DUMPS, ids=_id)
def test_sample_against_its_noise_is_unchanged(path: Path, step: str) -> None:
    doc = orjson.loads(path.read_bytes())
    assert diff_dumps(parse_document(doc, "old"), parse_document(STEPS[step](copy.deepcopy(doc)), "new")) == []


@pytest.mark.parametrize("path", REAL_DUMPS, ids=_id)
def test_real_dump_against_its_noise_is_unchanged(path: Path) -> None:
    shared_path("real-dumps", path.parent.name, path.name)
    doc = orjson.loads(path.read_bytes())
    old = parse_document(doc, "old")
    for step, rewrite in STEPS.items():
        new = parse_document(rewrite(copy.deepcopy(doc)), "new")
        assert diff_dumps(old, new) == [], step


@pytest.mark.parametrize("path", REAL_DUMPS[:3], ids=_id)
def test_the_noise_is_real(path: Path) -> None:
    """After parsing, the noisy rewrite still differs from the original: order, defaults, wrappers, type URLs."""
    doc = orjson.loads(path.read_bytes())
    old, new = parse_document(doc, "old"), parse_document(noise.noisy(copy.deepcopy(doc)), "new")
    differ = sum(a.raw != b.raw for a, b in zip(sorted(old.clusters, key=lambda r: r.name),
                                                 sorted(new.clusters, key=lambda r: r.name), strict=True))
    assert differ == len(old.clusters)
    assert [r.name for r in old.clusters] != [r.name for r in new.clusters]
    assert any(r.version_info != s.version_info for r, s in zip(old.clusters, reversed(new.clusters), strict=True))
    text = orjson.dumps(noise.noisy(copy.deepcopy(doc))).decode()
    assert "envoy.api.v2.Cluster" in text and "TypedStruct" in text and "connectTimeout" in text
