"""The Go-tabwriter-compatible renderer: column blocks, unpadded last cells, padding per table kind."""

from __future__ import annotations

import pytest

from envoyscope.engine.summary import Row, Table
from envoyscope.report.table import identity_header, render_all, render_table, tabwrite
from tests.summary.builders import config_dump


@pytest.mark.parametrize("lines,padding,expected", [
    # One block per column: widest cell plus the padding; the last cell of a line is never padded.
    ([["NAME", "PORT"], ["a", "80"], ["longer", "8080"]], 5, "NAME       PORT\na          80\nlonger     8080\n"),
    # An empty terminated cell is still padded (istioctl's empty DESTINATION RULE after TYPE).
    ([["A", "B", ""], ["x", "", ""]], 1, "A B \nx   \n"),
    # Go's column blocks: a line without column 1 ends the block; the next block is measured on its own.
    ([["aaaa", "bbb", "d"], ["aa", "b", "dd"], ["a", ""], ["aa", "cccc", "eee"]], 1,
     "aaaa bbb d\naa   b   dd\na    \naa   cccc eee\n"),
    # A line holding a single cell splits column 0 too: the lines around it are measured apart.
    ([["x", "y"], ["xxxxx"], ["xxx", "yy", "z"]], 2, "x  y\nxxxxx\nxxx  yy  z\n"),
    # Width counts characters, not bytes.
    ([["é", "1"], ["ab", "2"]], 1, "é  1\nab 2\n"),
    ([], 5, ""),
])
def test_tabwrite_matches_go_rules(lines: list[list[str]], padding: int, expected: str) -> None:
    assert tabwrite(lines, padding=padding) == expected


def test_listeners_pad_with_one_space_and_bootstrap_has_no_header() -> None:
    listeners = Table("listeners", ("ADDRESSES", "PORT"), (Row(("0.0.0.0", "80")),))
    assert render_table(listeners) == "ADDRESSES PORT\n0.0.0.0   80\n"
    bootstrap = Table("bootstrap", ("FIELD", "VALUE"), (Row(("Envoy Version:", "1.2.3")),))
    assert render_table(bootstrap) == "Envoy Version: 1.2.3\n"


def test_render_all_separates_tables_and_heads_them_on_request() -> None:
    tables = (Table("bootstrap", ("FIELD", "VALUE"), (Row(("Envoy Version:", "0.0.0")),)),
              Table("clusters", ("NAME",), ()))
    assert render_all(tables) == "Envoy Version: 0.0.0\n\nNAME\n"
    assert render_all(tables, with_headers=True) == (
        "------ BOOTSTRAP INFO ------\n\nEnvoy Version: 0.0.0\n\n------ CLUSTER INFO ------\n\nNAME\n")


def test_identity_header_names_the_proxy() -> None:
    dump = config_dump(bootstrap={"node": {
        "id": "sidecar~10.1.2.3~productpage-v1-abc.default~default.svc.cluster.local",
        "metadata": {"ISTIO_VERSION": "1.22.3", "MESH_ID": "cluster.local"},
        "user_agent_build_version": {"version": {"major_number": 1, "minor_number": 30, "patch": 4}}}},
        source="pp.json")
    header = identity_header(dump)
    assert header.startswith("== sidecar productpage-v1-abc.default")
    for part in ("ips 10.1.2.3", "istio 1.22.3", "envoy 1.30.4", "mesh cluster.local", "(pp.json)"):
        assert part in header
