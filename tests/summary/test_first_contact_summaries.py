"""The wide summaries on real dumps, run as a user runs them (``python -m envoyscope …`` in a subprocess): unnamed
filter chains (Istio ≤ 1.12) get their index in CHAIN, as the trace says it, and a DestinationRule is named once."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_bad_input import run_cli
from tests.conftest import REPO, shared_path

LISTENERS = ("ADDRESSES", "PORT", "MATCH", "DESTINATION", "CHAIN")
CLUSTERS = ("SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE", "ISTIO CONFIG", "TLS")


def _rows(columns: tuple[str, ...], *argv: str) -> list[dict[str, str]]:
    """The table's rows as {column: cell}, cut where the header's columns start (tabwriter alignment)."""
    result = run_cli(REPO, *argv, "--no-header")
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    starts = [(header + " ").index(f" {name} ") + 1 if i else 0 for i, name in enumerate(columns)]
    assert header[starts[-1]:].strip() == columns[-1]
    return [{name: line[a:b].strip() for name, a, b in zip(columns, starts, [*starts[1:], None], strict=True)}
            for line in lines]


def _traced_chain(dump: str, *argv: str) -> tuple[str, str]:
    result = run_cli(REPO, "trace", dump, *argv, "-o", "json")
    assert result.returncode == 0, result.stderr
    hop = json.loads(result.stdout)["hops"][0]
    return hop["listener"], hop["filter_chain"]


@pytest.mark.parametrize(("folder", "file", "trace_argv", "port", "destination"), [
    ("jewertow-egressgateway-1.12", "egress.json", ["--to", "www.example.com:8443", "--sni", "www.example.com"],
     "8443", "Cluster: outbound|443||www.example.com"),
    ("bookinfo-1.5", "productpage-config-dump.json", ["--to", "example.org:80"], "80", "Route: 80"),
])
def test_unnamed_chains_show_the_index_the_trace_gives(folder: str, file: str, trace_argv: list[str], port: str,
                                                       destination: str) -> None:
    dump = str(shared_path("real-dumps", folder, file))
    rows = _rows(LISTENERS, "listeners", dump, "-o", "wide")
    assert all(row["CHAIN"] for row in rows), "no CHAIN cell is empty"
    chain = [row["CHAIN"] for row in rows if row["PORT"] == port and row["DESTINATION"] == destination]
    _listener, traced = _traced_chain(dump, *trace_argv)
    assert chain == [traced]
    assert traced.isdigit()  # these Istio versions name no chain: the index it is


def test_the_index_counts_in_the_listener_not_in_the_table() -> None:
    dump = str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json"))
    # 0.0.0.0_80: the chain matching the pod's own address first (index 0), the catch-all second (1); istioctl's
    # order (by destination, last first) lists them the other way round
    rows = _rows(LISTENERS, "listeners", dump, "-o", "wide", "--port", "80")
    assert [(row["MATCH"], row["CHAIN"]) for row in rows] == [("ALL", "1"), ("Addr: 10.44.0.11/32", "0")]


def test_clusters_wide_names_the_destination_rule_once() -> None:
    for file in ("ingressgateway_config_dump.json", "sidecar_config_dump.json"):
        dump = str(shared_path("real-dumps", "multiparty-lb-1.22", file))
        ruled = [row for row in _rows(CLUSTERS, "clusters", dump, "-o", "wide") if row["DESTINATION RULE"]]
        assert {row["DESTINATION RULE"] for row in ruled} >= {"app1-destination.default"}
        for row in ruled:  # said in istioctl's column, not again in ISTIO CONFIG
            assert row["DESTINATION RULE"] not in row["ISTIO CONFIG"], row


def test_a_service_entry_in_istioctls_column_keeps_its_kind() -> None:
    """istioctl's DESTINATION RULE shows whatever object the metadata names first; when that is a ServiceEntry,
    ISTIO CONFIG still says so."""
    rows = _rows(CLUSTERS, "clusters", str(REPO / "sample_dumps" / "egress-mtls-subsets" / "sleep.config_dump.json"),
                 "-o", "wide",
                 "--fqdn", "istio-egressgateway")
    named = [row for row in rows if row["DESTINATION RULE"]]
    assert named and all(row["ISTIO CONFIG"] == f"ServiceEntry/{row['DESTINATION RULE']}" for row in named)
