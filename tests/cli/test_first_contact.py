"""What a person types first, run as they run it (``python -m envoyscope …`` in a subprocess): a TLS port without a
scheme says what it assumed, every command that prints a result takes the common output flags, and a closed
connection is said once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.cli.test_bad_input import run_cli
from tests.conftest import REPO, SAMPLES

PASSTHROUGH = str(SAMPLES / "https-passthrough")
EGRESS = str(SAMPLES / "egress-gateway-http")
ASSUMED = "plain HTTP to port 443: no scheme was given"


def _ok(*argv: str) -> str:
    result = run_cli(REPO, *argv)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _flat(text: str) -> str:
    """The tree's text with its wrapping and guides taken out, so a sentence reads in one piece."""
    return " ".join(re.sub(r"^[\s│├└─]+", "", line) for line in text.splitlines())


# --- --to host:443 without a scheme: plain HTTP, and said so with the other reading ---

def test_port_443_without_a_scheme_is_plain_http_said_as_an_assumption() -> None:
    text = _flat(_ok("trace", PASSTHROUGH, "--to", "www.googleapis.com:443"))
    assert text.startswith("trace GET http://www.googleapis.com:443/")
    assert f"assumed: {ASSUMED}" in text
    assert "trace with `--scheme https`" in text
    data = json.loads(_ok("trace", PASSTHROUGH, "--to", "www.googleapis.com:443", "-o", "json"))
    assert data["request"]["scheme"] == "http"
    assert [a for a in data["assumptions"] if a.startswith(ASSUMED)] == [
        f"{ASSUMED}, and an app whose sidecar originates TLS sends exactly that; if the app speaks TLS itself, "
        "trace with `--scheme https`"]


@pytest.mark.parametrize("argv", [
    ["--to", "www.googleapis.com:443", "--scheme", "http"],  # said explicitly: nothing was assumed
    ["--to", "www.googleapis.com:443", "--scheme", "https"],
    ["--to", "https://www.googleapis.com/"],  # a URL says its scheme
    ["--to", "http://www.googleapis.com:443/"],
    ["--to", "www.googleapis.com:443", "--sni", "www.googleapis.com"],  # an SNI means TLS
    ["--to", "www.googleapis.com:80"],  # not a TLS port
], ids=["scheme-http", "scheme-https", "https-url", "http-url", "sni", "port-80"])
def test_no_assumption_when_the_scheme_is_said_or_the_port_is_not_tls(argv: list[str]) -> None:
    data = json.loads(_ok("trace", PASSTHROUGH, *argv, "-o", "json"))
    assert not [a for a in data["assumptions"] if "no scheme was given" in a]


def test_an_implicit_tls_port_names_scheme_tls_as_the_other_reading() -> None:
    data = json.loads(_ok("trace", PASSTHROUGH, "--to", "mail.example.com:993", "-o", "json"))
    assert any("port 993" in a and a.endswith("`--scheme tls`") for a in data["assumptions"])


def test_the_assumption_reaches_the_report(tmp_path: Path) -> None:
    report = tmp_path / "r.md"
    _ok("trace", PASSTHROUGH, "--to", "www.googleapis.com:443", "--report", str(report))
    assert f"> assumed: {ASSUMED}" in report.read_text()


# --- the common output flags on every command that prints a result ---

def test_trace_takes_no_header_and_yaml() -> None:
    full = _ok("trace", EGRESS, "--to", "httpbin.org:80")
    bare = _ok("trace", EGRESS, "--to", "httpbin.org:80", "--no-header")
    assert full.splitlines()[0] == "trace GET http://httpbin.org/"
    assert "trace GET" not in bare
    assert bare.splitlines()[0].startswith("assumed: destination IP")  # the branches, now at the left margin
    assert [line for line in full.splitlines() if "outcome:" in line][0].endswith(
        [line for line in bare.splitlines() if "outcome:" in line][0])
    as_json = json.loads(_ok("trace", EGRESS, "--to", "httpbin.org:80", "-o", "json"))
    assert yaml.safe_load(_ok("trace", EGRESS, "--to", "httpbin.org:80", "-o", "yaml")) == as_json
    # a header a data form does not have: --no-header changes nothing there
    assert json.loads(_ok("trace", EGRESS, "--to", "httpbin.org:80", "-o", "json", "--no-headers")) == as_json


def test_diff_check_and_egress_take_the_common_flags() -> None:
    old, new = str(SAMPLES / "registry-only"), str(SAMPLES / "allow-any")
    text = run_cli(REPO, "diff", old, new).stdout
    bare = run_cli(REPO, "diff", old, new, "--no-header").stdout
    assert text.startswith("proxy sleep-7f8d9c6b5d-x2x7k.default: 4 changes")
    assert bare.splitlines() == [line.strip() for line in text.splitlines()[1:]]
    assert yaml.safe_load(run_cli(REPO, "diff", old, new, "-o", "yaml").stdout) == json.loads(
        run_cli(REPO, "diff", old, new, "-o", "json").stdout)
    for command in ("egress", "check"):
        as_yaml = yaml.safe_load(run_cli(REPO, command, EGRESS, "-o", "yaml").stdout)
        assert as_yaml == json.loads(run_cli(REPO, command, EGRESS, "-o", "json").stdout)
        assert "==" not in run_cli(REPO, command, EGRESS, "--no-headers").stdout


def test_summaries_leave_out_every_header_with_several_proxies() -> None:
    both = _ok("clusters", EGRESS)
    bare = _ok("clusters", EGRESS, "--no-header")
    assert both.count("SERVICE FQDN") == bare.count("SERVICE FQDN") == 2
    assert [line.split()[:2] for line in both.splitlines() if line.startswith("== ")] == [
        ["==", "gateway"], ["==", "sidecar"]]  # each section's identity line …
    assert [line for line in bare.splitlines() if line.startswith("== ")] == []  # … left out when asked


@pytest.mark.parametrize(("argv", "words"), [
    (["tui", "--no-header"], "envoyscope tui does not take --no-header (see `envoyscope tui --help`)"),
    (["trace", EGRESS, "--to", "httpbin.org:80", "-o", "wide"],
     "argument -o/--output: invalid choice: 'wide' (choose from 'text', 'json', 'yaml')"),
])
def test_a_flag_that_cannot_apply_is_one_line_naming_the_command(argv: list[str], words: str) -> None:
    result = run_cli(REPO, *argv)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and words in result.stderr


# --- a closed connection is said once, in every form ---

@pytest.mark.parametrize(("argv", "kind"), [
    ([str(SAMPLES / "sni-mismatch"), "--to", "edition.cnn.com:80"], "no_filter_chain"),
    ([str(SAMPLES / "mesh-mtls"), "--from", "egressgateway", "--to",
      "istio-egressgateway.istio-system.svc.cluster.local:8443", "--ip", "10.244.0.31"], "no_filter_chain"),
    ([str(SAMPLES / "mesh-mtls"), "--from", "egressgateway", "--to",
      "istio-egressgateway.istio-system.svc.cluster.local:8443", "--ip", "10.244.0.31", "--scheme", "tls"],
     "tls_handshake_failed"),
], ids=["sni-mismatch", "plaintext-into-tls-chains", "no-client-certificate"])
def test_envoy_closes_the_connection_once(tmp_path: Path, argv: list[str], kind: str) -> None:
    data = json.loads(_ok("trace", *argv, "-o", "json"))
    assert data["outcome"]["kind"] == kind
    assert data["outcome"]["detail"].count("closes the connection") == 1
    text = _flat(_ok("trace", *argv))
    outcome = text[text.index("outcome:"):]
    assert outcome.count("closes the connection") == 1, outcome
    report = tmp_path / "r.md"
    _ok("trace", *argv, "--report", str(report))
    for line in report.read_text().splitlines():
        assert line.count("closes the connection") <= 1, line


@pytest.mark.envoy
@pytest.mark.xdist_group("cli-verify")
def test_verify_takes_the_common_flags() -> None:
    from tests.lab.envoy import require_envoy

    require_envoy()
    argv = ["verify", EGRESS, "--to", "httpbin.org:80", "--path", "/headers"]
    full, bare = run_cli(REPO, *argv), run_cli(REPO, *argv, "--no-header")
    assert full.returncode == bare.returncode == 0, full.stderr + bare.stderr
    assert full.stdout.startswith("verify GET http://httpbin.org/headers\neach hop replayed on its own proxy")
    assert bare.stdout.startswith("hop 1 ")
    assert bare.stdout.splitlines()[-1] == full.stdout.splitlines()[-1] == "result: Envoy agrees on all 12 decisions"
    as_yaml = yaml.safe_load(run_cli(REPO, *argv, "-o", "yaml").stdout)
    as_json = json.loads(run_cli(REPO, *argv, "-o", "json").stdout)
    assert as_yaml["agree"] is as_json["agree"] is True
    assert [h["proxy"] for h in as_yaml["hops"]] == [h["proxy"] for h in as_json["hops"]]


def test_the_readmes_trace_examples_run_and_show_the_url_form_and_the_sni_rule(tmp_path: Path) -> None:
    import shlex

    readme = (REPO / "README.md").read_text()
    block = readme.split("### `envoyscope trace`", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    examples = [shlex.split(line, comments=True) for line in block.splitlines() if line.startswith("envoyscope ")]
    assert any(arg.startswith("https://") for argv in examples for arg in argv)  # a pasted URL
    sni = [argv for argv in examples if "--sni" in argv]
    assert sni and all("--scheme" not in argv for argv in sni)  # --sni alone means TLS
    for argv in examples:
        argv = [str(tmp_path / arg) if arg.endswith((".html", ".md")) else arg for arg in argv[1:]]
        result = run_cli(REPO, *argv, "-o", "json") if "--report" not in argv else run_cli(REPO, *argv)
        assert result.returncode == 0, (argv, result.stderr)
        if "--sni" in argv:
            assert json.loads(result.stdout)["request"]["scheme"] == "tls"
