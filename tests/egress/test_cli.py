"""``envoyscope egress`` and ``envoyscope check`` as a user runs them: tables, JSON, reports and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_bad_input import run_cli
from tests.conftest import REPO, SAMPLES

DEST_KEYS = {"host", "port", "protocol", "exit", "via", "tls", "istio_config", "findings"}


def test_egress_table_names_every_way_out() -> None:
    result = run_cli(REPO, "egress", str(SAMPLES / "egress-mtls-subsets"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("== istio-egressgateway") and "outbound policy" in lines[0]
    assert lines[1].split() == ["HOST", "PORT", "PROTOCOL", "REQUEST", "EXIT", "VIA", "TLS", "FINDINGS"]
    text = result.stdout
    assert "/ want:v1" in text and "/ want:v2" in text and "egress_gateway" in text and "MUTUAL out" in text


def test_egress_json_has_the_documented_shape() -> None:
    result = run_cli(REPO, "egress", str(SAMPLES / "tls-origination"), "-o", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    proxy = data["proxies"][0]
    assert {"proxy", "outbound_policy", "destinations", "findings"} <= set(proxy)
    row = next(d for d in proxy["destinations"] if d["host"] == "www.googleapis.com")
    assert set(row) >= DEST_KEYS and row["exit"] == "direct"
    finding = row["findings"][0]
    assert set(finding) >= {"code", "severity", "detail"} and finding["code"] == "no_ca_validation"


def test_check_exits_1_on_a_warning_and_0_when_it_is_ignored() -> None:
    failing = run_cli(REPO, "check", str(SAMPLES / "tls-origination"))
    assert failing.returncode == 1 and "no_ca_validation" in failing.stdout
    ignored = run_cli(REPO, "check", str(SAMPLES / "tls-origination"), "--ignore", "no_ca_validation,double_tls")
    assert ignored.returncode == 0, ignored.stdout
    assert "0 finding(s) of severity warning or error (ignored: double_tls, no_ca_validation)" in ignored.stdout


def test_check_rejects_an_unknown_code_in_one_line() -> None:
    result = run_cli(REPO, "check", str(SAMPLES / "tls-origination"), "--ignore", "no_such_code")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "no_such_code" in result.stderr


def test_egress_reports_in_every_format(tmp_path: Path) -> None:
    for suffix in (".md", ".html", ".json"):
        target = tmp_path / f"audit{suffix}"
        result = run_cli(REPO, "egress", str(SAMPLES / "egress-gateway-http"), "--report", str(target))
        assert result.returncode == 0, result.stderr
        text = target.read_text()
        assert "httpbin.org" in text and "egress_gateway" in text and "plaintext_external" in text
    assert json.loads((tmp_path / "audit.json").read_text())["proxies"]
    bad = run_cli(REPO, "egress", str(SAMPLES / "egress-gateway-http"), "--report", str(tmp_path / "a.txt"))
    assert bad.returncode == 2 and not (tmp_path / "a.txt").exists()


def test_every_finding_code_is_in_the_readme() -> None:
    from envoyscope.engine.egress.findings import CODES

    readme = (REPO / "README.md").read_text()
    table = readme.split("`check` runs every detector", 1)[1].split("\n### ", 1)[0]
    documented = {code.strip("` ") for line in table.splitlines() if line.startswith("| `")
                  for code in line.split("|")[1].split(",")}
    assert documented == set(CODES), documented ^ set(CODES)


def test_trace_expect_names_the_step_that_breaks_it() -> None:
    folder = str(SAMPLES / "allow-any")
    broken = run_cli(REPO, "trace", folder, "--to", "www.google.com:80", "--expect", "exit=egress_gateway")
    assert broken.returncode == 1
    assert "expectation exit=egress_gateway not met: the request exits passthrough" in broken.stderr
    assert "cluster PassthroughCluster" in broken.stderr
    assert "finding warning: plaintext_external" in broken.stdout  # the finding the traced request hits
    met = run_cli(REPO, "trace", str(SAMPLES / "egress-gateway-http"), "--to", "httpbin.org:80",
                  "--expect", "exit=egress_gateway", "--expect", "via=istio-egressgateway", "-o", "json")
    assert met.returncode == 0, met.stderr
    data = json.loads(met.stdout)
    assert [e["met"] for e in data["expectations"]] == [True, True]
    assert [f["code"] for f in data["findings"]] == ["plaintext_external"]
    bad = run_cli(REPO, "trace", folder, "--to", "x.com:80", "--expect", "exit=sideways")
    assert bad.returncode == 2 and bad.stdout == "" and "--expect" in bad.stderr
