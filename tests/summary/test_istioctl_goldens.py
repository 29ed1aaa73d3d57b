"""envoyscope's summaries against istioctl's own golden outputs, cell for cell and byte for byte."""

from __future__ import annotations

import orjson
import pytest
import yaml

from envoyscope.engine.summary import selected_resources, summarize, summarize_all
from envoyscope.model.normalize import to_snake_case
from envoyscope.report.table import render_all, render_table
from envoyscope.sources.files import load_file
from tests.conftest import shared_path
from tests.summary.goldens import CASES, TODAY, WRITER, Case, parse_table, split_tables


def _tables(case: Case):  # type: ignore[no-untyped-def]
    dump = load_file(str(shared_path(*case.dump)))
    if case.kind == "all":
        return summarize_all(dump, case.filters, today=TODAY)
    return (summarize(dump, case.kind, case.filters, today=TODAY),)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_cells_agree_with_istioctl(case: Case) -> None:
    golden = shared_path(*case.golden).read_text()
    expected = [parse_table(lines) for lines in split_tables(golden)]
    ours = [[*([] if t.kind == "bootstrap" else [t.columns]), *(row.cells for row in t.rows)] for t in _tables(case)]
    assert len(ours) == len(expected)
    for mine, theirs in zip(ours, expected, strict=True):
        assert [tuple(cells) for cells in mine] == theirs


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_text_is_byte_identical(case: Case) -> None:
    golden = shared_path(*case.golden).read_text()
    tables = _tables(case)
    text = render_all(tables, with_headers=case.with_headers) if case.kind == "all" else render_table(tables[0])
    assert text == golden


@pytest.mark.parametrize("name,port", [("emptyfilter", None), ("portfilter", 8080)])
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_endpoint_json_and_yaml_agree(name: str, port: int | None, fmt: str) -> None:
    from envoyscope.engine.summary import Filters

    dump = load_file(str(shared_path(*WRITER, "endpoint", "configdump.json")))
    text = shared_path(*WRITER, "endpoint", f"{name}_output.{fmt}").read_text()
    golden = orjson.loads(text) if fmt == "json" else yaml.safe_load(text)
    ours = selected_resources(dump, "endpoints", Filters(port=port))
    ours = [{k: v for k, v in cla.items() if k != "@type"} for cla in ours]
    assert ours == to_snake_case(golden)


def test_bootstrap_json_agrees() -> None:
    dump = load_file(str(shared_path(*WRITER, "configdump.json")))
    golden = orjson.loads(shared_path(*WRITER, "bootstrapdump.json").read_bytes())
    assert selected_resources(dump, "bootstrap") == to_snake_case(golden["bootstrap"])


def test_valid_cert_follows_the_day_given() -> None:
    dump = load_file(str(shared_path(*WRITER, "secret", "istio", "config_dump.json")))
    import datetime as dt

    during = summarize(dump, "secrets", today=dt.datetime(2023, 5, 15, 12, 0, tzinfo=dt.UTC))
    after = summarize(dump, "secrets", today=dt.date(2034, 1, 1))
    valid = {row.cells[0]: row.cells[3] for row in during.rows}
    assert valid == {"configmap://some/thing": "false", "default": "true", "ROOTCA": "true"}
    assert {row.cells[0]: row.cells[3] for row in after.rows}["ROOTCA"] == "false"
