"""Every real dump in ../shared/fixtures/real-dumps summarises, in every kind and output, with rows that point back."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import orjson
import pytest

from envoyscope.engine.summary import SUMMARY_KINDS, selected_resources, summarize, summarize_all
from envoyscope.engine.summary.listeners import filter_chains
from envoyscope.model.dump import ConfigDump
from envoyscope.report.table import render_table
from envoyscope.sources.files import load_file
from tests.conftest import FIXTURES, shared_path

REAL = FIXTURES / "real-dumps"
DUMPS = sorted(str(p.relative_to(REAL)) for p in REAL.rglob("*.json")) if REAL.is_dir() else ["(absent)"]
TODAY = dt.date(2025, 1, 1)
_cache: dict[str, ConfigDump] = {}


def _load(name: str) -> ConfigDump:
    if name not in _cache:
        _cache[name] = load_file(str(shared_path("real-dumps", *Path(name).parts)))
    return _cache[name]


@pytest.mark.parametrize("name", DUMPS)
def test_every_summary_of_a_real_dump(name: str) -> None:
    dump = _load(name)
    for kind in SUMMARY_KINDS:
        for wide in (False, True):
            table = summarize(dump, kind, wide=wide, today=TODAY)
            assert all(len(row.cells) == len(table.columns) for row in table.rows), (kind, wide)
            render_table(table)
            for row in table.rows:
                if row.ref is not None:
                    assert dump.get(*row.ref) is not None, row.ref  # drill-down finds the resource
        orjson.dumps(selected_resources(dump, kind))
    assert len(summarize_all(dump, today=TODAY)) == 6


@pytest.mark.parametrize("name", DUMPS)
def test_real_dump_row_counts(name: str) -> None:
    dump = _load(name)
    assert len(summarize(dump, "clusters").rows) == len(dump.clusters)  # every state: warming, rejected too
    assert len(summarize(dump, "listeners").rows) == sum(len(filter_chains(lst.raw)) for lst in dump.listeners)
    secrets = summarize(dump, "secrets", today=TODAY)
    assert [(row.cells[0], row.cells[1]) for row in secrets.rows] == [("default", "Cert Chain"), ("ROOTCA", "CA")]


def test_real_sidecar_details() -> None:
    dump = _load("deathstarbench-geo-sidecar-1.18/config_dump.json")
    endpoints = summarize(dump, "endpoints")
    assert endpoints.columns[0] == "NAME" and len(endpoints.rows) > 100  # from EDS: the dump has include_eds
    assert ("Istio Version:", "1.18.2") in [row.cells for row in summarize(dump, "bootstrap").rows]
    tls = {row.ref[1]: row.cells[-1] for row in summarize(dump, "clusters", wide=True).rows if row.ref}
    assert tls["outbound|5000||frontend.hr2.svc.cluster.local"] == "auto-mTLS"
    assert tls["PassthroughCluster"] == "plaintext"


def test_real_gateway_header_routes_are_told_apart_in_wide() -> None:
    dump = _load("multiparty-lb-1.22/ingressgateway_config_dump.json")
    rows = [row.cells for row in summarize(dump, "routes", wide=True).rows if row.cells[1] == "app1.mplb.com:80"]
    assert [(cells[3], cells[-1]) for cells in rows] == [
        ("/* [x-lb-endpt=app1-0]", "outbound|3333|app1-0|app1.default.svc.cluster.local"),
        ("/* [x-lb-endpt=app1-1]", "outbound|3333|app1-1|app1.default.svc.cluster.local"),
        ("/* [x-lb-endpt=app1-2]", "outbound|3333|app1-2|app1.default.svc.cluster.local"),
        ("/*", "outbound|3333||app1.default.svc.cluster.local"),
    ]
