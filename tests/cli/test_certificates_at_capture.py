"""Certificates judged at capture and today, on real dumps, run as a user runs them (``python -m envoyscope …`` in a
subprocess): the secrets summary keeps istioctl's columns and adds days left at both moments and the SPIFFE
identity in ``-o wide``; a report says both, marks a certificate not valid at either, and a verdict is not green
when a certificate on the path was not valid when the dump was taken."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from tests.cli.test_bad_input import run_cli
from tests.conftest import REPO, shared_path

TODAY = dt.date(2026, 12, 7)


def _table(*argv: str, today: dt.date = TODAY) -> tuple[list[list[str]], str]:
    """The rows (cells are at least two spaces apart) and stderr."""
    result = run_cli(REPO, *argv, "--today", today.isoformat(), "--no-header")
    assert result.returncode == 0, result.stderr
    return [re.split(r"\s{2,}", line.strip()) for line in result.stdout.splitlines()], result.stderr


def test_a_capture_from_2020_keeps_istioctls_columns_and_says_what_was_valid_then() -> None:
    dump = str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json"))
    short, notes = _table("secrets", dump)
    assert short[0] == ["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"]
    assert short[1][:4] == ["default", "Cert Chain", "ACTIVE", "false"]  # istioctl's judgement: today
    assert ("envoyscope: note: VALID CERT is for 2026-12-07, as istioctl judges it; at capture, 2020-05-14 (the "
            "dump's newest update or certificate; no earlier), default was valid (-o wide: DAYS LEFT at capture and "
            "today)") in notes
    wide, _ = _table("secrets", dump, "-o", "wide")
    assert wide[0][7:] == ["DAYS LEFT", "IDENTITY", "SUBJECT", "SANS"]
    assert [row[:7] for row in wide] == short  # istioctl's columns unchanged
    default = wide[1]
    # the 24-hour workload certificate: issued 2020-05-14, captured that day, expired 2020-05-15
    expired = (TODAY - dt.date(2020, 5, 15)).days
    assert default[7] == f"1 at capture, -{expired} today"
    assert default[8] == "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"  # not the empty subject
    root = wide[2]
    assert root[8] == root[9] == "O=cluster.local"  # a CA: its subject is its identity


def test_a_certificate_already_expired_at_capture() -> None:
    """istioctl's own fixture holds a workload certificate that ended 2023-05-16 in a dump updated 2025-04-11."""
    rows, _ = _table("secrets", str(shared_path("istioctl", "writer", "envoy", "configdump", "testdata", "secret",
                                                 "istio", "config_dump.json")), "-o", "wide")
    default = next(row for row in rows if row[0] == "default")
    at_capture = (dt.date(2025, 4, 11) - dt.date(2023, 5, 16)).days
    assert default[7] == f"-{at_capture} at capture, -{(TODAY - dt.date(2023, 5, 16)).days} today"


def test_the_same_day_is_one_number() -> None:
    dump = str(shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json"))
    rows, notes = _table("secrets", dump, "-o", "wide", today=dt.date(2020, 5, 14))
    assert rows[1][7] == "1" and "VALID CERT" not in notes


DEATHSTAR = ("real-dumps", "deathstarbench-geo-sidecar-1.18", "config_dump.json")


def _report(tmp_path: Path, dump: str) -> str:
    report = tmp_path / "r.md"
    result = run_cli(REPO, "trace", dump, "--to", "details.default.svc.cluster.local:9080", "--report", str(report))
    assert result.returncode == 0, result.stderr
    return report.read_text()


def test_a_report_judges_the_path_certificates_at_capture_and_today(tmp_path: Path) -> None:
    text = _report(tmp_path, str(shared_path(*DEATHSTAR)))
    assert text.splitlines()[2].startswith("**✅ GET http://details.default.svc.cluster.local:9080/: mesh_internal")
    client = next(line for line in text.splitlines() if "client certificate: " in line)
    expired = (dt.date.today() - dt.date(2025, 2, 18)).days
    assert client == ("- ⚠️ client certificate: spiffe://cluster.local/ns/hr2/sa/default (empty subject), issuer "
                      "O=cluster.local, serial 9b22d6aec189d65cc23aa000061e1c2f, valid 2025-02-17T14:47:39Z → "
                      "2025-02-18T14:49:39Z (at capture 2025-02-17: 1 day left; today: expired "
                      f"{expired} day{'s' if expired != 1 else ''} ago)")
    trusted = next(line for line in text.splitlines() if "trusted CA: " in line)
    assert trusted.startswith("- trusted CA: O=cluster.local, issuer") and "⚠️" not in trusted


def test_a_certificate_not_valid_at_capture_makes_the_verdict_a_notice(tmp_path: Path) -> None:
    """The same proxy captured on 2025-03-01 (a listener updated then): its workload certificate had expired."""
    data = json.loads(shared_path(*DEATHSTAR).read_text())
    listeners = next(c for c in data["configs"] if c["@type"].endswith("ListenersConfigDump"))
    listeners["dynamic_listeners"][0]["active_state"]["last_updated"] = "2025-03-01T10:00:00Z"
    dump = tmp_path / "geo.config_dump.json"
    dump.write_text(json.dumps(data))
    text = _report(tmp_path, str(dump))
    verdict = text.splitlines()[2]
    assert verdict.startswith("**⚠️ GET http://details.default.svc.cluster.local:9080/: mesh_internal")
    assert ("; not valid at capture: the client certificate `sds:default` of geo-5c54dcd5bd-z5ghf.hr2 (at capture "
            "2025-03-01: expired 11 days ago;") in verdict
    html = tmp_path / "r.html"
    run_cli(REPO, "trace", str(dump), "--to", "details.default.svc.cluster.local:9080", "--report", str(html))
    page = html.read_text()
    assert '<p class="verdict notice">' in page
    assert '<tr class="error"><td>client certificate</td><td>spiffe://cluster.local/ns/hr2/sa/default' in page


def test_a_bundle_is_judged_at_the_time_its_manifest_recorded(tmp_path: Path) -> None:
    from envoyscope.sources.bundle import ProxyCapture, write_bundle

    dump = shared_path("real-dumps", "bookinfo-1.5", "productpage-config-dump.json")
    bundle = tmp_path / "incident.tar.gz"
    write_bundle(bundle, [ProxyCapture("productpage", files={"config_dump": dump.read_bytes()})],
                 ["envoyscope", "capture"], now=dt.datetime(2020, 5, 16, 9, 0, tzinfo=dt.UTC))
    rows, notes = _table("secrets", str(bundle), "-o", "wide")
    # captured 2020-05-16 as the manifest says, a day after the certificate ended (its newest update says 05-14)
    assert rows[1][7] == f"-1 at capture, -{(TODAY - dt.date(2020, 5, 15)).days} today"
    check = run_cli(REPO, "check", str(bundle))
    assert "certificate_expired" in check.stdout and "(2020-05-16)" in check.stdout
    assert "certificate_expired" not in run_cli(REPO, "check", str(dump)).stdout  # 05-14: valid at capture
